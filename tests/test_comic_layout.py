"""The comic composer, tested as data: every template, both reading directions, stress documents."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from conftest import make_image

from tfgen.document import Document, TextSegment
from tfgen.errors import TemplateError, TfgenError
from tfgen.layout.checks import PRINT_MIN_SIZES, check_layout
from tfgen.layout.compose import compose
from tfgen.layout.imagefit import aspect_error
from tfgen.layout.templates import list_templates
from tfgen.layout.tree import Balloon, ImageBox, Layout, Shape, TextBox

TEMPLATES = list_templates("comic")
MIN_SIZES = dict(PRINT_MIN_SIZES)


def comic(n_panels: int = 4, images: bool = True, title: str = "The Fox and the Lantern", caption=None) -> Document:
    segments = [TextSegment(f"# {title}")]
    for i in range(n_panels):
        segments.append(TextSegment(f"## Panel {i + 1}"))
        if images:
            segments.append(make_image(192 + 32 * (i % 3), 160 + 16 * (i % 2), label=f"picture {i + 1}"))
        text = caption if (caption and i == 1) else f"Night falls, part {i + 1}."
        segments.append(TextSegment(f'> {text}\n\nFox: "What is that light, number {i + 1}?"\n\nOwl: "A lantern {i + 1}."'))
    return Document(segments, kind="comic", prompt="a fox finds a lantern")


def all_text(layout: Layout) -> str:
    parts = []
    for page in layout.pages:
        for box in page.boxes:
            if isinstance(box, (TextBox, Balloon)):
                parts.extend(line for p in box.paragraphs for line in p.lines)
    return " ".join(parts)


def assert_text_budget(layout: Layout) -> None:
    """Balloons and captions over a panel's picture cover at most a quarter of it."""
    for page in layout.pages:
        pictures = {b.group: b.rect for b in page.boxes if b.role in ("panel-image", "panel-background")}
        for group, rect in pictures.items():
            covered = sum(
                b.rect.area
                for b in page.boxes
                if isinstance(b, (Balloon, TextBox)) and b.group == group and b.rect.intersection(rect) > 0
            )
            assert covered <= 0.25 * rect.area + 1e-6, (group, covered / rect.area)


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_template_gives_a_clean_layout(name):
    layout = compose(comic(5), "comic", name)
    assert check_layout(layout, MIN_SIZES) == []
    assert_text_budget(layout)
    images = [b for p in layout.pages for b in p.boxes if isinstance(b, ImageBox)]
    assert len(images) == 5
    assert all(aspect_error(b.src, b.rect) < 0.01 for b in images)
    balloons = [b for p in layout.pages for b in p.boxes if isinstance(b, Balloon)]
    assert len(balloons) == 10
    for number in range(1, 6):
        assert f"What is that light, number {number}?" in all_text(layout)
    assert layout.warnings == []


def test_layout_meta_and_page_sizes():
    layout = compose(comic(2), "comic", "2x2")
    assert (layout.title, layout.author, layout.subject) == ("The Fox and the Lantern", "tfgen", "a fox finds a lantern")
    assert "comic" in layout.keywords
    assert (layout.pages[0].width, layout.pages[0].height) == pytest.approx((595.276, 841.89))
    letter = compose(comic(2), "comic", "2x2", page_size="letter")
    assert (letter.pages[0].width, letter.pages[0].height) == (612.0, 792.0)
    assert check_layout(letter, MIN_SIZES) == []
    with pytest.raises(TfgenError, match="page size"):
        compose(comic(2), "comic", "2x2", page_size="16:9")


def _panel_rects(layout: Layout, page: int = 0):
    return [b.rect for b in layout.pages[page].boxes if isinstance(b, ImageBox)]


def test_left_to_right_reading_order():
    layout = compose(comic(4), "comic", "2x2")
    first, second, third, _ = _panel_rects(layout)
    assert first.x < second.x and first.y == second.y and third.y > first.y
    ordered = sorted((b for b in layout.pages[0].boxes if isinstance(b, Balloon)), key=lambda b: b.order)
    assert [b.text for b in ordered[:2]] == ["What is that light, number 1?", "A lantern 1."]
    assert ordered[0].rect.x < ordered[1].rect.x and ordered[0].rect.y < ordered[1].rect.y


