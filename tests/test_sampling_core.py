"""The interleaved sampler on a tiny random checkpoint: cache == naive, guidance, seeds, limits, structure."""

from __future__ import annotations

import pytest
import torch

from conftest_model import FixedHead, build_tiny_checkpoint
from tfgen.errors import TfgenError
from tfgen.sampling.backend import CachedBackend
from tfgen.sampling.generate import generate_document
from tfgen.sampling.loader import load_model
from tfgen.sampling.naive import NaiveBackend
from tfgen.sampling.options import GenerationOptions
from tfgen.structure import check_kind

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def ckpt_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpts")
    return {
        "ddpm": build_tiny_checkpoint(root / "ddpm"),
        "allowed": build_tiny_checkpoint(root / "allowed", cross_image="allowed"),
        "flow": build_tiny_checkpoint(root / "flow", objective="flow"),
    }


@pytest.fixture
def loaded(ckpt_dirs):
    return load_model(str(ckpt_dirs["ddpm"]))


def opts(**kw) -> GenerationOptions:
    base = dict(kind="comic", count=2, seed=3, sampler="ddim", steps=3, guidance=3.0)
    return GenerationOptions(**{**base, **kw})


@pytest.mark.parametrize("variant,sampler", [("ddpm", "ddim"), ("ddpm", "ddpm"), ("allowed", "ddim"), ("flow", "heun"),
                                             ("flow", "euler")])
def test_cached_equals_naive(ckpt_dirs, variant, sampler):
    loaded = load_model(str(ckpt_dirs[variant]))
    o = opts(sampler=sampler, steps=3, temperature=1.0)
    cached = generate_document(loaded, "a fox finds a lantern", o)
    naive = generate_document(loaded, "a fox finds a lantern", o, backend_factory=NaiveBackend)
    assert cached.token_ids == naive.token_ids and len(cached.token_ids) > 0
    assert len(cached.latents) == len(naive.latents) == 2
    for a, b in zip(cached.latents, naive.latents):
        assert torch.allclose(a, b, atol=2e-3, rtol=1e-3), (a - b).abs().max()


def test_prompt_and_images_are_laid_out_as_in_training(loaded):
    tok = loaded.tokenizer
    seen = {}

    def factory(*args):
        seen["backend"] = NaiveBackend(*args)
        return seen["backend"]

    generate_document(loaded, "a fox", opts(count=1), backend_factory=factory)
    ids = seen["backend"].ids
    head = [tok.bos_id, tok.kind_id("comic"), *tok.encode("a fox"), tok.sep_id]
    assert ids[:len(head)] == head
    P = loaded.cfg.patches_per_image
    start = ids.index(-1)
    assert ids[start - 1] == tok.boi_id and ids[start:start + P] == [-1] * P and ids[start + P] == tok.eoi_id


def test_guidance_one_equals_unguided(loaded):
    plain = generate_document(loaded, "a fox", opts(guidance=1.0))
    batched = generate_document(loaded, "a fox", opts(guidance=1.0), guidance_mode="batched")
    assert plain.token_ids == batched.token_ids
    for a, b in zip(plain.latents, batched.latents):
        assert torch.allclose(a, b, atol=1e-4)
    guided = generate_document(loaded, "a fox", opts(guidance=4.0))
    assert not torch.allclose(plain.latents[0], guided.latents[0], atol=1e-3)


def test_batched_guidance_equals_two_passes(loaded):
    one = generate_document(loaded, "a fox", opts(guidance=3.0), guidance_mode="batched")
    two = generate_document(loaded, "a fox", opts(guidance=3.0), guidance_mode="two-pass")
    assert one.token_ids == two.token_ids
    for a, b in zip(one.latents, two.latents):
        assert torch.allclose(a, b, atol=1e-4)


def test_same_seed_same_document_other_seed_differs(loaded):
    a = generate_document(loaded, "a fox", opts(seed=5, temperature=1.0)).document
    b = generate_document(loaded, "a fox", opts(seed=5, temperature=1.0)).document
    c = generate_document(loaded, "a fox", opts(seed=6, temperature=1.0)).document
    assert a.to_json() == b.to_json()
    assert a.to_json() != c.to_json()
    assert a.images[0].png != c.images[0].png


