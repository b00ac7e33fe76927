"""A deck template read into a typed, checked theme (defaults = templates/deck/default.toml)."""

from __future__ import annotations

from dataclasses import dataclass

from tfgen.layout.prepared import template_font
from tfgen.layout.templates import Template

SLIDE_BODY_MIN = 18.0  # slide text never below this (points, issue 2)
SLIDE_TITLE_MIN = 28.0  # slide titles never below this

FONT_ROLES = ("title", "body", "caption")
DEFAULT_FONTS = {"title": "sans-bold", "body": "sans", "caption": "sans-italic"}
COLOR_ROLES = ("background", "title", "text", "accent", "section_background", "section_text", "caption")
DEFAULT_COLORS = {
    "background": "#FFFFFF", "title": "#1F2A44", "text": "#2E2E2E", "accent": "#2F6FEB",
    "section_background": "#1F2A44", "section_text": "#FFFFFF", "caption": "#5C5C5C",
}
# (key, default, minimum) for every number in [sizes].
SIZE_KEYS: tuple[tuple[str, float, float], ...] = (
    ("title_slide_max", 54.0, SLIDE_TITLE_MIN),
    ("title_max", 36.0, SLIDE_TITLE_MIN),
    ("title_min", SLIDE_TITLE_MIN, SLIDE_TITLE_MIN),
    ("body_max", 28.0, SLIDE_BODY_MIN),
    ("body_min", SLIDE_BODY_MIN, SLIDE_BODY_MIN),
    ("leading", 1.2, 1.0),
)
MARGIN_KEYS: tuple[tuple[str, float], ...] = (("x", 48.0), ("y", 36.0), ("gap", 24.0))

ALLOWED_KEYS: frozenset[str] = frozenset(
    {"page.size", "deck.image_side", "deck.closing"}
    | {f"margins.{k}" for k, _ in MARGIN_KEYS}
    | {f"sizes.{k}" for k, _, _ in SIZE_KEYS}
    | {f"fonts.{k}" for k in FONT_ROLES}
    | {f"colors.{k}" for k in COLOR_ROLES}
)


@dataclass(frozen=True)
class DeckTheme:
    """Everything a deck template sets. Lengths in points; fonts are keys already mapped for the
    output format (fonts.for_target)."""

    image_side: str  # left | right | alternate
    closing: str  # closing slide text when the last slide is not heading-only ("" for none)
    margins: dict[str, float]
    sizes: dict[str, float]
    fonts: dict[str, str]
    colors: dict[str, str]

    @classmethod
    def from_template(cls, t: Template, target: str) -> "DeckTheme":
        t.check_keys(ALLOWED_KEYS)
        sizes = {k: t.get(f"sizes.{k}", float, default=d, minimum=m) for k, d, m in SIZE_KEYS}
        for low, high in (("title_min", "title_max"), ("title_min", "title_slide_max"), ("body_min", "body_max")):
            if sizes[low] > sizes[high]:
                raise t.error(f"sizes.{low}", f"must not be larger than sizes.{high}")
        return cls(
            image_side=t.get_choice("deck.image_side", ("left", "right", "alternate"), default="alternate"),
            closing=t.get("deck.closing", str, default="Thank you"),
            margins={k: t.get(f"margins.{k}", float, default=d, minimum=0.0, maximum=150.0) for k, d in MARGIN_KEYS},
            sizes=sizes,
            fonts={role: template_font(t, f"fonts.{role}", DEFAULT_FONTS[role], target) for role in FONT_ROLES},
            colors={role: t.get_color(f"colors.{role}", default=DEFAULT_COLORS[role]) for role in COLOR_ROLES},
        )

