"""Which positions carry which loss, and how the image loss is weighted and drawn."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from tfgen.diffusion.objectives import add_noise, training_target  # noqa: E402
from tfgen.model.batch import ImageItem, SpecialIds, pack_documents, random_packed_batch  # noqa: E402
from tfgen.model.config import preset  # noqa: E402
from tfgen.model.batch import BatchError, lm_loss_positions  # noqa: E402
from tfgen.model.transfusion import Transfusion  # noqa: E402

torch.set_num_threads(1)
CFG = preset("tiny").replace(latent_size=4, patch_size=2)  # 4 patches per image
IDS = SpecialIds(pad=0, boi=1, eoi=2)


def latent(seed: int) -> torch.Tensor:
    return torch.randn((4, 4, 4), generator=torch.Generator().manual_seed(seed))


def two_doc_batch(first_is_target: bool = True, second_is_target: bool = True):
    # row: doc 0 = 10 11 [BOI p p p p EOI] 12 13 ; doc 1 = 20 [BOI p p p p EOI] 21 ; padding
    doc0 = [10, 11, ImageItem(latent(0), first_is_target, caption_follows=True), 12, 13]
    doc1 = [20, ImageItem(latent(1), second_is_target), 21]
    return pack_documents([[doc0, doc1]], CFG, 24, 2, IDS)


def test_lm_loss_positions_exactly():
    b = two_doc_batch()
    # positions: 0:10 1:11 2:BOI 3-6:patches 7:EOI 8:12 9:13 | 10:20 11:BOI 12-15 16:EOI 17:21 | 18-23 pad
    got = lm_loss_positions(b)[0].nonzero().flatten().tolist()
    # predicting BOI counts (1->2), BOI->patch does not (2), patch->anything does not (3-6),
    # EOI->12 counts (7), 13->20 crosses documents (9), padding never counts
    assert got == [0, 1, 7, 8, 10, 16]


def test_lm_loss_ignores_image_position_ids_and_padding():
    torch.manual_seed(0)
    model = Transfusion(CFG)
    b = two_doc_batch().with_sampled_times(CFG, torch.Generator().manual_seed(0))
    base = model.loss(b, torch.Generator().manual_seed(1)).lm
    tokens = b.tokens.clone()
    tokens[0, 3:7] = 77  # ids at patch positions are ignored (patches are embedded instead)
    tokens[0, 18:] = 99  # padding
    same = model.loss(b.replace(tokens=tokens), torch.Generator().manual_seed(1)).lm
    assert torch.allclose(base, same)
    tokens[0, 9] = 55  # a real text token changes the loss
    other = model.loss(b.replace(tokens=tokens), torch.Generator().manual_seed(1)).lm
    assert not torch.allclose(base, other)


def test_image_loss_only_on_noised_targets():
    torch.manual_seed(0)
    model = Transfusion(CFG)
    b = two_doc_batch(first_is_target=True, second_is_target=False)
    b = b.replace(image_t=torch.tensor([[300.0, 700.0]]))
    out = model.loss(b, torch.Generator().manual_seed(5))
    # recompute the per-image errors from the model's own forward with the same noise
    noise = torch.randn(b.latents.shape, generator=torch.Generator().manual_seed(5))
    x_t = add_noise("ddpm", model.alpha_bar, b.latents, noise, b.image_t)
    x_in = torch.stack([x_t[:, 0], b.latents[:, 1]], dim=1)  # the context image goes in clean...
    t_in = torch.tensor([[300.0, 0.0]])  # ...at t = 0
    _, pred = model(b, x_in, t_in)
    err = (pred - training_target("ddpm", b.latents, noise)).pow(2).mean(dim=(2, 3, 4))[0]
    assert torch.allclose(out.image, err[0], rtol=1e-5)
    assert not torch.allclose(out.image, err.mean(), rtol=1e-3)


def test_no_targets_means_zero_image_loss_and_gradient():
    torch.manual_seed(0)
    model = Transfusion(CFG)
    b = two_doc_batch(first_is_target=False, second_is_target=False)
    out = model.loss(b)
    assert float(out.image.detach()) == 0.0
    out.image.backward()
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0.0 for p in model.parameters())


@pytest.mark.parametrize("weight", [5.0, 0.5])
def test_total_is_lm_plus_lambda_image(weight):
    cfg = CFG.replace(image_loss_weight=weight)
    torch.manual_seed(0)
    b = random_packed_batch(cfg, 2, 48, torch.Generator().manual_seed(0), images_per_doc=1, text_per_image=4)
    out = Transfusion(cfg).loss(b, torch.Generator().manual_seed(0))
    assert torch.allclose(out.total, out.lm + weight * out.image)
    assert out.lm > 0 and out.image > 0


def test_captioned_images_are_noise_limited_and_context_clean():
    g = torch.Generator().manual_seed(0)
    b = random_packed_batch(CFG, 16, 96, g, images_per_doc=3, text_per_image=3)
    t, valid = b.image_t, b.image_valid
    assert (t[b.image_noise_limited] < CFG.noise_limit_t).all()
    assert (t[valid & ~b.image_is_target] == 0).all()
    free = valid & b.image_is_target & ~b.image_noise_limited
    assert t[free].max() >= CFG.noise_limit_t  # the others use the full range
    assert (~b.image_is_target).any() and b.image_is_target[valid].any()


def test_condition_drop_share_and_only_valid_images():
    g = torch.Generator().manual_seed(0)
    b = random_packed_batch(CFG, 64, 96, g, images_per_doc=3, text_per_image=3, cond_drop_prob=0.3)
    dropped = b.image_drop_cond
    assert not (dropped & ~b.image_valid).any()
    share = dropped[b.image_valid].float().mean()
    assert 0.2 < float(share) < 0.4


def test_flow_objective_regresses_velocity():
    cfg = CFG.replace(objective="flow")
    torch.manual_seed(0)
    model = Transfusion(cfg)
    b = two_doc_batch(True, False).replace(image_t=torch.tensor([[999.0, 0.0]]))
    out = model.loss(b, torch.Generator().manual_seed(2))
    noise = torch.randn(b.latents.shape, generator=torch.Generator().manual_seed(2))
    # at t = T-1 the input is pure noise and the target is noise - x0
    x_in = torch.stack([noise[:, 0], b.latents[:, 1]], dim=1)
    _, pred = model(b, x_in, torch.tensor([[999.0, 0.0]]))
    expect = (pred[0, 0] - (noise[0, 0] - b.latents[0, 0])).pow(2).mean()
    assert torch.allclose(out.image, expect, rtol=1e-5)


def test_lm_index_gives_the_same_loss_on_fewer_positions():
    torch.manual_seed(0)
    model = Transfusion(CFG)
    b = random_packed_batch(CFG, 3, 64, torch.Generator().manual_seed(0), images_per_doc=2, text_per_image=5)
    full = model.loss(b, torch.Generator().manual_seed(1))
    indexed = b.with_lm_index()
    indexed.check(CFG)
    assert indexed.lm_index.shape[1] < 63
    assert torch.equal(torch.sort(indexed.lm_index[0]).values[-int(lm_loss_positions(b)[0].sum()):],
                       lm_loss_positions(b)[0].nonzero().flatten())
    part = model.loss(indexed, torch.Generator().manual_seed(1))
    assert torch.allclose(full.lm, part.lm, rtol=1e-5) and torch.allclose(full.image, part.image)
    roomy = b.with_lm_index(capacity=40)  # a fixed capacity pads with -1 and changes nothing
    assert roomy.lm_index.shape == (3, 40) and torch.allclose(model.loss(roomy, torch.Generator().manual_seed(1)).lm, full.lm, rtol=1e-5)
    with pytest.raises(BatchError, match="capacity"):
        b.with_lm_index(capacity=2)
    broken = indexed.lm_index.clone()
    broken[0, 0] = -1
    with pytest.raises(BatchError, match="lm_index"):
        indexed.replace(lm_index=broken).check(CFG)