def test_meta_holds_what_reproduces_the_document(loaded):
    doc = generate_document(loaded, "a fox", opts(seed=9)).document
    meta = doc.meta
    assert (meta["seed"], meta["sampler"], meta["steps"], meta["cfg"]) == (9, "ddim", 3, 3.0)
    assert meta["temperature"] == 0.8 and meta["model"] == str(loaded.directory) and len(meta["model_sha256"]) == 64
    assert doc.kind == "comic" and doc.prompt == "a fox"


def test_eos_stops_free_generation(loaded):
    tok = loaded.tokenizer
    loaded.model.lm_head = FixedHead(loaded.cfg.vocab_size, [tok.eos_id])
    result = generate_document(loaded, "a fox", opts(kind="none", count=None))
    assert result.stopped_by == "eos" and result.token_ids == [] and result.latents == []


def test_max_tokens_and_max_images_stop(loaded):
    tok = loaded.tokenizer
    word = tok.encode("fox")[0]
    loaded.model.lm_head = FixedHead(loaded.cfg.vocab_size, [tok.boi_id, word])
    result = generate_document(loaded, "a fox", opts(kind="none", count=None, max_tokens=7, max_images=2, temperature=0))
    assert result.stopped_by == "max_tokens"
    assert len(result.token_ids) == 7 and len(result.latents) == 2


def test_context_length_stops(loaded):
    tok = loaded.tokenizer
    loaded.model.lm_head = FixedHead(loaded.cfg.vocab_size, [tok.encode("fox")[0]])
    seen = {}

    def factory(*args):
        seen["b"] = CachedBackend(*args)
        return seen["b"]

    result = generate_document(loaded, "a fox", opts(kind="none", count=None, temperature=0), backend_factory=factory)
    assert result.stopped_by == "context"
    assert seen["b"].length <= loaded.cfg.max_seq_len and seen["b"].length >= loaded.cfg.max_seq_len - 1


@pytest.mark.parametrize("kind,count", [("comic", 1), ("comic", 3), ("comic", 5), ("deck", 1), ("deck", 4),
                                        ("magazine", 1), ("magazine", 2)])
def test_forced_structure_gives_the_requested_shape(loaded, kind, count):
    for seed in range(2):
        result = generate_document(loaded, "a fox finds a lantern", opts(kind=kind, count=count, seed=seed, temperature=1.2))
        assert check_kind(result.document, kind, count) == []
        if kind == "comic":
            assert len(result.document.images) == count


@pytest.mark.parametrize("favourite", ["eos", "boi", "newline", "hash"])
def test_structure_holds_against_a_stubborn_model(loaded, favourite):
    tok = loaded.tokenizer
    first = {"eos": tok.eos_id, "boi": tok.boi_id, "newline": tok.encode("\n")[0], "hash": tok.encode("#")[0]}[favourite]
    loaded.model.lm_head = FixedHead(loaded.cfg.vocab_size, [first, tok.encode("fox")[0]])
    for kind, count in (("comic", 3), ("deck", 2), ("magazine", 1)):
        doc = generate_document(loaded, "a fox", opts(kind=kind, count=count, temperature=0)).document
        assert check_kind(doc, kind, count) == [], (kind, doc.text)


def test_shape_that_cannot_fit_the_context_is_an_error(loaded):
    with pytest.raises(TfgenError, match="do not fit"):
        generate_document(loaded, "a fox", opts(kind="comic", count=40))


def test_empty_prompt_is_an_error(loaded):
    with pytest.raises(TfgenError, match="empty"):
        generate_document(loaded, "   ", opts())


def test_sampler_must_fit_the_objective(ckpt_dirs):
    flow = load_model(str(ckpt_dirs["flow"]))
    with pytest.raises(TfgenError, match="does not fit"):
        generate_document(flow, "a fox", opts(sampler="ddim"))
    resolved = opts(sampler=None, steps=None, guidance=None).resolve(flow.sampler_defaults, "flow", 100)
    assert (resolved.sampler, resolved.steps, resolved.guidance) == ("heun", 4, 3.0)
    ddpm = opts(sampler="ddpm", steps=None).resolve({}, "ddpm", 100)
    assert ddpm.steps == 100  # DDPM runs its full schedule by default


