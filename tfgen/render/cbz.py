"""CBZ backend (comics): the page PNGs in a zip with a ComicInfo.xml, as comic readers expect.

Entries are stored in a fixed order (ComicInfo.xml, then pages 001.png, 002.png, ...) with a
fixed date, so identical input gives identical bytes.
"""

from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import escape

from tfgen.layout.tree import Layout, rights_notice
from tfgen.render.png import DEFAULT_DPI, render_png_pages

ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def comic_info_xml(layout: Layout, summary: str = "") -> str:
    """ComicInfo.xml (the Anansi schema comic readers use) for the layout."""
    fields = [
        ("Title", layout.title),
        ("Summary", summary or layout.subject),
        # The schema has no rights field; Notes, its free-text one, follows Summary in its sequence.
        ("Notes", rights_notice(layout.rights)),
        ("Writer", "tfgen"),
        ("Tags", ", ".join(layout.keywords)),  # the schema's sequence puts Tags before PageCount
        ("PageCount", str(len(layout.pages))),
    ]
    if layout.rtl:
        fields.append(("Manga", "YesAndRightToLeft"))
    body = "".join(f"  <{k}>{escape(v)}</{k}>\n" for k, v in fields if v)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<ComicInfo xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        f"{body}</ComicInfo>\n"
    )


def render_cbz(layout: Layout, dpi: int = DEFAULT_DPI, summary: str = "") -> bytes:
    """The layout's pages as a CBZ archive. `summary` is the prompt (layout.subject when empty)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        _add(zf, "ComicInfo.xml", comic_info_xml(layout, summary).encode("utf-8"), zipfile.ZIP_DEFLATED)
        for i, png in enumerate(render_png_pages(layout, dpi), 1):
            # PNG is already compressed: store it.
            _add(zf, f"{i:03d}.png", png, zipfile.ZIP_STORED)
    return out.getvalue()


def _add(zf: zipfile.ZipFile, name: str, data: bytes, method: int) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = method
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)
