"""Layout checks as data: what every composer's tests assert about a Layout, without a file.

`check_layout` returns a list of problems (empty = good): every box inside its page, no overlap
except the pairs in ALLOWED_OVERLAPS, every text at or above its role's minimum size and inside its
box, images not stretched, speech balloons numbered in reading order, and balloon tails ending
inside their own panel and outside other balloons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from tfgen.layout import textfit
from tfgen.layout.imagefit import aspect_error
from tfgen.layout.tree import Balloon, Box, ImageBox, Layout, Page, Rect, Shape, TextBox

# Minimum text sizes (points) per role, from the issue: printed body 8, balloons/captions 7,
# slide body 18, slide titles 28. Composers' tests pass the table for their medium.
PRINT_MIN_SIZES: dict[str, float] = {"body": 8.0, "balloon": 7.0, "caption": 7.0, "title": 8.0, "heading": 8.0}
SLIDE_MIN_SIZES: dict[str, float] = {"body": 18.0, "title": 28.0}

_TOL = 0.05  # points: rounding slack for edges that touch


@dataclass(frozen=True)
class OverlapRule:
    """Boxes of type/role `upper` may lie over boxes of type/role `lower` (drawn earlier).

    A side matches a box by class name ("TextBox"), by role ("role:caption") or anything ("*").
    `same_group`: only when both boxes carry the same, non-None `group` (panel, slide, figure).
    """

    upper: str
    lower: str
    same_group: bool
    why: str


# The one table of overlaps a layout may contain. Anything else that overlaps is a problem.
ALLOWED_OVERLAPS: tuple[OverlapRule, ...] = (
    OverlapRule("Balloon", "ImageBox", True, "a speech balloon over its own panel's image"),
    OverlapRule("TextBox", "ImageBox", True, "a caption or text over its own panel's/slide's image"),
    OverlapRule("*", "Shape", True, "anything over a frame or background shape of its own group"),
    OverlapRule("*", "role:page-background", False, "anything over a page-wide background shape"),
    OverlapRule("role:panel-frame", "*", True, "a panel's border drawn around its own contents"),
)


def _matches(pattern: str, box: Box) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("role:"):
        return getattr(box, "role", None) == pattern[5:]
    return type(box).__name__ == pattern


def overlap_allowed(upper: Box, lower: Box, rules: Iterable[OverlapRule] = ALLOWED_OVERLAPS) -> bool:
    """True if `upper` (drawn later) may overlap `lower` under one of `rules`."""
    for rule in rules:
        if not (_matches(rule.upper, upper) and _matches(rule.lower, lower)):
            continue
        if not rule.same_group or (upper.group is not None and upper.group == lower.group):
            return True
    return False


def _describe(index: int, box: Box) -> str:
    return f"{type(box).__name__}#{index}({getattr(box, 'role', '')}, group {box.group})"


# --- individual checks ------------------------------------------------------------------------


def _check_inside_page(page: Page, where: str) -> list[str]:
    problems = []
    sheet = Rect(0, 0, page.width, page.height)
    for i, box in enumerate(page.boxes):
        if not sheet.contains(box.rect, tol=_TOL):
            problems.append(f"{where}: {_describe(i, box)} {box.rect} is outside the page")
        if isinstance(box, Balloon):
            x, y = box.tail
            if not (-_TOL <= x <= page.width + _TOL and -_TOL <= y <= page.height + _TOL):
                problems.append(f"{where}: {_describe(i, box)} tail {box.tail} is outside the page")
    return problems


def _check_overlaps(page: Page, where: str, rules: tuple[OverlapRule, ...]) -> list[str]:
    problems = []
    boxes = page.boxes
    for j in range(len(boxes)):
        upper = boxes[j]
        shrunk_upper = upper.rect.inset(_TOL)
        for i in range(j):
            lower = boxes[i]
            if shrunk_upper.intersection(lower.rect.inset(_TOL)) <= 0:
                continue
            if overlap_allowed(upper, lower, rules) or overlap_allowed(lower, upper, rules):
                continue
            problems.append(f"{where}: {_describe(j, upper)} overlaps {_describe(i, lower)}")
    return problems


def _text_area(box: TextBox | Balloon) -> Rect:
    if isinstance(box, Balloon):
        return box.text_rect or box.rect
    return box.rect.inset(box.padding)


def _check_text(page: Page, where: str, min_sizes: dict[str, float]) -> list[str]:
    problems = []
    for i, box in enumerate(page.boxes):
        if not isinstance(box, (TextBox, Balloon)):
            continue
        name = _describe(i, box)
        size = box.style.size
        minimum = min_sizes.get(box.role, min_sizes.get("*"))
        if minimum is not None and size < minimum - 1e-6:
            problems.append(f"{where}: {name} text is {size:g} pt, below the {minimum:g} pt minimum")
        area = _text_area(box)
        if isinstance(box, Balloon) and not box.rect.contains(area, tol=_TOL):
            problems.append(f"{where}: {name} text area is outside its balloon")
        gap = box.paragraph_gap if isinstance(box, TextBox) else 0.0
        height = textfit.text_height(box.paragraphs, size, box.style.leading, gap)
        if height > area.h + _TOL:
            problems.append(f"{where}: {name} text is {height:.1f} pt tall in a {area.h:.1f} pt box")
        for para in box.paragraphs:
            indent = textfit.bullet_text_indent(para.bullet_level, size)
            for line in para.lines:
                width = indent + textfit.text_width(line, box.style.font, size)
                if width > area.w + _TOL:
                    problems.append(f"{where}: {name} line {line!r} is {width:.1f} pt wide in {area.w:.1f} pt")
    return problems


def _check_images(page: Page, where: str) -> list[str]:
    problems = []
    for i, box in enumerate(page.boxes):
        if not isinstance(box, ImageBox):
            continue
        x0, y0, x1, y1 = box.src
        if not (0 <= x0 < x1 <= box.image.width and 0 <= y0 < y1 <= box.image.height):
            problems.append(f"{where}: {_describe(i, box)} crop {box.src} is outside the image")
            continue
        # Crops are whole pixels, so allow one pixel of rounding on the shorter side.
        tolerance = max(0.01, 1.0 / min(x1 - x0, y1 - y0))
        if aspect_error(box.src, box.rect) > tolerance:
            problems.append(f"{where}: {_describe(i, box)} is stretched (aspect error {aspect_error(box.src, box.rect):.3f})")
    return problems


def _panel_rects(page: Page) -> dict[int, Rect]:
    """Each group's extent: the union of its images and shapes (its panel)."""
    rects: dict[int, Rect] = {}
    for box in page.boxes:
        if box.group is None or not isinstance(box, (ImageBox, Shape)):
            continue
        r = rects.get(box.group)
        if r is None:
            rects[box.group] = box.rect
        else:
            x, y = min(r.x, box.rect.x), min(r.y, box.rect.y)
            rects[box.group] = Rect(x, y, max(r.right, box.rect.right) - x, max(r.bottom, box.rect.bottom) - y)
    return rects


