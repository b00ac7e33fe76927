"""Outlines (what a panel/slide/section is) and the per-kind shape check."""

from __future__ import annotations

from tfgen.document import Document, TextSegment
from tfgen.structure import Figure, check_kind, outline
from tests.conftest import make_image


def test_outline_of_a_comic(comic_doc):
    out = outline(comic_doc)
    assert out.title == "The Fox and the Lantern"
    assert [s.heading for s in out.sections] == ["Panel 1", "Panel 2"]
    first = out.sections[0]
    assert len(first.figures) == 1 and first.figures[0].caption == "Night falls in the forest."
    assert [b.speaker for b in first.blocks("dialogue")] == ["Fox"]
    assert [b.speaker for b in out.sections[1].blocks("dialogue")] == ["Fox", "Owl"]


def test_caption_attaches_only_directly_after_an_image():
    doc = Document([TextSegment("# T\n\n> before"), make_image(), TextSegment("text\n\n> after text")])
    out = outline(doc)
    fig = next(it for it in out.intro if isinstance(it, Figure))
    assert fig.caption == ""
    assert [b.kind for b in out.intro_blocks] == ["caption", "paragraph", "caption"]


def test_second_title_starts_an_article():
    doc = Document([TextSegment("# One\n\nStandfirst.\n\n## A\n\nText.\n\n# Two\n\nMore.")], kind="magazine")
    out = outline(doc)
    assert out.title == "One"
    assert [(s.heading, s.article_start) for s in out.sections] == [("A", False), ("Two", True)]


def test_check_kind_accepts_a_good_comic_and_counts(comic_doc):
    assert check_kind(comic_doc, "comic") == []
    assert check_kind(comic_doc, "comic", count=2) == []
    assert check_kind(comic_doc, "comic", count=3) == ["2 panels (requested 3)"]


def test_check_kind_finds_problems():
    doc = Document([TextSegment("## Panel 1\n\nno picture\n\n## Panel 2"), make_image(), make_image()])
    problems = check_kind(doc, "comic")
    assert "no title" in problems
    assert "panel 1 has 0 images (needs 1)" in problems
    assert "panel 2 has 2 images (needs 1)" in problems
    bad = Document([TextSegment('# T\n\n## S\n\nFox: "unclosed')])
    assert check_kind(bad, "deck") == ["segment 0, line 5: dialogue whose quoted line is not closed"]
