"""The comic composer: panels on a grid, a title band, caption boxes and speech balloons.

Each '##' section is one panel: its image (cover-cropped, never stretched), its narration ('>'
captions and paragraphs) in a caption box and its dialogue in balloons (balloons.py). The
template's grid repeats over as many pages as the panels need; the first page starts with a
title band. Text that does not fit a panel at 7 pt moves to a caption strip under the panel, and
what the strip cannot hold goes to a continuation page; each move is a warning in
`layout.warnings`. Headings only mark where a panel starts and are not drawn; speaker notes are
not shown in comics.

Template keys (all optional except where a default is missing; see templates/comic/*.toml):
  description
  page.size ("A4" | "letter"), page.margin, page.gutter (points), page.background (colour)
  grid.tiers (list of tiers, each a list of relative panel widths), grid.heights (relative tier
      heights, one per tier), grid.reading ("ltr" | "rtl": right to left for manga)
  title.font, title.size, title.min_size, title.color, title.band_height, title.band_fill
  panel.border_width, panel.border_color, panel.background (for panels without an image), panel.inset
  balloon.font/size/min_size/color/fill/stroke, balloon.max_width (fraction of the panel width)
  caption.font/size/min_size/color/fill/stroke
  text.max_area (fraction of a panel that captions + balloons may cover, at most 0.25),
      text.strip_max (fraction of a panel cell a caption strip may take)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tfgen.document import Document
from tfgen.errors import TfgenError
from tfgen.layout import fallback, fonts
from tfgen.layout.balloons import PanelText, TextSpec
from tfgen.layout.comic_pages import continuation_pages, panel_boxes, title_band
from tfgen.layout.compose import template_page_size
from tfgen.layout.templates import Template
from tfgen.layout.tree import Layout, Page, Rect, document_rights
from tfgen.structure import Figure, outline

ALLOWED_KEYS = frozenset(
    ["description", "page.size", "page.margin", "page.gutter", "page.background", "grid.tiers", "grid.heights", "grid.reading"]
    + [f"title.{k}" for k in ("font", "size", "min_size", "color", "band_height", "band_fill")]
    + [f"panel.{k}" for k in ("border_width", "border_color", "background", "inset")]
    + [f"balloon.{k}" for k in ("font", "size", "min_size", "color", "fill", "stroke", "max_width")]
    + [f"caption.{k}" for k in ("font", "size", "min_size", "color", "fill", "stroke")]
    + ["text.max_area", "text.strip_max"]
)
MIN_TEXT_SIZE = 7.0  # points: the floor for balloons and captions
MIN_TITLE_SIZE = 8.0
MIN_PANEL = 36.0  # points: the smallest panel side a template may produce (half an inch)


@dataclass(frozen=True)
class ComicConfig:
    """A comic template, read and checked once."""

    page_size: str
    width: float
    height: float
    margin: float
    gutter: float
    background: str
    tiers: list[list[float]]
    heights: list[float]
    rtl: bool
    title: TextSpec
    band_height: float
    band_fill: str
    border_width: float
    border_color: str
    panel_background: str
    inset: float
    balloon: TextSpec
    balloon_width: float
    caption: TextSpec
    max_area: float
    strip_max: float


@dataclass
class PanelSpec:
    """One panel before layout: its image (or None) and its text."""

    figure: Figure | None
    text: PanelText = field(default_factory=PanelText)

    @property
    def alt(self) -> str:
        if self.figure is None:
            return ""
        return self.figure.image.alt or self.figure.caption


def _text_spec(t: Template, section: str, target: str, default_font: str, size: float, min_floor: float) -> TextSpec:
    font = t.get(f"{section}.font", str, default=default_font)
    try:
        font = fonts.for_target(font, target)
    except TfgenError:
        raise t.error(f"{section}.font", f"unknown font {font!r} (one of {', '.join(sorted(fonts.FACES))})") from None
    max_size = t.get(f"{section}.size", float, default=size, minimum=min_floor, maximum=200)
    min_size = t.get(f"{section}.min_size", float, default=min_floor, minimum=min_floor, maximum=max_size)
    fill = t.get_color(f"{section}.fill", default="#FFFFFF") if section != "title" else "#FFFFFF"
    return TextSpec(
        font=font,
        size=max_size,
        min_size=min_size,
        color=t.get_color(f"{section}.color", default="#111111"),
        fill=fill,
        stroke=t.get_color(f"{section}.stroke", default="#111111") if section != "title" else "#111111",
    )


def _grid(t: Template) -> tuple[list[list[float]], list[float]]:
    tiers_raw = t.get_list("grid.tiers", list, default=[[1, 1], [1, 1]], min_len=1)
    tiers: list[list[float]] = []
    for i, tier in enumerate(tiers_raw):
        if not tier or len(tier) > 8:
            raise t.error(f"grid.tiers[{i}]", "a tier needs 1 to 8 panel widths")
        widths = []
        for j, w in enumerate(tier):
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0.05 <= w <= 100:
                raise t.error(f"grid.tiers[{i}][{j}]", f"must be a relative width between 0.05 and 100, got {w!r}")
            widths.append(float(w))
        tiers.append(widths)
    if len(tiers) > 8:
        raise t.error("grid.tiers", "at most 8 tiers")
    heights = t.get_list("grid.heights", float, default=[1.0] * len(tiers))
    if len(heights) != len(tiers):
        raise t.error("grid.heights", f"needs one height per tier ({len(tiers)}), got {len(heights)}")
    for i, h in enumerate(heights):
        if not 0.05 <= h <= 100:
            raise t.error(f"grid.heights[{i}]", f"must be a relative height between 0.05 and 100, got {h:g}")
    return tiers, heights


def _check_grid_fits(t: Template, cfg: ComicConfig) -> None:
    """Every panel of the grid must stay usable (MIN_PANEL points a side) on the first page."""
    area_w = cfg.width - 2 * cfg.margin
    area_h = cfg.height - 2 * cfg.margin - cfg.band_height - cfg.gutter
    narrowest = min((area_w - cfg.gutter * (len(tier) - 1)) * min(tier) / sum(tier) for tier in cfg.tiers)
    lowest = (area_h - cfg.gutter * (len(cfg.heights) - 1)) * min(cfg.heights) / sum(cfg.heights)
    if narrowest < MIN_PANEL:
        raise t.error("grid.tiers", f"the narrowest panel would be {narrowest:.0f} pt wide (at least {MIN_PANEL:g}): use fewer panels per tier or a smaller gutter or margin")
    if lowest < MIN_PANEL:
        raise t.error("grid.heights", f"the lowest tier would be {lowest:.0f} pt tall (at least {MIN_PANEL:g}): use fewer tiers or a smaller gutter, margin or title band")


def read_config(t: Template, target: str, page_size: str | None) -> ComicConfig:
    """Check every key of a comic template and build the config (TemplateError naming the key)."""
    t.check_keys(ALLOWED_KEYS)
    t.get("description", str, default="")
    name, width, height = template_page_size(t, "comic", page_size)
    tiers, heights = _grid(t)
    cfg = ComicConfig(
        page_size=name,
        width=width,
        height=height,
        margin=t.get("page.margin", float, default=28.0, minimum=4.0, maximum=width / 5),
        gutter=t.get("page.gutter", float, default=10.0, minimum=0.0, maximum=60.0),
        background=t.get_color("page.background", default="#FFFFFF"),
        tiers=tiers,
        heights=heights,
        rtl=t.get_choice("grid.reading", ("ltr", "rtl"), default="ltr") == "rtl",
        title=_text_spec(t, "title", target, "sans-bold", 28.0, MIN_TITLE_SIZE),
        band_height=t.get("title.band_height", float, default=54.0, minimum=20.0, maximum=height / 3),
        band_fill=t.get_color("title.band_fill", default="#FFFFFF"),
        border_width=t.get("panel.border_width", float, default=2.0, minimum=0.0, maximum=12.0),
        border_color=t.get_color("panel.border_color", default="#111111"),
        panel_background=t.get_color("panel.background", default="#EEEEEE"),
        inset=t.get("panel.inset", float, default=6.0, minimum=0.0, maximum=30.0),
        balloon=_text_spec(t, "balloon", target, "sans", 11.0, MIN_TEXT_SIZE),
        balloon_width=t.get("balloon.max_width", float, default=0.55, minimum=0.2, maximum=1.0),
        caption=_text_spec(t, "caption", target, "sans-bold", 10.0, MIN_TEXT_SIZE),
        max_area=t.get("text.max_area", float, default=0.25, minimum=0.05, maximum=0.25),
        strip_max=t.get("text.strip_max", float, default=0.4, minimum=0.1, maximum=0.6),
    )
    _check_grid_fits(t, cfg)
    return cfg


# --- document -> panels -----------------------------------------------------------------------


class _TextCleaner:
    """Applies font fallback to every text and collects the warnings, once per distinct problem."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def clean(self, text: str, font: str) -> str:
        _, safe, warning = fallback.prepare_text(text, font)
        if warning and warning not in self.warnings:
            self.warnings.append(warning)
        return safe


