"""The ablation registry for benchmarks/ablations.py (issue 8): arms, scales, claims, verdicts, the table.

Torch-free on purpose: the registry, the claim sentences and the Markdown table are plain data and
text, tested without training anything (tests/test_ablations.py).

Conventions: a *row* is one evaluated model, a flat dict (see ROW_KEYS); diffusion times t are on
tfgen's axis, 0 clean .. T-1 pure noise; held-out losses are the image MSE against the objective's
own target (epsilon for ddpm, velocity for flow), so they compare only between rows of the same
objective; time per image is seconds on the CPU, one torch thread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

# --- arms ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingArm:
    """A model trained from scratch; only `model_changes` differs from the scale's baseline model."""

    name: str
    model_changes: Mapping[str, Any]
    switch: str  # what differs, in words, for the table
    claim: str  # the claim (CLAIMS key) this arm tests; "" for the baseline


@dataclass(frozen=True)
class SamplerArm:
    """An evaluation of a trained arm's checkpoint with another sampler or guidance (no training)."""

    name: str
    base: str  # the TrainingArm whose checkpoint is sampled
    sampler: str  # ddpm | ddim | euler | heun
    steps: int
    guidance: float
    switch: str
    claim: str


# The baseline is the shipped recipe's switches: U-Net 4x4 patches, bidirectional images, ddpm/epsilon.
TRAINING_ARMS: tuple[TrainingArm, ...] = (
    TrainingArm("baseline", {}, "U-Net 4x4, bidirectional images, DDPM (epsilon)", ""),
    TrainingArm("causal-images", {"image_attention": "causal"}, "causal attention inside images", "bidirectional"),
    TrainingArm("linear-4x4", {"patch_encoder": "linear"}, "linear patch encoder, 4x4", "unet-4x4"),
    TrainingArm("unet-2x2", {"patch_size": 2}, "U-Net, 2x2 patches", "patch-4x4"),
    TrainingArm("linear-2x2", {"patch_encoder": "linear", "patch_size": 2}, "linear patch encoder, 2x2", "unet-2x2"),
    TrainingArm("flow", {"objective": "flow", "time_shift": 1.0}, "flow matching (velocity), time shift 1",
                "flow-steps"),
    TrainingArm("flow-shift3", {"objective": "flow", "time_shift": 3.0}, "flow matching, time shift 3 (the shipped "
                "model's stage 2)", "time-shift"),
    TrainingArm("cross-blocked", {"cross_image": "blocked"}, "later images do not attend to earlier ones",
                "cross-image"),
)

# The default sampler each objective is evaluated with in the training rows (the pipeline's defaults).
DEFAULT_SAMPLER: dict[str, tuple[str, int, float]] = {"ddpm": ("ddim", 50, 3.0), "flow": ("heun", 20, 3.0)}

# Baseline at DDIM 50 / guidance 3 and flow at Heun 20 / guidance 3 are the training rows themselves.
SAMPLER_ARMS: tuple[SamplerArm, ...] = (
    SamplerArm("ddpm-250", "baseline", "ddpm", 250, 3.0, "baseline sampled with DDPM, 250 steps", "ddim-50"),
    SamplerArm("ddim-25", "baseline", "ddim", 25, 3.0, "baseline sampled with DDIM, 25 steps", "ddim-25"),
    SamplerArm("guidance-1", "baseline", "ddim", 50, 1.0, "baseline, guidance 1 (off)", "guidance"),
    SamplerArm("guidance-5", "baseline", "ddim", 50, 5.0, "baseline, guidance 5", "guidance"),
    SamplerArm("flow-euler-20", "flow", "euler", 20, 3.0, "flow sampled with Euler, 20 steps", "heun"),
    SamplerArm("flow-euler-10", "flow", "euler", 10, 3.0, "flow sampled with Euler, 10 steps", ""),
    SamplerArm("flow-heun-10", "flow", "heun", 10, 3.0, "flow sampled with Heun, 10 steps", "flow-10"),
)

