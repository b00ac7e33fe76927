"""Column flow: text and blocks poured into frames, column to column and page to page, by lines.

A flow fills the frames of a page in order (one full-width frame in "span" mode, n columns in
"column" mode), then asks for a new page and goes on in the same mode. Text is split between
frames at line breaks (never inside a line), so nothing is dropped: every word of every
paragraph lands in exactly one TextBox. Blocks (a figure with its caption, a pull quote) are
never split; a block that does not fit the rest of a column may float to the top of the next
column while the text goes on filling this one, as magazines do.

Spacing: `space_before` of an item is not applied at the top of a frame. Consecutive paragraphs
of the same role and style in one frame share one TextBox, with their spacing as its
`paragraph_gap`, so a column of prose is one editable text box.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Optional

from tfgen.errors import TfgenError
from tfgen.layout import textfit
from tfgen.layout.tree import Box, Page, Paragraph, Rect, TextBox, TextStyle

MIN_LINES_SPLIT = 2  # a paragraph split across frames keeps at least this many lines on each side
_EPS = 1e-6


@dataclass(frozen=True)
class FlowText:
    """One paragraph (or heading) to flow; `style.font` is the face it is measured with."""

    text: str
    style: TextStyle
    role: str = "body"
    bullet_level: Optional[int] = None
    space_before: float = 0.0
    space_after: float = 0.0
    keep_with_next: bool = False  # headings: never the last thing in a frame


@dataclass(frozen=True)
class FlowBlock:
    """An unsplittable block. `height_for(width, column_height)` must return a height no larger than
    `column_height` (the frame's full height on its page); `build(rect)` returns its boxes inside `rect`."""

    height_for: Callable[[float, float], float]
    build: Callable[[Rect], list[Box]]
    space_before: float = 0.0
    space_after: float = 0.0
    floats: bool = True  # may wait for the next column while text continues


# A page factory appends a fresh page to the layout and returns it with its content area.
PageFactory = Callable[[], tuple[Page, Rect]]


class _NoRoom(Exception):
    """A trial pour needed another page (used while balancing the last page's columns)."""


@dataclass
class _Mark:
    """Where a pour stood when a page's columns began: enough to pour that page again."""

    index: int
    rest: Optional[str]
    floats: list[FlowBlock]
    boxes: int  # boxes on the page before its columns
    top: float


class ColumnFlow:
    """Pours FlowText and FlowBlock items into the frames of successive pages."""

    def __init__(self, new_page: PageFactory, columns: int = 1, gutter: float = 12.0):
        self._new_page = new_page
        self.columns = columns
        self.gutter = gutter
        self.mode = "span"
        self.page, self.area = new_page()
        self.frames = [self.area]
        self.col = 0
        self.y = self.area.y
        self._space = 0.0  # space_after still owed by the last placed item
        self._open: Optional[TextBox] = None  # the text box the next paragraph may join
        self._floats: list[FlowBlock] = []
        self._cursor: tuple[int, Optional[str]] = (0, None)  # (item index, text left of it) in a pour
        self._mark: Optional[_Mark] = None
        self._trial = False

    # --- frames -------------------------------------------------------------------------------

    @property
    def frame(self) -> Rect:
        return self.frames[self.col]

    @property
    def at_top(self) -> bool:
        return self.y <= self.frame.y + _EPS

    def _column_frames(self, top: float, bottom: float) -> list[Rect]:
        a = self.area
        width = (a.w - self.gutter * (self.columns - 1)) / self.columns
        return [Rect(a.x + i * (width + self.gutter), top, width, bottom - top) for i in range(self.columns)]

    def _reset_frames(self, top: float, bottom: Optional[float] = None) -> None:
        bottom = self.area.bottom if bottom is None else bottom
        if self.mode == "columns":
            self.frames = self._column_frames(top, bottom)
        else:
            self.frames = [Rect(self.area.x, top, self.area.w, bottom - top)]
        self.col, self.y, self._space, self._open = 0, top, 0.0, None

    def start_columns(self, gap: float = 0.0, min_height: float = 0.0) -> None:
        """Switch to columns below what the span frame holds (on a new page if too little room is left)."""
        self.mode = "columns"
        top = self.y + (gap if not self.at_top else 0.0)
        if self.area.bottom - top < min_height:
            self.new_page()
        else:
            self._reset_frames(top)

    def start_span(self) -> None:
        """Switch to one full-width frame on a fresh page (articles open this way)."""
        self.mode = "span"
        if not self._page_is_empty():
            self.new_page()
        else:
            self._reset_frames(self.area.y)

    def _page_is_empty(self) -> bool:
        return all(getattr(b, "role", "") in _FURNITURE for b in self.page.boxes)

    def _set_mark(self) -> None:
        index, rest = self._cursor
        self._mark = _Mark(index, rest, list(self._floats), len(self.page.boxes), self.frames[0].y)

    def new_page(self) -> None:
        if self._trial:
            raise _NoRoom
        self.page, self.area = self._new_page()
        self._reset_frames(self.area.y)
        self._set_mark()
        self._place_floats()

    def next_frame(self) -> None:
        if self.col + 1 < len(self.frames):
            self.col += 1
            self.y, self._space, self._open = self.frame.y, 0.0, None
            self._place_floats()
        else:
            self.new_page()

    def finish(self) -> None:
        """Place any blocks still waiting for room."""
        while self._floats:
            self.next_frame()

    # --- pouring a list, with the last page balanced ------------------------------------------

    def pour(self, items: list[FlowText | FlowBlock], balance: bool = True) -> None:
        """Flow `items` into columns (after start_columns); the last page's columns end level."""
        self._cursor = (0, None)
        self._set_mark()
        self._run(items, 0, None)
        self.finish()
        if balance and self.mode == "columns" and self._mark is not None and len(self.frames) > 1:
            self._balance(items, self._mark)

    def _run(self, items: list[FlowText | FlowBlock], index: int, rest: Optional[str]) -> None:
        for i in range(index, len(items)):
            item = items[i]
            self._cursor = (i, None)
            if isinstance(item, FlowText):
                self.add_text(item, rest if i == index and rest is not None else None, i)
            else:
                self.add_block(item)
        self._cursor = (len(items), None)

    def _balance(self, items: list[FlowText | FlowBlock], mark: _Mark) -> None:
        """Pour the last page again into the shortest columns that still hold it all."""
        page, full = self.page, self.area.bottom

        def attempt(bottom: float) -> bool:
            del page.boxes[mark.boxes :]
            self._floats = list(mark.floats)
            self._reset_frames(mark.top, bottom)
            self._trial = True
            try:
                self._place_floats()
                self._run(items, mark.index, mark.rest)
                self.finish()
                return True
            except _NoRoom:
                return False
            finally:
                self._trial = False

        lo, hi = mark.top, full
        while hi - lo > 1.0:
            mid = (lo + hi) / 2
            if attempt(mid):
                hi = mid
            else:
                lo = mid
        if not attempt(hi):  # cannot happen (the full height held it); pour it as it was
            attempt(full)

    # --- text ---------------------------------------------------------------------------------

    def add_text(self, item: FlowText, text: Optional[str] = None, index: Optional[int] = None) -> None:
        """Flow one paragraph (or what is left of it), splitting it by lines across frames."""
        text = item.text if text is None else text
        fresh_frames = 0
        while text.strip():
            placed, text = self._place_text_part(item, text)
            if placed:
                fresh_frames = 0
                continue
            fresh_frames += 1
            if fresh_frames > len(self.frames) + 1:
                if self._trial:
                    raise _NoRoom
                raise TfgenError("the template leaves no room for a single line of text", where="grid")
            if index is not None:
                self._cursor = (index, text)
            self.next_frame()
        self._space = max(self._space, item.space_after)
    def _place_text_part(self, item: FlowText, text: str) -> tuple[bool, str]:
        """Place as much of `text` as this frame takes; return (placed anything, the rest)."""
        style = item.style
        line_h = textfit.line_height(style.size, style.leading)
        gap = 0.0 if self.at_top else max(self._space, item.space_before)
        width = self.frame.w
        lines = textfit.wrap(text, style.font, style.size, max(width - textfit.bullet_text_indent(item.bullet_level, style.size), 1.0))
        room = int((self.frame.bottom - self.y - gap + _EPS) // line_h)
        need = len(lines)
        if item.keep_with_next and not self.at_top:
            # A heading needs its own lines plus two lines of what follows it.
            if room < need + MIN_LINES_SPLIT:
                return False, text
        take = min(room, need)
        if take < need:
            if take < MIN_LINES_SPLIT and not self.at_top:
                return False, text  # no orphaned first line at the foot of a column
            if need - take < MIN_LINES_SPLIT and take > MIN_LINES_SPLIT:
                take = need - MIN_LINES_SPLIT  # no widowed last line at the head of the next
        if take <= 0:
            return False, text
        head, rest = self._split(text, item, width, take)
        if text != item.text:
            head = replace(head, continued=True)
        self._append(item, head, gap)
        return True, rest

    def _split(self, text: str, item: FlowText, width: float, take: int) -> tuple[Paragraph, str]:
        style = item.style
        fit = textfit.fit_text(
            [(text, item.bullet_level)], width, take * textfit.line_height(style.size, style.leading),
            style.font, style.size, style.size, leading=style.leading,
        )
        head = fit.paragraphs[0]
        rest = fit.overflow[0][0] if fit.overflow else ""
        return head, rest

    def _append(self, item: FlowText, para: Paragraph, gap: float) -> None:
        box = self._open
        style = item.style
        if box is not None and box.role == item.role and box.style == style and (
            len(box.paragraphs) == 1 or abs(box.paragraph_gap - gap) < _EPS
        ) and abs(box.rect.bottom - self.y) < _EPS:
            box.paragraphs.append(para)
            box.paragraph_gap = gap
            height = textfit.text_height(box.paragraphs, style.size, style.leading, gap)
            box.rect = replace(box.rect, h=height)
        else:
            top = self.y + gap
            height = textfit.text_height([para], style.size, style.leading)
            box = TextBox(Rect(self.frame.x, top, self.frame.w, height), [para], style, role=item.role)
            self.page.boxes.append(box)
        self._open = box if not item.keep_with_next else None
        self.y = box.rect.bottom
        self._space = 0.0

    # --- blocks -------------------------------------------------------------------------------

    def add_block(self, block: FlowBlock) -> None:
        """Place an unsplittable block here, or let it float to the next frame."""
        if block.floats and self._floats:
            self._floats.append(block)  # keep blocks in their order
            return
        if self._try_block(block):
            return
        if block.floats and not self.at_top:
            self._floats.append(block)
            return
        for _ in range(len(self.frames) + 1):  # on through this page's frames to a fresh page
            self.next_frame()
            if self._try_block(block):
                return
        if self._trial:
            raise _NoRoom
        raise TfgenError("a figure or quote does not fit an empty column", where="grid")

    def _try_block(self, block: FlowBlock) -> bool:
        gap = 0.0 if self.at_top else max(self._space, block.space_before)
        # Blocks are sized against the full column height, so balancing never shrinks a figure.
        height = block.height_for(self.frame.w, self.area.bottom - self.frame.y)
        if self.y + gap + height > self.frame.bottom + _EPS:
            return False
        rect = Rect(self.frame.x, self.y + gap, self.frame.w, height)
        self.page.boxes.extend(block.build(rect))
        self.y = rect.bottom
        self._space = block.space_after
        self._open = None
        return True

    def _place_floats(self) -> None:
        while self._floats and self._try_block(self._floats[0]):
            self._floats.pop(0)


# Box roles that a page factory puts on every page (they do not make a page "used").
_FURNITURE = frozenset({"header", "footer", "rule", "page-background"})
