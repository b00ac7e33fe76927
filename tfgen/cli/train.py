"""`tfgen train` commands (being built; see the open issues)."""

import typer


def register(app: typer.Typer) -> None:
    """No commands yet."""
