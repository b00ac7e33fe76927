"""Tokenising and packing: document layout, order, no overflow, image positions, and the model's batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tfgen.errors import TfgenError
from tfgen.model.config import ModelConfig
from tfgen.model.tokenizer import train_tokenizer
from tfgen.train.dataset import ImageItem, TrainingDocument
from tfgen.train.packing import PackingConfig, make_batch, pack_rows, tokenize_documents

torch.set_num_threads(1)
P = 4  # patches per image: 4x4 latents in 2x2 patches
MODEL = ModelConfig(vocab_size=512, latent_channels=4, latent_size=4, patch_size=2, max_seq_len=64, cond_drop_prob=0.3)
TOK = train_tokenizer(["the fox finds a lantern", "FOX: what a light!", "an owl at night"] * 5, vocab_size=300)
IMG = ImageItem(array=np.zeros((8, 8, 3), dtype=np.uint8))


def doc(*segments, prompt: str = "a fox", kind: str = "comic") -> TrainingDocument:
    return TrainingDocument(kind, prompt, tuple(IMG if s is None else s for s in segments), where="test")


def cfg(**kw) -> PackingConfig:
    return PackingConfig(**{"seq_len": 40, "max_images": 3, "patches_per_image": P, "image_first_prob": 0.0, **kw})


def offsets_of(docs) -> np.ndarray:
    return np.concatenate([[0], np.cumsum([len(d.images) for d in docs])])


def test_document_layout():
    d = doc("FOX: hi", None, "owl", "night", None)
    (t,) = tokenize_documents([d], TOK, cfg())
    prompt, text1, text2 = TOK.encode("a fox"), TOK.encode("FOX: hi"), TOK.encode("owl\n\nnight")
    img = [TOK.boi_id] + [-1] * P + [TOK.eoi_id]
    expected = [TOK.bos_id, TOK.kind_id("comic"), *prompt, TOK.sep_id, *text1, *img, *text2, *img, TOK.eos_id]
    assert len(t.tokens) == len(expected)
    is_patch = np.array(expected) == -1
    assert np.array_equal(t.tokens[~is_patch], np.array(expected)[~is_patch])
    assert np.array_equal(t.slot[is_patch], [0] * P + [1] * P) and (t.slot[~is_patch] == -1).all()
    assert not t.noise_limited.any()


def test_caption_pairs_can_train_image_first():
    pair = doc(None, prompt="a red square", kind="none")
    (t,) = tokenize_documents([pair], TOK, cfg(image_first_prob=1.0))
    caption = TOK.encode("a red square")
    head = [TOK.bos_id, TOK.kind_id("none"), TOK.sep_id, TOK.boi_id]
    assert t.tokens[:4].tolist() == head and t.tokens[4 + P] == TOK.eoi_id
    assert t.tokens[5 + P:].tolist() == caption + [TOK.eos_id]
    assert t.noise_limited.tolist() == [True]
    (t,) = tokenize_documents([pair], TOK, cfg(image_first_prob=0.0))
    assert t.tokens[2:2 + len(caption)].tolist() == caption and not t.noise_limited.any()


def check_rows(docs, rows, c: PackingConfig, toks) -> None:
    """Every document exactly once, its tokens contiguous and in order; images where they should be."""
    offsets = offsets_of(docs)
    assert sorted(d for r in rows.row_documents for d in r) == list(range(len(docs)))
    for r, members in enumerate(rows.row_documents):
        tokens, doc_id, image_id = rows.tokens[r].numpy(), rows.doc_id[r].numpy(), rows.image_id[r].numpy()
        used = doc_id >= 0
        assert used.sum() == np.argmin(np.append(used, False))  # padding only at the end
        assert ((image_id >= 0).sum() // P) <= c.max_images
        for local, d in enumerate(members):
            where = np.flatnonzero(doc_id == local)
            assert np.array_equal(where, np.arange(where[0], where[-1] + 1))
            want = toks[d]
            n = len(where)
            text = want.slot[:n] < 0
            assert np.array_equal(tokens[where][text], want.tokens[:n][text])
            assert (tokens[where][~text] == TOK.pad_id).all()
        for m in np.flatnonzero(rows.image_ref[r].numpy() >= 0):
            start = int(rows.image_start[r, m])
            assert tokens[start - 1] == TOK.boi_id and tokens[start + P] == TOK.eoi_id
            assert (image_id[start:start + P] == m).all() and (image_id == m).sum() == P
            d = members[int(rows.image_doc[r, m])]
            same_doc_before = (rows.image_doc[r, :m] == rows.image_doc[r, m]) & (rows.image_ref[r, :m] >= 0)
            k = int(same_doc_before.sum())  # the image's index within its document
            assert int(rows.image_ref[r, m]) == offsets[d] + k


def test_packing_keeps_documents_whole_and_in_order():
    docs = [doc("FOX: hi", None), doc("owl"), doc(None, None, "night"), doc("the fox finds a lantern"), doc(None)]
    c = cfg()
    toks = tokenize_documents(docs, TOK, c)
    rows = pack_rows(toks, c, TOK.pad_id, offsets_of(docs))
    assert rows.truncated == 0 and len(rows) < len(docs)  # several documents share rows
    check_rows(docs, rows, c, toks)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.one_of(st.none(), st.sampled_from(["fox", "an owl at night", "FOX: what a light!"])),
                         min_size=1, max_size=5), min_size=1, max_size=12),
       st.integers(min_value=12, max_value=40), st.integers(min_value=1, max_value=3))
def test_packing_invariants_for_random_documents(shapes, seq_len, max_images):
    docs = [doc(*s) for s in shapes]
    c = cfg(seq_len=seq_len, max_images=max_images, window=2)
    toks = tokenize_documents(docs, TOK, c)
    rows = pack_rows(toks, c, TOK.pad_id, offsets_of(docs))
    assert rows.tokens.shape[1] == seq_len and rows.image_ref.shape[1] == max_images
    check_rows(docs, rows, c, toks)


def test_long_documents_are_cut_before_an_image_never_through_it():
    long_doc = doc("the fox finds a lantern " * 3, None, None)
    c = cfg(seq_len=30)
    toks = tokenize_documents([long_doc], TOK, c)
    assert len(toks[0].tokens) > 30
    rows = pack_rows(toks, c, TOK.pad_id, offsets_of([long_doc]))
    assert rows.truncated == 1
    n_images = int((rows.image_ref[0] >= 0).sum())
    assert (rows.image_id[0] >= 0).sum() == n_images * P and n_images < 2
    check_rows([long_doc], rows, c, toks)
    many = doc(None, None, None, None)
    rows = pack_rows(tokenize_documents([many], TOK, c), cfg(seq_len=60, max_images=2), TOK.pad_id, offsets_of([many]))
    assert rows.truncated == 1 and int((rows.image_ref[0] >= 0).sum()) == 2


def test_packing_config_is_checked():
    with pytest.raises(TfgenError, match="cannot hold one image"):
        PackingConfig(seq_len=8, max_images=1, patches_per_image=4)
    with pytest.raises(TfgenError):
        PackingConfig(seq_len=40, max_images=0, patches_per_image=4)


def test_make_batch_matches_the_model_contract():
    docs = [doc("FOX: hi", None, "owl", None, None), doc(None, prompt="only an image"), doc("no images")]
    c = cfg(seq_len=64)
    toks = tokenize_documents(docs, TOK, c)
    rows = pack_rows(toks, c, TOK.pad_id, offsets_of(docs))
    latents = torch.arange(4 * 4 * 4 * 4, dtype=torch.float32).reshape(4, 4, 4, 4)
    gen = torch.Generator().manual_seed(0)
    batch = make_batch(rows, list(range(len(rows))), latents, MODEL, context_prob=0.5, generator=gen)
    batch.check(MODEL)
    valid = batch.image_valid
    assert torch.equal(batch.latents[valid], latents[rows.image_ref[valid]])
    assert (batch.latents[~valid] == 0).all()
    assert torch.equal(batch.tokens, rows.tokens.long()) and torch.equal(batch.is_image, rows.image_id >= 0)
    assert batch.tokens.dtype == batch.doc_id.dtype == batch.image_id.dtype == batch.image_start.dtype == torch.long
    assert ((batch.image_t == 0) | batch.image_is_target).all() and (batch.image_t[~batch.image_is_target] == 0).all()
    assert not (batch.image_drop_cond & ~valid).any()
    again = make_batch(rows, list(range(len(rows))), latents, MODEL, 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(again.image_t, batch.image_t) and torch.equal(again.image_is_target, batch.image_is_target)


def test_every_document_keeps_a_target_and_context_is_drawn():
    docs = [doc(None, None, None)] * 20 + [doc(None)] * 20
    c = cfg(seq_len=24, max_images=3)
    rows = pack_rows(tokenize_documents(docs, TOK, c), c, TOK.pad_id, offsets_of(docs))
    latents = torch.randn(80, 4, 4, 4)
    batch = make_batch(rows, range(len(rows)), latents, MODEL, context_prob=0.9, generator=torch.Generator().manual_seed(1))
    for r in range(len(rows)):
        for local in rows.image_doc[r].unique().tolist():
            if local >= 0:
                members = rows.image_doc[r] == local
                assert batch.image_is_target[r][members].any()
    multi = (rows.image_ref >= 0).sum(1) == 3
    single = (rows.image_ref >= 0).sum(1) == 1
    assert (~batch.image_is_target[multi] & batch.image_valid[multi]).any()  # some clean context
    assert batch.image_is_target[single][batch.image_valid[single]].all()  # a lone image is always a target


def test_noise_limited_images_draw_small_times():
    docs = [doc(None, prompt="a caption")] * 30
    c = cfg(seq_len=24, max_images=1, image_first_prob=1.0)
    rows = pack_rows(tokenize_documents(docs, TOK, c), c, TOK.pad_id, offsets_of(docs))
    batch = make_batch(rows, range(len(rows)), torch.randn(30, 4, 4, 4), MODEL, generator=torch.Generator().manual_seed(2))
    assert batch.image_noise_limited[batch.image_valid].all()
    assert (batch.image_t[batch.image_valid] < MODEL.noise_limit_t).all()


def test_rows_moved_to_a_device_give_the_same_batch():
    docs = [doc("FOX: hi", None, None), doc(None)]
    c = cfg(seq_len=64)
    rows = pack_rows(tokenize_documents(docs, TOK, c), c, TOK.pad_id, offsets_of(docs))
    moved = rows.to("cpu")
    assert moved.row_documents == rows.row_documents and moved is not rows
    latents = torch.randn(3, 4, 4, 4)
    a = make_batch(rows, [0], latents, MODEL, generator=torch.Generator().manual_seed(5))
    b = make_batch(moved, [0], latents, MODEL, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.latents, b.latents) and torch.equal(a.image_t, b.image_t)
