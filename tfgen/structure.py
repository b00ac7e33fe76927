"""A document's outline: title, opening matter and sections (panels, slides or magazine sections).

Every composer reads a document through `outline()`, and the sampler and `tfgen eval` use
`check_kind()` to ask whether a generated document has the shape a kind needs. So "what is a
panel" is decided here once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from tfgen import markup
from tfgen.document import Document, ImageSegment, TextSegment
from tfgen.markup import Block


@dataclass(frozen=True)
class Figure:
    """An image in reading order; `caption` is a '>' line that directly follows it."""

    image: ImageSegment
    index: int  # position among the document's images, from 0
    caption: str = ""


Item = Union[Block, Figure]


@dataclass
class Section:
    """Everything from one '##' heading (or '#' title, for a new article) to the next."""

    heading: str
    items: list[Item] = field(default_factory=list)
    article_start: bool = False  # True where a '#' opened a new article (magazines)

    def blocks(self, *kinds: str) -> list[Block]:
        return [it for it in self.items if isinstance(it, Block) and (not kinds or it.kind in kinds)]

    @property
    def figures(self) -> list[Figure]:
        return [it for it in self.items if isinstance(it, Figure)]


@dataclass
class Outline:
    title: str
    intro: list[Item]  # what comes before the first heading (subtitle, standfirst, cover image)
    sections: list[Section]

    @property
    def intro_blocks(self) -> list[Block]:
        return [it for it in self.intro if isinstance(it, Block)]

    @property
    def intro_figures(self) -> list[Figure]:
        return [it for it in self.intro if isinstance(it, Figure)]


def items(doc: Document, strict: bool = False) -> list[Item]:
    """The document as one stream of blocks and figures, captions attached to their figures."""
    stream: list[Item] = []
    image_index = 0
    for seg_index, seg in enumerate(doc.segments):
        if isinstance(seg, TextSegment):
            try:
                blocks = markup.parse(seg.text, strict=strict)
            except markup.MarkupError as exc:
                raise markup.MarkupError(exc.message, where=f"segment {seg_index}, {exc.where}") from None
            for block in blocks:
                prev = stream[-1] if stream else None
                if block.kind == "caption" and isinstance(prev, Figure) and not prev.caption:
                    stream[-1] = Figure(prev.image, prev.index, block.text)
                else:
                    stream.append(block)
        else:
            stream.append(Figure(seg, image_index))
            image_index += 1
    return stream


def outline(doc: Document, strict: bool = False) -> Outline:
    """Split the stream at headings. The first '#' is the title; later ones start new articles."""
    title = doc.title
    intro: list[Item] = []
    sections: list[Section] = []
    for item in items(doc, strict=strict):
        if isinstance(item, Block) and item.kind == "title":
            if not title:
                title = item.text
            elif sections or intro or item.text != title:
                sections.append(Section(item.text, article_start=True))
            continue
        if isinstance(item, Block) and item.kind == "heading":
            sections.append(Section(item.text))
            continue
        (sections[-1].items if sections else intro).append(item)
    return Outline(title=title, intro=intro, sections=sections)


def check_kind(doc: Document, kind: str, count: int | None = None) -> list[str]:
    """Problems that stop `doc` from being a well-formed `kind` with `count` panels or slides.

    An empty list means it parses: strict markup, a title, and for comics one image per panel.
    """
    try:
        out = outline(doc, strict=True)
    except markup.MarkupError as exc:
        return [str(exc)]
    problems: list[str] = []
    if not out.title:
        problems.append("no title")
    if kind == "comic":
        if not out.sections:
            problems.append("no panels ('## ' headings)")
        for i, sec in enumerate(out.sections, 1):
            if len(sec.figures) != 1:
                problems.append(f"panel {i} has {len(sec.figures)} images (needs 1)")
    elif kind == "deck":
        if not out.sections:
            problems.append("no slides ('## ' headings)")
    elif kind == "magazine":
        if not any(sec.blocks("paragraph") for sec in out.sections) and not any(
            isinstance(it, Block) and it.kind == "paragraph" for it in out.intro
        ):
            problems.append("no article text")
    if count is not None and kind in ("comic", "deck") and len(out.sections) != count:
        noun = "panels" if kind == "comic" else "slides"
        problems.append(f"{len(out.sections)} {noun} (requested {count})")
    return problems
