"""Font fallback: characters a face lacks (CJK, emoji, ...) are drawn with a system face that has them.

How it works, so that measuring and drawing agree:
- `resolve_face(text, font)` picks the face a text box is laid out with: `font` itself when it
  covers the text, else the first system fallback face that covers all of it (e.g. DejaVu Sans
  for Greek or Cyrillic, Droid Sans Fallback for pure CJK).
- When no single face covers a mixed text (e.g. Latin + CJK: Droid Sans Fallback has no Latin),
  the box keeps `font` and the characters it lacks are drawn in fallback runs: `runs(text, font)`
  splits a line into (text, face key) pieces. `textfit.text_width` measures the same runs, and
  the backends draw them, so the line breaks hold.
- Characters that no face on this machine has are named in a warning; the composer replaces them
  with "?" (`replace_uncovered`) so nothing is silently lost and no empty boxes are drawn.
Fallback faces are registered in `tfgen.layout.fonts` under keys "fallback-<file stem>".
"""

from __future__ import annotations

import functools
from pathlib import Path

from tfgen.layout import fonts

# Searched in order; only TrueType files (reportlab cannot embed CFF-flavoured OpenType).
FALLBACK_CANDIDATES: tuple[tuple[str, str], ...] = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVu Sans"),
    ("/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc", "Noto Sans CJK SC"),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", "Droid Sans Fallback"),
    ("/usr/share/fonts/truetype/droid/DroidSansFallback.ttf", "Droid Sans Fallback"),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "WenQuanYi Micro Hei"),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", "WenQuanYi Zen Hei"),
    ("/usr/share/fonts/truetype/unifont/unifont.ttf", "Unifont"),
)
REPLACEMENT = "?"


def _ignorable(ch: str) -> bool:
    """Whitespace and control characters are never drawn as glyphs."""
    return ch.isspace() or ord(ch) < 32


@functools.lru_cache(maxsize=None)
def _cmap(font: str) -> frozenset[int]:
    """Code points the face maps to a glyph."""
    from reportlab.pdfbase import pdfmetrics

    face = pdfmetrics.getFont(fonts.register_pdf(font)).face
    return frozenset(cp for cp, glyph in face.charToGlyph.items() if glyph)


def missing_chars(text: str, font: str) -> set[str]:
    """Characters of `text` that the face `font` has no glyph for."""
    cmap = _cmap(font)
    return {ch for ch in set(text) if not _ignorable(ch) and ord(ch) not in cmap}


@functools.lru_cache(maxsize=1)
def fallback_faces() -> tuple[str, ...]:
    """Keys of the fallback faces present on this machine (registered on first use)."""
    keys: list[str] = []
    for path, family in FALLBACK_CANDIDATES:
        p = Path(path)
        if not p.is_file() or p.suffix != ".ttf":
            continue
        key = "fallback-" + p.stem.lower()
        try:
            fonts.register_face(key, p, family)
            fonts.register_pdf(key)
        except Exception:  # a damaged system font must not stop the run; skip it
            fonts.FACES.pop(key, None)
            continue
        keys.append(key)
    return tuple(keys)


def face_for_char(ch: str, font: str) -> str | None:
    """The face that draws `ch`: `font` if it can, else the first fallback that can, else None."""
    if _ignorable(ch) or ord(ch) in _cmap(font):
        return font
    for key in fallback_faces():
        if ord(ch) in _cmap(key):
            return key
    return None


def uncovered_chars(text: str, font: str) -> set[str]:
    """Characters that neither `font` nor any fallback face has."""
    return {ch for ch in missing_chars(text, font) if face_for_char(ch, font) is None}


def resolve_face(text: str, font: str) -> tuple[str, str | None]:
    """The face to lay `text` out with, and a warning naming characters no face has (or None)."""
    missing = missing_chars(text, font)
    if not missing:
        return font, None
    for key in fallback_faces():
        if not missing_chars(text, key):
            return key, None
    lost = uncovered_chars(text, font)
    if not lost:
        return font, None  # mixed text: drawn with fallback runs
    shown = "".join(sorted(lost))
    return font, f"no font has the characters {shown!r}; they are shown as {REPLACEMENT!r}"


def replace_uncovered(text: str, font: str) -> str:
    """`text` with the characters no face has replaced by '?'."""
    lost = uncovered_chars(text, font)
    return "".join(REPLACEMENT if ch in lost else ch for ch in text) if lost else text


def runs(text: str, font: str) -> list[tuple[str, str]]:
    """Split `text` into maximal (piece, face key) runs; characters no face has stay with `font`."""
    out: list[tuple[str, str]] = []
    for ch in text:
        key = face_for_char(ch, font) or font
        if out and out[-1][1] == key:
            out[-1] = (out[-1][0] + ch, key)
        else:
            out.append((ch, key))
    return out


def prepare_text(text: str, font: str) -> tuple[str, str, str | None]:
    """What a composer calls for each text: (face key, text safe to draw, warning or None)."""
    key, warning = resolve_face(text, font)
    return key, (replace_uncovered(text, key) if warning else text), warning
