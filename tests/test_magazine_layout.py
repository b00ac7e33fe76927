"""The magazine composer, tested as data: cover, column flow, figures, pull quotes, furniture."""

from __future__ import annotations

import re

import pytest

from tfgen.document import Document, TextSegment
from tfgen.errors import TemplateError
from tfgen.layout.checks import PRINT_MIN_SIZES, check_layout
from tfgen.layout.compose import PAGE_SIZES, compose
from tfgen.layout.magazine import pick_pull_quote
from tfgen.layout.templates import list_templates, load_template
from tfgen.layout.tree import ImageBox, Shape, TextBox
from tests.conftest import make_image

# Print minimums: body 8 pt, and nothing on the page (captions, running heads) below 7 pt.
MIN_SIZES = {**PRINT_MIN_SIZES, "*": 7.0}
SENTENCES = (
    "The lantern had hung in the old oak for as long as anyone in the valley could remember. "
    "Nobody knew who had lit it first, and nobody dared to put it out. "
    "Each autumn the foxes gathered beneath it to trade stories of the year."
)


def paragraph(section: int, index: int) -> str:
    return f"{SENTENCES} Marker s{section}p{index} ends here."


def magazine_doc(sections: int = 3, paragraphs: int = 6, images: bool = True, title: str = "The Lantern in the Oak", extra: str = "") -> Document:
    segs: list = [TextSegment(f"# {title}\n\nA quiet forest, a strange light, and the creatures who keep it burning.")]
    if images:
        segs += [make_image(96, 64, "#3366cc", "a fox under an oak"), TextSegment("> The oak at dusk.")]
    for s in range(sections):
        body = "\n\n".join(paragraph(s, p) for p in range(paragraphs))
        segs.append(TextSegment(f"## Section {s}\n\n{body}"))
        if images:
            segs += [make_image(64, 80, "#cc9933", f"figure {s}"), TextSegment(f"> Figure {s} caption.")]
    if extra:
        segs.append(TextSegment(extra))
    return Document(segs, kind="magazine")


def body_text(layout) -> str:
    """All body text in the order the layout lists it (the order a reader meets it)."""
    parts = [b.text for p in layout.pages for b in p.boxes if isinstance(b, TextBox) and b.role == "body"]
    return " ".join(" ".join(parts).split())


def markers(text: str) -> list[str]:
    return re.findall(r"s\d+p\d+", text)


@pytest.mark.parametrize("template", list_templates("magazine"))
@pytest.mark.parametrize("size", ["A4", "letter"])
def test_every_template_and_size_passes_the_layout_checks(template, size):
    doc = magazine_doc()
    layout = compose(doc, "magazine", template, "pdf", size)
    assert check_layout(layout, MIN_SIZES) == []
    assert all((p.width, p.height) == PAGE_SIZES[size] for p in layout.pages)
    assert layout.pages[0].name == "cover" and len(layout.pages) >= 3
    # Nothing dropped, nothing repeated, in reading order.
    assert markers(body_text(layout)) == [f"s{s}p{p}" for s in range(3) for p in range(6)]
    assert body_text(layout) == " ".join(" ".join(paragraph(s, p) for s in range(3) for p in range(6)).split())


def test_template_page_size_is_the_default_and_the_option_overrides_it():
    assert compose(magazine_doc(1, 1), "magazine", "default").pages[0].width == PAGE_SIZES["A4"][0]
    assert compose(magazine_doc(1, 1), "magazine", "feature").pages[0].width == PAGE_SIZES["letter"][0]
    assert compose(magazine_doc(1, 1), "magazine", "feature", page_size="A4").pages[0].width == PAGE_SIZES["A4"][0]


@pytest.mark.parametrize("template", list_templates("magazine"))
def test_body_flows_in_the_template_columns_at_its_size(template):
    t = load_template("magazine", template)
    layout = compose(magazine_doc(4, 8), "magazine", template)
    columns = t.get("grid.columns", int)
    bodies = [b for p in layout.pages[1:] for b in p.boxes if isinstance(b, TextBox) and b.role == "body"]
    assert len({round(b.rect.x, 1) for b in bodies}) == columns
    assert {b.style.size for b in bodies} == {t.get("sizes.body", float)}
    assert min(b.style.size for b in bodies) >= 8.0


def test_text_reads_down_each_column_then_across():
    layout = compose(magazine_doc(3, 8, images=False), "magazine")
    for page in layout.pages[1:]:
        flow = [b for b in page.boxes if isinstance(b, TextBox) and b.role in ("body", "heading")]
        reading = sorted(flow, key=lambda b: (round(b.rect.x), b.rect.y))
        assert flow == reading


def test_cover_has_masthead_issue_image_and_cover_lines():
    layout = compose(magazine_doc(), "magazine", "default")
    cover = layout.pages[0]
    by_role = {}
    for b in cover.boxes:
        by_role.setdefault(b.role, []).append(b)
    assert by_role["masthead"][0].text == "The Transfusion Review"
    assert by_role["issue"][0].text.startswith("Issue 1")
    image = by_role["cover-image"][0]
    assert isinstance(image, ImageBox) and image.image.alt == "a fox under an oak"
    lines = " / ".join(b.text for b in by_role["cover-line"])
    assert "The Lantern in the Oak" in lines and all(f"Section {s}" in lines for s in range(3))
    band = by_role["masthead-band"][0]
    assert isinstance(band, Shape) and band.rect.y == 0 and band.rect.w == cover.width