def reads_before(a: Rect, b: Rect, rtl: bool = False) -> bool:
    """True if a reader meets `a` no later than `b`: `a` is above `b`, or level with it and
    to the left (to the right when `rtl`)."""
    if a.bottom <= b.y + _TOL:
        return True
    if b.bottom <= a.y + _TOL:
        return False
    return a.right <= b.x + _TOL if not rtl else a.x >= b.right - _TOL


def _balloon_reads_before(a: Rect, b: Rect, rtl: bool) -> bool:
    """Inside one panel: higher first; at the same height, the one on the reading side first."""
    if abs(a.y - b.y) > _TOL:
        return a.y < b.y
    return a.x <= b.x if not rtl else a.right >= b.right


def _check_tails(page: Page, where: str) -> list[str]:
    """A tail ends inside its own panel and never inside another balloon."""
    panels = _panel_rects(page)
    balloons = [b for b in page.boxes if isinstance(b, Balloon)]
    problems = []
    for b in balloons:
        x, y = b.tail
        panel = panels.get(b.group) if b.group is not None else None
        if panel is not None and not (panel.x - _TOL <= x <= panel.right + _TOL and panel.y - _TOL <= y <= panel.bottom + _TOL):
            problems.append(f"{where}: the tail of balloon {b.order} ends outside its panel")
        for other in balloons:
            r = other.rect
            if other is not b and r.x < x < r.right and r.y < y < r.bottom:
                problems.append(f"{where}: the tail of balloon {b.order} ends inside balloon {other.order}")
    return problems


def _check_reading_order(page: Page, where: str, rtl: bool) -> list[str]:
    balloons = [b for b in page.boxes if isinstance(b, Balloon)]
    orders = [b.order for b in balloons]
    if sorted(orders) != list(range(len(orders))):
        return [f"{where}: balloon orders {sorted(orders)} are not 0..{len(orders) - 1}"]
    panels = _panel_rects(page)
    problems = []
    ordered = sorted(balloons, key=lambda b: b.order)
    for a, b in zip(ordered, ordered[1:]):
        if a.group == b.group or a.group is None or b.group is None:
            ok = _balloon_reads_before(a.rect, b.rect, rtl)
        else:
            pa, pb = panels.get(a.group, a.rect), panels.get(b.group, b.rect)
            ok = reads_before(pa, pb, rtl)
        if not ok:
            problems.append(f"{where}: balloon {a.order} ({a.text[:20]!r}) should not be read before balloon {b.order} ({b.text[:20]!r})")
    return problems


def check_layout(
    layout: Layout,
    min_sizes: dict[str, float],
    extra_overlaps: Iterable[OverlapRule] = (),
) -> list[str]:
    """All problems found in `layout` (an empty list means it passes)."""
    rules = ALLOWED_OVERLAPS + tuple(extra_overlaps)
    problems: list[str] = []
    for number, page in enumerate(layout.pages, 1):
        where = f"page {number}"
        problems += _check_inside_page(page, where)
        problems += _check_overlaps(page, where, rules)
        problems += _check_text(page, where, min_sizes)
        problems += _check_images(page, where)
        problems += _check_reading_order(page, where, layout.rtl)
        problems += _check_tails(page, where)
    return problems
