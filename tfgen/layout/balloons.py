"""Text inside one comic panel: a caption box at the top and speech balloons in a staircase below.

Reading order inside a panel: the caption first, then the balloons, each one lower than the one
before and alternating sides, starting on the reading side (left, or right for right-to-left).
Everything placed here covers at most `max_area` of the panel (a quarter by default); text that does
not fit at the minimum sizes comes back as overflow for the caption strip under the panel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tfgen.layout import textfit
from tfgen.layout.tree import Balloon, Paragraph, Rect, TextBox, TextStyle

GAP = 4.0  # points between a caption and the first balloon, and between stacked balloons
LEADING = 1.15
ELLIPSE_MAX_LINES = 3  # longer speeches get a rounded box: an ellipse wastes half its area
STEP = 0.5
BALLOON_ASPECT = 3.5  # preferred width : height of a balloon's text block


@dataclass(frozen=True)
class TextSpec:
    """One text style of a comic template (balloons or captions)."""

    font: str
    size: float
    min_size: float
    color: str
    fill: str
    stroke: str


@dataclass
class PanelText:
    """What a panel says: narration (caption box) and dialogue lines (speaker, text)."""

    captions: list[str] = field(default_factory=list)
    dialogue: list[tuple[str, str]] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not self.captions and not self.dialogue


@dataclass
class Placement:
    """The boxes placed in a panel and what did not fit."""

    caption: TextBox | None = None
    balloons: list[Balloon] = field(default_factory=list)
    overflow: PanelText = field(default_factory=PanelText)


@dataclass
class _Shape:
    """A measured balloon before it is placed: outer size and text-area size."""

    speaker: str
    paragraphs: list[Paragraph]
    size: float
    outer_w: float
    outer_h: float
    text_w: float
    text_h: float
    kind: str


def _padding(size: float) -> float:
    return 0.45 * size + 2.0


def _measure_balloon(speaker: str, text: str, spec: TextSpec, size: float, max_w: float) -> _Shape:
    pad = _padding(size)
    # Wrap to a balanced block (about BALLOON_ASPECT wide per unit of height), not one long flat line.
    one_line = textfit.text_width(text, spec.font, size)
    balanced = math.sqrt(one_line * size * LEADING * BALLOON_ASPECT)
    wrap_w = min(max(max_w - 2 * pad, size), max(balanced, 6 * size))
    lines = textfit.wrap(text, spec.font, size, wrap_w)
    text_w = max(textfit.text_width(line, spec.font, size) for line in lines) if lines else size
    text_h = len(lines) * size * LEADING
    para = [Paragraph(text, tuple(lines))]
    if len(lines) <= ELLIPSE_MAX_LINES:
        # An ellipse through the corners of the padded text block: each semi-axis sqrt(2) larger.
        outer_w, outer_h = (text_w + 2 * pad) * math.sqrt(2), (text_h + pad) * math.sqrt(2)
        if outer_w <= max_w:
            return _Shape(speaker, para, size, outer_w, outer_h, text_w, text_h, "ellipse")
    return _Shape(speaker, para, size, text_w + 2 * pad, text_h + 2 * pad, text_w, text_h, "rounded")


def _stack(shapes: list[_Shape], inner: Rect, top: float, rtl: bool, clearance: float = GAP) -> list[Rect]:
    """Staircase positions: alternate sides, each balloon lower than the previous one and clear
    of every earlier balloon it would share columns with (by `clearance`, room for its tail)."""
    rects: list[Rect] = []
    y = top
    for i, shape in enumerate(shapes):
        at_left = (i % 2 == 0) != rtl
        x = inner.x if at_left else inner.right - shape.outer_w
        if rects:
            prev = rects[-1]
            y = prev.y + (prev.h * 0.5 if prev.w + shape.outer_w + GAP <= inner.w else prev.h + GAP)
            for earlier in rects:  # never on top of an earlier balloon in the same columns
                if earlier.x < x + shape.outer_w and x < earlier.right:
                    y = max(y, earlier.bottom + clearance)
        rects.append(Rect(x, y, shape.outer_w, shape.outer_h))
    return rects


def _stack_bottom(rects: list[Rect], top: float) -> float:
    return max((r.bottom for r in rects), default=top)


def _tail_length(panel: Rect) -> float:
    return min(16.0, panel.h * 0.08)


def _make_balloon(shape: _Shape, rect: Rect, spec: TextSpec, frame: Rect, group: int) -> Balloon:
    text_rect = Rect(rect.x + (rect.w - shape.text_w) / 2, rect.y + (rect.h - shape.text_h) / 2, shape.text_w, shape.text_h)
    # The tail points down and toward the middle of the panel, where the picture's subject is.
    cx = rect.x + rect.w / 2
    tail_x = cx + (frame.x + frame.w / 2 - cx) * 0.3
    tail_x = min(max(tail_x, rect.x + 0.2 * rect.w), rect.right - 0.2 * rect.w)  # under its own balloon
    tail_y = min(rect.bottom + _tail_length(frame), frame.bottom - 1.0)
    style = TextStyle(spec.font, shape.size, spec.color, "center", LEADING)
    return Balloon(
        rect=rect,
        paragraphs=shape.paragraphs,
        style=style,
        tail=(tail_x, tail_y),
        speaker=shape.speaker,
        shape=shape.kind,
        fill=spec.fill,
        stroke=spec.stroke,
        text_rect=text_rect,
        group=group,
    )


def _caption_box(paragraphs: list[Paragraph], size: float, spec: TextSpec, inner: Rect, rtl: bool, group: int) -> TextBox:
    pad = _padding(size) * 0.7
    widest = max(textfit.text_width(line, spec.font, size) for p in paragraphs for line in p.lines)
    w = min(inner.w, widest + 2 * pad + 0.5)
    h = textfit.text_height(paragraphs, size, LEADING) + 2 * pad
    x = inner.x if not rtl else inner.right - w
    style = TextStyle(spec.font, size, spec.color, "left", LEADING)
    return TextBox(Rect(x, inner.y, w, h), paragraphs, style, role="caption", fill=spec.fill, stroke=spec.stroke, padding=pad, group=group)


def _try(text: PanelText, inner: Rect, frame: Rect, cap: TextSpec, bal: TextSpec, sizes, budget: float, rtl: bool, group: int, balloon_width: float):
    """Place everything at the given sizes; None if it does not fit in the space or the budget."""
    cap_size, bal_size = sizes
    max_w = min(inner.w, frame.w * balloon_width)
    shapes = [_measure_balloon(s, t, bal, bal_size, max_w) for s, t in text.dialogue]
    caption = None
    top = inner.y
    if text.captions:
        pad = _padding(cap_size) * 0.7
        paragraphs = [Paragraph(c, tuple(textfit.wrap(c, cap.font, cap_size, inner.w - 2 * pad - 0.5))) for c in text.captions]
        caption = _caption_box(paragraphs, cap_size, cap, inner, rtl, group)
        top = caption.rect.bottom + GAP
    rects = _stack(shapes, inner, top, rtl, _tail_length(frame) + 2.0)
    bottom = _stack_bottom(rects, top) + (_tail_length(frame) if rects else 0.0)
    area = sum(r.area for r in rects) + (caption.rect.area if caption else 0.0)
    if bottom > inner.bottom + 1e-6 or area > budget + 1e-6:
        return None
    return Placement(caption, [_make_balloon(s, r, bal, frame, group) for s, r in zip(shapes, rects)])


def place_panel_text(
    text: PanelText,
    frame: Rect,
    caption_spec: TextSpec,
    balloon_spec: TextSpec,
    group: int,
    rtl: bool = False,
    inset: float = 6.0,
    max_area: float = 0.25,
    balloon_width: float = 0.55,
) -> Placement:
    """Place a panel's caption and balloons inside `frame`, shrinking to the minimum sizes first."""
    inner = frame.inset(inset)
    budget = max_area * frame.area
    if text.is_empty():
        return Placement()
    if inner.w <= 0 or inner.h <= 0:
        return Placement(overflow=PanelText(list(text.captions), list(text.dialogue)))
    cap_size, bal_size = caption_spec.size, balloon_spec.size
    while True:
        placed = _try(text, inner, frame, caption_spec, balloon_spec, (cap_size, bal_size), budget, rtl, group, balloon_width)
        if placed is not None:
            return placed
        if cap_size <= caption_spec.min_size and bal_size <= balloon_spec.min_size:
            break
        cap_size = max(caption_spec.min_size, cap_size - STEP)
        bal_size = max(balloon_spec.min_size, bal_size - STEP)
    return _place_with_overflow(text, inner, frame, caption_spec, balloon_spec, budget, rtl, group, balloon_width)


