"""One entry point from a Document to a Layout: pick the composer for the kind, load its template.

Every composer has the signature `compose_<kind>(doc, template, target, page_size) -> Layout`,
where `template` is a loaded `Template`, `target` the output format (it picks the faces through
`fonts.for_target`: PPTX layouts use metric-compatible Liberation faces) and `page_size` an
already validated name from PAGE_SIZES or None for the template's default.
"""

from __future__ import annotations

import importlib

from tfgen.document import Document
from tfgen.errors import TfgenError
from tfgen.layout.templates import Template, load_template
from tfgen.layout.tree import Layout

# Page sizes in points (width, height). 16:9 is exactly 12192000 x 6858000 EMU, 4:3 9144000 x 6858000.
PAGE_SIZES: dict[str, tuple[float, float]] = {
    "A4": (595.276, 841.89),
    "letter": (612.0, 792.0),
    "16:9": (960.0, 540.0),
    "4:3": (720.0, 540.0),
}
SIZES_FOR_KIND: dict[str, tuple[str, ...]] = {
    "comic": ("A4", "letter"),
    "magazine": ("A4", "letter"),
    "deck": ("16:9", "4:3"),
}
TARGETS = ("pdf", "pptx", "png", "cbz")
_COMPOSERS = {
    "comic": ("tfgen.layout.comic", "compose_comic"),
    "magazine": ("tfgen.layout.magazine", "compose_magazine"),
    "deck": ("tfgen.layout.deck", "compose_deck"),
}


def normalize_page_size(page_size: str | None, kind: str, where: str = "--page-size") -> str | None:
    """The canonical name of `page_size` for `kind` ("a4" -> "A4"), None stays None."""
    if page_size is None:
        return None
    allowed = SIZES_FOR_KIND[kind]
    for name in allowed:
        if page_size.strip().lower() == name.lower():
            return name
    raise TfgenError(f"page size {page_size!r} is not one of {', '.join(allowed)} for a {kind}", where=where)


def page_points(page_size: str) -> tuple[float, float]:
    """(width, height) in points of a page size named in PAGE_SIZES."""
    return PAGE_SIZES[page_size]


def template_page_size(template: Template, kind: str, page_size: str | None) -> tuple[str, float, float]:
    """The page size to use: the caller's, else the template's `page.size`, else the kind's first."""
    if page_size is None:
        page_size = template.get_choice("page.size", SIZES_FOR_KIND[kind], default=SIZES_FOR_KIND[kind][0])
    name = normalize_page_size(page_size, kind)
    width, height = page_points(name)
    return name, width, height


def compose(doc: Document, kind: str, template: str | None = None, target: str = "pdf", page_size: str | None = None) -> Layout:
    """Lay out `doc` as `kind` with the named (or file) template, for output format `target`."""
    if kind not in _COMPOSERS:
        raise TfgenError(f"unknown kind {kind!r} (one of {', '.join(_COMPOSERS)})", where="--as")
    if target not in TARGETS:
        raise TfgenError(f"unknown output format {target!r} (one of {', '.join(TARGETS)})", where="--format")
    if target == "cbz" and kind != "comic":
        raise TfgenError("CBZ is for comics only", where="--format")
    page_size = normalize_page_size(page_size, kind)
    loaded = load_template(kind, template)
    module_name, function_name = _COMPOSERS[kind]
    composer = getattr(importlib.import_module(module_name), function_name)
    return composer(doc, loaded, target, page_size)
