"""Sampler measurements for `tfgen bench`: one model, one run, figures side by side.

Every figure is the median wall time of `repeats` runs after one warm-up run, on the same model;
compared pairs run alternately (a, b, a, b, ...), so a shared machine's load shifts both alike.
- naive vs cached: one image (guidance off) with a `prefix`-token prefix already fed (untimed),
  the naive backend recomputing the whole sequence at every step, the cached one running only
  the image's patches against the cached prefix;
- guidance batched (cond + uncond in one batch of 2) vs two passes of 1;
- seconds per image against the number of steps (cached, batched guidance);
- text tokens per second (cached, one token per forward, sampling included);
- transfusion-pytorch's sampler against ours, one image each, only when that package is importable
  (its API has changed between versions: any failure is reported as a skip, never a crash).

The transfusion-pytorch comparison is the same work on both sides, paired as above:
- size: their Transformer at our d_model, n_layers, n_heads, head_dim and feed-forward width (their
  default 4x expansion with 2/3 for the gate is 8/3 d_model, our rule before rounding), their latent
  dim = our patch dim, their image = our patches per image. Their linear latent-to-model projection
  is lighter than a U-Net patch encoder, and their layers carry extras ours lack (per-token adaptive
  norms from a 4 d_model time embedding, attention gates, U-Net skips): neither is adjusted for, so
  each side's operations per image (torch's FLOP counter, one extra untimed run) are printed beside
  its time: at equal width their block does about 3x our arithmetic per image token;
- prefix: both caches hold `prefix` positions before the image (ours: `prefix` tokens fed; theirs:
  [sos] + `prefix`-2 tokens + [som], so that `sample_many` starts the image at once; forcing the
  modality at start is their own API for this). `max_length` = patches - 1 stops them right after
  the image, before any text;
- what is timed: only the denoising loop over the image's patches against the cached prefix. Ours:
  `sample_latents`; theirs: the `odeint` call inside `sample_many` (their kv-cached path; `sample_one`,
  for an image right after the prompt, re-runs the whole sequence at every evaluation), timed by
  wrapping the model's `odeint_fn`. Prefix
  prefill (and, guided, their unconditional prefix) is untimed on both sides, as is our clean-image
  cache pass and their cache commit after the loop;
- function evaluations: the same solver and count. Their ODE runs with torchdiffeq's fixed-grid
  `euler` over `steps + 1` times (`steps` evaluations; their default `midpoint` takes two per
  interval), ours with Euler (flow) or DDIM (epsilon), one evaluation per step. Their evaluations are
  counted during each run and the row says "NFE mismatch" instead of a ratio if they differ;
- guidance: their sampler guides with two transformer passes per evaluation (cond, then uncond),
  ours with one pass over a batch of 2 (our default). Rows are given with guidance off (cfg_scale
  1: one pass per evaluation on both sides) and at `guidance`.
"""

from __future__ import annotations

import functools
import statistics
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch

from tfgen.model.transfusion import Transfusion
from tfgen.sampling.backend import CachedBackend
from tfgen.sampling.image import function_evaluations, make_sampler, sample_latents
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
    report.figures["transfusion_pytorch"] = _reference_sampler(
        model, cfg, report, lambda guidance: image_run(CachedBackend, cfg.steps, guidance, "auto"),
        function_evaluations(sampler_name, cfg.steps))
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


def _reference_sampler(model: Transfusion, cfg: BenchConfig, report: BenchReport,
                       ours: Callable[[float], Callable[[], float]], our_evaluations: int) -> dict[str, Any] | str:
    """Ours against transfusion-pytorch's sampler, one image each, guidance off and on (see the module docstring)."""
    try:
        import transfusion_pytorch
        from torchdiffeq import odeint
    except ImportError:
        report.add("transfusion-pytorch sampler", None, "skipped: package not installed")
        return "not installed"
    figures: dict[str, Any] = {"version": getattr(transfusion_pytorch, "__version__", _package_version()),
                               "our_evaluations": our_evaluations}
    try:
        ref = _reference_model(transfusion_pytorch, model, odeint)
        for guidance in dict.fromkeys((1.0, cfg.guidance)):  # once when cfg.guidance is 1
            our_run, theirs = ours(guidance), _ReferenceRun(ref, model, cfg, guidance)
            seconds_ours, seconds_theirs = paired_medians(our_run, theirs.once, cfg.repeats)
            pair = {"ours": seconds_ours, "theirs": seconds_theirs, "their_evaluations": theirs.evaluations[-1],
                    "ratio": seconds_theirs / seconds_ours if theirs.evaluations[-1] == our_evaluations else None,
                    "our_gflop": _flops(our_run) / 1e9, "their_gflop": theirs.flops() / 1e9}
            pair["flop_ratio"] = pair["their_gflop"] / pair["our_gflop"] if pair["our_gflop"] else None
            figures["unguided" if guidance == 1.0 else f"guidance_{guidance:g}"] = pair
            _add_reference_rows(report, cfg, guidance, pair, our_evaluations)
    except Exception as exc:  # an API we do not know: report, do not crash the bench
        report.add("transfusion-pytorch sampler", None, f"skipped: {type(exc).__name__}: {str(exc)[:80]}")
        return f"failed: {type(exc).__name__}: {str(exc)[:200]}"
    return figures


