"""`tfgen render`: lay a document out as a comic, magazine or deck and write PDF, PPTX, PNG or CBZ."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from tfgen.errors import OutputError, TfgenError

KINDS = ("comic", "magazine", "deck")
DEFAULT_FORMAT = "pdf"


def register(app: typer.Typer) -> None:
    app.command("render")(render)


def render(
    doc: Annotated[str, typer.Argument(help="Document: a tfgen JSON file, a Markdown (.md) file, or '-' for stdin.")],
    as_: Annotated[str, typer.Option("--as", help="What to make: comic, magazine or deck.")],
    output: Annotated[
        Optional[str],
        typer.Option(
            "-o",
            "--output",
            help="Output file; '-' writes PDF, PPTX or CBZ to stdout. Default: DOC's name with the "
            "format's extension, in the current folder. Multi-page PNG: OUT-001.png, OUT-002.png, ...",
        ),
    ] = None,
    fmt: Annotated[
        Optional[str],
        typer.Option("--format", "-f", help="pdf, pptx, png or cbz (comics). Default: from -o's extension, else pdf."),
    ] = None,
    template: Annotated[
        Optional[str], typer.Option("--template", "-t", help="Template name (see templates/<kind>/) or a .toml/.json file.")
    ] = None,
    page_size: Annotated[
        Optional[str], typer.Option("--page-size", help="A4 or letter (comic, magazine); 16:9 or 4:3 (deck).")
    ] = None,
    dpi: Annotated[int, typer.Option("--dpi", min=18, max=1200, help="Resolution of PNG and CBZ pages.")] = 150,
) -> None:
    """Lay out DOC as a comic, magazine or deck and write it as PDF, PPTX, PNG or CBZ."""
    # Imported here so `tfgen --help` stays fast.
    from tfgen.cli.console import print_info, print_warning
    from tfgen.io_docs import read_document
    from tfgen.layout.compose import compose, normalize_page_size
    from tfgen.render import RenderOptions, write_layout

    kind = _check_kind(as_)
    size = normalize_page_size(page_size, kind)
    target_format = resolve_format(fmt, output)
    target = output if output is not None else default_output(doc, target_format)
    _check_output(target, target_format)
    document = read_document(doc, kind=kind)
    layout = compose(document, kind, template=template, target=target_format, page_size=size)
    for warning in layout.warnings:
        print_warning(warning)
    written = write_layout(layout, target, target_format, RenderOptions(dpi=dpi, summary=document.prompt))
    for path in written:
        print_info(f"wrote {path}")


def _check_kind(value: str) -> str:
    if value not in KINDS:
        raise TfgenError(f"unknown kind {value!r} (one of {', '.join(KINDS)})", where="--as")
    return value


def resolve_format(fmt: Optional[str], output: Optional[str]) -> str:
    """--format wins; else -o's extension; else PDF (also for '-o -')."""
    from tfgen.render import check_format, format_for_path

    if fmt is not None:
        return check_format(fmt)
    if output is None or output == "-":
        return DEFAULT_FORMAT
    found = format_for_path(output)
    if found is None:
        raise OutputError("cannot tell the format from the extension; add --format pdf|pptx|png|cbz", where=output)
    return found


def default_output(doc: str, fmt: str) -> str:
    """DOC's stem with the format's extension, in the current folder ('document' for stdin)."""
    stem = "document" if doc == "-" else Path(doc).stem
    return f"{stem}.{fmt}"


def _check_output(target: str, fmt: str) -> None:
    """Fail before the (slow) layout when the output can never be written."""
    from tfgen.render import STDOUT, STDOUT_FORMATS

    if target == STDOUT:
        if fmt not in STDOUT_FORMATS:
            raise OutputError(f"{fmt} output is one file per page and cannot go to stdout", where="-o -")
        if sys.stdout.isatty():
            raise OutputError(f"refusing to write {fmt} bytes to a terminal; redirect stdout or give -o FILE", where="-o -")
        return
    path = Path(target)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError("the folder does not exist", where=str(parent))
    if path.is_dir():
        raise OutputError("is a folder, not a file", where=str(path))
