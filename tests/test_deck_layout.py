"""The deck composer, tested as data: slide kinds, sizes, themes, notes, overflow to (cont.) slides."""

from __future__ import annotations

import pytest

from tfgen.document import Document, TextSegment
from tfgen.errors import TemplateError
from tfgen.layout.checks import SLIDE_MIN_SIZES, check_layout
from tfgen.layout.compose import compose
from tfgen.layout.templates import list_templates, load_template
from tfgen.layout.tree import EMU_PER_POINT, ImageBox, TextBox
from tests.conftest import make_image

# Slide minimums: titles 28 pt, everything else (body, captions) 18 pt.
MIN_SIZES = {**SLIDE_MIN_SIZES, "*": 18.0}
SLIDE_SIZES = {"16:9": (12_192_000, 6_858_000), "4:3": (9_144_000, 6_858_000)}


def deck_doc(bullets: int = 4, images: bool = True, title: str = "Foxes of the Northern Forest", closing: bool = True) -> Document:
    segs: list = [TextSegment(f"# {title}\n\nWhat a year of lantern watching taught us\n\n^ Welcome everyone.")]
    segs.append(TextSegment("## Why foxes?\n\n" + "\n".join(f"- Reason {i}: foxes are curious" for i in range(bullets)) + "\n\n^ Keep this short."))
    if images:
        segs += [make_image(96, 64, "#3366cc", "a fox"), TextSegment("> A fox at dusk.")]
    segs.append(TextSegment("## Part two"))
    segs.append(TextSegment("## The lantern\n\nIt hangs in the old oak.\n\n- It never goes out\n  - not even in winter\n- The owl guards it"))
    if images:
        segs += [make_image(64, 80, "#cc9933", "a lantern"), TextSegment("## A picture"), make_image(120, 60, "#339966", "the forest")]
    segs.append(TextSegment("## What we learned\n\nFoxes share. Owls keep secrets."))
    if closing:
        segs.append(TextSegment("## Thank you, foxes"))
    return Document(segs, kind="deck")


def texts(page, role: str) -> list[str]:
    return [b.text for b in page.boxes if isinstance(b, TextBox) and b.role == role]


@pytest.mark.parametrize("template", list_templates("deck"))
@pytest.mark.parametrize("size", ["16:9", "4:3"])
@pytest.mark.parametrize("images", [True, False])
def test_every_template_and_size_passes_the_layout_checks(template, size, images):
    layout = compose(deck_doc(images=images), "deck", template, "pptx", size)
    assert check_layout(layout, MIN_SIZES) == []
    for page in layout.pages:
        assert (round(page.width * EMU_PER_POINT), round(page.height * EMU_PER_POINT)) == SLIDE_SIZES[size]
    assert any(isinstance(b, ImageBox) for p in layout.pages for b in p.boxes) == images


def test_slide_kinds_in_order():
    layout = compose(deck_doc(), "deck")
    assert [p.name for p in layout.pages] == ["title", "image-text", "section", "image-text", "image", "text", "closing"]
    title = layout.pages[0]
    assert texts(title, "title") == ["Foxes of the Northern Forest"]
    assert texts(title, "body") == ["What a year of lantern watching taught us"]
    assert texts(layout.pages[2], "title") == ["Part two"]
    assert texts(layout.pages[-1], "title") == ["Thank you, foxes"]


def test_text_reads_title_first_then_body():
    layout = compose(deck_doc(), "deck")
    for page in layout.pages:
        titles = [b for b in page.boxes if isinstance(b, TextBox) and b.role == "title"]
        bodies = [b for b in page.boxes if isinstance(b, TextBox) and b.role == "body"]
        for t in titles:
            for b in bodies:
                assert t.rect.bottom <= b.rect.y
    bullets = layout.pages[3].boxes
    body = next(b for b in bullets if isinstance(b, TextBox) and b.role == "body")
    assert [p.bullet_level for p in body.paragraphs] == [None, 0, 1, 0]
    assert body.paragraphs[2].text == "not even in winter"


def test_speaker_notes_go_to_their_slide():
    layout = compose(deck_doc(), "deck")
    assert layout.pages[0].notes == "Welcome everyone."
    assert layout.pages[1].notes == "Keep this short."
    assert not any("Keep this short" in b.text for p in layout.pages for b in p.boxes if isinstance(b, TextBox))