ARM_NAMES: tuple[str, ...] = tuple(a.name for a in TRAINING_ARMS) + tuple(a.name for a in SAMPLER_ARMS)


def training_arm(name: str) -> TrainingArm:
    return next(a for a in TRAINING_ARMS if a.name == name)


def parse_arm_list(value: str | None) -> tuple[str, ...]:
    """`--only a,b` -> the named arms in registry order; None or "" -> all. Unknown names raise ValueError."""
    if not value:
        return ARM_NAMES
    names = [s.strip() for s in value.split(",") if s.strip()]
    bad = [n for n in names if n not in ARM_NAMES]
    if bad or not names:
        raise ValueError(f"unknown arm {', '.join(bad) or value!r} (known: {', '.join(ARM_NAMES)})")
    return tuple(n for n in ARM_NAMES if n in names)


# --- scales ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    """Everything the arms share at one size: data, VAE, model, training budget, evaluation."""

    name: str
    shrunk: str  # what was made smaller than the shipped recipe, and why (goes into ablations.md)
    data_n: int  # storyworld documents when no --data is given
    image_size: int
    heldout_n: int  # caption documents of the held-out set (another world seed)
    vae: Mapping[str, Any]  # VAEConfig.for_downsample args + training steps/batch, when no --vae is given
    model: Mapping[str, Any]  # [model] table of the baseline
    train: Mapping[str, Any]  # [train] table shared by every arm (seed set per run)
    eval_limit: int
    n_per_prompt: int
    seeds: tuple[int, ...]
    max_sampler_steps: int = 0  # > 0: every sampler's steps capped (tiny only, so the test stays fast)
    time_prefix: int = 32  # prompt tokens before the image in the time-per-image measurement
    time_repeats: int = 3
    heldout_batch: int = 4  # rows per forward in the held-out measure


# The shipped recipe's model (configs/default.toml [model]); cpu and gpu scales start from it.
RECIPE_MODEL: dict[str, Any] = {
    "preset": "world-s", "d_model": 192, "n_layers": 6, "n_heads": 3, "patch_size": 4, "patch_encoder": "unet",
    "unet_channels": 32, "objective": "ddpm", "image_loss_weight": 5.0, "cond_drop_prob": 0.1,
    "cross_image": "allowed",
}

SCALES: dict[str, Scale] = {
    "tiny": Scale(
        name="tiny", shrunk="test size: tiny preset, 1 step per arm, 2 prompts x 1 image, samplers capped at 2 steps",
        data_n=24, image_size=32, heldout_n=4,
        vae={"downsample": 4, "latent_channels": 4, "base_channels": 8, "steps": 2, "batch_size": 4},
        model={"preset": "tiny", "patch_size": 4, "patch_encoder": "unet", "unet_channels": 16,
               "cross_image": "allowed"},
        train={"steps": 1, "batch_size": 2, "seq_len": 256, "max_images": 8, "warmup_steps": 0, "lr": 1e-3,
               "dtype": "fp32", "prefetch": 0},
        eval_limit=2, n_per_prompt=1, seeds=(0,), max_sampler_steps=2, time_prefix=8, time_repeats=1,
        heldout_batch=2),
    "cpu": Scale(
        name="cpu",
        shrunk=("for ~40 min on one CPU core: width 128 and 4 layers instead of 192 and 6 (2 heads of 64), "
                "300 updates of 8 x 512 positions instead of 2,800, 4,000 storyworld documents instead of 12,000 "
                "(unless --data), evaluation on 6 prompts x 2 images and 6 comics instead of the full sets, "
                "held-out loss on 96 captioned scenes"),
        data_n=4000, image_size=128, heldout_n=96,
        vae={"downsample": 8, "latent_channels": 8, "base_channels": 16, "steps": 1000, "batch_size": 16},
        model={**RECIPE_MODEL, "d_model": 128, "n_layers": 4, "n_heads": 2},
        train={"steps": 300, "batch_size": 8, "seq_len": 512, "max_images": 16, "warmup_steps": 30, "lr": 1e-3,
               "dtype": "bf16", "prefetch": 2},  # bf16: 0.53 s per update against 0.88 s fp32 here (AMX)
        eval_limit=6, n_per_prompt=2, seeds=(0, 1)),
    "gpu": Scale(
        name="gpu",
        shrunk=("the shipped recipe's model (width 192, 6 layers) at 2,000 updates of 32 x 512 positions; "
                "evaluation on 30 prompts x 2 images and 30 comics (sampling on the CPU)"),
        data_n=12000, image_size=128, heldout_n=200,
        vae={"downsample": 8, "latent_channels": 8, "base_channels": 16, "steps": 3000, "batch_size": 16},
        model=dict(RECIPE_MODEL),
        train={"steps": 2000, "batch_size": 32, "seq_len": 512, "max_images": 16, "warmup_steps": 100,
               "lr": 1e-3, "dtype": "auto", "prefetch": 2},
        eval_limit=30, n_per_prompt=2, seeds=(0, 1), heldout_batch=16),
}


