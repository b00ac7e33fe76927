"""The layout tree: pages of absolutely positioned boxes. Composers build it; backends only draw it.

Conventions (stated once, tested in tests/test_layout_tree.py):
- Units are PostScript points (1/72 inch). The origin is the page's top-left corner and y grows
  downward, as on a printed page; the PDF backend flips y, the PPTX backend converts to EMU
  (12,700 EMU per point).
- Colours are "#RRGGBB" strings; `None` means no fill or no stroke.
- Boxes are drawn in list order: later boxes are on top.
- Text is already fitted: every TextBox/Balloon carries its wrapped lines at its final size,
  so all backends show the same line breaks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

from tfgen.document import ImageSegment

EMU_PER_POINT = 12_700


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    @property
    def area(self) -> float:
        return max(self.w, 0.0) * max(self.h, 0.0)

    def inset(self, dx: float, dy: Optional[float] = None) -> "Rect":
        dy = dx if dy is None else dy
        return Rect(self.x + dx, self.y + dy, self.w - 2 * dx, self.h - 2 * dy)

    def intersection(self, other: "Rect") -> float:
        """Area shared with `other` (0 when they only touch)."""
        w = min(self.right, other.right) - max(self.x, other.x)
        h = min(self.bottom, other.bottom) - max(self.y, other.y)
        return w * h if w > 0 and h > 0 else 0.0

    def contains(self, other: "Rect", tol: float = 0.01) -> bool:
        return (
            other.x >= self.x - tol
            and other.y >= self.y - tol
            and other.right <= self.right + tol
            and other.bottom <= self.bottom + tol
        )


@dataclass(frozen=True)
class TextStyle:
    """`font` is a key of tfgen.layout.fonts (e.g. "sans-bold"); `size` in points."""

    font: str
    size: float
    color: str = "#000000"
    align: str = "left"  # left | center | right
    leading: float = 1.2  # line height as a multiple of size


@dataclass(frozen=True)
class Paragraph:
    """One paragraph: its source text and the lines it was wrapped into."""

    text: str
    lines: tuple[str, ...]
    bullet_level: Optional[int] = None  # None: not a bullet
    continued: bool = False  # the rest of a paragraph split across frames: indented, no bullet glyph


@dataclass
class TextBox:
    """Fitted text. `role` names what it is (title, body, caption, heading, footer, ...)."""

    rect: Rect
    paragraphs: list[Paragraph]
    style: TextStyle
    role: str = "body"
    fill: Optional[str] = None
    stroke: Optional[str] = None
    padding: float = 0.0
    valign: str = "top"  # top | middle | bottom
    group: Optional[int] = None  # panel/slide/figure the box belongs to, for overlap rules
    paragraph_gap: float = 0.0  # extra space between paragraphs, in points

    @property
    def text(self) -> str:
        return "\n".join(p.text for p in self.paragraphs)


@dataclass
class ImageBox:
    """An image drawn into `rect` from the pixel crop `src` (x0, y0, x1, y1) of the PNG.

    The composer chose `src` and `rect` so that the aspect ratio is kept (cover-crop or letterbox).
    """

    rect: Rect
    image: ImageSegment
    src: tuple[int, int, int, int]
    alt: str = ""
    role: str = "image"
    group: Optional[int] = None


@dataclass
class Balloon:
    """A speech balloon: an ellipse or rounded box with a tail pointing at `tail` (x, y)."""

    rect: Rect
    paragraphs: list[Paragraph]
    style: TextStyle
    tail: tuple[float, float]
    speaker: str = ""
    shape: str = "ellipse"  # ellipse | rounded
    fill: str = "#FFFFFF"
    stroke: str = "#000000"
    stroke_width: float = 1.0
    text_rect: Optional[Rect] = None  # where the lines go, inside the shape
    order: int = 0  # reading order inside the page
    role: str = "balloon"
    group: Optional[int] = None

    @property
    def text(self) -> str:
        return "\n".join(p.text for p in self.paragraphs)


@dataclass
class Shape:
    """A plain shape: panel frames, backgrounds, rules, colour bands."""

    rect: Rect
    kind: str = "rect"  # rect | rounded | ellipse | line
    fill: Optional[str] = None
    stroke: Optional[str] = None
    stroke_width: float = 1.0
    role: str = "shape"
    group: Optional[int] = None


Box = Union[TextBox, ImageBox, Balloon, Shape]


@dataclass
class Page:
    width: float
    height: float
    boxes: list[Box] = field(default_factory=list)
    background: Optional[str] = None
    notes: str = ""  # speaker notes (decks)
    name: str = ""  # e.g. "cover", "title", "section", "closing"


@dataclass
class Layout:
    """What a composer produces: pages plus what a backend writes into the file's properties."""

    kind: str
    pages: list[Page]
    title: str = ""
    author: str = "tfgen"
    subject: str = ""
    keywords: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rtl: bool = False  # right-to-left reading (manga)
    rights: str = ""  # credit/licence of the images (the training data's attribution); "" writes none


def document_rights(meta: dict) -> str:
    """The document's `meta["attribution"]` when it is a non-empty string, else ""."""
    value = meta.get("attribution", "")
    return value.strip() if isinstance(value, str) else ""


def rights_notice(rights: str) -> str:
    """How backends label Layout.rights in a file's free-text properties ("" when there are none)."""
    return f"Image credits: {rights}" if rights else ""