def test_missing_model_dir_is_an_error(tmp_path):
    with pytest.raises(TfgenError, match="not found"):
        load_model(str(tmp_path / "nope"))


def test_magazine_generates_sections_until_the_pages_fill(loaded):
    # A stand-in layout: every two sections (images) make one page.
    def pages(doc):
        return (len(doc.images) + 1) // 2

    for count in (1, 2):
        result = generate_document(loaded, "a kite over the hill", opts(kind="magazine", count=count), page_count=pages)
        assert result.stopped_by == "filled" and pages(result.document) == count
        assert check_kind(result.document, "magazine") == []


def test_magazine_drops_a_last_section_that_spills_over(loaded):
    calls = []

    def pages(doc):  # 1 section: half a page; 2 sections: one page; 3: two pages (a spill)
        calls.append(len(doc.images))
        return {1: 0, 2: 1}.get(len(doc.images), 2)

    result = generate_document(loaded, "a kite", opts(kind="magazine", count=1), page_count=pages)
    # One full page is not the end: a third section is tried, spills, and is dropped.
    assert len(result.document.images) == 2 and calls[-1] == 3
    spill = generate_document(loaded, "a kite", opts(kind="magazine", count=1),
                              page_count=lambda doc: {1: 0}.get(len(doc.images), 2))
    assert len(spill.document.images) == 1 and spill.stopped_by == "filled"


def test_generation_samplers_clip_the_clean_estimate_at_the_noisiest_step():
    """alpha_bar(T-1) ~ 2e-9: unclipped, a 10% error in the predicted noise explodes at the first step."""
    import torch

    from tfgen.diffusion.ddim import DDIMSampler
    from tfgen.diffusion.schedules import CosineSchedule
    from tfgen.sampling.image import make_sampler

    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 8, 8, generator=g)
    eps = x + 0.1 * torch.randn(x.shape, generator=g)  # a good but imperfect noise prediction
    schedule = CosineSchedule()
    for name in ("ddim", "ddpm"):
        sampler = make_sampler(name, 50, schedule, torch.Generator().manual_seed(1))
        t = int(sampler.timesteps[0])
        assert sampler.step(eps, t, x).abs().max() < 6.0, name
    raw = DDIMSampler(schedule, clip_sample=None)
    raw.set_timesteps(50)
    assert raw.step(eps, int(raw.timesteps[0]), x).abs().max() > 50.0  # what the clip prevents


def test_cached_equals_naive_with_causal_image_attention(ckpt_dirs, tmp_path):
    import json
    import shutil

    causal_dir = tmp_path / "causal"
    shutil.copytree(ckpt_dirs["ddpm"], causal_dir)  # same weights; only the attention switch differs
    config = json.loads((causal_dir / "config.json").read_text())
    config["model"]["image_attention"] = "causal"
    (causal_dir / "config.json").write_text(json.dumps(config))
    causal = load_model(str(causal_dir))
    assert causal.cfg.image_attention == "causal"
    o = opts(sampler="ddim", steps=3, temperature=1.0)
    cached = generate_document(causal, "a fox finds a lantern", o)
    naive = generate_document(causal, "a fox finds a lantern", o, backend_factory=NaiveBackend)
    assert cached.token_ids == naive.token_ids and len(cached.latents) == len(naive.latents) == 2
    for a, b in zip(cached.latents, naive.latents):
        assert torch.allclose(a, b, atol=2e-3, rtol=1e-3), (a - b).abs().max()
    # The switch is live: the bidirectional model with the same weights draws other latents.
    bidi = generate_document(load_model(str(ckpt_dirs["ddpm"])), "a fox finds a lantern", o)
    assert not torch.allclose(bidi.latents[0], cached.latents[0], atol=1e-3)


def _unet_pair(cross_image: str = "allowed"):
    """A tiny random U-Net-codec model twice: as built (eager, default layouts) and prepared for sampling."""
    from tfgen.model.config import ModelConfig
    from tfgen.model.transfusion import Transfusion
    from tfgen.sampling.memory_layout import prepare_for_sampling

    cfg = ModelConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=2, latent_channels=4, latent_size=8, patch_size=4,
                      patch_encoder="unet", unet_channels=8, max_seq_len=64, objective="flow", cross_image=cross_image)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        plain = Transfusion(cfg).eval().requires_grad_(False)
    prepared = Transfusion(cfg).eval().requires_grad_(False)
    prepared.load_state_dict(plain.state_dict())
    return plain, prepare_for_sampling(prepared)


