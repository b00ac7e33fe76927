"""The magazine composer: a cover, then each article flowing through 2 or 3 columns.

Reading a document as a magazine (through structure.outline): each '#' title is an article
headline, the first paragraph after it is the standfirst, '##' headings are section heads,
images are figures with their '>' captions, '>>' is a pull quote (if an article marks none, a
short sentence of its own is picked). Pages are: the cover, then each article opening on a new
page with its headline, standfirst and (template `images.lead = "span"`) its first image across
the columns; body text flows column to column and page to page by lines (tfgen.layout.columns).
Every article page has a running header (magazine name / article title) and a footer with the
page number; the cover is page 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from tfgen.document import Document
from tfgen.errors import TemplateError
from tfgen.layout import imagefit, textfit
from tfgen.layout.columns import ColumnFlow, FlowBlock, FlowText
from tfgen.layout.magazine_cover import build_cover
from tfgen.layout.magazine_style import MagazineStyle
from tfgen.layout.prepared import prepared
from tfgen.layout.templates import Template
from tfgen.layout.tree import Box, ImageBox, Layout, Page, Paragraph, Rect, Shape, TextBox, TextStyle, document_rights
from tfgen.markup import Block
from tfgen.structure import Figure, Outline, outline

Entry = Block | Figure  # section heads are Block("heading", ...)

CAPTION_GAP = 4.0  # between an image and its caption
FIGURE_SPACE = 8.0  # around figures and pull quotes in a column
PULL_RULE = 1.5  # thickness of the rules above and below a pull quote
CAPTION_MAX_FRACTION = 0.3  # a caption under its image takes at most this share of the text area height
LEAD_MAX_FRACTION = 0.42  # a spanning lead image takes at most this share of the text area height


@dataclass
class Article:
    title: str
    standfirst: str = ""
    entries: list[Entry] = field(default_factory=list)


def compose_magazine(doc: Document, template: Template, target: str, page_size: Optional[str]) -> Layout:
    """Lay `doc` out as a magazine: cover, then its articles in columns."""
    from tfgen.layout.compose import template_page_size

    style = MagazineStyle.from_template(template, target)
    _, width, height = template_page_size(template, "magazine", page_size)
    out = outline(doc)
    layout = Layout(kind="magazine", pages=[], title=out.title or style.name, subject=doc.prompt, keywords=["magazine"],
                    rights=document_rights(doc.meta))
    arts = split_articles(out)
    layout.pages.append(build_cover(doc, cover_lines(out, arts), style, width, height, layout.warnings))
    builder = _ArticleBuilder(style, width, height, layout)
    for art in arts:
        if art.standfirst or any(not (isinstance(e, Block) and e.kind == "note") for e in art.entries):
            builder.add_article(art)
    if any(isinstance(e, Block) and e.kind == "note" for a in arts for e in a.entries):
        layout.warnings.append("speaker notes ('^' lines) are not printed in a magazine")
    return layout


def cover_lines(out: Outline, arts: list[Article]) -> tuple[str, list[str]]:
    """The cover's headline and its teaser lines (other articles, then section heads)."""
    heads = [a.title for a in arts[1:] if a.title]
    for art in arts:
        heads += [e.text for e in art.entries if isinstance(e, Block) and e.kind == "heading"]
    return out.title, heads


# --- reading the outline ----------------------------------------------------------------------


def split_articles(out: Outline) -> list[Article]:
    """The outline as articles: '#' titles start them; '##' heads become heading entries."""
    arts = [Article(out.title)]
    arts[0].entries.extend(out.intro)
    for sec in out.sections:
        if sec.article_start:
            arts.append(Article(sec.heading))
        else:
            arts[-1].entries.append(Block("heading", sec.heading))
        arts[-1].entries.extend(sec.items)
    for art in arts:
        _take_standfirst(art)
        _add_pull_quote(art)
    return arts


def _take_standfirst(art: Article) -> None:
    """The first paragraph before any section head is the standfirst."""
    for i, entry in enumerate(art.entries):
        if isinstance(entry, Block) and entry.kind == "heading":
            return
        if isinstance(entry, Block) and entry.kind == "paragraph":
            art.standfirst = entry.text
            del art.entries[i]
            return


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'\u201c])")


