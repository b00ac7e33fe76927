"""The boxes of a comic page: the title band, one panel (image, text, caption strip, frame) and
continuation pages for text that fits nowhere else. Geometry and reading order come from comic.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tfgen.layout import textfit
from tfgen.layout.balloons import LEADING, PanelText, Placement, place_panel_text
from tfgen.layout.imagefit import cover
from tfgen.layout.tree import Box, ImageBox, Page, Paragraph, Rect, Shape, TextBox, TextStyle

if TYPE_CHECKING:
    from tfgen.layout.comic import ComicConfig, PanelSpec

TITLE_GROUP = -1  # the title band's boxes share this group, so the title may sit on its band
STRIP_PAD = 4.0
_EPS = 1e-6


def _text_box(paragraphs: list[Paragraph], rect: Rect, font: str, size: float, color: str, role: str, **kw) -> TextBox:
    return TextBox(rect, paragraphs, TextStyle(font, size, color, kw.pop("align", "left"), LEADING), role=role, **kw)


def title_band(title: str, subtitle: list[str], content: Rect, cfg: "ComicConfig") -> tuple[list[Box], Rect, PanelText | None]:
    """The first page's band: title (and subtitle lines) centred; it grows for a long title."""
    if not title.strip() and not subtitle:
        return [], Rect(content.x, content.y - cfg.gutter, content.w, 0.0), None
    spec, cap = cfg.title, cfg.caption
    pad = 6.0
    width = content.w - 2 * pad
    max_band = content.h * 0.35
    sub_fit = textfit.fit_text([(s, None) for s in subtitle], width, max_band / 3, cap.font, cap.size, cap.min_size, LEADING)
    sub_h = textfit.text_height(sub_fit.paragraphs, sub_fit.size, LEADING)
    fit = None
    # A long title may make the band up to 2.5 times taller before it shrinks below half its size.
    for grow in (1.0, 1.6, 2.5):
        room = max(min(cfg.band_height * grow, max_band) - 2 * pad - sub_h, 0.0)
        fit = textfit.fit_text([(title, None)], width, room, spec.font, spec.size, spec.min_size, LEADING)
        if fit.fits and fit.size >= max(spec.size / 2, spec.min_size):
            break
    if not fit.fits:  # grow the band (up to a third of the page) rather than drop title text
        needed = textfit.text_height(textfit.fit_text([(title, None)], width, 1e9, spec.font, spec.min_size, spec.min_size, LEADING).paragraphs, spec.min_size, LEADING)
        room = min(needed, max_band - 2 * pad - sub_h)
        fit = textfit.fit_text([(title, None)], width, room, spec.font, spec.size, spec.min_size, LEADING)
    title_h = textfit.text_height(fit.paragraphs, fit.size, LEADING)
    band_h = max(cfg.band_height, title_h + sub_h + 2 * pad)
    band = Rect(content.x, content.y, content.w, band_h)
    boxes: list[Box] = [Shape(band, fill=cfg.band_fill, stroke=None, role="title-band", group=TITLE_GROUP)]
    top = band.y + (band_h - title_h - sub_h) / 2
    if fit.paragraphs:
        rect = Rect(band.x + pad, top, width, title_h)
        boxes.append(_text_box(fit.paragraphs, rect, spec.font, fit.size, spec.color, "title", align="center", group=TITLE_GROUP))
    if sub_fit.paragraphs:
        rect = Rect(band.x + pad, top + title_h, width, sub_h)
        boxes.append(_text_box(sub_fit.paragraphs, rect, cap.font, sub_fit.size, cap.color, "caption", align="center", group=TITLE_GROUP))
    overflow = [t for t, _ in fit.overflow] + [t for t, _ in sub_fit.overflow]
    return boxes, band, (PanelText(overflow, []) if overflow else None)


def _strip_paragraphs(text: PanelText) -> list[tuple[str, int | None]]:
    """Overflowing text as strip paragraphs; dialogue keeps its speaker so it still reads as speech."""
    return [(c, None) for c in text.captions] + [(f'{speaker}: \u201c{line}\u201d', None) for speaker, line in text.dialogue]


def _strip_height(text: PanelText, width: float, cfg: "ComicConfig") -> float:
    paras = _strip_paragraphs(text)
    if not paras:
        return 0.0
    fit = textfit.fit_text(paras, width - 2 * STRIP_PAD, 1e9, cfg.caption.font, cfg.caption.min_size, cfg.caption.min_size, LEADING)
    return textfit.text_height(fit.paragraphs, fit.size, LEADING) + 2 * STRIP_PAD