def _sample(model, backend_cls, guidance: float, prefix: list[int]):
    """Two images, the second after the first (committed clean) and two more tokens: (2, C, h, w)
    latents and the logits after the last token (V,)."""
    from tfgen.diffusion.schedules import CosineSchedule
    from tfgen.sampling.image import make_sampler, sample_latents

    backend = backend_cls(model, model.cfg.max_seq_len, guidance != 1.0)
    backend.feed(prefix)
    gen = torch.Generator().manual_seed(5)
    shape = (model.cfg.latent_channels, model.cfg.latent_size, model.cfg.latent_size)
    images = []
    for _ in range(2):
        sampler = make_sampler("heun", 3, CosineSchedule(model.cfg.num_train_timesteps), gen, shift=model.cfg.time_shift)
        images.append(sample_latents(backend, shape, sampler, guidance, gen))
        backend.commit_image(images[-1])
        logits = backend.feed([6, 8])
    return torch.cat(images), logits


@pytest.mark.parametrize("cross_image,guidance", [("allowed", 1.0), ("allowed", 3.0), ("blocked", 3.0)])
def test_sampling_layouts_change_no_result(cross_image, guidance):
    """The prepared model (transposed Linear storage, channels_last convs) with the cached backend
    (memoised rotations, the unmasked attention fast path when unguided) samples what the plain
    model's naive loop samples."""
    plain, prepared = _unet_pair(cross_image)
    assert plain.state_dict().keys() == prepared.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), prepared.state_dict().values()))
    assert prepared.tok_embed.weight.is_contiguous()
    assert not prepared.transformer.blocks[0].attn.qkv.weight.is_contiguous()  # stored transposed
    assert prepared.patch_in.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    prefix = [5, 9, 11, 3, 7, 20, 4]
    naive = _sample(plain, NaiveBackend, guidance, prefix)
    for backend_cls in (CachedBackend, NaiveBackend):
        latents, logits = _sample(prepared, backend_cls, guidance, prefix)
        assert torch.allclose(latents, naive[0], atol=1e-4, rtol=1e-4), (latents - naive[0]).abs().max()
        assert torch.allclose(logits, naive[1], atol=1e-4, rtol=1e-4)
    assert not torch.allclose(naive[0][0], naive[0][1], atol=1e-2)  # two different images really drawn


def test_block_rotations_match_rope_angles_and_are_memoised():
    from tfgen.model.transformer import rope_angles

    plain, _ = _unet_pair()
    cache = plain.new_cache(1, 32)
    cache.length = 7
    rot = cache.block_rotations(4, plain.cfg.head_dim, plain.cfg.rope_theta)
    assert torch.equal(rot, rope_angles(torch.arange(7, 11), plain.cfg.head_dim, plain.cfg.rope_theta))
    assert cache.block_rotations(4, plain.cfg.head_dim, plain.cfg.rope_theta) is rot


def test_unet_up_path_in_channels_last_changes_no_value():
    """With channels_last skips (a prepared model) the U-Net up path switches to channels_last to
    skip format copies; fed NCHW skips it stays NCHW. Both give exactly the same prediction."""
    from tfgen.model.patches import _is_channels_last

    _, prepared = _unet_pair()
    gen = torch.Generator().manual_seed(1)
    cfg = prepared.cfg
    latents = torch.randn((2, cfg.latent_channels, cfg.latent_size, cfg.latent_size), generator=gen)
    with torch.inference_mode():
        emb, skips, temb = prepared.embed_images(latents, torch.tensor([300.0, 700.0]))
        hidden = emb + torch.randn(emb.shape, generator=gen)
        nchw_skips = [s.contiguous() for s in skips]
        assert _is_channels_last(skips[-1]) and not _is_channels_last(nchw_skips[-1])
        fast = prepared.decode_images(hidden, skips, temb)
        plain = prepared.decode_images(hidden, nchw_skips, temb)
    assert fast.shape == latents.shape
    assert torch.equal(fast, plain)
