"""The dataset directory and the documents in it: determinism, structure, prompts."""

from __future__ import annotations

import hashlib

import pytest

from tfgen.document import Document
from tfgen.structure import check_kind, outline
from tfgen.world.dataset import BuildConfig, build_dataset, iter_dataset, read_manifest
from tfgen.world.documents import iter_documents
from tfgen.world.sampling import SceneSampler


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    cfg = dict(n=24, seed=4, image_size=48, shard_size=10)
    build_dataset(BuildConfig(out=root / "a", **cfg))
    build_dataset(BuildConfig(out=root / "b", **cfg))
    build_dataset(BuildConfig(out=root / "c", **{**cfg, "seed": 5}))
    build_dataset(BuildConfig(out=root / "d", **cfg, workers=2))
    return root


def test_same_seed_same_bytes_other_seed_other_bytes(built):
    a, b, c, d = (_digest(built / x) for x in "abcd")
    assert a == b == d  # d was built by two worker processes
    assert sorted(a) == ["docs-00000.jsonl", "docs-00001.jsonl", "docs-00002.jsonl", "manifest.json"]
    assert a["docs-00000.jsonl"] != c["docs-00000.jsonl"]
    assert not [p for p in built.iterdir() if p.name.startswith(".")]  # no temp folder left behind


def test_manifest_matches_the_shards(built):
    m = read_manifest(built / "a")
    docs = list(iter_dataset(built / "a"))
    assert m["n_documents"] == len(docs) == 24 and m["image_size"] == 48
    assert sum(m["counts"].values()) == 24
    assert m["counts"] == {k: sum(d.meta["world_kind"] == k for d in docs) for k in m["counts"]}
    assert "OpenMoji" in m["attribution"] and m["seed"] == 4
    assert all(im.width == im.height == 48 for d in docs for im in d.images)


def test_documents_have_their_kind_shape_and_a_prompt():
    sampler = SceneSampler()
    for kind, expect in (("comic", "comic"), ("magazine", "magazine"), ("deck", "deck"), ("caption", "none")):
        for doc in iter_documents(7, [kind], size=48, stop=6, sampler=sampler):
            doc = Document.from_json(doc.to_json())  # what the trainer reads back
            assert doc.kind == expect and doc.prompt.strip()
            assert len(doc.meta["annotations"]) == len(doc.images) >= 1
            if kind == "caption":
                order = [type(s).__name__ for s in doc.segments]
                want = ["TextSegment", "ImageSegment"] if doc.meta["order"] == "caption-first" else ["ImageSegment", "TextSegment"]
                assert order == want
                continue
            assert check_kind(doc, kind) == []
            sections = outline(doc).sections
            if kind == "comic":
                assert 3 <= len(sections) <= 8
                assert all(s.figures[0].caption and s.blocks("dialogue") for s in sections)
            if kind == "deck":
                assert 4 <= len(sections) <= 10 and all(s.blocks("bullet") for s in sections)
                assert all(s.blocks("note") for s in sections)
            if kind == "magazine":
                assert any(b.kind == "pullquote" for s in sections for b in s.blocks())
                assert all(f.caption for s in sections for f in s.figures)


def test_comic_characters_look_the_same_on_every_panel():
    for doc in iter_documents(8, ["comic"], size=48, stop=6):
        chars = {c["name"]: (c["species"], c["accessory"]) for c in doc.meta["characters"]}
        for panel in doc.meta["annotations"]:
            for ann in panel:
                if "character" in ann:
                    assert (ann["class"], ann["accessory"]) == chars[ann["character"]]
        settings = [p["setting"] for p in doc.meta["panels"]]
        assert len(set(settings)) > 1  # the story travels


def test_the_readme_example_is_a_prompt_the_world_writes():
    prompts = {d.prompt for d in iter_documents(0, ["comic"], size=32, stop=80)}
    assert any(" finds " in p for p in prompts)
