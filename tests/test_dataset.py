"""The dataset directory: writing, reading, image shards, conversion from folders, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tfgen.document import Document, ImageSegment, TextSegment
from tfgen.errors import TfgenError
from tfgen.train.dataset import DatasetError, convert_folder, open_dataset, text_corpus, write_dataset


def picture(colour: str, size: int = 8) -> Image.Image:
    return Image.new("RGB", (size, size), colour)


def sample_documents() -> list[Document]:
    return [
        Document([TextSegment("# Fox"), ImageSegment.from_pil(picture("red"), alt="a fox"), TextSegment("FOX: hi")],
                 kind="comic", prompt="a fox says hi"),
        Document([TextSegment("Just words.")], kind="deck", prompt="a deck"),
        Document([ImageSegment.from_pil(picture("blue")), ImageSegment.from_pil(picture("green"))], prompt="two"),
    ]


def test_write_and_read_back(tmp_path):
    ds = write_dataset(tmp_path / "ds", sample_documents(), image_size=8, docs_per_shard=2)
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert manifest["format"] == "tfgen.dataset/1" and manifest["shards"] == ["docs-00000.jsonl", "docs-00001.jsonl"]
    assert manifest["counts"] == {"documents": 3, "images": 3}
    docs = list(ds)
    assert ds.count() == 3 and [d.kind for d in docs] == ["comic", "deck", "none"]
    assert docs[0].segments[0] == "# Fox" and docs[0].segments[2] == "FOX: hi"
    assert docs[0].images[0].alt == "a fox"
    assert tuple(docs[0].images[0].pixels()[0, 0]) == (255, 0, 0)
    assert [tuple(i.pixels()[0, 0]) for i in docs[2].images] == [(0, 0, 255), (0, 128, 0)]
    assert docs[2].where.endswith("docs-00001.jsonl:1")
    assert list(text_corpus(ds)) == ["a fox says hi", "# Fox", "FOX: hi", "a deck", "Just words.", "two"]


def write_raw(tmp_path, lines: list[dict], manifest_extra: dict | None = None):
    (tmp_path / "docs-00000.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    manifest = {"format": "tfgen.dataset/1", "shards": ["docs-00000.jsonl"], "image_size": 4, **(manifest_extra or {})}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))


def npy_doc(index: int, shard: str = "images-00000.npy") -> dict:
    return {"format": "tfgen.document/1", "kind": "comic", "prompt": "p",
            "segments": [{"type": "image", "npy": {"shard": shard, "index": index}, "width": 4, "height": 4,
                          "annotations": {"objects": ["fox"]}}, {"type": "text", "text": "t"}]}


def test_images_by_reference_into_npy_shards(tmp_path):
    images = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    np.save(tmp_path / "images-00000.npy", images)
    write_raw(tmp_path, [npy_doc(1), npy_doc(0)])
    docs = list(open_dataset(tmp_path))
    assert np.array_equal(docs[0].images[0].pixels(), images[1])
    assert np.array_equal(docs[1].images[0].pixels(), images[0])
    assert docs[0].images[0].annotations == {"objects": ["fox"]}


def test_missing_images_are_named(tmp_path):
    np.save(tmp_path / "images-00000.npy", np.zeros((1, 4, 4, 3), dtype=np.uint8))
    write_raw(tmp_path, [npy_doc(0), npy_doc(5)])
    with pytest.raises(DatasetError, match="missing image: index 5") as info:
        list(open_dataset(tmp_path))
    assert info.value.where.endswith("docs-00000.jsonl:2, segment 0")
    write_raw(tmp_path, [npy_doc(0, shard="images-00009.npy")])
    with pytest.raises(DatasetError, match="'images-00009.npy' is missing"):
        list(open_dataset(tmp_path))


def test_pickled_or_wrong_npy_shards_are_refused(tmp_path):
    np.save(tmp_path / "images-00000.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    write_raw(tmp_path, [npy_doc(0)])
    with pytest.raises(DatasetError, match="not a readable .npy"):
        list(open_dataset(tmp_path))
    np.save(tmp_path / "images-00000.npy", np.zeros((1, 4, 4), dtype=np.float32))
    with pytest.raises(DatasetError, match=r"uint8 \(N, H, W, 3\)"):
        list(open_dataset(tmp_path))


def test_empty_datasets(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "tfgen.dataset/1", "shards": [], "image_size": 8}))
    with pytest.raises(DatasetError, match="empty"):
        open_dataset(tmp_path)
    write_raw(tmp_path, [])
    with pytest.raises(DatasetError, match="empty"):
        open_dataset(tmp_path)
    with pytest.raises(DatasetError, match="no documents"):
        write_dataset(tmp_path / "out", [], image_size=8)


@pytest.mark.parametrize(
    "manifest, message",
    [
        ({"format": "tfgen.dataset/0", "shards": ["docs-00000.jsonl"], "image_size": 8}, "format is"),
        ({"format": "tfgen.dataset/1", "shards": ["docs-00000.jsonl"]}, "image_size must be"),
        ({"format": "tfgen.dataset/1", "shards": ["docs-00000.jsonl"], "image_size": True}, "image_size must be"),
        ({"format": "tfgen.dataset/1", "shards": "docs-00000.jsonl", "image_size": 8}, "list of file names"),
        ({"format": "tfgen.dataset/1", "shards": ["../escape.jsonl"], "image_size": 8}, "plain file name"),
        ({"format": "tfgen.dataset/1", "shards": ["docs-00001.jsonl"], "image_size": 8}, "is missing"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_manifests(tmp_path, manifest, message):
    (tmp_path / "docs-00000.jsonl").write_text(Document([TextSegment("x")]).to_json() + "\n")
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatasetError, match=message) as info:
        open_dataset(tmp_path)
    assert "manifest.json" in info.value.where


def test_missing_manifest_and_bad_lines(tmp_path):
    with pytest.raises(DatasetError, match="no manifest.json"):
        open_dataset(tmp_path)
    write_raw(tmp_path, [{"format": "tfgen.document/1", "segments": [{"type": "text", "text": "ok"}]}])
    with (tmp_path / "docs-00000.jsonl").open("a") as fh:
        fh.write("{broken\n")
    with pytest.raises(DatasetError, match="malformed JSON") as info:
        list(open_dataset(tmp_path))
    assert info.value.where.endswith("docs-00000.jsonl:2")
    write_raw(tmp_path, [{"format": "tfgen.document/1", "kind": "poster", "segments": [{"type": "text", "text": "x"}]}])
    with pytest.raises(DatasetError, match="unknown kind 'poster'"):
        list(open_dataset(tmp_path))
    bad_png = {"format": "tfgen.document/1", "segments": [{"type": "image", "png_base64": "aGVsbG8="}]}
    write_raw(tmp_path, [bad_png])
    with pytest.raises(TfgenError, match="corrupt image data"):
        list(open_dataset(tmp_path))


def test_convert_markdown_and_json_folder(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    picture("red").save(src / "fox.png")
    (src / "a.md").write_text("# The fox\n\n![a fox](fox.png)\n\nFOX: hello\n")
    (src / "sub" / "b.json").write_text(sample_documents()[1].to_json())
    (src / "notes.txt").write_text("ignored")
    ds = convert_folder(src, tmp_path / "ds", kind="comic", image_size=8)
    docs = list(ds)
    assert [d.prompt for d in docs] == ["The fox", "a deck"]
    assert docs[0].kind == "comic" and docs[1].kind == "deck"
    assert docs[0].segments[0] == "# The fox" and docs[0].images[0].alt == "a fox"
    assert convert_folder(tmp_path / "ds", tmp_path / "unused").directory == tmp_path / "ds"
    assert not (tmp_path / "unused").exists()


def test_convert_captioned_images(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    picture("red").save(src / "a.png")
    picture("blue", size=12).save(src / "b.jpg")
    (src / "captions.jsonl").write_text(
        json.dumps({"image": "a.png", "caption": "a red square"}) + "\n\n"
        + json.dumps({"image": "b.jpg", "caption": "a blue one", "kind": "deck"}) + "\n")
    docs = list(convert_folder(src, tmp_path / "ds", image_size=8))
    assert [(d.prompt, d.kind) for d in docs] == [("a red square", "none"), ("a blue one", "deck")]
    assert len(docs[0].segments) == 1 and docs[1].images[0].pixels().shape == (12, 12, 3)
    (src / "captions.jsonl").write_text(json.dumps({"image": "gone.png", "caption": "x"}) + "\n")
    with pytest.raises(DatasetError, match="missing image 'gone.png'") as info:
        convert_folder(src, tmp_path / "ds2")
    assert info.value.where.endswith("captions.jsonl:1")


def test_markdown_with_a_missing_image_is_named(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.md").write_text("# T\n\n![x](nope.png)\n")
    with pytest.raises(TfgenError, match="image not found") as info:
        convert_folder(src, tmp_path / "ds")
    assert "a.md:3" in info.value.where


# ---- the latent cache ----

def test_latent_cache_encodes_once_and_notices_changes(tmp_path, monkeypatch):
    import torch

    from tfgen.model.vae import VAE, VAEConfig, to_pixels
    from tfgen.train import latents as latents_mod
    from tfgen.train.checkpoint import VAEBundle

    torch.set_num_threads(1)
    ds = write_dataset(tmp_path / "ds", sample_documents(), image_size=8)
    torch.manual_seed(0)
    bundle = VAEBundle(VAE(VAEConfig(latent_channels=4, base_channels=8, channel_multipliers=(1, 2))), 0.5, 8, {})
    path = tmp_path / "latents.safetensors"
    cache = latents_mod.build_latent_cache(ds, bundle, path, batch_size=2)
    assert cache.latents.shape == (3, 4, 4, 4) and cache.doc_offsets.tolist() == [0, 1, 1, 3]
    with torch.no_grad():
        mean, _ = bundle.vae.encode(to_pixels([picture("blue"), picture("green")], 8))
    assert torch.allclose(cache.document_latents(2), mean * 0.5, atol=1e-5)
    assert cache.document_latents(1).shape[0] == 0

    calls = []
    real = latents_mod.encode_documents
    monkeypatch.setattr(latents_mod, "encode_documents", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = latents_mod.build_latent_cache(ds, bundle, path)
    assert calls == [] and torch.equal(again.latents, cache.latents)  # reused from disk
    with torch.no_grad():
        bundle.vae.decoder.conv_out.bias.add_(1.0)  # only the decoder changed: still a new VAE
    latents_mod.build_latent_cache(ds, bundle, path)
    assert calls == [1]
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(TfgenError, match="damaged latent cache") as info:
        latents_mod.load_latent_cache(path)
    assert info.value.where == str(path)
    rebuilt = latents_mod.build_latent_cache(ds, bundle, path)
    assert calls == [1, 1] and rebuilt.latents.shape == (3, 4, 4, 4)