def _flops(fn: Callable[[], Any]) -> int:
    """Floating-point operations torch counts (matmuls, convolutions, attention) in one call of `fn`."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("transfusion-pytorch")
    except PackageNotFoundError:
        return "unknown"


def _reference_model(package: Any, model: Transfusion, odeint: Callable) -> Any:
    """Their Transfusion at our size, with a fixed-grid Euler ODE (one evaluation per step, as ours)."""
    mc = model.cfg
    ref = package.Transfusion(
        num_text_tokens=mc.vocab_size, dim_latent=mc.patch_dim, modality_default_shape=(mc.patches_per_image,),
        odeint_kwargs=dict(method="euler"),
        transformer=dict(dim=mc.d_model, depth=mc.n_layers, heads=mc.n_heads, dim_head=mc.head_dim))
    return ref.eval().requires_grad_(False)


class _ReferenceRun:
    """Their `sample_many` making one image right after the prefix; `once()` returns the seconds of
    its denoising loop alone and appends that loop's count of ODE evaluations to `evaluations`."""

    def __init__(self, ref: Any, model: Transfusion, cfg: BenchConfig, guidance: float):
        self.ref, self.cfg, self.guidance = ref, cfg, guidance
        self.patches = model.cfg.patches_per_image
        # [sos] + these + the [som] their forced start appends = cfg.prefix cached positions, as ours.
        gen = torch.Generator().manual_seed(cfg.seed)
        self.prompt = torch.randint(10, model.cfg.vocab_size, (max(cfg.prefix - 2, 1),), generator=gen)
        self.evaluations: list[int] = []
        self._seconds: list[float] = []
        self._flops: list[int] = []
        self._count_flops = False

    def _timed_solve(self, solve: Callable, fn: Callable, y0: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        count = [0]

        def counted(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            count[0] += 1
            return fn(t, y)

        if self._count_flops:
            from torch.utils.flop_counter import FlopCounterMode

            with FlopCounterMode(display=False) as counter:
                out = solve(counted, y0, times)
            self._flops.append(counter.get_total_flops())
            return out
        start = time.perf_counter()
        out = solve(counted, y0, times)
        self._seconds.append(time.perf_counter() - start)
        self.evaluations.append(count[0])
        return out

    def once(self) -> float:
        ref, solve = self.ref, self.ref.odeint_fn
        ref.odeint_fn = functools.partial(self._timed_solve, solve)
        try:
            # Their noise comes from torch's global generator: seed it inside a fork so ours is untouched.
            with torch.random.fork_rng(), torch.no_grad(), _quiet(ref):
                torch.manual_seed(self.cfg.seed)
                ref.sample_many([self.prompt], max_length=self.patches - 1, force_modality_at_start=0,
                                fixed_modality_shape=(self.patches,), modality_steps=self.cfg.steps + 1,
                                cfg_scale=self.guidance, return_unprocessed_modalities=True)
        finally:
            ref.odeint_fn = solve
        done = self._flops if self._count_flops else self._seconds
        if len(done) != 1:
            raise RuntimeError(f"expected one image from sample_many, it ran {len(done)} ODE solves")
        return done.pop()

    def flops(self) -> int:
        """Operations in one denoising loop (an extra, untimed run)."""
        self._count_flops = True
        try:
            return int(self.once())
        finally:
            self._count_flops = False


@contextmanager
def _quiet(ref: Any) -> Iterator[None]:
    """Their progress bars and log lines off for one call (both run outside the timed loop), then back."""
    module = sys.modules[type(ref).__module__]
    bar = getattr(module, "tqdm", None)
    log = getattr(module, "logger", None)
    if bar is not None:
        module.tqdm = functools.partial(bar, disable=True)
    if log is not None and hasattr(log, "disable"):
        log.disable(module.__name__)
    try:
        yield
    finally:
        if bar is not None:
            module.tqdm = bar
        if log is not None and hasattr(log, "enable"):
            log.enable(module.__name__)


def _add_reference_rows(report: BenchReport, cfg: BenchConfig, guidance: float, pair: dict[str, Any],
                        our_evaluations: int) -> None:
    how = "guidance off" if guidance == 1.0 else f"guidance {guidance:g}"
    passes = "1 pass/eval" if guidance == 1.0 else "2 passes of 1/eval"
    label = f"1 image, {cfg.prefix}-position cached prefix, denoising loop only, {how}"
    report.add(f"transfusion-pytorch sample_many, {label}", pair["theirs"],
               f"{pair['their_evaluations']} evals (euler), {passes}, {pair['their_gflop']:.2f} GFLOP")
    passes = "1 pass/eval" if guidance == 1.0 else "1 pass of batch 2/eval"
    ratio = (f"{pair['ratio']:.1f}x faster than transfusion-pytorch" if pair["ratio"] is not None
             else f"NFE mismatch: ours {our_evaluations}, theirs {pair['their_evaluations']}: no ratio")
    if pair["ratio"] is not None and pair["flop_ratio"]:
        ratio += f" (which does {pair['flop_ratio']:.1f}x our GFLOP)"
    report.add(f"tfgen, the same work: {label}", pair["ours"],
               f"{our_evaluations} evals, {passes}, {pair['our_gflop']:.2f} GFLOP; {ratio}")