def sampler_for(arm: TrainingArm | SamplerArm, scale: Scale) -> tuple[str, int, float]:
    """(sampler, steps, guidance) a row is evaluated with, after the scale's step cap."""
    if isinstance(arm, SamplerArm):
        name, steps, guidance = arm.sampler, arm.steps, arm.guidance
    else:
        name, steps, guidance = DEFAULT_SAMPLER[arm.model_changes.get("objective", "ddpm")]
    if scale.max_sampler_steps:
        steps = min(steps, scale.max_sampler_steps)
    return name, steps, guidance


# --- rows and measures -----------------------------------------------------------------------------

CATEGORIES = ("single_object", "two_object", "counting", "colors", "position", "color_attr")
CATEGORY_HEADERS = ("single", "two", "count", "colour", "pos", "attr")
N_T_RANGES = 4  # held-out loss in quarters of the time axis
ROW_KEYS = ("arm", "seed", "kind", "base", "switch", "objective", "sampler", "budget", "train_seconds",
            "eval_seconds", "compositional", "categories", "frechet", "consistency", "heldout_loss", "loss_by_t",
            "t_ranges", "cond_gap", "heldout_images", "seconds_per_image", "report")


@dataclass(frozen=True)
class Metric:
    label: str
    higher_is_better: bool
    same_objective_only: bool = False  # meaningless between ddpm and flow rows


METRICS: dict[str, Metric] = {
    "compositional": Metric("compositional score", True),
    "frechet": Metric("Fréchet distance", False),
    "consistency": Metric("consistency", True),
    "heldout_loss": Metric("held-out image loss", False, same_objective_only=True),
    "cond_gap": Metric("conditioning gap", True, same_objective_only=True),
    "seconds_per_image": Metric("seconds per image", False),
}


def metric_value(row: Mapping[str, Any] | None, key: str) -> float | None:
    value = None if row is None else row.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def seed_spread(rows: Sequence[Mapping[str, Any]], arm: str = "baseline") -> dict[str, float]:
    """Per metric, max - min over the seeds of `arm`'s training rows (only metrics measured on 2+ seeds)."""
    runs = [r for r in rows if r.get("arm") == arm]
    spread = {}
    for key in METRICS:
        values = [v for v in (metric_value(r, key) for r in runs) if v is not None]
        if len(values) >= 2:
            spread[key] = max(values) - min(values)
    return spread


# --- claims ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """`a` beats `b` ("better") or does no worse than `b` ("matches"), judged on `metrics[0]`."""

    key: str
    text: str
    a: str
    b: str
    kind: str  # better | matches
    metrics: tuple[str, ...]  # the first decides; the others are quoted
    paper: str = ""