def _sizes(spec: TextSpec) -> list[float]:
    sizes, size = [], spec.size
    while size > spec.min_size + 1e-9:
        sizes.append(size)
        size -= STEP
    return sizes + [spec.min_size]


def _fit_balloons(text: PanelText, inner: Rect, frame: Rect, bal: TextSpec, budget: float, rtl: bool, balloon_width: float):
    """The largest balloon size at which all balloons fit (in a share of the budget when there is
    narration too); at the minimum size, only the first balloons that fit. -> (shapes, rects)."""
    max_w = min(inner.w, frame.w * balloon_width)
    tail = _tail_length(frame)
    share = budget * (0.6 if text.captions else 1.0)
    for size in _sizes(bal):
        shapes = [_measure_balloon(s, t, bal, size, max_w) for s, t in text.dialogue]
        rects = _stack(shapes, inner, inner.y, rtl, _tail_length(frame) + 2.0)
        if _stack_bottom(rects, inner.y) + tail <= inner.bottom and sum(r.area for r in rects) <= share:
            return shapes, rects
    kept = len(shapes)
    while kept > 0:
        rects = _stack(shapes[:kept], inner, inner.y, rtl, _tail_length(frame) + 2.0)
        if _stack_bottom(rects, inner.y) + tail <= inner.bottom and sum(r.area for r in rects) <= budget:
            return shapes[:kept], rects
        kept -= 1
    return [], []


