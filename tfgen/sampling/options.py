"""GenerationOptions: every knob of one generation, validated before the model is loaded.

Torch-free so the CLI can check options fast. `None` for sampler, steps and guidance means
"the checkpoint's default" (config.json's "sampler" section); `resolve` fills them in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Mapping

from tfgen.errors import TfgenError

KINDS = ("comic", "magazine", "deck", "none")
SAMPLERS = ("ddpm", "ddim", "euler", "heun")
SAMPLERS_FOR_OBJECTIVE = {"ddpm": ("ddpm", "ddim"), "flow": ("euler", "heun")}


class OptionsError(TfgenError):
    """A generation option with an impossible value."""


@dataclass(frozen=True)
class GenerationOptions:
    """What to generate and how; `count` is panels (comic), slides (deck) or pages (magazine)."""

    kind: str = "none"
    seed: int = 0
    sampler: str | None = None
    steps: int | None = None
    guidance: float | None = None
    temperature: float = 0.8  # 0 = greedy
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1 = off
    count: int | None = None
    max_tokens: int | None = None  # None: the model's context length
    max_images: int | None = None  # None: as many as fit
    eta: float = 0.0  # DDIM stochasticity (0 = deterministic)
    structure: bool = True  # False: the model writes freely after the prompt (no forced markup, images or stop)

    def __post_init__(self) -> None:
        check_options(self)

    def replace(self, **changes: Any) -> "GenerationOptions":
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def resolve(self, sampler_defaults: Mapping[str, Any], objective: str, num_train_timesteps: int) -> "GenerationOptions":
        """Fill sampler/steps/guidance from the checkpoint's defaults and check they fit its objective."""
        allowed = SAMPLERS_FOR_OBJECTIVE.get(objective, SAMPLERS)
        sampler = self.sampler or _default_sampler(sampler_defaults, allowed)
        if sampler not in allowed:
            raise OptionsError(f"sampler {sampler!r} does not fit a {objective} checkpoint (use {' or '.join(allowed)})",
                               where="--sampler")
        steps = self.steps
        if steps is None:
            # DDPM's full schedule is the paper's sampler; the checkpoint's step count is for DDIM/flow.
            steps = num_train_timesteps if sampler == "ddpm" else int(sampler_defaults.get("steps", 50))
        if not 1 <= steps <= num_train_timesteps:
            raise OptionsError(f"must lie in 1..{num_train_timesteps}, got {steps}", where="--steps")
        guidance = self.guidance
        if guidance is None:
            guidance = float(sampler_defaults.get("guidance", sampler_defaults.get("cfg", 1.0)))
        return self.replace(sampler=sampler, steps=steps, guidance=guidance)


def _default_sampler(defaults: Mapping[str, Any], allowed: tuple[str, ...]) -> str:
    name = defaults.get("name")
    # Without a recorded default: DDIM for DDPM checkpoints, Heun for flow ones (the few-step samplers).
    return name if isinstance(name, str) and name in allowed else allowed[-1]


def check_options(opts: GenerationOptions) -> None:
    """Reject values no generation can use, naming the option."""
    if opts.kind not in KINDS:
        raise OptionsError(f"unknown kind {opts.kind!r} (one of {', '.join(KINDS)})", where="--kind")
    if opts.sampler is not None and opts.sampler not in SAMPLERS:
        raise OptionsError(f"unknown sampler {opts.sampler!r} (one of {', '.join(SAMPLERS)})", where="--sampler")
    if not isinstance(opts.structure, bool):
        raise OptionsError(f"must be true or false, got {opts.structure!r}", where="--structure")
    if not isinstance(opts.seed, int) or isinstance(opts.seed, bool) or opts.seed < 0:
        raise OptionsError(f"must be a whole number >= 0, got {opts.seed!r}", where="--seed")
    checks = [
        ("--steps", opts.steps is None or opts.steps >= 1, "must be at least 1"),
        ("--cfg", opts.guidance is None or opts.guidance >= 0, "must be >= 0"),
        ("--temperature", opts.temperature >= 0, "must be >= 0"),
        ("--top-k", opts.top_k >= 0, "must be >= 0"),
        ("--top-p", 0 < opts.top_p <= 1, "must lie in (0, 1]"),
        ("--count", opts.count is None or 1 <= opts.count <= 64, "must lie in 1..64"),
        ("--max-tokens", opts.max_tokens is None or opts.max_tokens >= 1, "must be at least 1"),
        ("--max-images", opts.max_images is None or opts.max_images >= 0, "must be >= 0"),
        ("--eta", 0 <= opts.eta <= 1, "must lie in [0, 1]"),
    ]
    for where, ok, message in checks:
        if not ok:
            raise OptionsError(message, where=where)
