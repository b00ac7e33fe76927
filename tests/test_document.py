"""The tfgen.document/1 contract: JSON round trip and every way a document can be malformed."""

from __future__ import annotations

import base64
import json

import pytest

from tfgen.document import FORMAT, Document, ImageSegment, TextSegment
from tfgen.errors import DocumentError
from tests.conftest import make_image


def test_json_round_trip_keeps_everything(comic_doc):
    comic_doc.meta = {"seed": 7, "model": "tiny"}
    back = Document.from_json(comic_doc.to_json())
    assert back == comic_doc
    assert back.images[0].alt == "a fox in a forest"
    assert back.images[0].to_pil().size == (64, 48)


def test_json_has_the_documented_shape(comic_doc):
    data = json.loads(comic_doc.to_json())
    assert data["format"] == FORMAT
    assert [s["type"] for s in data["segments"]] == ["text", "image", "text", "text", "image", "text"]
    image = data["segments"][1]
    assert (image["width"], image["height"]) == (64, 48)
    assert base64.b64decode(image["png_base64"]).startswith(b"\x89PNG")


def _valid() -> dict:
    return Document([TextSegment("# Hi"), make_image()], kind="deck").to_dict()


@pytest.mark.parametrize(
    "mutate, where, words",
    [
        (lambda d: d.update(format="tfgen.document/9"), "format", "unknown format"),
        (lambda d: d.update(kind="poster"), "kind", "unknown kind"),
        (lambda d: d["segments"].append({"type": "video"}), "segment 2", "unknown segment type"),
        (lambda d: d["segments"][1].update(png_base64="@@@"), "segment 1", "not valid base64"),
        (lambda d: d["segments"][1].update(png_base64=base64.b64encode(b"\x89PNG\r\n\x1a\nxx").decode()), "segment 1", "corrupt"),
        (lambda d: d["segments"][1].pop("png_base64"), "segment 1", "without 'png_base64'"),
        (lambda d: d["segments"][1].update(width=999), "segment 1", "does not match"),
        (lambda d: d["segments"][0].pop("text"), "segment 0", "without a 'text'"),
        (lambda d: d.update(segments=[]), "segments", "empty"),
        (lambda d: d.update(segments=[{"type": "text", "text": "  \n"}]), "segments", "empty"),
        (lambda d: d.update(meta=[1]), "meta", "object"),
        (lambda d: d.pop("segments"), "segments", "not a list"),
    ],
)
def test_malformed_documents_name_the_problem_and_place(mutate, where, words):
    data = _valid()
    mutate(data)
    with pytest.raises(DocumentError) as info:
        Document.from_dict(data)
    assert info.value.where == where
    assert words in info.value.message


def test_malformed_json_names_line_and_column():
    with pytest.raises(DocumentError) as info:
        Document.from_json('{"format": ')
    assert "malformed JSON" in str(info.value) and "line 1" in str(info.value)


def test_from_pil_is_deterministic():
    assert make_image().png == make_image().png
    assert isinstance(make_image(), ImageSegment)