CLAIMS: tuple[Claim, ...] = (
    Claim("bidirectional", "Bidirectional attention inside an image beats causal attention",
          "baseline", "causal-images", "better", ("heldout_loss", "frechet", "compositional"),
          "paper, 0.76B, linear patches: FID 20.3 vs 61.3; here with U-Net 4x4 patches"),
    Claim("unet-4x4", "U-Net patch blocks beat linear ones at 4x4 patches",
          "baseline", "linear-4x4", "better", ("heldout_loss", "frechet", "compositional")),
    Claim("unet-2x2", "U-Net patch blocks beat linear ones at 2x2 patches",
          "unet-2x2", "linear-2x2", "better", ("heldout_loss", "frechet", "compositional"),
          "paper, 0.76B: FID 16.7 vs 20.3"),
    Claim("patch-4x4", "With U-Net blocks, 4x4 patches cost little against 2x2",
          "baseline", "unet-2x2", "matches", ("heldout_loss", "frechet", "compositional"),
          "paper, 0.76B: FID 16.0 (4x4) vs 16.7 (2x2)"),
    Claim("flow-steps", "Flow matching at 20 Heun steps matches DDPM at 250 steps",
          "flow", "ddpm-250", "matches", ("frechet", "compositional", "seconds_per_image")),
    Claim("ddim-50", "DDIM at 50 steps matches DDPM at 250 steps", "baseline", "ddpm-250", "matches",
          ("frechet", "compositional", "seconds_per_image")),
    Claim("ddim-25", "DDIM at 25 steps matches DDIM at 50", "ddim-25", "baseline", "matches",
          ("frechet", "compositional", "seconds_per_image")),
    Claim("heun", "Heun beats Euler at 20 flow steps", "flow", "flow-euler-20", "better",
          ("frechet", "compositional", "seconds_per_image")),
    Claim("flow-10", "Flow matching at 10 Heun steps matches 20", "flow-heun-10", "flow", "matches",
          ("frechet", "compositional", "seconds_per_image")),
    Claim("guidance", "Classifier-free guidance at 3 beats no guidance", "baseline", "guidance-1", "better",
          ("compositional", "frechet", "consistency"), "paper: guidance scales 3-5"),
    Claim("time-shift", "A time shift of 3 makes a flow model use its caption more than no shift",
          "flow-shift3", "flow", "better", ("cond_gap", "compositional", "frechet"),
          "SD3 (Esser et al. 2024); not a Transfusion claim: tfgen's own choice for the default model"),
    Claim("cross-image", "Letting a later image attend to earlier images keeps characters more consistent",
          "baseline", "cross-blocked", "better", ("consistency", "heldout_loss", "compositional"),
          "issue 7: decides the default model's cross-image rule"),
)

HELD, NOT_HELD, UNTOLD = "held", "did not hold", "could not be told apart"


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def compare(a: float | None, b: float | None, metric: Metric, kind: str, spread: float | None) -> str:
    """The verdict for `a` against `b`: the difference must exceed the seed spread to count."""
    if a is None or b is None or spread is None:
        return UNTOLD
    gain = (a - b) if metric.higher_is_better else (b - a)  # > 0: `a` is better
    if kind == "matches":
        return NOT_HELD if gain < -spread else HELD
    if gain > spread:
        return HELD
    return NOT_HELD if gain < -spread else UNTOLD


def claim_sentence(claim: Claim, rows: Mapping[str, Mapping[str, Any]], spread: Mapping[str, float]) -> tuple[str, str]:
    """(verdict, one Markdown sentence) for a claim over rows keyed by arm name (seed-0 rows)."""
    ra, rb = rows.get(claim.a), rows.get(claim.b)
    key = claim.metrics[0]
    metric = METRICS[key]
    if metric.same_objective_only and ra and rb and ra.get("objective") != rb.get("objective"):
        return UNTOLD, f"**{claim.text}**: {UNTOLD} ({metric.label} differs in kind between objectives)."
    a, b = metric_value(ra, key), metric_value(rb, key)
    verdict = compare(a, b, metric, claim.kind, spread.get(key))
    if a is None or b is None:
        why = f"{claim.a if a is None else claim.b} has no {metric.label}"
    elif key not in spread:
        why = "one seed only, so no yardstick"
    else:
        why = f"seed spread {_fmt(spread[key])}"
    quoted = "; ".join(f"{METRICS[k].label} {_fmt(metric_value(ra, k))} vs {_fmt(metric_value(rb, k))}"
                       for k in claim.metrics[1:])
    paper = f" ({claim.paper})" if claim.paper else ""
    sentence = (f"**{claim.text}**{paper}: {verdict} on {metric.label}, {claim.a} {_fmt(a)} vs {claim.b} {_fmt(b)} "
                f"({why}){'; ' + quoted if quoted else ''}.")
    return verdict, sentence


