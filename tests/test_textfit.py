"""Text fitting: metrics, wrapping, shrinking, overflow, baselines and fallback faces."""

from __future__ import annotations

import pytest

from tfgen.layout import fallback, textfit
from tfgen.layout.tree import Paragraph

FONT = "sans"


def test_text_width_scales_with_size_and_matches_reportlab():
    from reportlab.pdfbase import pdfmetrics

    from tfgen.layout import fonts

    name = fonts.register_pdf(FONT)
    for text in ("Hello, world", "WWW iii", "Ärger über Öl"):
        assert textfit.text_width(text, FONT, 10) == pytest.approx(pdfmetrics.stringWidth(text, name, 10))
    assert textfit.text_width("abc", FONT, 20) == pytest.approx(2 * textfit.text_width("abc", FONT, 10))
    assert textfit.text_width("WWW", FONT, 10) > textfit.text_width("iii", FONT, 10)


def test_wrap_keeps_every_line_inside_the_width_and_every_word():
    text = "The quick brown fox jumps over the lazy dog " * 5
    lines = textfit.wrap(text, FONT, 11, 120)
    assert len(lines) > 3
    assert all(textfit.text_width(line, FONT, 11) <= 120 + 1e-6 for line in lines)
    assert " ".join(lines).split() == text.split()


def test_wrap_breaks_a_word_wider_than_the_width_by_characters():
    word = "Supercalifragilisticexpialidocious"
    lines = textfit.wrap(f"a {word} b", FONT, 12, 50)
    assert all(textfit.text_width(line, FONT, 12) <= 50 + 1e-6 for line in lines)
    assert "".join(lines).replace(" ", "") == f"a{word}b"


def test_fit_text_shrinks_before_giving_up():
    text = "word " * 60
    big = textfit.fit_text([(text, None)], 200, 400, FONT, 14, 7)
    assert big.fits and big.size == 14
    small = textfit.fit_text([(text, None)], 200, 80, FONT, 14, 7)
    assert small.fits and 7 <= small.size < 14
    height = textfit.text_height(small.paragraphs, small.size)
    assert height <= 80
    # One step larger would not have fitted (it really shrank only as far as needed).
    bigger = textfit.fit_text([(text, None)], 200, 80, FONT, small.size + 0.5, small.size + 0.5)
    assert not bigger.fits


def test_fit_text_overflow_returns_whole_paragraphs_then_split_lines():
    paras = [("first paragraph " * 3, None), ("second paragraph is much longer " * 20, None), ("third", None)]
    result = textfit.fit_text(paras, 150, 60, FONT, 10, 7, paragraph_gap=2)
    assert not result.fits and result.size == 7
    assert textfit.text_height(result.paragraphs, 7, 1.2, 2) <= 60 + 1e-6
    assert result.paragraphs[0].text == paras[0][0]  # a whole paragraph, as given
    assert len(result.paragraphs) == 2  # then the lines of the second that still fit
    kept_words = " ".join(p.text for p in result.paragraphs).split()
    over_words = " ".join(t for t, _ in result.overflow).split()
    assert kept_words + over_words == " ".join(t for t, _ in paras).split()
    assert result.overflow[-1] == ("third", None)


def test_fit_text_box_too_small_for_one_line_overflows_everything():
    result = textfit.fit_text([("hello there", None)], 100, 3, FONT, 10, 7)
    assert result.paragraphs == [] and result.overflow == [("hello there", None)]


def test_bullets_hang_and_keep_their_level():
    text = "a bullet that is long enough to wrap onto several lines of text here"
    result = textfit.fit_text([(text, 1), ("plain", None)], 150, 500, FONT, 10, 7)
    bullet = result.paragraphs[0]
    assert bullet.bullet_level == 1 and result.paragraphs[1].bullet_level is None
    indent = textfit.bullet_text_indent(1, 10)
    assert indent == pytest.approx(2 * textfit.BULLET_INDENT_EM * 10)
    assert len(bullet.lines) > 1
    assert all(indent + textfit.text_width(line, FONT, 10) <= 150 + 1e-6 for line in bullet.lines)
    assert textfit.bullet_glyph_indent(1, 10) < indent


def test_text_height_and_baseline_convention():
    paras = [Paragraph("a", ("a", "b")), Paragraph("c", ("c",))]
    assert textfit.text_height(paras, 10, 1.2, 4) == pytest.approx(3 * 12 + 4)
    assert textfit.text_height([], 10) == 0
    base = textfit.first_baseline(FONT, 10, 1.2)
    # Baseline below the top by more than half the size, and the descent still fits the line box.
    assert 5 < base < 12
    descent = (1 - textfit.ascent_fraction(FONT)) * 10
    assert base + descent <= textfit.line_height(10, 1.2) + 1e-9


def test_cjk_text_gets_a_fallback_face_or_a_warning():
    text = "狐狸找到了灯笼"
    assert fallback.missing_chars(text, FONT) == set(text)
    key, warning = fallback.resolve_face(text, FONT)
    if warning is None:
        assert key != FONT and not fallback.missing_chars(text, key)
    else:
        assert "狐" in warning
        assert set(fallback.replace_uncovered(text, FONT)) == {"?"}


def test_mixed_text_runs_cover_every_character_and_measure_consistently():
    text = "Fox: 灯笼 ok"
    pieces = fallback.runs(text, FONT)
    assert "".join(p for p, _ in pieces) == text
    if fallback.uncovered_chars(text, FONT):
        pytest.skip("no CJK fallback font on this machine")
    assert all(not fallback.missing_chars(p, key) for p, key in pieces)
    total = sum(textfit.text_width(p, key, 10) for p, key in pieces)
    assert textfit.text_width(text, FONT, 10) == pytest.approx(total)


def test_characters_no_font_has_are_replaced_and_named():
    text = "tag \U000E0041 end"
    key, safe, warning = fallback.prepare_text(text, FONT)
    assert warning is not None and "?" in safe and "\U000E0041" not in safe
    assert safe.replace("?", "") == text.replace("\U000E0041", "")


def test_overflow_split_inside_a_broken_word_adds_no_space():
    word = "x" * 120
    result = textfit.fit_text([(word, None)], 40, 20, FONT, 10, 10)
    assert not result.fits and result.paragraphs
    kept = "".join(result.paragraphs[0].lines)
    assert kept + result.overflow[0][0] == word
