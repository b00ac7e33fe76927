"""The Transfusion model: patches, configs and presets, forward/backward, KV cache, overfitting."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from tfgen.model.batch import (BatchError, ImageItem, SpecialIds, pack_documents,  # noqa: E402
                               random_packed_batch)
from tfgen.model.config import ConfigError, load_model_config, preset  # noqa: E402
from tfgen.model.patches import patchify, unpatchify  # noqa: E402
from tfgen.model.transfusion import Transfusion, count_parameters  # noqa: E402

torch.set_num_threads(1)
IDS = SpecialIds(pad=0, boi=1, eoi=2)
TINY = preset("tiny")


# --- patches ----------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [1, 2, 4])
def test_patchify_round_trip_and_row_major_order(p):
    x = torch.randn(3, 4, 8, 8)
    patches = patchify(x, p)
    assert patches.shape == (3, (8 // p) ** 2, 4 * p * p)
    assert torch.equal(unpatchify(patches, p, 4, 8), x)
    # patch 1 is right of patch 0 (left-to-right), patch 8/p is below patch 0 (top-to-bottom)
    assert torch.equal(patches[:, 1].reshape(3, 4, p, p), x[:, :, :p, p:2 * p])
    assert torch.equal(patches[:, 8 // p].reshape(3, 4, p, p), x[:, :, p:2 * p, :p])


# --- configs ----------------------------------------------------------------------------------
def test_config_from_toml_with_preset_base(tmp_path):
    f = tmp_path / "m.toml"
    f.write_text('[model]\npreset = "world-s"\nn_layers = 3\nobjective = "flow"\nimage_loss_weight = 2\n')
    cfg = load_model_config(f)
    assert (cfg.d_model, cfg.n_layers, cfg.objective, cfg.image_loss_weight) == (256, 3, "flow", 2.0)


@pytest.mark.parametrize("body,key", [
    ("d_modle = 64", "d_modle"),
    ('d_model = "wide"', "d_model"),
    ("n_layers = true", "n_layers"),
    ("n_layers = 2.5", "n_layers"),
    ('cross_image = "sometimes"', "cross_image"),
    ("patch_size = 3", "patch_size"),
    ('preset = "huge"', "huge"),
])
def test_bad_config_names_the_key(tmp_path, body, key):
    f = tmp_path / "bad.toml"
    f.write_text(f"[model]\n{body}\n")
    with pytest.raises(ConfigError) as err:
        load_model_config(f)
    assert key in str(err.value) and str(f) in str(err.value)


def test_unreadable_config_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_model_config(tmp_path / "missing.toml")
    bad = tmp_path / "broken.toml"
    bad.write_text("[model\n")
    with pytest.raises(ConfigError, match="TOML"):
        load_model_config(bad)


def test_presets_have_paper_shapes_and_sizes():
    sizes = {}
    for name in ("world-s", "world-m", "0.16B", "0.37B", "0.76B", "1.4B", "7B"):
        with torch.device("meta"):
            sizes[name] = count_parameters(Transfusion(preset(name)))
    assert 6e6 < sizes["world-s"] < 12e6 and 20e6 < sizes["world-m"] < 40e6
    for name, target in (("0.16B", 0.16e9), ("0.37B", 0.37e9), ("0.76B", 0.76e9), ("1.4B", 1.4e9), ("7B", 7e9)):
        assert abs(sizes[name] / target - 1) < 0.1, (name, sizes[name])
    c = preset("0.76B")
    assert (c.n_layers, c.d_model, c.n_heads) == (24, 1536, 24)


# --- forward / backward -----------------------------------------------------------------------
@pytest.mark.parametrize("encoder", ["linear", "unet"])
@pytest.mark.parametrize("objective", ["ddpm", "flow"])
def test_forward_backward_reaches_every_parameter(encoder, objective):
    cfg = TINY.replace(patch_encoder=encoder, objective=objective)
    torch.manual_seed(0)
    model = Transfusion(cfg)
    b = random_packed_batch(cfg, 2, 64, torch.Generator().manual_seed(0), images_per_doc=2, text_per_image=4,
                            cond_drop_prob=0.5)
    b.check(cfg)
    hidden, pred = model(b, b.latents, b.image_t)
    assert hidden.shape == (2, 64, cfg.d_model) and pred.shape == b.latents.shape
    out = model.loss(b, torch.Generator().manual_seed(1))
    out.total.backward()
    assert torch.isfinite(out.total)
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_batch_check_rejects_bad_shapes_and_ids():
    b = random_packed_batch(TINY, 1, 64, torch.Generator().manual_seed(0), images_per_doc=1, text_per_image=4)
    with pytest.raises(BatchError, match="latents"):
        b.replace(latents=b.latents[..., :4]).check(TINY)
    with pytest.raises(BatchError, match="tokens"):
        b.replace(tokens=b.tokens + TINY.vocab_size).check(TINY)
    with pytest.raises(BatchError, match="image_start"):
        b.replace(image_start=b.image_start + 1).check(TINY)
    image_id = b.image_id.clone()
    image_id[0, int(b.image_start[0, 0])] = -1
    with pytest.raises(BatchError, match="image_id"):
        b.replace(image_id=image_id, is_image=image_id >= 0).check(TINY)


def test_packed_documents_do_not_see_each_other():
    torch.manual_seed(0)
    model = Transfusion(TINY)
    lat = torch.randn(4, 8, 8)
    doc0 = [5, 6, ImageItem(lat), 7]
    doc1 = [8, 9, ImageItem(lat), 10]
    a = pack_documents([[doc0, doc1]], TINY, 48, 2, IDS).replace(image_t=torch.tensor([[100.0, 200.0]]))
    doc0_changed = [15, 16, ImageItem(-lat), 17]
    b = pack_documents([[doc0_changed, doc1]], TINY, 48, 2, IDS).replace(image_t=a.image_t)
    ha, pa = model(a, a.latents, a.image_t)
    hb, pb = model(b, b.latents, b.image_t)
    start = 4 + TINY.patches_per_image + 1  # first position of doc 1
    assert torch.allclose(ha[:, start:start + 22], hb[:, start:start + 22], atol=1e-5)
    assert torch.allclose(pa[:, 1], pb[:, 1], atol=1e-5)
    assert not torch.allclose(pa[:, 0], pb[:, 0], atol=1e-3)


# --- KV cache ---------------------------------------------------------------------------------
def one_document(cfg, drop_second: bool = False):
    g = torch.Generator().manual_seed(3)
    lat0, lat1 = torch.randn(4, 8, 8, generator=g), torch.randn(4, 8, 8, generator=g)
    doc = [3, 4, 5, ImageItem(lat0), 6, 7, ImageItem(lat1, is_target=True), 8]
    b = pack_documents([[doc]], cfg, 2 * cfg.patches_per_image + 12, 2, IDS)
    drop = torch.tensor([[False, drop_second]])
    return b.replace(image_t=torch.tensor([[400.0, 0.0]]), image_drop_cond=drop)


@pytest.mark.parametrize("cross_image", ["blocked", "allowed"])
@pytest.mark.parametrize("encoder", ["linear", "unet"])
def test_cached_equals_uncached(cross_image, encoder):
    cfg = TINY.replace(cross_image=cross_image, patch_encoder=encoder)
    torch.manual_seed(0)
    model = Transfusion(cfg).eval()
    b = one_document(cfg)
    P = cfg.patches_per_image
    hidden, pred = model(b, b.latents, b.image_t)
    full_logits = model.lm_head(hidden)
    with torch.no_grad():
        cache = model.new_cache(1, b.tokens.shape[1])
        logits = [model.prefill(b.tokens[:, :4], cache)]  # 3 4 5 BOI
        t0 = b.image_t[:, 0]
        step_pred = model.denoise(b.latents[:, 0], t0, cache)  # a denoising step: not committed
        model.denoise(torch.randn_like(b.latents[:, 0]), t0 + 100, cache)  # another scratch step
        assert cache.length == 4
        model.denoise(b.latents[:, 0], t0, cache, commit=True)
        assert cache.length == 4 + P and cache.is_image[0, 4:4 + P].all()
        logits.append(model.prefill(b.tokens[:, 4 + P:8 + P], cache))  # EOI 6 7 BOI
        second = model.denoise(b.latents[:, 1], b.image_t[:, 1], cache, commit=True)
        logits.append(model.prefill(b.tokens[:, 8 + 2 * P:], cache))  # EOI 8 + padding
    text = torch.ones(b.tokens.shape[1], dtype=torch.bool)
    text[4:4 + P] = False
    text[8 + P:8 + 2 * P] = False
    text[10 + 2 * P:] = False  # padding is not a document position
    cached_logits = torch.cat(logits, dim=1)[0, : int(text.sum())]
    assert torch.allclose(cached_logits, full_logits[0, text], atol=1e-4)
    assert torch.allclose(step_pred, pred[:, 0], atol=1e-4)
    assert torch.allclose(second, pred[:, 1], atol=1e-4)


@pytest.mark.parametrize("cross_image", ["blocked", "allowed"])
def test_cross_image_switch_changes_what_the_second_image_sees(cross_image):
    cfg = TINY.replace(cross_image=cross_image)
    torch.manual_seed(0)
    model = Transfusion(cfg)
    a = one_document(cfg)
    lat = a.latents.clone()
    # change only the first image's patches: tokens are the same, so blocked hides the change
    # from the second image's patches except through the text in between
    lat[:, 0] = torch.randn_like(lat[:, 0])
    _, pa = model(a, a.latents, a.image_t)
    _, pb = model(a, lat, a.image_t)
    hidden_only = TINY.replace(cross_image=cross_image, n_layers=1)  # one layer: no indirect path
    torch.manual_seed(0)
    m1 = Transfusion(hidden_only)
    _, qa = m1(a, a.latents, a.image_t)
    _, qb = m1(a, lat, a.image_t)
    assert not torch.allclose(pa[:, 1], pb[:, 1], atol=1e-6)  # 2 layers: text carries it in both modes
    assert torch.allclose(qa[:, 1], qb[:, 1], atol=1e-6) == (cross_image == "blocked")


def test_dropped_condition_matches_cached_unconditional_branch_in_one_batch():
    torch.manual_seed(0)
    model = Transfusion(TINY).eval()
    b = one_document(TINY, drop_second=True)
    P = TINY.patches_per_image
    _, pred = model(b, b.latents, b.image_t)
    # the dropped image ignores everything before it: other prefix tokens give the same output
    other = b.replace(tokens=torch.where(b.is_image, b.tokens, (b.tokens + 7) % TINY.vocab_size))
    _, pred_other = model(other, b.latents, b.image_t)
    assert torch.allclose(pred[:, 1], pred_other[:, 1], atol=1e-5)
    assert not torch.allclose(pred[:, 0], pred_other[:, 0], atol=1e-4)
    with torch.no_grad():
        cache = model.new_cache(2, b.tokens.shape[1])  # row 0 conditional, row 1 unconditional
        two = b.tokens.expand(2, -1)
        model.prefill(two[:, :4], cache)
        model.denoise(b.latents[:, 0].expand(2, -1, -1, -1), b.image_t[:, 0].expand(2), cache, commit=True)
        model.prefill(two[:, 4 + P:8 + P], cache)
        both = model.denoise(b.latents[:, 1].expand(2, -1, -1, -1), b.image_t[:, 1].expand(2), cache,
                             drop_condition=torch.tensor([False, True]))
    assert torch.allclose(both[1], pred[0, 1], atol=1e-4)
    assert not torch.allclose(both[0], both[1], atol=1e-4)


# --- learning ---------------------------------------------------------------------------------
@pytest.mark.parametrize("encoder,objective", [("linear", "ddpm"), ("unet", "flow")])
def test_tiny_model_overfits_one_batch(encoder, objective):
    cfg = TINY.replace(patch_encoder=encoder, objective=objective)
    batch = random_packed_batch(cfg, 2, 96, torch.Generator().manual_seed(0), images_per_doc=2, text_per_image=6)
    torch.manual_seed(0)
    model = Transfusion(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    first = None
    for _ in range(120):
        out = model.loss(batch, torch.Generator().manual_seed(1))  # the same noise every step
        if first is None:
            first = (float(out.lm.detach()), float(out.image.detach()))
        opt.zero_grad()
        out.total.backward()
        opt.step()
    lm, image = float(out.lm.detach()), float(out.image.detach())
    assert lm < first[0] / 10, (first, lm)
    assert image < first[1] / 10, (first, image)


def test_text_only_batch():
    torch.manual_seed(0)
    model = Transfusion(TINY)
    b = pack_documents([[[3, 4, 5, 6]], [[7, 8]]], TINY, 8, 0, IDS)
    out = model.loss(b)
    assert torch.isfinite(out.lm) and float(out.image.detach()) == 0.0
    out.total.backward()


def test_rope_attention_depends_only_on_relative_position():
    torch.manual_seed(0)
    trunk = Transfusion(TINY).transformer
    with torch.no_grad():  # sharpen attention so that positions visibly matter
        for block in trunk.blocks:
            block.attn.qkv.weight.mul_(10)
    x = torch.randn(1, 10, TINY.d_model)
    causal = torch.ones(10, 10, dtype=torch.bool).tril()[None, None]
    a = trunk(x, torch.arange(10), causal)
    b = trunk(x, torch.arange(10) + 37, causal)
    assert torch.allclose(a, b, atol=1e-4)
    shuffled = trunk(x, torch.arange(10).flip(0), causal)  # positions matter
    assert not torch.allclose(a, shuffled, atol=1e-2)


def test_bf16_autocast_close_to_fp32():
    torch.manual_seed(0)
    model = Transfusion(TINY)
    b = random_packed_batch(TINY, 2, 64, torch.Generator().manual_seed(0), images_per_doc=2, text_per_image=4)
    ref = model.loss(b, torch.Generator().manual_seed(1))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model.loss(b, torch.Generator().manual_seed(1))
    assert abs(float(low.lm.detach()) - float(ref.lm.detach())) < 0.05 * float(ref.lm.detach())
    assert abs(float(low.image.detach()) - float(ref.image.detach())) < 0.05 * float(ref.image.detach())