def test_article_opening_headline_standfirst_and_spanning_lead_image():
    layout = compose(magazine_doc(), "magazine", "default")
    page = layout.pages[1]
    roles = [b.role for b in page.boxes]
    assert roles.index("title") < roles.index("standfirst") < roles.index("figure") < roles.index("body")
    title = next(b for b in page.boxes if b.role == "title")
    lead = next(b for b in page.boxes if b.role == "figure")
    assert title.text == "The Lantern in the Oak"
    assert lead.rect.w > 0.9 * title.rect.w  # spans the columns
    assert next(b for b in page.boxes if b.role == "standfirst").text.startswith("A quiet forest")


def test_every_figure_is_placed_once_with_its_caption_below_it():
    layout = compose(magazine_doc(), "magazine", "feature")
    figures = [b for p in layout.pages[1:] for b in p.boxes if isinstance(b, ImageBox)]
    assert [f.image.alt for f in figures] == ["a fox under an oak", "figure 0", "figure 1", "figure 2"]
    for page in layout.pages[1:]:
        for box in page.boxes:
            if isinstance(box, ImageBox):
                caption = next(b for b in page.boxes if b.role == "caption" and b.group == box.group)
                assert caption.rect.y >= box.rect.bottom and abs(caption.rect.x - box.rect.x) < 0.01


def test_running_header_and_page_numbers():
    extra = "# A Second Article\n\nIts standfirst.\n\n" + "\n\n".join(paragraph(9, p) for p in range(4))
    layout = compose(magazine_doc(extra=extra), "magazine")
    titles_seen = set()
    for number, page in enumerate(layout.pages[1:], start=2):
        headers = [b.text for b in page.boxes if b.role == "header"]
        footers = [b.text for b in page.boxes if b.role == "footer"]
        assert headers[0] == "The Transfusion Review"
        assert str(number) in footers
        titles_seen.add(headers[1])
    assert titles_seen == {"The Lantern in the Oak", "A Second Article"}
    expected = [f"s{s}p{p}" for s in range(3) for p in range(6)] + [f"s9p{p}" for p in range(4)]
    assert markers(body_text(layout)) == expected
    # The second article opens on a fresh page with its own headline.
    opening = next(p for p in layout.pages if any(b.role == "title" and b.text == "A Second Article" for b in p.boxes))
    assert not any(b.role == "body" and "s2p" in b.text for b in opening.boxes)
    assert not any(b.role in ("header", "footer") for b in layout.pages[0].boxes)


def test_marked_pull_quote_is_set_between_rules():
    layout = compose(magazine_doc(extra=">> Lanterns are for sharing, said the owl."), "magazine")
    quotes = [b for p in layout.pages for b in p.boxes if b.role == "pullquote"]
    assert len(quotes) == 1 and "Lanterns are for sharing" in quotes[0].text
    assert quotes[0].style.size >= 8.0


def test_a_pull_quote_is_picked_when_none_is_marked():
    layout = compose(magazine_doc(), "magazine")
    quotes = [b for p in layout.pages for b in p.boxes if b.role == "pullquote"]
    assert len(quotes) == 1
    picked = quotes[0].text.strip("\u201c\u201d")
    assert " ".join(picked.split()) in " ".join(SENTENCES.split())


def test_pick_pull_quote_prefers_a_short_sentence():
    assert pick_pull_quote(["Tiny. " + "This sentence is a good length for a quote in a magazine column."]) == (
        "This sentence is a good length for a quote in a magazine column."
    )
    assert pick_pull_quote(["Too short.", "x " * 200]) is None


def test_twenty_page_article_flows_without_loss():
    doc = magazine_doc(sections=20, paragraphs=20)
    layout = compose(doc, "magazine")
    assert len(layout.pages) >= 20
    assert check_layout(layout, MIN_SIZES) == []
    assert markers(body_text(layout)) == [f"s{s}p{p}" for s in range(20) for p in range(20)]


def test_very_long_title_is_printed_whole_at_a_legal_size():
    title = " ".join(["An extraordinarily long headline about lanterns, foxes and owls"] * 8)
    layout = compose(magazine_doc(1, 3, title=title), "magazine")
    assert check_layout(layout, MIN_SIZES) == []
    heads = [b for p in layout.pages[1:] for b in p.boxes if b.role == "title"]
    assert " ".join(" ".join(b.text for b in heads).split()) == title
    assert all(b.style.size >= 20 for b in heads)


def test_document_without_images():
    layout = compose(magazine_doc(images=False), "magazine")
    assert check_layout(layout, MIN_SIZES) == []
    assert not any(isinstance(b, ImageBox) for p in layout.pages for b in p.boxes)
    assert any(b.role == "cover-line" for b in layout.pages[0].boxes)