def pick_pull_quote(paragraphs: list[str]) -> Optional[str]:
    """A short, quotable sentence (40-140 characters, closest to 90), or None."""
    best: Optional[str] = None
    for text in paragraphs:
        for sentence in _SENTENCE_END.split(text):
            s = sentence.strip()
            if 40 <= len(s) <= 140 and len(s.split()) >= 6:
                if best is None or abs(len(s) - 90) < abs(len(best) - 90):
                    best = s
    return best


def _add_pull_quote(art: Article) -> None:
    """Pick a pull quote when none is marked; it goes after the first third of the paragraphs."""
    if any(isinstance(e, Block) and e.kind == "pullquote" for e in art.entries):
        return
    positions = [i for i, e in enumerate(art.entries) if isinstance(e, Block) and e.kind == "paragraph"]
    if len(positions) < 2:
        return
    quote = pick_pull_quote([art.entries[i].text for i in positions])  # type: ignore[union-attr]
    if quote:
        after = positions[max(1, len(positions) // 3) - 1]
        art.entries.insert(after + 1, Block("pullquote", quote))


# --- laying out articles ----------------------------------------------------------------------


class _ArticleBuilder:
    """Pages of articles: page furniture, the opening and the column flow."""

    def __init__(self, style: MagazineStyle, width: float, height: float, layout: Layout):
        self.s = style
        self.width, self.height = width, height
        self.layout = layout
        self.title = ""  # the article the running header names
        self.flow: Optional[ColumnFlow] = None
        self._figures = 0
        g = style.grid
        self.area = Rect(g["margin_left"], g["margin_top"], width - g["margin_left"] - g["margin_right"], height - g["margin_top"] - g["margin_bottom"])
        if self.area.w < 100 or self.area.h < 100:
            raise TemplateError("the margins leave less than 100 pt for the text", where="template grid")

    # --- pages ----------------------------------------------------------------------------

    def new_page(self) -> tuple[Page, Rect]:
        page = Page(self.width, self.height, background=self.s.colors["paper"], name="article")
        self.layout.pages.append(page)
        page.boxes.extend(self._furniture(len(self.layout.pages)))
        return page, self.area

    def _furniture(self, number: int) -> list[Box]:
        """Running header (name / article title, a rule) and footer (issue line, page number)."""
        s, a = self.s, self.area
        size = s.sizes["running"]
        line_h = textfit.line_height(size, 1.2)
        head_y = max(a.y - 14 - line_h, 2.0)
        half = (a.w - 12) / 2
        boxes: list[Box] = [
            self._one_line(s.name, Rect(a.x, head_y, half, line_h), "left", "header"),
            self._one_line(self.title, Rect(a.right - half, head_y, half, line_h), "right", "header"),
            Shape(Rect(a.x, head_y + line_h + 3, a.w, 0.6), fill=s.colors["muted"], role="rule"),
        ]
        foot_y = min(a.bottom + 16, self.height - line_h - 2)
        boxes.append(self._one_line(s.issue, Rect(a.x, foot_y, half, line_h), "left", "footer"))
        boxes.append(self._one_line(str(number), Rect(a.right - half, foot_y, half, line_h), "right", "footer"))
        return [b for b in boxes if not isinstance(b, TextBox) or b.paragraphs]

    def _one_line(self, text: str, rect: Rect, align: str, role: str) -> TextBox:
        """A running head: one line; a text too long for it is cut with an ellipsis (it repeats
        the masthead or the headline, which are printed in full)."""
        font, text = prepared(text, self.s.fonts["running"], self.layout.warnings)
        size = self.s.sizes["running"]
        lines = textfit.wrap(text, font, size, rect.w) if text.strip() else []
        if len(lines) > 1:
            line = lines[0]
            while line and textfit.text_width(line + "\u2026", font, size) > rect.w:
                line = line[:-1]
            lines = [line.rstrip() + "\u2026"]
        paras = [Paragraph(text, tuple(lines))] if lines else []
        style = TextStyle(font, size, self.s.colors["muted"], align=align)
        return TextBox(rect, paras, style, role=role)

    # --- articles -------------------------------------------------------------------------

    def add_article(self, art: Article) -> None:
        self.title = art.title
        if self.flow is None:
            self.flow = ColumnFlow(self.new_page, columns=self.s.columns, gutter=self.s.grid["gutter"])
        else:
            self.flow.start_span()
        flow = self.flow
        entries = list(art.entries)
        self._opening(art, entries)
        body_line = textfit.line_height(self.s.sizes["body"], self.s.sizes["leading"])
        flow.start_columns(gap=12.0, min_height=6 * body_line)
        items: list[FlowText | FlowBlock] = []
        for entry in entries:
            items.extend(self._entry_items(entry))
        flow.pour(items)

    def _opening(self, art: Article, entries: list[Entry]) -> None:
        """Headline, standfirst and (if the template says so) the lead image, across the columns."""
        s, flow = self.s, self.flow
        assert flow is not None
        if art.title:
            font, text = prepared(art.title, s.fonts["headline"], self.layout.warnings)
            fit = textfit.fit_text([(text, None)], self.area.w, 0.35 * self.area.h, font, s.sizes["headline_max"], s.sizes["headline_min"], leading=1.1)
            flow.add_text(FlowText(text, TextStyle(font, fit.size, s.colors["text"], leading=1.1), role="title", space_after=8))
        if art.standfirst:
            font, text = prepared(art.standfirst, s.fonts["standfirst"], self.layout.warnings)
            flow.add_text(FlowText(text, TextStyle(font, s.sizes["standfirst"], s.colors["muted"], leading=1.3), role="standfirst", space_after=10))
        lead = next((e for e in entries if isinstance(e, Figure)), None)
        if s.lead_image == "span" and lead is not None:
            # The lead image shares the opening page with the start of the columns.
            body_line = textfit.line_height(s.sizes["body"], s.sizes["leading"])
            room = self.area.bottom - flow.y - 2 * FIGURE_SPACE - 12 - 8 * body_line
            fraction = min(LEAD_MAX_FRACTION, room / self.area.h)
            if fraction >= 0.15:
                entries.remove(lead)
                for item in self._figure_items(lead, fraction, self.area.w, floats=False):
                    if isinstance(item, FlowText):
                        flow.add_text(item)
                    else:
                        flow.add_block(item)
        flow.add_block(FlowBlock(lambda w, h: 1.5, lambda r: [Shape(r, fill=s.colors["accent"], role="rule")], space_before=2, floats=False))

    def _entry_items(self, entry: Entry) -> list[FlowText | FlowBlock]:
        """What one outline entry becomes in the column flow."""
        s = self.s
        if isinstance(entry, Figure):
            return self._figure_items(entry, s.image_max_height, self.flow.frames[0].w if self.flow else self.area.w)
        kind = entry.kind
        if kind == "note":
            return []  # reported once by compose_magazine
        if kind == "heading":
            font, text = prepared(entry.text, s.fonts["heading"], self.layout.warnings)
            style = TextStyle(font, s.sizes["heading"], s.colors["accent"], leading=1.2)
            return [FlowText(text, style, role="heading", space_before=10, space_after=3, keep_with_next=True)]
        if kind == "pullquote":
            return [self._pull_quote(entry.text)]
        text = f"{entry.speaker}: \u201c{entry.text}\u201d" if kind == "dialogue" else entry.text
        role, font_role, size_key = ("caption", "caption", "caption") if kind == "caption" else ("body", "body", "body")
        font, text = prepared(text, s.fonts[font_role], self.layout.warnings)
        style = TextStyle(font, s.sizes[size_key], s.colors["text"], leading=s.sizes["leading"])
        level = entry.level if kind == "bullet" else None
        return [FlowText(text, style, role=role, bullet_level=level, space_before=s.sizes["paragraph_gap"])]

    # --- blocks ---------------------------------------------------------------------------

    def _figure_items(self, fig: Figure, max_fraction: float, width: float, floats: bool = True) -> list[FlowText | FlowBlock]:
        """An image (cover-cropped, at most `max_fraction` of the column height) over its caption.

        A caption taller than CAPTION_MAX_FRACTION of the text area keeps its first lines under
        the image and goes on as caption text right after it (the figure then does not float).
        """
        s = self.s
        self._figures += 1
        group = 1000 + self._figures
        font, caption = prepared(fig.caption, s.fonts["caption"], self.layout.warnings)
        cap_style = TextStyle(font, s.sizes["caption"], s.colors["muted"], leading=1.2)
        img = fig.image
        paras: list[Paragraph] = []
        rest: list[FlowText | FlowBlock] = []
        if caption.strip():
            fit = textfit.fit_text([(caption, None)], width, CAPTION_MAX_FRACTION * self.area.h, font, cap_style.size, cap_style.size, leading=1.2)
            paras = fit.paragraphs
            rest = [FlowText(text, cap_style, role="caption", space_before=0.0) for text, _ in fit.overflow]
        cap_h = textfit.text_height(paras, cap_style.size, 1.2) + (CAPTION_GAP if paras else 0.0)

        def height_for(w: float, frame_h: float) -> float:
            natural = w * img.height / max(img.width, 1)
            return max(min(natural, max_fraction * frame_h, frame_h - cap_h), 1.0) + cap_h

        def build(rect: Rect) -> list[Box]:
            src, frame = imagefit.cover(img.width, img.height, Rect(rect.x, rect.y, rect.w, rect.h - cap_h))
            boxes: list[Box] = [ImageBox(frame, img, src, alt=img.alt or fig.caption, role="figure", group=group)]
            if paras:
                text_h = cap_h - CAPTION_GAP
                boxes.append(TextBox(Rect(rect.x, rect.bottom - text_h, rect.w, text_h), paras, cap_style, role="caption", group=group))
            return boxes

        return [FlowBlock(height_for, build, FIGURE_SPACE, FIGURE_SPACE, floats and not rest), *rest]

    def _pull_quote(self, quote: str) -> FlowText | FlowBlock:
        """A pull quote between two accent rules; too long to stand out, it is set as body text."""
        s, flow = self.s, self.flow
        assert flow is not None
        font, text = prepared("\u201c" + quote.strip("\"\u201c\u201d ") + "\u201d", s.fonts["pullquote"], self.layout.warnings)
        probe = textfit.fit_text([(text, None)], flow.frames[0].w, 0.5 * self.area.h, font, s.sizes["pullquote"], s.sizes["body"], leading=1.2)
        if not probe.fits:
            style = TextStyle(font, s.sizes["body"], s.colors["accent"], leading=s.sizes["leading"])
            return FlowText(text, style, role="body", space_before=s.sizes["paragraph_gap"])

        def fitted(width: float):
            return textfit.fit_text([(text, None)], width, 0.5 * self.area.h, font, s.sizes["pullquote"], s.sizes["body"], leading=1.2)

        def height_for(width: float, frame_h: float) -> float:
            fit = fitted(width)
            return textfit.text_height(fit.paragraphs, fit.size, 1.2) + 2 * (PULL_RULE + 6)

        def build(rect: Rect) -> list[Box]:
            fit = fitted(rect.w)
            style = TextStyle(font, fit.size, s.colors["accent"], align="left", leading=1.2)
            text_h = textfit.text_height(fit.paragraphs, fit.size, 1.2)
            return [
                Shape(Rect(rect.x, rect.y, rect.w, PULL_RULE), fill=s.colors["accent"], role="rule"),
                TextBox(Rect(rect.x, rect.y + PULL_RULE + 6, rect.w, text_h), fit.paragraphs, style, role="pullquote"),
                Shape(Rect(rect.x, rect.bottom - PULL_RULE, rect.w, PULL_RULE), fill=s.colors["accent"], role="rule"),
            ]

        return FlowBlock(height_for, build, FIGURE_SPACE + 2, FIGURE_SPACE + 2)
