"""The `tfgen` command line: thin Typer commands; errors become one line on stderr and an exit code."""

from __future__ import annotations

import importlib

import typer
from typer.core import TyperGroup

from tfgen.cli.console import print_error
from tfgen.errors import TfgenError

# One module per command group; each defines `register(app)`.
COMMAND_MODULES = ("render", "generate", "data", "train", "eval", "bench")


class _Group(TyperGroup):
    """Turns TfgenError (and Ctrl-C) into one line on stderr and a non-zero exit, never a traceback."""

    def invoke(self, ctx):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except TfgenError as exc:
            print_error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            print_error("interrupted")
            raise typer.Exit(130) from None


def _print_version(value: bool) -> None:
    if value:
        from tfgen import __version__

        typer.echo(__version__)
        raise typer.Exit()


def build_app() -> typer.Typer:
    app = typer.Typer(
        cls=_Group,
        name="tfgen",
        help="Illustrated comics, magazines and slide decks from one local Transfusion model.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
        ),
    ) -> None:
        """Illustrated comics, magazines and slide decks from one local Transfusion model."""

    for name in COMMAND_MODULES:
        importlib.import_module(f"tfgen.cli.{name}").register(app)
    return app


app = build_app()


def main() -> None:
    app()
