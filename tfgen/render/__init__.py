"""Backends: draw a Layout as PDF, PPTX, PNG or CBZ, and write it to a file or stdout.

Output files are written atomically. PNG writes one file per page: a one-page layout goes to
`out.png` itself, a longer one to `out-001.png`, `out-002.png`, ... beside it. PNG cannot go to
stdout (it is several files); PDF, PPTX and CBZ can (`-`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from tfgen.atomic import write_bytes_atomic
from tfgen.errors import OutputError
from tfgen.layout.tree import Layout

FORMATS = ("pdf", "pptx", "png", "cbz")
STDOUT_FORMATS = ("pdf", "pptx", "cbz")
STDOUT = "-"


@dataclass(frozen=True)
class RenderOptions:
    """`dpi` for PNG and CBZ pages; `summary` (the prompt) for CBZ's ComicInfo.xml."""

    dpi: int = 150
    summary: str = ""


def check_format(fmt: str, where: str = "--format") -> str:
    fmt = fmt.lower().lstrip(".")
    if fmt not in FORMATS:
        raise OutputError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})", where=where)
    return fmt


def format_for_path(path: str) -> str | None:
    """The format a path's extension names, or None when it names none we write."""
    ext = Path(path).suffix.lower().lstrip(".")
    return ext if ext in FORMATS else None


def png_page_paths(target: Path, pages: int) -> list[Path]:
    """Where each page of a PNG output goes (see the module docstring)."""
    if pages == 1:
        return [target]
    return [target.with_name(f"{target.stem}-{i:03d}{target.suffix or '.png'}") for i in range(1, pages + 1)]


def render_files(layout: Layout, fmt: str, options: RenderOptions = RenderOptions()) -> list[bytes]:
    """The output as file contents: one for PDF, PPTX and CBZ; one per page for PNG."""
    fmt = check_format(fmt)
    if not layout.pages:
        raise OutputError("the layout has no pages")
    if fmt == "pdf":
        from tfgen.render.pdf import render_pdf

        return [render_pdf(layout)]
    if fmt == "pptx":
        from tfgen.render.pptx import render_pptx

        return [render_pptx(layout)]
    if fmt == "cbz":
        from tfgen.render.cbz import render_cbz

        return [render_cbz(layout, options.dpi, options.summary)]
    from tfgen.render.png import render_png_pages

    return render_png_pages(layout, options.dpi)


def render_bytes(layout: Layout, fmt: str, options: RenderOptions = RenderOptions()) -> bytes:
    """The output as one file's bytes (PNG only for a one-page layout)."""
    files = render_files(layout, fmt, options)
    if len(files) != 1:
        raise OutputError(f"{fmt} output of {len(files)} pages is {len(files)} files, not one")
    return files[0]


def write_layout(layout: Layout, target: str, fmt: str, options: RenderOptions = RenderOptions()) -> list[Path]:
    """Render and write; returns the paths written (none for stdout).

    Everything is rendered before the first byte is written, so a failure leaves no output.
    """
    fmt = check_format(fmt)
    if target == STDOUT:
        if fmt not in STDOUT_FORMATS:
            raise OutputError(f"{fmt} output is one file per page and cannot go to stdout", where="-o -")
        data = render_bytes(layout, fmt, options)
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return []
    path = Path(target)
    if path.is_dir():
        raise OutputError("is a folder, not a file", where=str(path))
    files = render_files(layout, fmt, options)
    paths = png_page_paths(path, len(files)) if fmt == "png" else [path]
    for out, data in zip(paths, files):
        write_bytes_atomic(out, data)
    return paths