def panels_from_document(doc: Document, cfg: ComicConfig, cleaner: _TextCleaner) -> tuple[str, list[str], list[PanelSpec]]:
    """(title, subtitle lines, panels): each image starts a panel; text joins the current panel."""
    out = outline(doc)
    subtitle: list[str] = []
    panels: list[PanelSpec] = []
    groups = [out.intro] + [sec.items for sec in out.sections]
    for index, items in enumerate(groups):
        current: PanelSpec | None = None if index == 0 else PanelSpec(None)
        if current is not None:
            panels.append(current)
        for item in items:
            if isinstance(item, Figure):
                if current is None or current.figure is not None:
                    current = PanelSpec(None)
                    panels.append(current)
                current.figure = item
                if item.caption:
                    current.text.captions.append(cleaner.clean(item.caption, cfg.caption.font))
                continue
            if item.kind in ("note", "title", "heading") or not item.text.strip():
                continue  # speaker notes are not shown; headings only mark panels
            if current is None:
                subtitle.append(cleaner.clean(item.text, cfg.caption.font))
            elif item.kind == "dialogue":
                current.text.dialogue.append((item.speaker, cleaner.clean(item.text, cfg.balloon.font)))
            else:
                current.text.captions.append(cleaner.clean(item.text, cfg.caption.font))
    panels = [p for p in panels if p.figure is not None or not p.text.is_empty()]
    if not panels and subtitle:
        panels, subtitle = [PanelSpec(None, PanelText(subtitle, []))], []
    return cleaner.clean(out.title, cfg.title.font), subtitle, panels


