"""Geometry every backend shares: where each text line sits, balloon outlines, colours.

PDF and PNG both draw from `place_lines` and `balloon_outline`, so they put every line and every
balloon edge at the same place. Coordinates here are layout coordinates: points, origin at the
page's top-left corner, y down (see tfgen.layout.tree). Baselines are y values in those units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Union

from tfgen.layout import fallback, fonts, textfit
from tfgen.layout.tree import Balloon, Rect, TextBox, TextStyle

# A balloon's tail is this fraction of the shape's smaller side wide where it meets the shape.
TAIL_BASE_FRACTION = 0.28
OUTLINE_POINTS = 144
# Corner radii of rounded balloons and rounded shapes, as fractions of the shorter side.
BALLOON_CORNER = 0.25
SHAPE_CORNER = 0.12


def rgb(color: str) -> tuple[int, int, int]:
    """'#RRGGBB' -> (r, g, b) in 0..255."""
    text = color.lstrip("#")
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)


def ensure_face(key: str) -> fonts.Face:
    """The face for `key`, registering the system fallback faces first when it names one of them."""
    if key not in fonts.FACES and key.startswith("fallback-"):
        fallback.fallback_faces()
    return fonts.face(key)


@dataclass(frozen=True)
class PlacedLine:
    """One line of text ready to draw: its left x and baseline y in layout points.

    `runs` are (x, text, face key) pieces: the line split where characters need a fallback face.
    """

    x: float
    baseline: float
    text: str
    runs: tuple[tuple[float, str, str], ...]
    is_bullet_glyph: bool = False


def line_runs(text: str, font: str, size: float, x: float) -> tuple[tuple[float, str, str], ...]:
    """Split a line into (x, piece, face) runs, measured as textfit measures them."""
    ensure_face(font)
    if not fallback.missing_chars(text, font):
        return ((x, text, font),)
    out = []
    for piece, key in fallback.runs(text, font):
        out.append((x, piece, key))
        x += textfit.text_width(piece, key, size)
    return tuple(out)


def text_area(box: Union[TextBox, Balloon]) -> Rect:
    """Where the lines of a box go."""
    if isinstance(box, Balloon):
        if box.text_rect is not None:
            return box.text_rect
        # The largest rectangle inside an ellipse is the bounding box scaled by 1/sqrt(2).
        k = (1 - 1 / math.sqrt(2)) / 2 if box.shape == "ellipse" else 0.08
        return box.rect.inset(box.rect.w * k, box.rect.h * k)
    return box.rect.inset(box.padding)


def place_lines(box: Union[TextBox, Balloon]) -> list[PlacedLine]:
    """Every line (and bullet glyph) of a text box or balloon at its final position.

    Baselines follow tfgen.layout.textfit's convention (first_baseline, line_height), so this
    is where the layout measured them.
    """
    style = box.style
    area = text_area(box)
    valign = box.valign if isinstance(box, TextBox) else "middle"
    gap = box.paragraph_gap if isinstance(box, TextBox) else 0.0
    drawn = [p for p in box.paragraphs if p.lines]
    height = textfit.text_height(drawn, style.size, style.leading, gap)
    top = area.y
    if valign == "middle":
        top = area.y + (area.h - height) / 2
    elif valign == "bottom":
        top = area.bottom - height
    line_h = textfit.line_height(style.size, style.leading)
    baseline = top + textfit.first_baseline(style.font, style.size, style.leading)
    placed: list[PlacedLine] = []
    for para in drawn:
        left = area.x + textfit.bullet_text_indent(para.bullet_level, style.size)
        if para.bullet_level is not None and not para.continued:
            glyph_x = area.x + textfit.bullet_glyph_indent(para.bullet_level, style.size)
            glyph = textfit.BULLET_GLYPH
            placed.append(PlacedLine(glyph_x, baseline, glyph, line_runs(glyph, style.font, style.size, glyph_x), True))
        for line in para.lines:
            x = _aligned_x(line, style, left, area.right - left)
            placed.append(PlacedLine(x, baseline, line, line_runs(line, style.font, style.size, x)))
            baseline += line_h
        baseline += gap
    return placed


def _aligned_x(line: str, style: TextStyle, left: float, width: float) -> float:
    if style.align == "left":
        return left
    slack = width - textfit.text_width(line, style.font, style.size)
    return left + (slack / 2 if style.align == "center" else slack)


def _ellipse_points(r: Rect, n: int) -> list[tuple[float, float]]:
    cx, cy, rx, ry = r.x + r.w / 2, r.y + r.h / 2, r.w / 2, r.h / 2
    return [(cx + rx * math.cos(2 * math.pi * i / n), cy + ry * math.sin(2 * math.pi * i / n)) for i in range(n)]


def _rounded_points(r: Rect, radius: float, per_corner: int = 10) -> list[tuple[float, float]]:
    """A rounded rectangle, clockwise on screen (y down) from the right edge's middle."""
    radius = min(radius, r.w / 2, r.h / 2)
    corners = [  # centre of each corner arc and its starting angle
        (r.right - radius, r.bottom - radius, 0.0),
        (r.x + radius, r.bottom - radius, math.pi / 2),
        (r.x + radius, r.y + radius, math.pi),
        (r.right - radius, r.y + radius, 3 * math.pi / 2),
    ]
    pts: list[tuple[float, float]] = []
    for cx, cy, start in corners:
        for i in range(per_corner + 1):
            a = start + (math.pi / 2) * i / per_corner
            pts.append((cx + radius * math.cos(a), cy + radius * math.sin(a)))
    return pts


