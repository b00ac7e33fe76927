"""Markdown in (image links relative to the file) and out (a folder with doc.md and images)."""

from __future__ import annotations

import pytest

from tfgen.errors import DocumentError
from tfgen.markdown_io import read_markdown, write_markdown_folder
from tests.conftest import make_image


def test_markdown_round_trip(tmp_path, comic_doc):
    md = write_markdown_folder(comic_doc, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["doc.md", "image-001.png", "image-002.png"]
    back = read_markdown(md, kind="comic")
    assert back.title == "The Fox and the Lantern"
    assert [img.png for img in back.images] == [img.png for img in comic_doc.images]
    assert [img.alt for img in back.images] == ["a fox in a forest", "a lantern"]
    assert back.text.split() == comic_doc.text.split()


def test_rewriting_the_folder_replaces_it_whole(tmp_path, comic_doc):
    write_markdown_folder(comic_doc, tmp_path / "out")
    (tmp_path / "out" / "stale.txt").write_text("old")
    write_markdown_folder(comic_doc, tmp_path / "out")
    assert not (tmp_path / "out" / "stale.txt").exists()


def test_missing_image_names_file_and_line(tmp_path):
    (tmp_path / "doc.md").write_text("# T\n\nSome text.\n\n![a cat](cat.png)\n")
    with pytest.raises(DocumentError) as info:
        read_markdown(tmp_path / "doc.md")
    assert "cat.png" in info.value.message and info.value.where.endswith("doc.md:5")


def test_corrupt_image_and_missing_file(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    (tmp_path / "doc.md").write_text("![x](bad.png)")
    with pytest.raises(DocumentError, match="cannot read image"):
        read_markdown(tmp_path / "doc.md")
    with pytest.raises(DocumentError, match="file not found"):
        read_markdown(tmp_path / "nope.md")


def test_jpeg_links_are_converted_to_png(tmp_path):
    make_image().to_pil().save(tmp_path / "a.jpg")
    doc = read_markdown_text(tmp_path, "# T\n\n![pic](a.jpg)\n")
    assert doc.images[0].png.startswith(b"\x89PNG")


def read_markdown_text(folder, text):
    (folder / "doc.md").write_text(text)
    return read_markdown(folder / "doc.md")
