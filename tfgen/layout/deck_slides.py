"""The slide kinds of a deck: title, statement (section or closing), full-bleed image, and text
slides with an optional picture beside the text. Each method appends finished pages to the layout.

Geometry in points, origin top-left. A picture beside text bleeds off three edges and takes
IMAGE_SHARE of the slide width; its caption sits on a band over the foot of the picture.
"""

from __future__ import annotations

from typing import Optional

from tfgen.errors import TfgenError
from tfgen.layout import imagefit, textfit
from tfgen.layout.deck_style import DeckTheme
from tfgen.layout.prepared import prepared
from tfgen.layout.tree import Box, ImageBox, Layout, Page, Rect, Shape, TextBox, TextStyle
from tfgen.structure import Figure

Spec = tuple[str, Optional[int]]  # (text, bullet level or None), as textfit.fit_text takes it

MAX_CROP = 0.3  # a picture beside text is letterboxed rather than lose more than this share to cropping
IMAGE_SHARE = 0.42  # width of a picture beside text, as a share of the slide width
TITLE_SHARE = 0.45  # a slide title may grow to this share of the slide height, no more
BAND_PAD = 10.0  # padding of caption and title bands over pictures
RULE = (64.0, 4.0)  # the accent bar under a slide title: width, height
TITLE_LEADING = 1.1
CONT_TITLE_CHARS = 60  # a follow-up slide's title repeats at most this much of the heading
PICTURE = 1  # the group of a slide's picture and the text allowed over it