# --- grid geometry ----------------------------------------------------------------------------


def tier_cells(area: Rect, cfg: ComicConfig) -> list[list[Rect]]:
    """The grid's cells inside `area`, tier by tier, each tier in reading order."""
    n = len(cfg.tiers)
    usable_h = area.h - cfg.gutter * (n - 1)
    y = area.y
    cells: list[list[Rect]] = []
    for widths, rel_h in zip(cfg.tiers, cfg.heights):
        h = usable_h * rel_h / sum(cfg.heights)
        cells.append(_row(area.x, y, area.w, h, widths, cfg))
        y += h + cfg.gutter
    return cells


def _row(x: float, y: float, width: float, h: float, widths: list[float], cfg: ComicConfig) -> list[Rect]:
    usable_w = width - cfg.gutter * (len(widths) - 1)
    row: list[Rect] = []
    for rel_w in widths:
        w = usable_w * rel_w / sum(widths)
        row.append(Rect(x, y, w, h))
        x += w + cfg.gutter
    return row[::-1] if cfg.rtl else row


def page_cells(area: Rect, cfg: ComicConfig, count: int) -> list[Rect]:
    """Up to `count` cells in reading order; a last, partly used tier shares its width among its panels."""
    cells: list[Rect] = []
    for tier_index, tier in enumerate(tier_cells(area, cfg)):
        left = count - len(cells)
        if left <= 0:
            break
        if left < len(tier):
            widths = cfg.tiers[tier_index][:left]
            tier = _row(area.x, tier[0].y, area.w, tier[0].h, widths, cfg)
        cells.extend(tier[:left])
    return cells


# --- the composer -----------------------------------------------------------------------------


def compose_comic(doc: Document, template: Template, target: str = "pdf", page_size: str | None = None) -> Layout:
    """Lay out `doc` as comic pages with `template`."""
    cfg = read_config(template, target, page_size)
    cleaner = _TextCleaner()
    title, subtitle, panels = panels_from_document(doc, cfg, cleaner)
    layout = Layout(
        kind="comic",
        pages=[],
        title=title,
        subject=doc.prompt,
        keywords=["comic", "tfgen", template.name],
        rtl=cfg.rtl,
        rights=document_rights(doc.meta),
    )
    layout.warnings.extend(cleaner.warnings)
    content = Rect(cfg.margin, cfg.margin, cfg.width - 2 * cfg.margin, cfg.height - 2 * cfg.margin)
    leftovers: list[tuple[int, PanelText]] = []
    next_panel = 0
    first = True
    while first or next_panel < len(panels):
        page = Page(cfg.width, cfg.height, background=cfg.background, name="title" if first else "")
        grid_area = content
        if first:
            band_boxes, band_rect, band_overflow = title_band(title, subtitle, content, cfg)
            page.boxes.extend(band_boxes)
            grid_area = Rect(content.x, band_rect.bottom + cfg.gutter, content.w, content.bottom - band_rect.bottom - cfg.gutter)
            if band_overflow:
                leftovers.append((-1, band_overflow))
                layout.warnings.append("the title does not fit its band at the minimum size; the rest is on a continuation page")
        cells = page_cells(grid_area, cfg, len(panels) - next_panel)
        order = 0
        for cell in cells:
            boxes, left, warning, order = panel_boxes(panels[next_panel], next_panel, cell, cfg, order)
            page.boxes.extend(boxes)
            if warning:
                layout.warnings.append(warning)
            if left is not None:
                leftovers.append((next_panel, left))
            next_panel += 1
        layout.pages.append(page)
        if leftovers:
            layout.pages.extend(continuation_pages(leftovers, content, cfg))
            leftovers = []
        first = False
    return layout

