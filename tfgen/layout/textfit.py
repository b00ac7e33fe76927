"""Text fitting with real font metrics: measure, wrap, shrink, and hand back what does not fit.

Conventions every composer and backend share (stated once here, tested in tests/test_textfit.py):

- Sizes and widths are points. A line is `size * leading` tall (`line_height`).
- Vertical placement follows the CSS "half-leading" model: inside each line box the glyphs
  (ascent + descent, normalised to one em) are centred, so the baseline of a line sits
  `(leading - 1) * size / 2 + ascent_fraction(font) * size` below the line box's top.
  `first_baseline(font, size, leading)` returns exactly that offset for the first line; line `i`
  has its baseline `i * line_height(size, leading)` lower. Backends import this function, so PDF,
  PNG and PPTX put the baselines in the same place.
- Paragraphs are stacked with `paragraph_gap` points between them (not after the last one);
  `text_height` is the height a backend draws.
- Bullets hang: a bullet of level `L` draws its glyph at x offset `bullet_glyph_indent(L, size)
  = L * BULLET_INDENT_EM * size` and every wrapped line of its text at `bullet_text_indent(L, size)
  = (L + 1) * BULLET_INDENT_EM * size` (BULLET_INDENT_EM = 1.2, so 1.2 em per level).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from tfgen.layout import fonts
from tfgen.layout.tree import Paragraph

BULLET_INDENT_EM = 1.2  # one indentation step, in ems of the text size
BULLET_GLYPH = "\u2022"
_EPS = 1e-6


# --- measuring --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _char_widths(font: str) -> tuple[dict[int, float], float]:
    """The face's advance widths at 1 pt, per code point, and the default for missing glyphs."""
    from reportlab.pdfbase import pdfmetrics

    face = pdfmetrics.getFont(fonts.register_pdf(font)).face
    # Only code points with a real glyph (not .notdef): the others are drawn by a fallback face.
    drawn = {cp for cp, glyph in face.charToGlyph.items() if glyph}
    widths = {cp: w / 1000.0 for cp, w in face.charWidths.items() if cp in drawn}
    return widths, face.defaultWidth / 1000.0


@functools.lru_cache(maxsize=None)
def ascent_fraction(font: str) -> float:
    """The face's ascent as a fraction of ascent + descent (one em of glyph height)."""
    from reportlab.pdfbase import pdfmetrics

    face = pdfmetrics.getFont(fonts.register_pdf(font)).face
    ascent, descent = float(face.ascent), abs(float(face.descent))
    return ascent / (ascent + descent) if ascent + descent > 0 else 0.8


@functools.lru_cache(maxsize=4096)
def _fallback_width(ch: str, font: str) -> float:
    """Width at 1 pt of a character `font` lacks, in the fallback face that draws it."""
    from tfgen.layout import fallback

    key = fallback.face_for_char(ch, font)
    widths, default = _char_widths(key or font)
    return widths.get(ord(ch), default)


def text_width(text: str, font: str, size: float) -> float:
    """Width of `text` in points at `size`, as reportlab measures it (no kerning).

    Characters the face lacks are measured in the fallback face that draws them (fallback.runs).
    """
    widths, _ = _char_widths(font)
    total = 0.0
    for ch in text:
        w = widths.get(ord(ch))
        total += _fallback_width(ch, font) if w is None else w
    return total * size


def line_height(size: float, leading: float = 1.2) -> float:
    return size * leading


def first_baseline(font: str, size: float, leading: float = 1.2) -> float:
    """Offset from the top of a text area to the first baseline (see the module docstring)."""
    return (leading - 1.0) * size / 2.0 + ascent_fraction(font) * size


def bullet_text_indent(level: int | None, size: float) -> float:
    """Left offset of a bullet's text (all its lines) from the text area's left edge; 0 for prose."""
    return 0.0 if level is None else (level + 1) * BULLET_INDENT_EM * size


def bullet_glyph_indent(level: int, size: float) -> float:
    """Left offset at which the bullet glyph of a level-`level` bullet is drawn."""
    return level * BULLET_INDENT_EM * size


# --- wrapping ---------------------------------------------------------------------------------


@dataclass
class _Line:
    text: str
    broken_word: bool = False  # the line ends inside a word (character break)


def _break_word(word: str, font: str, size: float, width: float) -> list[str]:
    """Split a word wider than `width` into pieces that fit (at least one character each)."""
    pieces: list[str] = []
    current = ""
    for ch in word:
        if current and text_width(current + ch, font, size) > width + _EPS:
            pieces.append(current)
            current = ch
        else:
            current += ch
    if current:
        pieces.append(current)
    return pieces


def _wrap_lines(text: str, font: str, size: float, width: float) -> list[_Line]:
    lines: list[_Line] = []
    space = text_width(" ", font, size)
    for hard_line in text.split("\n"):
        current: list[str] = []
        current_w = 0.0
        for word in hard_line.split():
            w = text_width(word, font, size)
            if current and current_w + space + w <= width + _EPS:
                current.append(word)
                current_w += space + w
                continue
            if current:
                lines.append(_Line(" ".join(current)))
                current, current_w = [], 0.0
            if w <= width + _EPS:
                current, current_w = [word], w
                continue
            pieces = _break_word(word, font, size, width)
            lines.extend(_Line(p, broken_word=True) for p in pieces[:-1])
            current, current_w = [pieces[-1]], text_width(pieces[-1], font, size)
        if current:
            lines.append(_Line(" ".join(current)))
    return lines


def wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Greedy word wrap to `width` points; a word wider than the width is broken by characters."""
    return [line.text for line in _wrap_lines(text, font, size, width)]


def _join_lines(lines: list[_Line]) -> str:
    """Inverse of wrapping (up to whitespace): rejoin lines, without a space inside broken words."""
    out = ""
    for i, line in enumerate(lines):
        out += line.text
        if i < len(lines) - 1 and not line.broken_word:
            out += " "
    return out


# --- fitting ----------------------------------------------------------------------------------

ParagraphSpec = tuple[str, "int | None"]  # (text, bullet level or None)


@dataclass
class FitResult:
    """The fitted paragraphs at `size`; `overflow` is what did not fit (empty when `fits`)."""

    size: float
    paragraphs: list[Paragraph]
    fits: bool
    overflow: list[tuple[str, int | None]] = field(default_factory=list)


def _wrap_paragraph(text: str, level: int | None, font: str, size: float, width: float) -> list[_Line]:
    return _wrap_lines(text, font, size, max(width - bullet_text_indent(level, size), 1.0))


def text_height(paragraphs: list[Paragraph], size: float, leading: float = 1.2, paragraph_gap: float = 0.0) -> float:
    """Height the paragraphs take when drawn: lines * size * leading, plus gaps between paragraphs."""
    if not paragraphs:
        return 0.0
    n_lines = sum(len(p.lines) for p in paragraphs)
    return n_lines * line_height(size, leading) + paragraph_gap * (len(paragraphs) - 1)


def _sizes(max_size: float, min_size: float, step: float) -> list[float]:
    """Candidate sizes from max_size down to min_size (min_size always included)."""
    sizes: list[float] = []
    size = max_size
    while size > min_size + _EPS:
        sizes.append(round(size, 4))
        size -= step
    sizes.append(min_size)
    return sizes


def _layout_at(specs, font, size, width) -> list[tuple[str, int | None, list[_Line]]]:
    return [(text, level, _wrap_paragraph(text, level, font, size, width)) for text, level in specs]


def _height_of(wrapped, size, leading, paragraph_gap) -> float:
    n_lines = sum(len(lines) for _, _, lines in wrapped)
    return n_lines * size * leading + paragraph_gap * max(len(wrapped) - 1, 0)


def _to_paragraphs(wrapped) -> list[Paragraph]:
    return [Paragraph(text, tuple(line.text for line in lines), level) for text, level, lines in wrapped]


def fit_text(
    paragraphs: list[tuple[str, int | None]],
    width: float,
    height: float,
    font: str,
    max_size: float,
    min_size: float,
    leading: float = 1.2,
    paragraph_gap: float = 0.0,
    step: float = 0.5,
) -> FitResult:
    """Wrap at max_size, shrink in `step`s to min_size; what still does not fit comes back as overflow."""
    specs = [(text, level) for text, level in paragraphs if text.strip()]
    if max_size < min_size:
        max_size = min_size
    sizes = _sizes(max_size, min_size, max(step, 0.05))
    # Greedy wrapping makes height almost monotone in size, so binary search the first size that
    # fits; only sizes that were measured to fit are ever returned.
    lo, hi, best = 0, len(sizes) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        wrapped = _layout_at(specs, font, sizes[mid], width)
        if _height_of(wrapped, sizes[mid], leading, paragraph_gap) <= height + _EPS:
            best = (sizes[mid], wrapped)
            hi = mid - 1
        else:
            lo = mid + 1
    if best is not None:
        return FitResult(best[0], _to_paragraphs(best[1]), True, [])
    return _split_at_min(specs, font, min_size, width, height, leading, paragraph_gap)


def _split_at_min(specs, font, size, width, height, leading, paragraph_gap) -> FitResult:
    """At the minimum size: whole paragraphs first, then the lines of one paragraph that still fit."""
    wrapped = _layout_at(specs, font, size, width)
    line_h = size * leading
    kept: list[tuple[str, int | None, list[_Line]]] = []
    used = 0.0
    overflow: list[tuple[str, int | None]] = []
    for index, (text, level, lines) in enumerate(wrapped):
        gap = paragraph_gap if kept else 0.0
        need = gap + len(lines) * line_h
        if used + need <= height + _EPS:
            kept.append((text, level, lines))
            used += need
            continue
        room_lines = int((height - used - gap + _EPS) // line_h)
        if room_lines > 0:
            head, tail = lines[:room_lines], lines[room_lines:]
            kept.append((_join_lines(head), level, head))
            overflow.append((_join_lines(tail), level))
        else:
            overflow.append((text, level))
        overflow.extend((t, lv) for t, lv, _ in wrapped[index + 1 :])
        break
    return FitResult(size, _to_paragraphs(kept), False, overflow)
