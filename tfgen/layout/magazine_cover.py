"""The magazine cover: masthead band, issue line, cover image (the document's first, cover-cropped)
and cover lines (the lead headline, then the other headlines and the section heads)."""

from __future__ import annotations

from tfgen.document import Document
from tfgen.layout import imagefit, textfit
from tfgen.layout.magazine_style import MagazineStyle
from tfgen.layout.prepared import prepared
from tfgen.layout.tree import Box, ImageBox, Page, Rect, Shape, TextBox, TextStyle

COVER = 0  # the group of the cover's masthead band and its text
BAND_FRACTION = 0.13  # masthead band height, as a share of the page height
LINES_FRACTION = 0.27  # cover lines area under an image, as a share of the page height
TEASER_MIN = 9.0
MASTHEAD_ONE_LINE_MIN = 24.0  # below this size a long masthead may wrap instead  # teaser lines never shrink below this (points)


def build_cover(doc: Document, lines: tuple[str, list[str]], style: MagazineStyle, width: float, height: float, warnings: list[str]) -> Page:
    """Page 1 of a magazine."""
    s = style
    g = s.grid
    page = Page(width, height, background=s.colors["paper"], name="cover")
    x, w = g["margin_left"], width - g["margin_left"] - g["margin_right"]
    band_h = BAND_FRACTION * height
    page.boxes.append(Shape(Rect(0, 0, width, band_h), fill=s.colors["accent"], role="masthead-band", group=COVER))
    page.boxes.append(_masthead(s, Rect(x, 6, w, band_h - 12), warnings))
    issue_size = s.sizes["running"] + 1.5
    issue_h = textfit.line_height(issue_size, 1.2)
    if s.issue:
        font, text = prepared(s.issue, s.fonts["running"], warnings)
        fit = textfit.fit_text([(text, None)], w, issue_h, font, issue_size, s.sizes["running"])
        page.boxes.append(TextBox(Rect(x, band_h + 6, w, issue_h), fit.paragraphs, TextStyle(font, fit.size, s.colors["muted"]), role="issue"))
        _warn_overflow(fit, "issue line", warnings)
    top = band_h + 6 + issue_h + 10
    bottom = height - g["margin_bottom"]
    headline, teasers = lines
    if doc.images:
        # The cover lines sit at the foot of the page; the image takes all the room above them.
        cover_lines = _cover_lines(s, headline, teasers, Rect(x, bottom - LINES_FRACTION * height, w, LINES_FRACTION * height), warnings)
        used = max((b.rect.bottom for b in cover_lines), default=bottom) - min((b.rect.y for b in cover_lines), default=bottom)
        shift = bottom - LINES_FRACTION * height - (bottom - used) if cover_lines else 0.0
        cover_lines = [_moved(b, -shift) for b in cover_lines]
        img = doc.images[0]
        lines_top = min((b.rect.y for b in cover_lines), default=bottom)
        src, frame = imagefit.cover(img.width, img.height, Rect(x, top, w, lines_top - 14 - top))
        page.boxes.append(ImageBox(frame, img, src, alt=img.alt or "cover image", role="cover-image", group=COVER + 1))
    else:
        lines_top = top + 0.1 * height
        cover_lines = _cover_lines(s, headline, teasers, Rect(x, lines_top, w, bottom - lines_top), warnings)
    page.boxes.extend(cover_lines)
    return page


def _moved(box: TextBox, dy: float) -> TextBox:
    box.rect = Rect(box.rect.x, box.rect.y + dy, box.rect.w, box.rect.h)
    return box


def _masthead(s: MagazineStyle, rect: Rect, warnings: list[str]) -> TextBox:
    font, text = prepared(s.name, s.fonts["masthead"], warnings)
    # A masthead reads best on one line: cap the size at what fits the width, unless that is tiny.
    one_line = 0.98 * rect.w / max(textfit.text_width(text, font, 1.0), 1e-6)
    top_size = min(s.sizes["masthead_max"], one_line) if one_line >= MASTHEAD_ONE_LINE_MIN else s.sizes["masthead_max"]
    fit = textfit.fit_text([(text, None)], rect.w, rect.h, font, top_size, 12.0, leading=1.0)
    _warn_overflow(fit, "masthead", warnings)
    style = TextStyle(font, fit.size, s.colors["on_accent"], align="center", leading=1.0)
    return TextBox(rect, fit.paragraphs, style, role="masthead", valign="middle", group=COVER)


def _cover_lines(s: MagazineStyle, headline: str, teasers: list[str], area: Rect, warnings: list[str]) -> list[Box]:
    """The headline big (up to half the area), the teasers under it as large as fit."""
    boxes: list[Box] = []
    y = area.y
    if headline:
        font, text = prepared(headline, s.fonts["headline"], warnings)
        cap = area.h * (0.5 if teasers else 1.0)
        fit = textfit.fit_text([(text, None)], area.w, cap, font, s.sizes["headline_max"] * 1.3, s.sizes["cover_line"], leading=1.05)
        h = textfit.text_height(fit.paragraphs, fit.size, 1.05)
        boxes.append(TextBox(Rect(area.x, y, area.w, h), fit.paragraphs, TextStyle(font, fit.size, s.colors["text"], leading=1.05), role="cover-line"))
        _warn_overflow(fit, "cover headline", warnings)
        y += h + 8
    if teasers and area.bottom - y > s.sizes["cover_line"]:
        font = s.fonts["cover_lines"]
        specs = [(prepared(t, font, warnings)[1], None) for t in teasers]
        room = area.bottom - y
        fit = textfit.fit_text(specs, area.w, room, font, s.sizes["cover_line"], TEASER_MIN, leading=1.15, paragraph_gap=3)
        h = textfit.text_height(fit.paragraphs, fit.size, 1.15, 3)
        style = TextStyle(font, fit.size, s.colors["accent"], leading=1.15)
        boxes.append(TextBox(Rect(area.x, y, area.w, h), fit.paragraphs, style, role="cover-line", paragraph_gap=3))
        _warn_overflow(fit, "cover lines", warnings)
    elif teasers:
        warnings.append(f"no room for {len(teasers)} cover line(s); they are printed in the articles")
    return boxes


def _warn_overflow(fit: textfit.FitResult, what: str, warnings: list[str]) -> None:
    """Cover text repeats what the articles print in full; say what did not fit on the cover."""
    if not fit.fits:
        warnings.append(f"cover: not all of the {what} fits at the minimum size; {len(fit.overflow)} item(s) are printed only in the articles")
