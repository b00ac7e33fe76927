"""The one error type that reaches the user as a single line (the CLI turns it into an exit code)."""

from __future__ import annotations


class TfgenError(Exception):
    """A problem with the user's input or environment, worded for the user.

    `where` names the place (a path, a segment index, a template key, a line) so the
    message can say exactly what to fix. The CLI prints `error: <where>: <message>` and exits 1.
    """

    exit_code = 1

    def __init__(self, message: str, where: str | None = None):
        super().__init__(message)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class DocumentError(TfgenError):
    """A document (JSON, Markdown or markup) that cannot be read."""


class TemplateError(TfgenError):
    """A template that is missing, malformed or names an unknown key."""


class OutputError(TfgenError):
    """An output that cannot be written."""
