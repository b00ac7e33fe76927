"""The caption-use probe (tfgen.eval.caption_gap): paired draws per latent-cache row, both passes measured."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import make_image
from conftest_model import build_tiny_checkpoint


@pytest.fixture(scope="module")
def probe_inputs(tmp_path_factory):
    from tfgen.document import Document, TextSegment
    from tfgen.sampling.loader import load_model
    from tfgen.train.dataset import write_dataset
    from tfgen.train.latents import build_latent_cache
    from tfgen.train.packing import PackingConfig, pack_rows, tokenize_documents

    root = tmp_path_factory.mktemp("gap")
    colours = ("#3366cc", "#cc3333", "#33aa55", "#ddaa22")
    docs = [Document([TextSegment(f"A {c} kite over the hill."), make_image(8, 8, c, "x")], kind="none",
                     prompt=f"a {c} kite") for c in colours]
    dataset = write_dataset(root / "data", docs, image_size=8)
    loaded = load_model(str(build_tiny_checkpoint(root / "ckpt", objective="flow")))
    cache = build_latent_cache(dataset, loaded.vae, root / "latents.safetensors")
    packing = PackingConfig(seq_len=64, max_images=1, patches_per_image=loaded.cfg.patches_per_image)
    tokens = tokenize_documents(dataset, loaded.tokenizer, packing, np.random.default_rng(0))
    rows = pack_rows(tokens, packing, loaded.tokenizer.pad_id, cache.doc_offsets)
    g = torch.Generator().manual_seed(0)
    t = torch.rand(cache.latents.shape[0], generator=g) * loaded.cfg.num_train_timesteps  # (N,)
    noise = torch.randn(cache.latents.shape, generator=g)  # (N, C, h, w)
    return loaded.model.eval(), rows, cache.latents, t, noise


def test_draws_belong_to_images_not_to_batch_slots(probe_inputs):
    from tfgen.eval.caption_gap import paired_image_loss

    model, rows, latents, t, noise = probe_inputs
    n = len(rows)
    together = paired_image_loss(model, rows, latents, t, noise, [torch.arange(n)])
    one_by_one = paired_image_loss(model, rows, latents, t, noise, [torch.tensor([i]) for i in reversed(range(n))])
    assert together.images == one_by_one.images == latents.shape[0] == 4
    assert together.kept == pytest.approx(one_by_one.kept, rel=1e-5)
    assert together.dropped == pytest.approx(one_by_one.dropped, rel=1e-5)


def test_both_passes_are_measured_and_time_matters(probe_inputs):
    from tfgen.eval.caption_gap import paired_image_loss

    model, rows, latents, t, noise = probe_inputs
    batches = [torch.arange(len(rows))]
    score = paired_image_loss(model, rows, latents, t, noise, batches)
    assert score.kept > 0 and score.dropped > 0
    assert score.gap == pytest.approx((score.dropped - score.kept) / score.images)
    assert score.dropped != score.kept  # even a random model's image head sees the caption
    later = paired_image_loss(model, rows, latents, t.clamp(max=1.0), noise, batches)
    assert later.kept != pytest.approx(score.kept, rel=1e-4)