def test_right_to_left_option_reverses_panels_and_balloons(tmp_path):
    source = (list_templates_dir() / "2x2.toml").read_text(encoding="utf-8").replace('reading = "ltr"', 'reading = "rtl"')
    path = tmp_path / "rtl.toml"
    path.write_text(source, encoding="utf-8")
    layout = compose(comic(4), "comic", str(path))
    assert layout.rtl and check_layout(layout, MIN_SIZES) == []
    first, second, third, fourth = _panel_rects(layout)
    assert first.x > second.x and first.y == second.y and third.x > fourth.x
    ordered = sorted((b for b in layout.pages[0].boxes if isinstance(b, Balloon)), key=lambda b: b.order)
    assert ordered[0].text == "What is that light, number 1?"
    assert ordered[0].rect.right > ordered[1].rect.right and ordered[0].rect.y < ordered[1].rect.y
    # The same layout checked as left-to-right fails its reading order: the check can fail.
    layout.rtl = False
    assert any("read before" in p for p in check_layout(layout, MIN_SIZES))


def list_templates_dir():
    from tfgen.layout.templates import templates_root

    return templates_root() / "comic"


def test_very_long_title_grows_the_band_and_keeps_every_word():
    title = " ".join(f"Word{i}" for i in range(60))
    layout = compose(comic(2, title=title), "comic", "2x2")
    assert check_layout(layout, MIN_SIZES) == []
    text = all_text(layout)
    assert all(f"Word{i}" in text for i in range(60))
    titles = [b for b in layout.pages[0].boxes if isinstance(b, TextBox) and b.role == "title"]
    assert titles and titles[0].style.size >= 8


def test_300_word_caption_moves_to_a_strip_with_a_warning():
    caption = " ".join(f"w{i}" for i in range(300))
    layout = compose(comic(4, caption=caption), "comic", "2x2")
    assert check_layout(layout, MIN_SIZES) == []
    assert_text_budget(layout)
    words = all_text(layout).split()
    positions = [words.index(f"w{i}") for i in range(300)]
    assert positions == sorted(positions), "caption words are kept in reading order"
    assert any("panel 2" in w and "caption strip" in w for w in layout.warnings)
    strips = [b for b in layout.pages[0].boxes if isinstance(b, TextBox) and b.group == 1 and b.fill and b.padding == 4.0]
    picture = next(b.rect for b in layout.pages[0].boxes if isinstance(b, ImageBox) and b.group == 1)
    assert strips and strips[0].rect.y >= picture.bottom - 1e-6


def test_document_without_images_gets_background_panels():
    layout = compose(comic(4, images=False), "comic", "2x2")
    assert check_layout(layout, MIN_SIZES) == []
    assert_text_budget(layout)
    backgrounds = [b for b in layout.pages[0].boxes if isinstance(b, Shape) and b.role == "panel-background"]
    assert len(backgrounds) == 4
    assert not any(isinstance(b, ImageBox) for b in layout.pages[0].boxes)


def test_nine_panels_take_two_six_panel_pages():
    layout = compose(comic(9), "comic", "six-panel")
    assert len(layout.pages) == 2
    assert [len(_panel_rects(layout, p)) for p in (0, 1)] == [6, 3]
    assert check_layout(layout, MIN_SIZES) == []
    for page in layout.pages:  # balloon orders restart on every page
        orders = sorted(b.order for b in page.boxes if isinstance(b, Balloon))
        assert orders == list(range(len(orders)))


def test_pptx_target_lays_out_with_metric_compatible_faces():
    layout = compose(comic(2), "comic", "2x2", target="pptx")
    fonts_used = {b.style.font for p in layout.pages for b in p.boxes if isinstance(b, (TextBox, Balloon))}
    assert fonts_used <= {"arial", "arial-bold", "times", "times-bold"}
    assert check_layout(layout, MIN_SIZES) == []


def test_cjk_dialogue_is_kept_or_warned():
    doc = Document([TextSegment("# 狐狸\n\n## 1"), make_image(), TextSegment('Fox: "灯笼在哪里?"')], kind="comic")
    layout = compose(doc, "comic", "2x2")
    balloon = next(b for b in layout.pages[0].boxes if isinstance(b, Balloon))
    assert balloon.text == "灯笼在哪里?" or any("灯" in w for w in layout.warnings)
    assert check_layout(layout, MIN_SIZES) == []


