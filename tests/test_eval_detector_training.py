"""The detector's training machinery: the fused focal loss against autograd, precomputed loss weights,
batches that depend only on their step (however many workers render them), and the fine-grid network."""

from __future__ import annotations

import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tfgen.errors import TfgenError  # noqa: E402
from tfgen.eval.detector import DetectorConfig, WorldDetector, decode  # noqa: E402
from tfgen.eval.detector_batches import TrainingBatches, render_step, scene_stream  # noqa: E402
from tfgen.eval.detector_loss import FocalLoss, focal_loss, heat_weights  # noqa: E402
from tfgen.eval.detector_train import DetectorTrainConfig, build_targets, make_batch, train_detector  # noqa: E402

FINE = DetectorConfig(internal_size=128, stem_stride=2)


def _autograd_focal(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's focal loss written with autograd ops (what FocalLoss replaces)."""
    p = torch.sigmoid(logits)
    pos = target.eq(1.0).to(logits.dtype)
    pos_loss = -(torch.log(p) * (1 - p) ** 2 * pos).sum()
    neg_loss = -(torch.log(1 - p) * p**2 * (1 - target) ** 4 * (1 - pos)).sum()
    return (pos_loss + neg_loss) / pos.sum().clamp(min=1.0)


def _heat_target(gen: torch.Generator) -> torch.Tensor:
    t = torch.rand(3, 5, 8, 8, generator=gen, dtype=torch.float64) ** 4
    t[t > 0.85] = 1.0  # some centres, some of them in one class map
    return t


def test_focal_loss_and_its_gradient_match_autograd():
    gen = torch.Generator().manual_seed(0)
    target = _heat_target(gen)
    z = (torch.randn(target.shape, generator=gen, dtype=torch.float64) * 3).requires_grad_()
    ref = _autograd_focal(z, target)
    (ref_grad,) = torch.autograd.grad(ref, z)
    ours = focal_loss(z, target)
    (our_grad,) = torch.autograd.grad(ours, z)
    assert float(ours.detach()) == pytest.approx(float(ref.detach()), rel=1e-12)
    assert torch.allclose(our_grad, ref_grad, rtol=1e-9, atol=1e-15)
    assert torch.autograd.gradcheck(lambda x: focal_loss(x, target), (z.detach().requires_grad_(),))


def test_focal_loss_gradient_follows_the_upstream_gradient_and_dtype():
    gen = torch.Generator().manual_seed(1)
    target = _heat_target(gen).float()
    z = torch.randn(target.shape, generator=gen).to(torch.bfloat16).requires_grad_()
    (g1,) = torch.autograd.grad(focal_loss(z, target), z)
    (g3,) = torch.autograd.grad(3.0 * focal_loss(z, target), z)
    assert g1.dtype == torch.bfloat16 and torch.allclose(g3.float(), 3 * g1.float(), rtol=1e-2)


def test_focal_loss_is_finite_where_the_sigmoid_saturates():
    target = torch.zeros(1, 2, 4, 4)
    target[0, 0, 1, 1] = 1.0
    z = torch.full(target.shape, 40.0, requires_grad=True)  # sure of an object everywhere: p rounds to 1
    loss = focal_loss(z, target)
    (grad,) = torch.autograd.grad(loss, z)
    loss = loss.detach()
    assert torch.isfinite(loss) and float(loss) > 100 and torch.isfinite(grad).all() and (grad[target < 1] > 0).all()


@pytest.mark.parametrize("dcfg", [FINE, DetectorConfig(internal_size=64, stem_stride=1)], ids=["fine", "coarse"])
def test_targets_carry_the_focal_weights_of_their_heatmap(dcfg):
    cfg = DetectorTrainConfig(crowd_share=0.5, tight_crowd_share=1.0)
    _, tg = make_batch(scene_stream(cfg), 8, random.Random(0), cfg, dcfg)
    weight, centres = heat_weights(tg["heat"])
    assert torch.equal(centres, tg["heat_centres"]) and centres.numel() >= 8
    assert torch.allclose(weight, tg["heat_weight"], atol=1e-6)
    z = torch.randn(tg["heat"].shape, generator=torch.Generator().manual_seed(2))
    assert float(FocalLoss.apply(z, tg["heat_weight"], tg["heat_centres"])) == pytest.approx(
        float(_autograd_focal(z, tg["heat"])), rel=1e-4)


def test_fine_detector_reads_full_resolution_on_a_grid_of_32():
    assert (FINE.grid, FINE.cell) == (32, 4.0)
    model = WorldDetector(FINE).eval()
    x = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        s2, s4, s8 = model.encode(x)
        maps = model(x)
    w1, w2, w4, w8 = FINE.widths
    assert s2.shape == (2, w2, 32, 32) and s4.shape == (2, w4, 16, 16) and s8.shape == (2, w8, 8, 8)
    assert maps["heat"].shape == (2, len(FINE.classes), 32, 32) and maps["size"].shape == (2, 2, 32, 32)
    assert len(decode(maps, FINE)) == 2
    with pytest.raises(TfgenError, match="stem_stride"):
        WorldDetector(DetectorConfig(stem_stride=3))


def test_a_batch_depends_only_on_its_step():
    cfg = DetectorTrainConfig(batch_size=3, hue_share=0.5, decolour_share=0.3, fill_jitter_share=0.3, seed=4)
    with TrainingBatches(cfg, start=10, first=1, last=3) as batches:
        in_order = dict(batches)
    alone = render_step(scene_stream(cfg), cfg, 10, 3)  # a fresh stream, asked for step 3 only
    assert np.array_equal(alone[0], in_order[3][0]) and alone[1:] == in_order[3][1:]
    assert not np.array_equal(in_order[2][0], in_order[3][0])
    with TrainingBatches(cfg, start=10, first=1, last=3, workers=2) as batches:
        by_workers = dict(batches)
    assert sorted(by_workers) == [1, 2, 3]
    for step, (images, anns, known) in in_order.items():
        assert np.array_equal(by_workers[step][0], images) and by_workers[step][1:] == (anns, known)


def test_training_with_a_worker_gives_the_same_weights():
    cfg = DetectorTrainConfig(steps=2, batch_size=4, warmup=1, log_every=1)
    dcfg = DetectorConfig(widths=(8, 8, 16, 16), internal_size=128, stem_stride=2)
    here = train_detector(cfg, dcfg).state_dict()
    there = train_detector(cfg, dcfg, workers=1).state_dict()
    assert all(torch.equal(here[k], there[k]) for k in here)
    assert not torch.equal(here["head.weight"], WorldDetector(dcfg).state_dict()["head.weight"])


def test_build_targets_marks_every_centre_once():
    anns = [[{"class": "cat", "box": [10, 10, 30, 30], "colour": "red"},
             {"class": "cat", "box": [10, 10, 30, 30], "colour": "red"}]]  # one object annotated twice
    tg = build_targets(anns, FINE)
    assert tg["heat_centres"].numel() == 1 and float(tg["heat_weight"].flatten()[tg["heat_centres"][0]]) == 0.0


def test_whole_world_batches_show_held_out_compositions_and_the_default_never_does():
    from tfgen.world.heldout import load_heldout

    heldout = load_heldout()
    shown = {}
    for whole in (False, True):
        stream = scene_stream(DetectorTrainConfig(whole_world=whole))
        shown[whole] = sum(bool(heldout.violations(stream.next()[1])) for _ in range(40))
    assert shown[False] == 0 and shown[True] >= 4, shown


def test_nothing_held_out_keeps_the_prompts_and_allows_every_composition():
    from tfgen.world.heldout import load_heldout

    heldout = load_heldout()
    everything = heldout.nothing_held_out()
    assert everything.prompts() == heldout.prompts()
    entry = next(e for e in heldout.entries if e["category"] == "colors")
    c = entry["composition"]
    anns = [{"class": c["class"], "colour": c["colour"]}]
    assert heldout.violations(anns) and not everything.violations(anns)
