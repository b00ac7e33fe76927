"""Every kind x format through compose(): the examples reopen with their pages, text in reading order, notes and alt text."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from tfgen.io_docs import read_document
from tfgen.layout.compose import compose
from tfgen.render import RenderOptions, render_bytes, write_layout

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# Phrases of each example in reading order (whitespace-normalised).
READING_ORDER = {
    "comic": ["The Fox and the Lantern", "Night falls on the old forest.", "Something is glowing over there.",
              "A lantern! Who left it here?", "It is mine. I lost it last winter.", "Then let me carry it home for you.",
              "By morning they were friends.", "Thank you, friend."],
    "magazine": ["Night Walkers", "The Quiet Hunters", "Owls After Dark", "Counting the Night"],
    "deck": ["Lanterns for Everyone", "Why lanterns", "Where they go", "Results so far", "Timing"],
}
KIND_FORMATS = [(k, f) for k in ("comic", "magazine", "deck") for f in ("pdf", "pptx", "png")] + [("comic", "cbz")]


def _composed(kind: str, fmt: str):
    doc = read_document(str(EXAMPLES / f"{kind}.json"))
    return doc, compose(doc, kind, target=fmt)


def _assert_in_order(text: str, phrases: list[str]) -> None:
    flat = " ".join(text.split())
    positions = [flat.find(p) for p in phrases]
    assert -1 not in positions, [p for p, i in zip(phrases, positions) if i == -1]
    assert positions == sorted(positions), "text out of reading order"


@pytest.mark.parametrize("kind, fmt", KIND_FORMATS)
def test_examples_reopen_with_pages_and_text(kind, fmt, tmp_path):
    doc, layout = _composed(kind, fmt)
    options = RenderOptions(dpi=24, summary=doc.prompt)
    written = write_layout(layout, str(tmp_path / f"out.{fmt}"), fmt, options)
    n = len(layout.pages)
    if fmt == "pdf":
        from pypdf import PdfReader

        reader = PdfReader(str(written[0]))
        assert len(reader.pages) == n
        _assert_in_order("\n".join(p.extract_text() for p in reader.pages), READING_ORDER[kind])
    elif fmt == "pptx":
        from pptx import Presentation

        prs = Presentation(str(written[0]))
        assert len(prs.slides) == n
        text = "\n".join(s.text_frame.text for slide in prs.slides for s in slide.shapes if s.has_text_frame)
        _assert_in_order(text.replace("\v", " "), READING_ORDER[kind])
        notes = [s.notes_slide.notes_text_frame.text for s in prs.slides if s.has_notes_slide]
        assert notes == [p.notes for p in layout.pages if p.notes]
    elif fmt == "png":
        assert len(written) == n
        for path, page in zip(written, layout.pages):
            assert Image.open(path).size == (round(page.width / 3), round(page.height / 3))
    else:
        zf = zipfile.ZipFile(written[0])
        assert zf.namelist() == ["ComicInfo.xml"] + [f"{i:03d}.png" for i in range(1, n + 1)]
        assert f"<Summary>{doc.prompt}</Summary>" in zf.read("ComicInfo.xml").decode()


def test_deck_example_notes_reach_the_pptx(tmp_path):
    doc, layout = _composed("deck", "pptx")
    from pptx import Presentation

    prs = Presentation(io.BytesIO(render_bytes(layout, "pptx")))
    notes = " ".join(s.notes_slide.notes_text_frame.text for s in prs.slides if s.has_notes_slide)
    for note in ("Welcome everyone", "Stress the lost owl story.", "Point at the map."):
        assert note in notes
    assert (prs.slide_width, prs.slide_height) == (12192000, 6858000)


def test_example_images_carry_alt_text_into_pptx():
    doc, layout = _composed("comic", "pptx")
    from pptx import Presentation

    prs = Presentation(io.BytesIO(render_bytes(layout, "pptx")))
    descr = [s._element.nvPicPr.cNvPr.get("descr") for s in prs.slides[0].shapes if s.shape_type == 13]
    assert "a fox in a dark forest under the moon" in descr
