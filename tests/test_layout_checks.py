"""The layout checker itself: each rule catches what it should and passes what is allowed."""

from __future__ import annotations

from conftest import make_image

from tfgen.layout import textfit
from tfgen.layout.checks import PRINT_MIN_SIZES, OverlapRule, check_layout, reads_before
from tfgen.layout.tree import Balloon, ImageBox, Layout, Page, Paragraph, Rect, Shape, TextBox, TextStyle

STYLE = TextStyle("sans", 10)


def _text(rect: Rect, text: str = "hi", size: float = 10, role: str = "caption", group=None) -> TextBox:
    return TextBox(rect, [Paragraph(text, (text,))], TextStyle("sans", size), role=role, group=group)


def _balloon(rect: Rect, order: int, group: int, text: str = "hey") -> Balloon:
    return Balloon(rect, [Paragraph(text, (text,))], STYLE, tail=(rect.x, rect.bottom + 5), order=order, group=group)


def _layout(*boxes, rtl: bool = False) -> Layout:
    return Layout("comic", [Page(200, 300, list(boxes))], rtl=rtl)


def _image(rect: Rect, group=None) -> ImageBox:
    img = make_image(64, 48)
    ratio = rect.w / rect.h
    src = (0, 0, 64, 48) if abs(ratio - 64 / 48) < 1e-9 else (0, 0, 64, round(64 / ratio)) if 64 / ratio <= 48 else (0, 0, round(48 * ratio), 48)
    return ImageBox(rect, img, src, group=group)


def test_a_clean_layout_passes():
    assert check_layout(_layout(_image(Rect(10, 10, 120, 90), group=1), _text(Rect(12, 12, 60, 20), group=1)), PRINT_MIN_SIZES) == []


def test_box_outside_the_page_is_reported():
    problems = check_layout(_layout(_text(Rect(150, 10, 80, 20))), PRINT_MIN_SIZES)
    assert any("outside the page" in p for p in problems)


def test_overlap_is_allowed_only_within_the_same_group():
    image = _image(Rect(10, 10, 120, 90), group=1)
    assert check_layout(_layout(image, _text(Rect(20, 20, 60, 20), group=1)), PRINT_MIN_SIZES) == []
    problems = check_layout(_layout(image, _text(Rect(20, 20, 60, 20), group=2)), PRINT_MIN_SIZES)
    assert any("overlaps" in p for p in problems)
    two_texts = check_layout(_layout(_text(Rect(10, 10, 60, 20), group=1), _text(Rect(30, 15, 60, 20), group=1)), PRINT_MIN_SIZES)
    assert any("overlaps" in p for p in two_texts)


def test_extra_overlap_rules_extend_the_table():
    layout = _layout(_text(Rect(10, 10, 60, 20), role="body"), _text(Rect(30, 15, 60, 20), role="stamp"))
    assert check_layout(layout, PRINT_MIN_SIZES)
    rule = OverlapRule("role:stamp", "role:body", False, "a stamp over body text")
    assert check_layout(layout, PRINT_MIN_SIZES, extra_overlaps=[rule]) == []


def test_frame_shape_may_surround_its_own_image():
    layout = _layout(_image(Rect(10, 10, 120, 90), group=3), Shape(Rect(10, 10, 120, 90), stroke="#000000", role="panel-frame", group=3))
    assert check_layout(layout, PRINT_MIN_SIZES) == []


def test_text_below_the_minimum_size_is_reported():
    problems = check_layout(_layout(_text(Rect(10, 10, 100, 20), size=6)), PRINT_MIN_SIZES)
    assert any("below the 7 pt minimum" in p for p in problems)


def test_lines_wider_or_taller_than_their_box_are_reported():
    wide = "a line far too wide for a tiny box"
    assert textfit.text_width(wide, "sans", 10) > 50
    problems = check_layout(_layout(_text(Rect(10, 10, 50, 20), wide)), PRINT_MIN_SIZES)
    assert any("wide in" in p for p in problems)
    tall = TextBox(Rect(10, 10, 150, 15), [Paragraph("a b", ("a", "b"))], STYLE, role="caption")
    assert any("tall in" in p for p in check_layout(_layout(tall), PRINT_MIN_SIZES))


def test_stretched_image_is_reported():
    box = ImageBox(Rect(10, 10, 100, 100), make_image(64, 48), (0, 0, 64, 48))
    assert any("stretched" in p for p in check_layout(_layout(box), PRINT_MIN_SIZES))


def test_balloon_reading_order_within_and_across_panels():
    left_panel = _image(Rect(10, 10, 80, 60), group=1)
    right_panel = _image(Rect(100, 10, 80, 60), group=2)
    a = _balloon(Rect(12, 12, 30, 15), 0, 1)
    b = _balloon(Rect(50, 25, 30, 15), 1, 1)
    c = _balloon(Rect(102, 12, 30, 15), 2, 2)
    assert check_layout(_layout(left_panel, right_panel, a, b, c), PRINT_MIN_SIZES) == []
    # Swap the orders of the two panels' balloons: wrong for left-to-right, right for manga.
    a2, b2, c2 = _balloon(a.rect, 1, 1), _balloon(b.rect, 2, 1), _balloon(c.rect, 0, 2)
    assert any("read before" in p for p in check_layout(_layout(left_panel, right_panel, a2, b2, c2), PRINT_MIN_SIZES))
    assert check_layout(_layout(left_panel, right_panel, a2, b2, c2, rtl=True), PRINT_MIN_SIZES) == []
    # Inside one panel a lower balloon cannot come first.
    low_first = _layout(left_panel, _balloon(b.rect, 0, 1), _balloon(a.rect, 1, 1))
    assert any("read before" in p for p in check_layout(low_first, PRINT_MIN_SIZES))


def test_reads_before_uses_rows_then_direction():
    top, bottom = Rect(0, 0, 10, 10), Rect(0, 20, 10, 10)
    left, right = Rect(0, 0, 10, 10), Rect(20, 0, 10, 10)
    assert reads_before(top, bottom) and not reads_before(bottom, top)
    assert reads_before(left, right) and not reads_before(right, left)
    assert reads_before(right, left, rtl=True)


def test_tails_must_end_in_their_panel_and_outside_other_balloons():
    panel = _image(Rect(10, 10, 120, 90), group=1)
    first = Balloon(Rect(12, 12, 40, 15), [Paragraph("a", ("a",))], STYLE, tail=(30, 40), order=0, group=1)
    second = _balloon(Rect(20, 35, 40, 15), 1, 1)
    problems = check_layout(_layout(panel, first, second), PRINT_MIN_SIZES)
    assert any("ends inside balloon 1" in p for p in problems)
    outside = Balloon(Rect(12, 12, 40, 15), [Paragraph("a", ("a",))], STYLE, tail=(150, 40), order=0, group=1)
    assert any("outside its panel" in p for p in check_layout(_layout(panel, outside), PRINT_MIN_SIZES))
