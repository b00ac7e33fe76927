"""Sampler measurements for `tfgen bench`: one model, one run, figures side by side.

Every figure is the median wall time of `repeats` runs after one warm-up run, on the same model;
compared pairs run alternately (a, b, a, b, ...), so a shared machine's load shifts both alike.
- naive vs cached: one image (guidance off) with a `prefix`-token prefix already fed (untimed),
  the naive backend recomputing the whole sequence at every step, the cached one running only
  the image's patches against the cached prefix;
- guidance batched (cond + uncond in one batch of 2) vs two passes of 1;
- seconds per image against the number of steps (cached, batched guidance);
- text tokens per second (cached, one token per forward, sampling included);
- transfusion-pytorch's sampler at the same width, depth, heads and image size, only when that
  package is importable (its API has changed between versions: any failure is reported as a skip).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from tfgen.model.transfusion import Transfusion
from tfgen.sampling.backend import CachedBackend
from tfgen.sampling.image import make_sampler, sample_latents
from tfgen.sampling.naive import NaiveBackend
from tfgen.diffusion.schedules import CosineSchedule


@dataclass(frozen=True)
class BenchConfig:
    prefix: int = 200
    steps: int = 20
    step_counts: tuple[int, ...] = (5, 10, 20, 50)
    text_tokens: int = 50
    guidance: float = 3.0
    repeats: int = 3
    seed: int = 0


@dataclass
class BenchReport:
    model: str
    rows: list[dict[str, Any]] = field(default_factory=list)  # {"name", "seconds", "note"}
    figures: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, seconds: float | None, note: str = "") -> None:
        self.rows.append({"name": name, "seconds": seconds, "note": note})


def median_time(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up: allocator, kernels, lazy init
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def paired_medians(a: Callable[[], float], b: Callable[[], float], repeats: int) -> tuple[float, float]:
    """Median seconds of `a` and of `b` (each returns its own timing), run alternately after a
    warm-up of each, so a load change on a shared machine hits both alike."""
    a(), b()
    times_a, times_b = [], []
    for _ in range(repeats):
        times_a.append(a())
        times_b.append(b())
    return statistics.median(times_a), statistics.median(times_b)


def run_bench(model: Transfusion, name: str, cfg: BenchConfig, vae_decode: Callable | None = None) -> BenchReport:
    mc = model.cfg
    if cfg.prefix + mc.patches_per_image + 2 > mc.max_seq_len or cfg.text_tokens >= mc.max_seq_len:
        raise ValueError(f"prefix {cfg.prefix} + an image do not fit max_seq_len {mc.max_seq_len}")
    report = BenchReport(name)
    shape = (mc.latent_channels, mc.latent_size, mc.latent_size)
    schedule = CosineSchedule(mc.num_train_timesteps)
    sampler_name = "ddim" if mc.objective == "ddpm" else "euler"
    prefix_ids = torch.randint(10, mc.vocab_size, (cfg.prefix,), generator=torch.Generator().manual_seed(cfg.seed)).tolist()

    def image_run(factory, steps: int, guidance: float, mode: str) -> Callable[[], float]:
        """A timed run of one image against a prefix fed once, untimed (denoising leaves the cache as it was)."""
        backend = factory(model, mc.max_seq_len, mode == "batched" or guidance != 1.0)
        backend.feed(prefix_ids)

        def once() -> float:
            gen = torch.Generator().manual_seed(cfg.seed)
            sampler = make_sampler(sampler_name, steps, schedule, gen, shift=mc.time_shift)
            start = time.perf_counter()
            sample_latents(backend, shape, sampler, guidance, gen, "cpu", mode)
            return time.perf_counter() - start
        return once

    naive, cached = paired_medians(image_run(NaiveBackend, cfg.steps, 1.0, "auto"),
                                   image_run(CachedBackend, cfg.steps, 1.0, "auto"), cfg.repeats)
    report.add(f"naive loop, {cfg.prefix}-token prefix, {cfg.steps} steps", naive)
    report.add(f"prefix-cached, {cfg.prefix}-token prefix, {cfg.steps} steps", cached, f"{naive / cached:.1f}x faster")
    report.figures["cache_speedup"] = naive / cached

    batched, two = paired_medians(image_run(CachedBackend, cfg.steps, cfg.guidance, "batched"),
                                  image_run(CachedBackend, cfg.steps, cfg.guidance, "two-pass"), cfg.repeats)
    report.add(f"guidance {cfg.guidance} batched (cond+uncond in one batch)", batched, f"{two / batched:.2f}x faster")
    report.add(f"guidance {cfg.guidance} in two passes", two)
    report.figures["guidance_batched_speedup"] = two / batched

    per_steps = {}
    for steps in cfg.step_counts:
        run = image_run(CachedBackend, steps, cfg.guidance, "batched")
        per_steps[steps] = paired_medians(run, run, cfg.repeats)[0]
        report.add(f"one image, {steps} steps (cached, guided)", per_steps[steps], f"{per_steps[steps] / steps * 1000:.2f} ms/step")
    report.figures["seconds_per_image_by_steps"] = per_steps

    # Text after as much of the same prefix as leaves room for the tokens.
    text_prefix = prefix_ids[:mc.max_seq_len - cfg.text_tokens]
    report.figures["text_tokens_per_second"] = _text_rate(model, text_prefix, cfg)
    report.add(f"text, {cfg.text_tokens} tokens after {len(text_prefix)} prefix tokens", cfg.text_tokens / report.figures["text_tokens_per_second"],
               f"{report.figures['text_tokens_per_second']:.0f} tokens/s")

    if vae_decode is not None:
        latents = torch.zeros((1, *shape))
        report.add("VAE decode, one image", median_time(lambda: vae_decode(latents), cfg.repeats))
    report.figures["transfusion_pytorch"] = _reference_sampler(model, cfg, report)
    return report


def _text_rate(model: Transfusion, prefix_ids: list[int], cfg: BenchConfig) -> float:
    from tfgen.sampling.text import choose_token

    def once() -> None:
        gen = torch.Generator().manual_seed(cfg.seed)
        backend = CachedBackend(model, model.cfg.max_seq_len, False)
        logits = backend.feed(prefix_ids)
        for _ in range(cfg.text_tokens):
            logits = backend.feed([choose_token(logits, 1.0, 0, 1.0, gen)])

    def prefill_only() -> None:
        CachedBackend(model, model.cfg.max_seq_len, False).feed(prefix_ids)

    seconds = median_time(once, cfg.repeats) - median_time(prefill_only, cfg.repeats)
    return cfg.text_tokens / max(seconds, 1e-9)


def _reference_sampler(model: Transfusion, cfg: BenchConfig, report: BenchReport) -> str:
    """Time transfusion-pytorch's sampler at our size, if it is installed (see the module docstring)."""
    try:
        import transfusion_pytorch  # noqa: F401
    except ImportError:
        report.add("transfusion-pytorch sampler", None, "skipped: package not installed")
        return "not installed"
    mc = model.cfg
    try:
        ref = transfusion_pytorch.Transfusion(
            num_text_tokens=mc.vocab_size, dim_latent=mc.patch_dim, modality_default_shape=(mc.patches_per_image,),
            transformer=dict(dim=mc.d_model, depth=mc.n_layers, heads=mc.n_heads, dim_head=mc.head_dim)).eval()
        prompt = torch.randint(10, mc.vocab_size, (cfg.prefix,))
        with torch.no_grad():
            seconds = median_time(lambda: ref.sample(prompt=prompt, max_length=cfg.prefix + mc.patches_per_image + 3,
                                                     modality_steps=cfg.steps), cfg.repeats)
    except Exception as exc:  # an API we do not know: report, do not crash the bench
        report.add("transfusion-pytorch sampler", None, f"skipped: {type(exc).__name__}: {str(exc)[:80]}")
        return f"failed: {type(exc).__name__}"
    report.add(f"transfusion-pytorch sampler, {cfg.steps} steps (whole sample call)", seconds)
    return f"{seconds:.4f} s"
