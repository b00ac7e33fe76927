"""The trainer's typed configuration: TOML `[train]` table, unknown keys and wrong types rejected, flags override.

A training file holds two tables: `[train]` (this config) and `[model]` (tfgen.model.config's
ModelConfig, read by load_model_config). Steps count optimiser updates; `batch_size` is the
GLOBAL batch in packed sequences per update, summed over all ranks and accumulation micro-steps.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from tfgen.errors import TfgenError


class TrainConfigError(TfgenError):
    """A training configuration with an unknown key, a wrong type or an impossible value."""


CHOICES: dict[str, tuple[str, ...]] = {
    "dtype": ("fp32", "bf16", "auto"),
    "device": ("auto", "cpu", "cuda"),
    "data_source": ("dataset", "world"),
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that fixes a training run apart from the model's shape."""

    preset: str = "tiny"  # model preset, used when the file has no [model] table
    data: str = ""  # dataset directory (data_source = "dataset")
    data_source: str = "dataset"  # "dataset": a directory; "world": the storyworld's in-memory stream
    out: str = "runs/train"  # run directory: checkpoint and train_state.* go here
    steps: int = 1000  # optimiser updates
    batch_size: int = 8  # global packed sequences per update (all ranks, all micro-steps)
    grad_accum: int = 1  # micro-steps per update on each rank
    seq_len: int = 256  # packed row length in positions
    lr: float = 3e-4  # peak learning rate (paper: 3e-4)
    min_lr_ratio: float = 0.1  # the cosine ends at lr * min_lr_ratio
    warmup_steps: int = 100  # linear warm-up from lr / warmup_steps to lr
    weight_decay: float = 0.1  # on matrices only
    beta1: float = 0.9
    beta2: float = 0.95
    clip: float = 1.0  # global gradient-norm clip; 0 disables
    ema_half_life: float = 0.1  # EMA half-life as a share of the run's length (see tfgen.train.ema)
    dtype: str = "auto"  # "fp32", "bf16" autocast, or "auto" (bf16 where the device runs it fast)
    device: str = "auto"
    seed: int = 0
    log_every: int = 10  # steps between host syncs for the loss display
    checkpoint_every: int = 1000  # steps between checkpoint directories (and one at the end)
    state_every: int = 200  # steps between train_state writes ...
    state_every_seconds: float = 300.0  # ... or this many seconds, whichever comes first
    num_threads: int = 0  # torch CPU threads; 0 keeps torch's default
    compile: bool = False  # torch.compile the model (slow start, faster steps on big models)
    init_from: str = ""  # checkpoint directory to fine-tune from (its VAE and tokenizer come along)
    vae: str = ""  # VAE directory from `tfgen train-vae` (unless init_from gives one)
    tokenizer: str = ""  # tokenizer.json to use; empty: train one on the data (unless init_from gives one)
    max_images: int = 4  # image slots per packed row
    prefetch: int = 2  # batches built ahead on a background thread (0: build each batch in the loop)

    def __post_init__(self) -> None:
        check_train_config(self)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with some fields changed, checked like a loaded file (None values are ignored)."""
        given = {k: v for k, v in changes.items() if v is not None}
        return train_config_from_mapping({**dataclasses.asdict(self), **given}, where="flag")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def micro_batch(self) -> int:
        """Sequences per rank per micro-step on a single process."""
        return self.batch_size // self.grad_accum


def check_train_config(cfg: TrainConfig) -> None:
    """Reject values no run can use, naming the key."""
    for key, allowed in CHOICES.items():
        if getattr(cfg, key) not in allowed:
            raise TrainConfigError(f"must be one of {', '.join(allowed)}, got {getattr(cfg, key)!r}", where=key)
    for key in ("steps", "batch_size", "grad_accum", "seq_len", "log_every", "checkpoint_every", "state_every",
                "max_images"):
        if getattr(cfg, key) <= 0:
            raise TrainConfigError(f"must be positive, got {getattr(cfg, key)}", where=key)
    for key in ("warmup_steps", "num_threads", "prefetch"):
        if getattr(cfg, key) < 0:
            raise TrainConfigError(f"must be zero or more, got {getattr(cfg, key)}", where=key)
    for key in ("lr", "ema_half_life", "state_every_seconds"):
        if not getattr(cfg, key) > 0:
            raise TrainConfigError(f"must be positive, got {getattr(cfg, key)}", where=key)
    for key in ("weight_decay", "clip"):
        if getattr(cfg, key) < 0:
            raise TrainConfigError(f"must be zero or more, got {getattr(cfg, key)}", where=key)
    if not 0.0 <= cfg.min_lr_ratio <= 1.0:
        raise TrainConfigError(f"must lie in [0, 1], got {cfg.min_lr_ratio}", where="min_lr_ratio")
    for key in ("beta1", "beta2"):
        if not 0.0 <= getattr(cfg, key) < 1.0:
            raise TrainConfigError(f"must lie in [0, 1), got {getattr(cfg, key)}", where=key)
    if cfg.batch_size % cfg.grad_accum:
        raise TrainConfigError(
            f"batch_size {cfg.batch_size} must be a multiple of grad_accum {cfg.grad_accum}", where="batch_size")


def _field_types() -> dict[str, type]:
    hints = typing.get_type_hints(TrainConfig)
    return {f.name: hints[f.name] for f in fields(TrainConfig)}


def _check_type(key: str, value: Any, expected: type, where: str) -> Any:
    # bool is an int subclass, so it is refused explicitly where a number is expected.
    if expected is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if expected in (str, bool) and type(value) is expected:
        return value
    raise TrainConfigError(
        f"must be {expected.__name__}, got {type(value).__name__} {value!r}", where=f"{where}.{key}")


def train_config_from_mapping(data: Mapping[str, Any], where: str = "train") -> TrainConfig:
    """Build a TrainConfig from a mapping (a TOML table or flags), checking every key and type."""
    known = _field_types()
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise TrainConfigError(f"unknown key (known: {', '.join(known)})", where=f"{where}.{key}")
        values[key] = _check_type(key, value, known[key], where)
    try:
        return TrainConfig(**values)
    except TrainConfigError as exc:
        raise TrainConfigError(exc.message, where=f"{where}.{exc.where}") from None


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a dict; unreadable or invalid files raise TrainConfigError naming the file."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrainConfigError("file not found", where=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TrainConfigError(f"cannot read ({exc})", where=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise TrainConfigError(f"not valid TOML ({exc})", where=str(path)) from None


def load_train_config(path: str | Path) -> TrainConfig:
    """Read the `[train]` table of a TOML file (a `[model]` table may sit beside it; nothing else)."""
    data = read_toml(path)
    for key in data:
        if key not in ("train", "model"):
            raise TrainConfigError("unknown top-level key (expected [train] and [model])", where=f"{path}:{key}")
    table = data.get("train", {})
    if not isinstance(table, dict):
        raise TrainConfigError("must be a table", where=f"{path}:train")
    return train_config_from_mapping(table, where=f"{path}:train")