def test_last_page_columns_are_balanced():
    layout = compose(magazine_doc(2, 5, images=False), "magazine", "default")
    last = layout.pages[-1]
    bottoms = {}
    for b in last.boxes:
        if isinstance(b, TextBox) and b.role in ("body", "heading"):
            bottoms[round(b.rect.x)] = max(bottoms.get(round(b.rect.x), 0), b.rect.bottom)
    line = 9.5 * 1.3
    assert len(bottoms) == 3 and max(bottoms.values()) - min(bottoms.values()) <= 3 * line


def test_notes_are_not_printed_but_reported():
    layout = compose(magazine_doc(1, 2, extra="^ remember to thank the owl"), "magazine")
    assert not any("thank the owl" in getattr(b, "text", "") for p in layout.pages for b in p.boxes)
    assert any("speaker notes" in w for w in layout.warnings)


def test_pptx_layouts_use_faces_a_viewer_has():
    layout = compose(magazine_doc(1, 2), "magazine", target="pptx")
    faces = {b.style.font for p in layout.pages for b in p.boxes if isinstance(b, TextBox)}
    assert faces and faces <= {"arial", "arial-bold", "arial-italic", "times", "times-bold", "times-italic"}


@pytest.mark.parametrize(
    "text, key",
    [
        ("[grid]\ncolumns = 5\n", "grid.columns"),
        ("[sizes]\nbody = 7\n", "sizes.body"),
        ("[fonts]\nbody = 'papyrus'\n", "fonts.body"),
        ("[colors]\naccent = 'red'\n", "colors.accent"),
        ("[grid]\ngutterr = 3\n", "grid.gutterr"),
        ("[page]\nsize = '16:9'\n", "page.size"),
    ],
)
def test_bad_templates_name_the_key(tmp_path, text, key):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(TemplateError) as info:
        compose(magazine_doc(1, 1), "magazine", str(path))
    assert key in str(info.value)


def test_a_partial_user_template_falls_back_to_defaults(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[magazine]\nname = "My Zine"\n[grid]\ncolumns = 2\n')
    layout = compose(magazine_doc(1, 4), "magazine", str(path))
    assert check_layout(layout, MIN_SIZES) == []
    assert any(b.role == "masthead" and b.text == "My Zine" for b in layout.pages[0].boxes)


def test_a_300_word_caption_continues_as_caption_text():
    caption = " ".join(f"word{i}" for i in range(300))
    doc = magazine_doc(2, 3, extra="")
    doc.segments.insert(4, TextSegment(f"Some text.\n\n## Long caption\n\nBefore."))
    doc.segments.insert(5, make_image(50, 50, "#884488", "long caption figure"))
    doc.segments.insert(6, TextSegment(f"> {caption}"))
    layout = compose(doc, "magazine", "default")
    assert check_layout(layout, MIN_SIZES) == []
    shown = " ".join(b.text for p in layout.pages for b in p.boxes if isinstance(b, TextBox) and b.role == "caption")
    assert " ".join(shown.split()).count("word") == 300
    assert caption in " ".join(shown.split())


def test_code_defaults_are_the_default_template():
    from tfgen.layout.magazine_style import MagazineStyle
    from tfgen.layout.templates import parse_template

    empty = parse_template("magazine", "", "toml")
    assert MagazineStyle.from_template(empty, "pdf") == MagazineStyle.from_template(load_template("magazine", "default"), "pdf")


def test_split_paragraphs_leave_no_single_line_at_a_column_foot_or_head():
    layout = compose(magazine_doc(4, 9, images=False), "magazine", "default")
    pieces = [para for p in layout.pages for b in p.boxes if isinstance(b, TextBox) and b.role == "body" for para in b.paragraphs]
    heads = [p for p in pieces if p.text.startswith("The lantern") and not p.text.endswith("ends here.")]
    tails = [p for p in pieces if not p.text.startswith("The lantern") and p.text.endswith("ends here.")]
    assert heads and tails  # paragraphs do split across columns
    assert all(len(p.lines) >= 2 for p in heads + tails)


def test_an_article_of_only_notes_gets_no_empty_page():
    layout = compose(Document([TextSegment("# Title\n\n^ just a note")], kind="magazine"), "magazine")
    assert [p.name for p in layout.pages] == ["cover"]


def test_a_bullet_split_across_columns_shows_one_bullet_glyph():
    """The second part of a split bullet is marked `continued`, so backends draw no second glyph."""
    from tfgen.document import Document, TextSegment
    from tfgen.layout.compose import compose

    bullets = "\n".join(f"- {'word ' * 60}item {i}" for i in range(30))
    doc = Document([TextSegment(f"# Lists\n\nA standfirst.\n\n## Items\n\n{bullets}")], kind="magazine")
    layout = compose(doc, "magazine")
    paras = [p for page in layout.pages for box in page.boxes for p in getattr(box, "paragraphs", []) if p.bullet_level is not None]
    starts = [p for p in paras if not p.continued]
    assert len(starts) == 30
    assert any(p.continued for p in paras), "expected at least one bullet to be split across frames"