def test_bad_template_values_name_the_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[grid]\ntiers = [[1, 1], []]\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"grid.tiers\[1\]"):
        compose(comic(2), "comic", str(path))
    path.write_text('[balloon]\nfont = "wingdings"\n', encoding="utf-8")
    with pytest.raises(TemplateError, match="balloon.font"):
        compose(comic(2), "comic", str(path))
    path.write_text("[text]\nmax_area = 0.5\n", encoding="utf-8")
    with pytest.raises(TemplateError, match="text.max_area.*at most 0.25"):
        compose(comic(2), "comic", str(path))


_IMAGES = [make_image(160, 120), make_image(120, 200), make_image(300, 100)]
_words = st.lists(st.sampled_from(["fox", "lantern", "a", "the", "forest", "Supercalifragilistic", "night", "owl", "light!"]), min_size=1, max_size=40)
_panel = st.tuples(st.booleans(), st.lists(_words, max_size=2), st.lists(_words, max_size=4), st.integers(0, 2))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_panel, min_size=1, max_size=8), st.sampled_from(TEMPLATES), st.sampled_from(["A4", "letter"]))
def test_random_comics_always_give_clean_layouts(panels, name, page_size):
    segments = [TextSegment("# Random comic")]
    for has_image, captions, lines, image_index in panels:
        segments.append(TextSegment("## Panel"))
        if has_image:
            segments.append(_IMAGES[image_index])
        text = "\n\n".join([f"> {' '.join(c)}" for c in captions] + [f'Fox: "{" ".join(w)}"' for w in lines])
        if text:
            segments.append(TextSegment(text))
    layout = compose(Document(segments, kind="comic"), "comic", name, page_size=page_size)
    assert check_layout(layout, MIN_SIZES) == []
    assert_text_budget(layout)
    # Nothing is lost: every character written is somewhere in the layout (panel, strip or continuation).
    written = Counter("".join("".join(w) for _, captions, lines, _ in panels for w in captions + lines))
    shown = Counter(all_text(layout).replace(" ", ""))
    assert not written - shown


def test_compose_rejects_unknown_kinds_targets_and_page_sizes():
    with pytest.raises(TfgenError, match="unknown kind"):
        compose(comic(1), "poster")
    with pytest.raises(TfgenError, match="unknown output format"):
        compose(comic(1), "comic", target="docx")
    with pytest.raises(TfgenError, match="page size"):
        compose(comic(1), "comic", page_size="A5")
    assert compose(comic(1), "comic", page_size="a4").pages[0].width == pytest.approx(595.276)


def test_intro_text_becomes_a_subtitle_in_the_title_band():
    doc = Document([TextSegment("# Title\n\nA tale of one fox.\n\n## 1"), make_image(200, 160), TextSegment('Fox: "Hi."')], kind="comic")
    layout = compose(doc, "comic", "2x2")
    band = [b for b in layout.pages[0].boxes if isinstance(b, TextBox) and b.group == -1]
    assert [b.text for b in band] == ["Title", "A tale of one fox."]
    assert band[0].rect.bottom <= band[1].rect.y + 1e-6
    assert check_layout(layout, MIN_SIZES) == []


def test_panels_sit_inside_the_margins_with_gutters_between_them():
    layout = compose(comic(4), "comic", "2x2")
    first, second, third, _ = _panel_rects(layout)
    assert second.x - first.right == pytest.approx(10) and third.y - first.bottom == pytest.approx(10)
    assert first.x == pytest.approx(28) and second.right == pytest.approx(595.276 - 28)


def test_a_grid_too_dense_for_the_page_is_a_template_error(tmp_path):
    path = tmp_path / "dense.toml"
    path.write_text("[page]\ngutter = 60\n[grid]\ntiers = [[1, 1, 1, 1, 1, 1, 1, 1]]\n", encoding="utf-8")
    with pytest.raises(TemplateError, match="grid.tiers.*narrowest panel"):
        compose(comic(1), "comic", str(path))