def _place(panel: "PanelSpec", frame: Rect, index: int, cfg: "ComicConfig") -> Placement:
    return place_panel_text(
        panel.text, frame, cfg.caption, cfg.balloon, group=index, rtl=cfg.rtl,
        inset=cfg.inset, max_area=cfg.max_area, balloon_width=cfg.balloon_width,
    )


def _image_rect_and_placement(panel: "PanelSpec", index: int, cell: Rect, cfg: "ComicConfig") -> tuple[Rect, Placement]:
    """Shrink the picture area for a caption strip until the strip holds the overflow (or is at its cap)."""
    placement = _place(panel, cell, index, cfg)
    cap = cfg.strip_max * cell.h
    strip_h = 0.0
    for _ in range(4):
        need = _strip_height(placement.overflow, cell.w, cfg)
        if need <= strip_h + _EPS or strip_h >= cap - _EPS:
            break
        strip_h = min(cap, need)
        placement = _place(panel, Rect(cell.x, cell.y, cell.w, cell.h - strip_h), index, cfg)
    return Rect(cell.x, cell.y, cell.w, cell.h - strip_h), placement


def panel_boxes(panel: "PanelSpec", index: int, cell: Rect, cfg: "ComicConfig", order: int):
    """(boxes, leftover text or None, warning or None, next balloon order) for one panel cell."""
    image_rect, placement = _image_rect_and_placement(panel, index, cell, cfg)
    boxes: list[Box] = []
    if panel.figure is not None:
        img = panel.figure.image
        src, rect = cover(img.width, img.height, image_rect)
        boxes.append(ImageBox(rect, img, src, alt=panel.alt, role="panel-image", group=index))
    else:
        boxes.append(Shape(image_rect, fill=cfg.panel_background, stroke=None, role="panel-background", group=index))
    if placement.caption is not None:
        boxes.append(placement.caption)
    for balloon in placement.balloons:
        balloon.order = order
        order += 1
        boxes.append(balloon)
    leftover, warning = None, None
    strip = Rect(cell.x, image_rect.bottom, cell.w, cell.bottom - image_rect.bottom)
    paras = _strip_paragraphs(placement.overflow)
    if paras:
        warning = f"panel {index + 1}: its text does not fit in the panel at {cfg.caption.min_size:g} pt"
        fit = textfit.fit_text(paras, strip.w - 2 * STRIP_PAD, strip.h - 2 * STRIP_PAD, cfg.caption.font, cfg.caption.size, cfg.caption.min_size, LEADING)
        if fit.paragraphs:
            boxes.append(_text_box(fit.paragraphs, strip, cfg.caption.font, fit.size, cfg.caption.color, "caption", fill=cfg.caption.fill, padding=STRIP_PAD, group=index))
            warning += "; moved to a caption strip under it"
        if fit.overflow:
            leftover = PanelText([t for t, _ in fit.overflow], [])
            warning += "; the rest is on a continuation page"
    if cfg.border_width > 0:
        boxes.append(Shape(cell, fill=None, stroke=cfg.border_color, stroke_width=cfg.border_width, role="panel-frame", group=index))
    return boxes, leftover, warning, order


def continuation_pages(leftovers: list[tuple[int, PanelText]], content: Rect, cfg: "ComicConfig") -> list[Page]:
    """Pages of text that fitted neither a panel nor its strip, headed by the panel it belongs to."""
    paras: list[tuple[str, int | None]] = []
    for index, text in leftovers:
        paras.append(("Title (continued)" if index < 0 else f"Panel {index + 1} (continued)", None))
        paras.extend(_strip_paragraphs(text))
    cap = cfg.caption
    pages: list[Page] = []
    while paras:
        fit = textfit.fit_text(paras, content.w - 2 * STRIP_PAD, content.h - 2 * STRIP_PAD, cap.font, cap.size, cap.min_size, LEADING, paragraph_gap=4.0)
        if not fit.paragraphs:  # cannot happen for a page-sized box; guard against looping forever
            break
        page = Page(cfg.width, cfg.height, background=cfg.background, name="continued")
        h = textfit.text_height(fit.paragraphs, fit.size, LEADING, 4.0) + 2 * STRIP_PAD
        rect = Rect(content.x, content.y, content.w, h)
        page.boxes.append(_text_box(fit.paragraphs, rect, cap.font, fit.size, cap.color, "caption", fill=cap.fill, padding=STRIP_PAD, paragraph_gap=4.0))
        pages.append(page)
        paras = fit.overflow
    return pages