class SlideMaker:
    """Builds slides for one deck; keeps which side the next picture goes on."""

    def __init__(self, theme: DeckTheme, width: float, height: float, layout: Layout):
        self.t = theme
        self.width, self.height = width, height
        self.layout = layout
        self._pictures = 0

    # --- pieces -------------------------------------------------------------------------------

    def _page(self, name: str, notes: str = "", background: Optional[str] = None) -> Page:
        page = Page(self.width, self.height, background=background or self.t.colors["background"], notes=notes, name=name)
        self.layout.pages.append(page)
        return page

    def _specs(self, specs: list[Spec], font: str) -> list[Spec]:
        return [(prepared(text, font, self.layout.warnings)[1], level) for text, level in specs if text.strip()]

    def _title(self, text: str, x: float, y: float, w: float, max_size: float, color: str, align: str = "left", room: Optional[float] = None) -> tuple[Optional[TextBox], list[Spec]]:
        """A title fitted into two lines at most, else into up to `room` points at the minimum size;
        returns the box (its height is the text's) and the text that still did not fit."""
        t = self.t
        font = t.fonts["title"]
        specs = self._specs([(text, None)], font)
        if not specs:
            return None, []
        room = TITLE_SHARE * self.height if room is None else room
        two_lines = min(2 * max_size * TITLE_LEADING, room)
        fit = textfit.fit_text(specs, w, two_lines, font, max_size, t.sizes["title_min"], leading=TITLE_LEADING)
        if not fit.fits:
            fit = textfit.fit_text(specs, w, room, font, t.sizes["title_min"], t.sizes["title_min"], leading=TITLE_LEADING)
        height = textfit.text_height(fit.paragraphs, fit.size, TITLE_LEADING)
        style = TextStyle(font, fit.size, color, align=align, leading=TITLE_LEADING)
        box = TextBox(Rect(x, y, w, height), fit.paragraphs, style, role="title")
        if fit.overflow:
            self.layout.warnings.append(f"slide {len(self.layout.pages)}: a title too long for the slide continues as text")
        return (box if fit.paragraphs else None), list(fit.overflow)

    def _body(self, specs: list[Spec], rect: Rect, font: Optional[str] = None, color: Optional[str] = None, max_size: Optional[float] = None) -> tuple[Optional[TextBox], list[Spec]]:
        """Body text fitted into `rect` (never below body_min); returns the box and the overflow,
        split between whole paragraphs where it can be."""
        t = self.t
        font = font or t.fonts["body"]
        gap = 0.5 * t.sizes["body_min"]
        top = t.sizes["body_max"] if max_size is None else max_size
        fit = fit_whole(specs, rect.w, rect.h, font, top, t.sizes["body_min"], t.sizes["leading"], gap)
        if not fit.paragraphs:
            return None, list(fit.overflow)
        height = textfit.text_height(fit.paragraphs, fit.size, t.sizes["leading"], gap)
        style = TextStyle(font, fit.size, color or t.colors["text"], leading=t.sizes["leading"])
        box = TextBox(Rect(rect.x, rect.y, rect.w, height), fit.paragraphs, style, role="body", paragraph_gap=gap)
        return box, list(fit.overflow)

    def _picture(self, fig: Figure, frame: Rect, letterbox: bool = False) -> ImageBox:
        """The picture cover-cropped into `frame`; with `letterbox`, shown whole (inside the
        margins) when cropping would cut away more than MAX_CROP of it."""
        img = fig.image
        src, rect = imagefit.cover(img.width, img.height, frame)
        kept = (src[2] - src[0]) * (src[3] - src[1]) / max(img.width * img.height, 1)
        if letterbox and kept < 1.0 - MAX_CROP:
            src, rect = imagefit.contain(img.width, img.height, frame.inset(self.t.margins["x"] / 2, self.t.margins["y"]))
        return ImageBox(rect, img, src, alt=img.alt or fig.caption, role="picture", group=PICTURE)

    def _caption_band(self, caption: str, over: Rect, room_below: float = 0.0) -> tuple[list[Box], list[Spec]]:
        """A caption on a background band under a picture when `room_below` holds it, else over
        the foot of the picture (same group: allowed over it)."""
        t = self.t
        specs = self._specs([(caption, None)], t.fonts["caption"])
        if not specs:
            return [], []
        inner_w = over.w - 2 * BAND_PAD
        fit = textfit.fit_text(specs, inner_w, 0.4 * over.h, t.fonts["caption"], t.sizes["body_min"], t.sizes["body_min"], leading=t.sizes["leading"])
        text_h = textfit.text_height(fit.paragraphs, fit.size, t.sizes["leading"])
        band_h = text_h + 2 * BAND_PAD
        band = Rect(over.x, over.bottom if room_below >= band_h else over.bottom - band_h, over.w, band_h)
        style = TextStyle(t.fonts["caption"], fit.size, t.colors["caption"], leading=t.sizes["leading"])
        boxes: list[Box] = [
            Shape(band, fill=t.colors["background"], role="caption-band", group=PICTURE),
            TextBox(band.inset(BAND_PAD), fit.paragraphs, style, role="caption", group=PICTURE),
        ]
        return boxes, list(fit.overflow)

    def _rule(self, x: float, y: float) -> Shape:
        return Shape(Rect(x, y, RULE[0], RULE[1]), fill=self.t.colors["accent"], role="rule")

    def _warn_continued(self, heading: str) -> None:
        self.layout.warnings.append(
            f"slide {len(self.layout.pages)} ({heading[:40]!r}): the text does not fit at "
            f"{self.t.sizes['body_min']:g} pt; it continues on a follow-up slide"
        )

    # --- slides -------------------------------------------------------------------------------

    def title_slide(self, title: str, subtitle: str, figures: list[Figure], notes: str) -> None:
        """The deck title with the intro paragraph as subtitle (and the first intro picture)."""
        t, W, H = self.t, self.width, self.height
        mx, my = t.margins["x"], t.margins["y"]
        page = self._page("title", notes)
        x, w = mx, W - 2 * mx
        if figures:
            iw = IMAGE_SHARE * W
            page.boxes.append(self._picture(figures[0], Rect(W - iw, 0, iw, H), letterbox=True))
            w = W - iw - mx - t.margins["gap"]
        title_box, title_rest = self._title(title, x, 0, w, t.sizes["title_slide_max"], t.colors["title"], room=0.8 * (H - 2 * my))
        specs = title_rest + self._specs([(subtitle, None)], t.fonts["body"])
        th = title_box.rect.h if title_box else 0.0
        sub_box, rest = self._body(specs, Rect(x, 0, w, max(H - 2 * my - th - RULE[1] - 40, 0)), color=t.colors["text"]) if specs else (None, [])
        sh = sub_box.rect.h if sub_box else 0.0
        top = max(my + RULE[1] + 20, (H - th - 16 - sh) / 2)
        page.boxes.append(self._rule(x, top - RULE[1] - 16))
        for box, dy in ((title_box, top), (sub_box, top + th + 16)):
            if box is not None:
                box.rect = Rect(box.rect.x, dy, box.rect.w, box.rect.h)
                page.boxes.append(box)
        if rest:
            self._warn_continued(title)
            self.text_slides(continued(title), rest, [], "", cont=True)

    def statement_slide(self, text: str, name: str, notes: str) -> None:
        """A section or closing slide: one large centred line on the theme's section colours."""
        t, W, H = self.t, self.width, self.height
        mx, my = t.margins["x"], t.margins["y"]
        page = self._page(name, notes, background=t.colors["section_background"])
        box, rest = self._title(text, mx, 0, W - 2 * mx, t.sizes["title_slide_max"], t.colors["section_text"], align="center", room=H - 2 * my)
        if box is not None:
            box.rect = Rect(box.rect.x, max(my, (H - box.rect.h) / 2), box.rect.w, box.rect.h)
            page.boxes.append(box)
        if rest:
            self.text_slides(continued(text), rest, [], "", cont=True)

    def image_slide(self, heading: str, fig: Figure, notes: str) -> None:
        """A picture over the whole slide, its heading (and caption) on a band at the foot."""
        t, W, H = self.t, self.width, self.height
        mx = t.margins["x"]
        page = self._page("image", notes)
        page.boxes.append(self._picture(fig, Rect(0, 0, W, H)))
        title_box, title_rest = self._title(heading, mx, 0, W - 2 * mx, t.sizes["title_max"], t.colors["title"], room=0.4 * H)
        caption_specs = self._specs([(fig.caption, None)], t.fonts["caption"])
        cap_box, cap_rest = (self._body(caption_specs, Rect(mx, 0, W - 2 * mx, 0.25 * H), font=t.fonts["caption"], color=t.colors["caption"])) if caption_specs else (None, [])
        th = title_box.rect.h if title_box else 0.0
        ch = cap_box.rect.h + 6 if cap_box else 0.0
        band_top = H - th - ch - 2 * BAND_PAD
        page.boxes.append(Shape(Rect(0, band_top, W, H - band_top), fill=t.colors["background"], role="title-band", group=PICTURE))
        y = band_top + BAND_PAD
        for box in (title_box, cap_box):
            if box is not None:
                box.rect = Rect(box.rect.x, y, box.rect.w, box.rect.h)
                box.group = PICTURE
                page.boxes.append(box)
                y += box.rect.h + 6
        rest = title_rest + cap_rest
        if rest:
            self._warn_continued(heading)
            self.text_slides(continued(heading), rest, [], "", cont=True)

    def text_slides(self, heading: str, paragraphs: list[Spec], figures: list[Figure], notes: str, cont: bool = False) -> None:
        """A bullets/text slide (with the first figure beside the text); what does not fit at the
        minimum size continues on "(cont.)" slides. `cont`: `heading` is already a continuation title."""
        remaining = self._specs(paragraphs, self.t.fonts["body"])
        title = heading
        first = True
        size: Optional[float] = None  # follow-up slides keep the size of the slide they continue
        while remaining or first:
            remaining, size = self._text_slide(title, remaining, figures[:1] if first else [], notes if first else "", size)
            if remaining:
                self._warn_continued(heading)
            first = False
            title = heading if cont else continued(heading)

    def _text_slide(self, title: str, specs: list[Spec], figures: list[Figure], notes: str, size: Optional[float]) -> tuple[list[Spec], Optional[float]]:
        t, W, H = self.t, self.width, self.height
        mx, my = t.margins["x"], t.margins["y"]
        page = self._page("image-text" if figures else "text", notes)
        x, w = mx, W - 2 * mx
        if figures:
            iw = IMAGE_SHARE * W
            left = self._picture_on_left()
            frame = Rect(0 if left else W - iw, 0, iw, H)
            picture = self._picture(figures[0], frame, letterbox=True)
            page.boxes.append(picture)
            band, cap_rest = self._caption_band(figures[0].caption, picture.rect, frame.bottom - picture.rect.bottom)
            page.boxes.extend(band)
            specs = specs + cap_rest
            x, w = (iw + t.margins["gap"], W - iw - t.margins["gap"] - mx) if left else (mx, W - iw - t.margins["gap"] - mx)
        title_box, title_rest = self._title(title, x, my, w, t.sizes["title_max"], t.colors["title"])
        y = my
        if title_box is not None:
            page.boxes.append(title_box)
            y = title_box.rect.bottom + 10
            page.boxes.append(self._rule(x, y))
            y += RULE[1] + 18
        specs = title_rest + specs
        body, rest = self._body(specs, Rect(x, y, w, H - my - y), max_size=size)
        if body is not None:
            page.boxes.append(body)
        elif specs:
            raise TfgenError("the deck template leaves no room for slide text", where="margins")
        return rest, (body.style.size if body is not None and rest else size)

    def _picture_on_left(self) -> bool:
        side = self.t.image_side
        self._pictures += 1
        return side == "left" or (side == "alternate" and self._pictures % 2 == 0)


def continued(heading: str) -> str:
    """The title of a follow-up slide: the heading (shortened: it was shown whole) + " (cont.)"."""
    short = heading if len(heading) <= CONT_TITLE_CHARS else heading[: CONT_TITLE_CHARS - 1].rstrip() + "\u2026"
    return f"{short} (cont.)"


def fit_whole(specs: list[Spec], width: float, height: float, font: str, max_size: float, min_size: float, leading: float, gap: float) -> textfit.FitResult:
    """fit_text, but when the text must be split, split between paragraphs (bullets) rather than
    inside one, unless a single paragraph is all that fits."""
    specs = [(text, level) for text, level in specs if text.strip()]
    fit = textfit.fit_text(specs, width, height, font, max_size, min_size, leading=leading, paragraph_gap=gap)
    if fit.fits:
        return fit
    kept, over = fit.paragraphs, fit.overflow
    partial = len(kept) + len(over) == len(specs) + 1
    if partial and len(kept) > 1:
        whole = len(kept) - 1
        head = textfit.fit_text(specs[:whole], width, height, font, max_size, min_size, leading=leading, paragraph_gap=gap)
        if head.fits:
            return textfit.FitResult(head.size, head.paragraphs, False, list(specs[whole:]))
    return fit
