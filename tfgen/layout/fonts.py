"""The font registry: one key per face, the TTF behind it, and its metrics.

Layout measures text with the same TTF files the PDF embeds and the PNG backend rasterises, so
all three show the same line breaks. PPTX cannot embed fonts, so layouts made for PPTX use the
Liberation faces, which are metric-compatible with Arial and Times New Roman: the PPTX names
those, every viewer has them (LibreOffice maps them back to Liberation), and the wrapping holds.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from tfgen.errors import TfgenError
from tfgen.resources import fonts_dir


@dataclass(frozen=True)
class Face:
    key: str
    path: Path
    pptx_name: str  # the family name written into PPTX files
    bold: bool = False
    italic: bool = False

    @property
    def pdf_name(self) -> str:
        """The name the face is registered under in reportlab."""
        return "tfgen-" + self.key


def _pkg_font(module: str, filename: str) -> Path:
    mod = __import__(module)
    return Path(mod.__file__).parent / "files" / filename


def _faces() -> dict[str, Face]:
    lib = fonts_dir()
    table = [
        ("sans", "font_source_sans_pro", "SourceSansPro-Regular.ttf", "Source Sans Pro", False, False),
        ("sans-bold", "font_source_sans_pro", "SourceSansPro-Bold.ttf", "Source Sans Pro", True, False),
        ("sans-italic", "font_source_sans_pro", "SourceSansPro-It.ttf", "Source Sans Pro", False, True),
        ("serif", "font_source_serif_pro", "SourceSerifPro-Regular.ttf", "Source Serif Pro", False, False),
        ("serif-bold", "font_source_serif_pro", "SourceSerifPro-Bold.ttf", "Source Serif Pro", True, False),
        ("serif-italic", "font_source_serif_pro", "SourceSerifPro-It.ttf", "Source Serif Pro", False, True),
        ("comic", "font_fredoka_one", "FredokaOne-Regular.ttf", "Fredoka One", False, False),
    ]
    faces = {key: Face(key, _pkg_font(mod, fn), name, b, i) for key, mod, fn, name, b, i in table}
    for key, fn, name, b, i in [
        ("arial", "LiberationSans-Regular.ttf", "Arial", False, False),
        ("arial-bold", "LiberationSans-Bold.ttf", "Arial", True, False),
        ("arial-italic", "LiberationSans-Italic.ttf", "Arial", False, True),
        ("times", "LiberationSerif-Regular.ttf", "Times New Roman", False, False),
        ("times-bold", "LiberationSerif-Bold.ttf", "Times New Roman", True, False),
        ("times-italic", "LiberationSerif-Italic.ttf", "Times New Roman", False, True),
    ]:
        faces[key] = Face(key, lib / fn, name, b, i)
    return faces


FACES: dict[str, Face] = _faces()

# What each face becomes in a layout made for PPTX (metric-compatible faces a viewer has).
PPTX_EQUIVALENT = {
    "sans": "arial",
    "sans-bold": "arial-bold",
    "sans-italic": "arial-italic",
    "serif": "times",
    "serif-bold": "times-bold",
    "serif-italic": "times-italic",
    "comic": "arial-bold",
}


def face(key: str) -> Face:
    try:
        return FACES[key]
    except KeyError:
        raise TfgenError(f"unknown font {key!r} (one of {', '.join(sorted(FACES))})") from None


def for_target(key: str, target: str) -> str:
    """The face key to lay out with when the output is `target` (pdf, png, pptx, cbz)."""
    face(key)
    return PPTX_EQUIVALENT.get(key, key) if target == "pptx" else key


@functools.lru_cache(maxsize=None)
def register_pdf(key: str) -> str:
    """Register the face with reportlab (once) and return its reportlab name."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    f = face(key)
    pdfmetrics.registerFont(TTFont(f.pdf_name, str(f.path)))
    return f.pdf_name


def register_face(key: str, path: Path, pptx_name: str, bold: bool = False, italic: bool = False) -> Face:
    """Add a face found at run time (a system fallback font) to the registry under `key`.

    Idempotent: registering the same key and path again returns the existing face.
    """
    existing = FACES.get(key)
    if existing is not None:
        if existing.path != Path(path):
            raise TfgenError(f"font key {key!r} is already registered for {existing.path}")
        return existing
    FACES[key] = Face(key, Path(path), pptx_name, bold, italic)
    return FACES[key]