def balloon_outline(b: Balloon) -> list[tuple[float, float]]:
    """The balloon and its tail as one closed polygon (layout points), so the outline is one shape.

    The tail replaces the stretch of the outline facing the tail point; a tail point inside the
    shape gives no tail.
    """
    r = b.rect
    if b.shape == "ellipse":
        pts = _ellipse_points(r, OUTLINE_POINTS)
    else:
        pts = _densify(_rounded_points(r, min(r.w, r.h) * BALLOON_CORNER), max(min(r.w, r.h) / 40, 0.5))
    tx, ty = b.tail
    if tail_inside(b):
        return pts
    cx, cy = r.x + r.w / 2, r.y + r.h / 2
    target = math.atan2((ty - cy) / max(r.h, 1e-6), (tx - cx) / max(r.w, 1e-6))
    k = min(range(len(pts)), key=lambda i: _angle_gap(_norm_angle(pts[i], cx, cy, r), target))
    half_base = TAIL_BASE_FRACTION * min(r.w, r.h) / 2
    lo = _walk(pts, k, -1, half_base)
    hi = _walk(pts, k, +1, half_base)
    n = len(pts)
    out = [pts[(hi + i) % n] for i in range((lo - hi) % n + 1)]  # from hi around to lo, skipping k
    out.append((tx, ty))
    return out


def _densify(pts: list[tuple[float, float]], step: float) -> list[tuple[float, float]]:
    """Add points along long edges so the tail can cut in anywhere along a straight side."""
    out: list[tuple[float, float]] = []
    for i, a in enumerate(pts):
        b = pts[(i + 1) % len(pts)]
        pieces = max(int(math.dist(a, b) // step), 1)
        out.extend((a[0] + (b[0] - a[0]) * j / pieces, a[1] + (b[1] - a[1]) * j / pieces) for j in range(pieces))
    return out


def tail_inside(b: Balloon) -> bool:
    """True when the tail point lies inside the balloon's shape (then it has no tail)."""
    x, y = b.tail
    r = b.rect
    if b.shape == "ellipse":
        dx = (x - (r.x + r.w / 2)) / max(r.w / 2, 1e-6)
        dy = (y - (r.y + r.h / 2)) / max(r.h / 2, 1e-6)
        return dx * dx + dy * dy <= 1.0
    return r.x <= x <= r.right and r.y <= y <= r.bottom


def _norm_angle(p: tuple[float, float], cx: float, cy: float, r: Rect) -> float:
    return math.atan2((p[1] - cy) / max(r.h, 1e-6), (p[0] - cx) / max(r.w, 1e-6))


def _angle_gap(a: float, b: float) -> float:
    d = abs(a - b) % (2 * math.pi)
    return min(d, 2 * math.pi - d)


def _walk(pts: list[tuple[float, float]], k: int, step: int, distance: float) -> int:
    """Index reached walking from k in direction `step` until `distance` away from pts[k]."""
    n = len(pts)
    i = k
    for _ in range(n // 3):
        i = (i + step) % n
        if math.dist(pts[i], pts[k]) >= distance:
            break
    return i


def shape_points(kind: str, r: Rect) -> Optional[list[tuple[float, float]]]:
    """Outline polygon for ellipse and rounded shapes (None for rect and line, drawn natively)."""
    if kind == "ellipse":
        return _ellipse_points(r, OUTLINE_POINTS)
    if kind == "rounded":
        return _rounded_points(r, min(r.w, r.h) * SHAPE_CORNER)
    return None
