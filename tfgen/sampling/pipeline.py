"""Prompt to file: generate a document, then lay it out and render it (the glue behind the commands).

Kept apart from the CLI so batches, the commands and tests share one path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from tfgen.atomic import write_text_atomic
from tfgen.document import Document
from tfgen.errors import OutputError
from tfgen.sampling.generate import generate_document
from tfgen.sampling.image import StepCallback
from tfgen.sampling.loader import LoadedModel
from tfgen.sampling.options import GenerationOptions


def make_document(loaded: LoadedModel, prompt: str, opts: GenerationOptions, on_step: StepCallback | None = None,
                  page_count: Callable[[Document], int] | None = None) -> Document:
    """The generated document, sampler settings resolved from the checkpoint's defaults."""
    return generate_document(loaded, prompt, opts, on_step=on_step, page_count=page_count).document


def layout_page_counter(kind: str, fmt: str, template: str | None, page_size: str | None) -> Callable[[Document], int]:
    """Content pages of a document's layout (a magazine's cover not counted: `--pages 2` is the
    cover and two article pages), for generating a magazine until it fills the requested pages."""
    from tfgen.layout.compose import compose

    cover = 1 if kind == "magazine" else 0
    return lambda doc: len(compose(doc, kind, template=template, target=fmt, page_size=page_size).pages) - cover


def write_document_json(doc: Document, target: str | Path) -> Path:
    """The document as JSON, atomically."""
    path = Path(target)
    check_writable(path)
    write_text_atomic(path, doc.to_json() + "\n")
    return path


def render_document(doc: Document, kind: str, target: str | Path, fmt: str, template: str | None = None,
                    page_size: str | None = None, dpi: int = 150) -> tuple[list[Path], list[str], int]:
    """Compose and render `doc`; returns the paths written, the layout's warnings and its page count
    (all pages, a magazine's cover included)."""
    from tfgen.layout.compose import compose
    from tfgen.render import RenderOptions, write_layout

    layout = compose(doc, kind, template=template, target=fmt, page_size=page_size)
    written = write_layout(layout, str(target), fmt, RenderOptions(dpi=dpi, summary=doc.prompt))
    return written, list(layout.warnings), len(layout.pages)


def check_writable(path: Path) -> None:
    """Fail before generating when `path` can never be written."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError("the folder does not exist", where=str(parent))
    if path.is_dir():
        raise OutputError("is a folder, not a file", where=str(path))
    import os

    if not os.access(parent, os.W_OK):
        raise OutputError("the folder is not writable", where=str(parent))