def test_picture_side_alternates_or_follows_the_template():
    def sides(template):
        layout = compose(deck_doc(), "deck", template)
        out = []
        for page in layout.pages:
            if page.name == "image-text":
                pic = next(b for b in page.boxes if isinstance(b, ImageBox))
                out.append("left" if pic.rect.x == 0 else "right")
        return out

    assert sides("default") == ["right", "left"]
    assert sides("dark") == ["right", "right"]


def test_full_bleed_image_slide_covers_the_slide():
    layout = compose(deck_doc(), "deck")
    page = next(p for p in layout.pages if p.name == "image")
    pic = next(b for b in page.boxes if isinstance(b, ImageBox))
    assert (pic.rect.x, pic.rect.y, pic.rect.w, pic.rect.h) == (0, 0, page.width, page.height)
    assert texts(page, "title") == ["A picture"]


def test_forty_bullets_continue_on_follow_up_slides_at_18pt():
    layout = compose(deck_doc(bullets=40), "deck")
    assert check_layout(layout, MIN_SIZES) == []
    slides = [p for p in layout.pages if any(t.startswith("Why foxes?") for t in texts(p, "title"))]
    assert len(slides) >= 2
    assert texts(slides[0], "title") == ["Why foxes?"]
    assert all(texts(p, "title") == ["Why foxes? (cont.)"] for p in slides[1:])
    bullets = [para.text for p in slides for b in p.boxes if isinstance(b, TextBox) and b.role == "body" for para in b.paragraphs]
    assert bullets == [f"Reason {i}: foxes are curious" for i in range(40)]
    sizes = {b.style.size for p in slides for b in p.boxes if isinstance(b, TextBox) and b.role == "body"}
    assert min(sizes) >= 18.0
    assert any("follow-up slide" in w for w in layout.warnings)


def test_very_long_title_keeps_every_word_at_legal_sizes():
    title = " ".join(["A remarkably long deck title about foxes, owls and one lantern"] * 10)
    layout = compose(deck_doc(title=title), "deck", "default", "pptx", "4:3")
    assert check_layout(layout, MIN_SIZES) == []
    shown = " ".join(b.text for p in layout.pages for b in p.boxes if isinstance(b, TextBox) and b.role in ("title", "body"))
    assert " ".join(title.split()) in " ".join(shown.split()).replace(" (cont.)", "")


def test_closing_text_from_the_template_when_the_last_slide_has_a_body(tmp_path):
    layout = compose(deck_doc(closing=False), "deck", "dark")
    assert layout.pages[-1].name == "closing" and texts(layout.pages[-1], "title") == ["Questions?"]
    path = tmp_path / "plain.toml"
    path.write_text('[deck]\nclosing = ""\n')
    layout = compose(deck_doc(closing=False), "deck", str(path))
    assert layout.pages[-1].name == "text"


def test_theme_colours_and_fonts_come_from_the_template():
    t = load_template("deck", "dark")
    layout = compose(deck_doc(), "deck", "dark")
    assert layout.pages[0].background == t.get_color("colors.background")
    assert layout.pages[2].background == t.get_color("colors.section_background")
    title = next(b for b in layout.pages[1].boxes if isinstance(b, TextBox) and b.role == "title")
    assert title.style.font == "serif-bold" and title.style.color == t.get_color("colors.title")
    pptx_title = next(b for b in compose(deck_doc(), "deck", "dark", "pptx").pages[1].boxes if getattr(b, "role", "") == "title")
    assert pptx_title.style.font == "times-bold"


@pytest.mark.parametrize(
    "text, key",
    [
        ("[sizes]\nbody_min = 12\n", "sizes.body_min"),
        ("[sizes]\ntitle_min = 20\n", "sizes.title_min"),
        ("[deck]\nimage_side = 'top'\n", "deck.image_side"),
        ("[fonts]\ntitle = 'wingdings'\n", "fonts.title"),
        ("[colours]\ntext = '#000000'\n", "colours"),
        ("[page]\nsize = 'A4'\n", "page.size"),
    ],
)
def test_bad_templates_name_the_key(tmp_path, text, key):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(TemplateError) as info:
        compose(deck_doc(), "deck", str(path))
    assert key in str(info.value)


def test_a_deck_of_only_a_title():
    layout = compose(Document([TextSegment("# Just a title")], kind="deck"), "deck")
    assert [p.name for p in layout.pages] == ["title", "closing"]
    assert check_layout(layout, MIN_SIZES) == []


