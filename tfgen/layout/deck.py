"""The deck composer: one slide per '##' section, themed by a deck template.

Reading a document as a deck (through structure.outline): the title and the first intro
paragraph make the title slide; a '##' heading with no body is a section slide; a heading with
text is a bullets/text slide, with its first image beside the text (left or right, per template);
a heading with images and no text gets full-bleed image slides; '^' lines are the slide's speaker
notes (Page.notes). The last slide, if heading-only, is the closing slide; otherwise the
template's `deck.closing` text (if any) gets a closing slide of its own.

Text never shrinks below the theme's minimums (slide body 18 pt, titles 28 pt): what does not fit
continues on a follow-up slide titled "Title (cont.)", with a warning in layout.warnings.
Slides are 960 x 540 pt (16:9, 12192000 x 6858000 EMU) or 720 x 540 pt (4:3).
"""

from __future__ import annotations

from typing import Optional

from tfgen.document import Document
from tfgen.layout.deck_style import DeckTheme
from tfgen.layout.deck_slides import SlideMaker, continued
from tfgen.layout.templates import Template
from tfgen.layout.tree import Layout, document_rights
from tfgen.markup import Block
from tfgen.structure import Figure, Section, outline

# Block kinds shown as slide text (notes go to Page.notes; headings and titles are slide titles).
TEXT_KINDS = ("paragraph", "bullet", "dialogue", "caption", "pullquote")


def compose_deck(doc: Document, template: Template, target: str, page_size: Optional[str]) -> Layout:
    """Lay `doc` out as slides."""
    from tfgen.layout.compose import template_page_size

    theme = DeckTheme.from_template(template, target)
    _, width, height = template_page_size(template, "deck", page_size)
    out = outline(doc)
    layout = Layout(kind="deck", pages=[], title=out.title, subject=doc.prompt, keywords=["deck"],
                    rights=document_rights(doc.meta))
    maker = SlideMaker(theme, width, height, layout)
    intro_text = [b for b in out.intro_blocks if b.kind in TEXT_KINDS]
    subtitle = intro_text[0].text if intro_text and intro_text[0].kind == "paragraph" else ""
    rest = intro_text[1:] if subtitle else intro_text
    if out.title or subtitle or out.intro_figures or _notes(out.intro_blocks):
        maker.title_slide(out.title, subtitle, out.intro_figures[:1], _notes(out.intro_blocks))
    if rest or out.intro_figures[1:]:
        extra = Section(out.title or "Introduction", [*rest, *out.intro_figures[1:]])
        _section_slides(maker, extra, last=False)
    for i, sec in enumerate(out.sections):
        _section_slides(maker, sec, last=i == len(out.sections) - 1)
    if _needs_closing(out.sections, theme.closing):
        maker.statement_slide(theme.closing, "closing", "")
    return layout


def _notes(blocks: list[Block]) -> str:
    return "\n".join(b.text for b in blocks if b.kind == "note")


def _needs_closing(sections: list[Section], closing: str) -> bool:
    """A closing slide of the template's text, unless the deck already ends with one (a
    heading-only last slide, or a last slide whose heading is that text)."""
    if not closing.strip():
        return False
    if not sections:
        return True
    last = sections[-1]
    return not _heading_only(last) and last.heading.strip().casefold() != closing.strip().casefold()


def _heading_only(sec: Section) -> bool:
    return not sec.figures and not sec.blocks(*TEXT_KINDS)


def _paragraph(block: Block) -> tuple[str, Optional[int]]:
    """A block as slide text: (text, bullet level or None)."""
    if block.kind == "bullet":
        return block.text, block.level
    if block.kind == "dialogue":
        return f"{block.speaker}: \u201c{block.text}\u201d", None
    if block.kind == "pullquote":
        return f"\u201c{block.text}\u201d", None
    return block.text, None


def _section_slides(maker: SlideMaker, sec: Section, last: bool) -> None:
    """The slide(s) one section becomes."""
    notes = _notes(sec.blocks("note"))
    if _heading_only(sec):
        maker.statement_slide(sec.heading, "closing" if last else "section", notes)
        return
    paragraphs = [_paragraph(b) for b in sec.blocks(*TEXT_KINDS)]
    figures: list[Figure] = sec.figures
    if not paragraphs:
        for k, fig in enumerate(figures):
            maker.image_slide(sec.heading if k == 0 else continued(sec.heading), fig, notes if k == 0 else "")
        return
    maker.text_slides(sec.heading, paragraphs, figures[:1], notes)
    for fig in figures[1:]:
        maker.image_slide(continued(sec.heading), fig, "")