def _place_with_overflow(text, inner, frame, cap, bal, budget, rtl, group, balloon_width) -> Placement:
    """When everything does not fit: balloons first (as large as they fit), then as much narration
    as fits above them; the rest comes back as overflow."""
    shapes, rects = _fit_balloons(text, inner, frame, bal, budget, rtl, balloon_width)
    kept = len(shapes)
    stack_h = (_stack_bottom(rects, inner.y) - inner.y + _tail_length(frame) + GAP) if kept else 0.0
    overflow = PanelText([], list(text.dialogue[kept:]))
    caption = None
    if text.captions:
        pad = _padding(cap.size) * 0.7  # the largest padding any caption size uses
        room = min(inner.h - stack_h, (budget - sum(r.area for r in rects)) / inner.w)
        fit = textfit.fit_text([(c, None) for c in text.captions], inner.w - 2 * pad - 0.5, room - 2 * pad, cap.font, cap.size, cap.min_size, LEADING)
        overflow.captions = [t for t, _ in fit.overflow]
        if fit.paragraphs:
            caption = _caption_box(fit.paragraphs, fit.size, cap, inner, rtl, group)
            shift = caption.rect.bottom + GAP - inner.y
            rects = [Rect(r.x, r.y + shift, r.w, r.h) for r in rects]
    balloons = [_make_balloon(s, r, bal, frame, group) for s, r in zip(shapes, rects)]
    return Placement(caption, balloons, overflow)