def test_very_long_slide_heading_with_a_long_body_terminates_and_keeps_the_text():
    heading = "Heading " * 120
    body = "\n".join(f"- point {i} about the lantern in the oak" for i in range(30))
    doc = Document([TextSegment(f"# Deck\n\n## {heading}\n\n{body}")], kind="deck")
    layout = compose(doc, "deck", "default", "pdf", "4:3")
    assert check_layout(layout, MIN_SIZES) == []
    points = [p.text for pg in layout.pages for b in pg.boxes if isinstance(b, TextBox) and b.role == "body" for p in b.paragraphs]
    assert [p for p in points if p.startswith("point")] == [f"point {i} about the lantern in the oak" for i in range(30)]
    follow_ups = [t for pg in layout.pages for t in texts(pg, "title") if t.endswith("(cont.)")]
    assert follow_ups and all(len(t) <= 70 for t in follow_ups)


def test_no_second_closing_when_the_last_slide_is_titled_like_the_closing_text():
    doc = Document([TextSegment("# Deck\n\n## Point\n\n- one\n\n## Thank you\n\nFind us at the oak.")], kind="deck")
    layout = compose(doc, "deck", "default")
    assert [p.name for p in layout.pages] == ["title", "text", "text"]


def test_code_defaults_are_the_default_template():
    from tfgen.layout.deck_style import DeckTheme
    from tfgen.layout.templates import parse_template

    empty = parse_template("deck", "", "toml")
    assert DeckTheme.from_template(empty, "pdf") == DeckTheme.from_template(load_template("deck", "default"), "pdf")


def test_intro_picture_and_extra_intro_text_are_kept():
    doc = Document(
        [
            TextSegment("# Deck\n\nSubtitle line"),
            make_image(80, 60, "#225588", "intro picture"),
            TextSegment("- an intro bullet\n\n## Two pictures\n\nSome words."),
            make_image(60, 60, "#aa3322", "first"),
            make_image(60, 60, "#33aa22", "second"),
        ],
        kind="deck",
    )
    layout = compose(doc, "deck")
    assert check_layout(layout, MIN_SIZES) == []
    assert [p.name for p in layout.pages] == ["title", "text", "image-text", "image", "closing"]
    assert [b.image.alt for b in layout.pages[0].boxes if isinstance(b, ImageBox)] == ["intro picture"]
    assert texts(layout.pages[1], "body") == ["an intro bullet"]
    assert [b.image.alt for b in layout.pages[3].boxes if isinstance(b, ImageBox)] == ["second"]
    assert texts(layout.pages[3], "title") == ["Two pictures (cont.)"]


def test_text_the_theme_font_lacks_is_kept_or_reported_never_dropped():
    from tfgen.layout import fallback

    doc = Document([TextSegment("# Deck\n\n## Greetings\n\n- Hello 你好世界\n- Καλημέρα κόσμε")], kind="deck")
    layout = compose(doc, "deck")
    assert check_layout(layout, MIN_SIZES) == []
    body = texts(layout.pages[1], "body")[0].split("\n")
    assert body[1] == "Καλημέρα κόσμε"
    if fallback.uncovered_chars("你好世界", "sans"):  # no CJK face on this machine: shown as '?', with a warning
        assert body[0] == "Hello ????" and any("no font has" in w for w in layout.warnings)
    else:
        assert body[0] == "Hello 你好世界" and not layout.warnings


def test_no_empty_title_slide_for_a_deck_without_title_or_intro():
    layout = compose(Document([TextSegment("## First\n\n- a point\n\n## Bye")], kind="deck"), "deck")
    assert [p.name for p in layout.pages] == ["text", "closing"]


def test_a_picture_beside_text_is_shown_whole_when_cropping_would_cut_too_much():
    doc = Document([TextSegment("# D\n\n## Wide\n\n- text"), make_image(200, 100, "#123456", "wide"), TextSegment("> A wide caption.")], kind="deck")
    layout = compose(doc, "deck", "default", "pdf", "4:3")
    assert check_layout(layout, MIN_SIZES) == []
    page = layout.pages[1]
    pic = next(b for b in page.boxes if isinstance(b, ImageBox))
    assert pic.src == (0, 0, 200, 100) and abs(pic.rect.w / pic.rect.h - 2.0) < 0.01
    caption = next(b for b in page.boxes if isinstance(b, TextBox) and b.role == "caption")
    assert caption.rect.y >= pic.rect.bottom and caption.text == "A wide caption."
    portrait = compose(deck_doc(), "deck").pages[3]  # a 4:5 picture loses little: it fills its strip
    assert next(b for b in portrait.boxes if isinstance(b, ImageBox)).rect.h == portrait.height