def claim_verdicts(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Every claim whose two arms were run: {"claim", "verdict", "sentence"}; the first seed's rows decide."""
    first_seed: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        first_seed.setdefault(row["arm"], row)
    spread = seed_spread(rows)
    out = []
    for claim in CLAIMS:
        if claim.a in first_seed and claim.b in first_seed:
            verdict, sentence = claim_sentence(claim, first_seed, spread)
            out.append({"claim": claim.key, "verdict": verdict, "sentence": sentence})
    return out


# --- the Markdown table ------------------------------------------------------------------------------


def _cell(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """One table, a row per evaluated arm (and seed)."""
    t_ranges = next((r["t_ranges"] for r in rows if r.get("t_ranges")), [])
    loss_heads = [f"loss t∈[{lo},{hi})" for lo, hi in t_ranges]
    heads = ["arm", "switch", "sampler", "budget", "compositional", *CATEGORY_HEADERS, "Fréchet", "consistency",
             "cond gap", *loss_heads, "s/image"]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for r in rows:
        name = r["arm"] if not r.get("seed") else f"{r['arm']} (seed {r['seed']})"
        cats = r.get("categories") or {}
        losses = list(r.get("loss_by_t") or [None] * len(loss_heads))
        cells = [name, r.get("switch", ""), r.get("sampler", ""), r.get("budget", ""), _cell(r.get("compositional")),
                 *(_cell(cats.get(c), 2) for c in CATEGORIES), _cell(r.get("frechet"), 2),
                 _cell(r.get("consistency"), 2), _cell(r.get("cond_gap"), 4), *(_cell(v, 4) for v in losses),
                 _cell(r.get("seconds_per_image"), 3)]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def markdown_report(rows: Sequence[Mapping[str, Any]], scale: Scale, command: str, notes: Sequence[str] = ()) -> str:
    """ablations.md: how it was made, the table, one sentence per claim."""
    parts = [
        f"## Ablations ({scale.name} scale)", "",
        f"Made with `{command}`. Scale: {scale.shrunk}.", "",
        "Every training arm: the same data, tokenizer, VAE, model size, steps, batch and seed; only the switch "
        "differs. Sampler rows reuse a trained checkpoint. Budget = updates x batch x positions per row, and "
        "training wall time. Compositional (overall and per GenEval category), Fréchet distance (detector "
        "features) and consistency come from `tfgen eval`; s/image is one image at the row's sampler and guidance "
        "(prefix-cached, VAE decode included, CPU, one thread). Held-out loss: image MSE against the objective's "
        "target on held-out captioned scenes per range of t (0 clean, T-1 noise; ddpm and flow losses are not "
        "comparable); cond gap: that loss with the caption hidden minus with it shown (0: the captions are ignored).",
        "", markdown_table(rows), "", "### Claims", "",
    ]
    verdicts = claim_verdicts(rows)
    parts += [f"- {v['sentence']}" for v in verdicts] or ["- (no claim had both of its arms run)"]
    spread = seed_spread(rows)
    parts += ["", ("Yardstick: the spread between the baseline's seeds, per measure: " +
                   ", ".join(f"{METRICS[k].label} {_fmt(v)}" for k, v in spread.items())) if spread else
              "Yardstick: none (one seed), so every verdict reads 'could not be told apart'."]
    parts += [f"- {n}" for n in notes]
    return "\n".join(parts).rstrip() + "\n"


@dataclass
class ResultsFile:
    """DIR/results.json: settings, every row, the claims."""

    scale: str
    command: str
    settings: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"format": "tfgen.ablations/1", "scale": self.scale, "command": self.command,
                "settings": self.settings, "rows": self.rows, "yardstick": seed_spread(self.rows),
                "claims": claim_verdicts(self.rows)}
