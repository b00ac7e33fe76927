"""stderr output for humans (rich honours NO_COLOR); stdout stays for data."""

from __future__ import annotations

import functools

from rich.console import Console
from rich.markup import escape


@functools.lru_cache(maxsize=1)
def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_error(message: str) -> None:
    stderr().print(f"[bold red]error:[/] {escape(message)}")


def print_warning(message: str) -> None:
    stderr().print(f"[yellow]warning:[/] {escape(message)}")


def print_info(message: str) -> None:
    stderr().print(escape(message))
