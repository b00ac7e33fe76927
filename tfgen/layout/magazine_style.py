"""A magazine template read into a typed, checked style (defaults = templates/magazine/default.toml)."""

from __future__ import annotations

from dataclasses import dataclass

from tfgen.layout.prepared import template_font
from tfgen.layout.templates import Template

PRINT_BODY_MIN = 8.0  # printed body text, points (issue 2)
PRINT_SMALL_MIN = 7.0  # captions and running heads, points

FONT_ROLES = ("masthead", "headline", "standfirst", "body", "heading", "caption", "pullquote", "running", "cover_lines")
COLOR_ROLES = ("paper", "text", "accent", "muted", "on_accent")

# (key, default, minimum) for every number in [sizes]; the minimums keep print readable.
SIZE_KEYS: tuple[tuple[str, float, float], ...] = (
    ("body", 9.5, PRINT_BODY_MIN),
    ("leading", 1.3, 1.0),
    ("paragraph_gap", 4.0, 0.0),
    ("headline_max", 38.0, PRINT_BODY_MIN),
    ("headline_min", 20.0, PRINT_BODY_MIN),
    ("standfirst", 12.5, PRINT_BODY_MIN),
    ("heading", 11.0, PRINT_BODY_MIN),
    ("caption", 8.0, PRINT_SMALL_MIN),
    ("pullquote", 15.0, PRINT_BODY_MIN),
    ("running", 7.5, PRINT_SMALL_MIN),
    ("masthead_max", 60.0, 16.0),
    ("cover_line", 15.0, PRINT_BODY_MIN),
)
GRID_KEYS: tuple[tuple[str, float], ...] = (
    ("gutter", 14.0),
    ("margin_top", 54.0),
    ("margin_bottom", 50.0),
    ("margin_left", 46.0),
    ("margin_right", 46.0),
)
DEFAULT_FONTS = {
    "masthead": "serif-bold", "headline": "serif-bold", "standfirst": "sans", "body": "serif",
    "heading": "sans-bold", "caption": "sans-italic", "pullquote": "serif-italic", "running": "sans",
    "cover_lines": "sans-bold",
}
DEFAULT_COLORS = {"paper": "#FFFFFF", "text": "#1C1C1C", "accent": "#B3122E", "muted": "#6B6B6B", "on_accent": "#FFFFFF"}

ALLOWED_KEYS: frozenset[str] = frozenset(
    {"page.size", "magazine.name", "magazine.issue", "grid.columns", "images.lead", "images.max_height"}
    | {f"grid.{k}" for k, _ in GRID_KEYS}
    | {f"sizes.{k}" for k, _, _ in SIZE_KEYS}
    | {f"fonts.{k}" for k in FONT_ROLES}
    | {f"colors.{k}" for k in COLOR_ROLES}
)


@dataclass(frozen=True)
class MagazineStyle:
    """Everything a magazine template sets. Lengths in points; fonts are keys already mapped for
    the output format (fonts.for_target)."""

    name: str
    issue: str
    columns: int
    grid: dict[str, float]
    sizes: dict[str, float]
    fonts: dict[str, str]
    colors: dict[str, str]
    lead_image: str  # span | column
    image_max_height: float  # fraction of a column's height

    @classmethod
    def from_template(cls, t: Template, target: str) -> "MagazineStyle":
        t.check_keys(ALLOWED_KEYS)
        sizes = {k: t.get(f"sizes.{k}", float, default=d, minimum=m) for k, d, m in SIZE_KEYS}
        if sizes["headline_min"] > sizes["headline_max"]:
            raise t.error("sizes.headline_min", "must not be larger than sizes.headline_max")
        grid = {k: t.get(f"grid.{k}", float, default=d, minimum=0.0, maximum=200.0) for k, d in GRID_KEYS}
        return cls(
            name=t.get("magazine.name", str, default="The Transfusion Review"),
            issue=t.get("magazine.issue", str, default="Issue 1 · November 2026"),
            columns=t.get("grid.columns", int, default=3, minimum=2, maximum=3),
            grid=grid,
            sizes=sizes,
            fonts={role: template_font(t, f"fonts.{role}", DEFAULT_FONTS[role], target) for role in FONT_ROLES},
            colors={role: t.get_color(f"colors.{role}", default=DEFAULT_COLORS[role]) for role in COLOR_ROLES},
            lead_image=t.get_choice("images.lead", ("span", "column"), default="span"),
            image_max_height=t.get("images.max_height", float, default=0.5, minimum=0.1, maximum=1.0),
        )

