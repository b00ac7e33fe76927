"""`tfgen render` (being built)."""

import typer


def register(app: typer.Typer) -> None:
    """No commands yet."""
