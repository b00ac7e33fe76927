"""The Transfusion model's typed configuration, its named presets, and loading from TOML.

Units: `latent_size` and `patch_size` are in VAE-latent pixels; an image becomes
(latent_size / patch_size)^2 patch positions in the sequence. Diffusion times are in training
steps: t in [0, num_train_timesteps - 1], t = 0 clean, t = T-1 pure noise (see
tfgen.diffusion.schedules).
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from tfgen.errors import TfgenError


class ConfigError(TfgenError):
    """A model configuration that names an unknown key, has a wrong type or an impossible value."""


# Fields that take one of a fixed set of strings.
CHOICES: dict[str, tuple[str, ...]] = {
    "patch_encoder": ("linear", "unet"),
    "objective": ("ddpm", "flow"),
    "cross_image": ("blocked", "allowed"),
    "image_attention": ("bidirectional", "causal"),
}


@dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes the model's shape and its training objective."""

    vocab_size: int = 512
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    ffn_hidden: int = 0  # 0: Llama's rule, 8/3 * d_model rounded up to `ffn_multiple_of`
    ffn_multiple_of: int = 64
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    max_seq_len: int = 512
    # Images: VAE latents (C, h, w) with h = w = latent_size, cut into p x p patches.
    latent_channels: int = 4
    latent_size: int = 8
    patch_size: int = 2
    patch_encoder: str = "linear"
    unet_channels: int = 64  # width of the first U-Net level (doubles per 2x down)
    # Diffusion objective and loss.
    objective: str = "ddpm"
    num_train_timesteps: int = 1000
    noise_limit_t: int = 500  # images followed by a caption draw t < this
    time_shift: float = 1.0  # flow only: SD3's shift of training and sampling times toward noise
    image_loss_weight: float = 5.0  # lambda in L = L_LM + lambda * L_image
    cond_drop_prob: float = 0.1  # share of images trained without their condition (CFG)
    cross_image: str = "blocked"
    # "causal": an image's patches attend causally like text (the paper's ablation; tfgen.model.mask).
    image_attention: str = "bidirectional"

    def __post_init__(self) -> None:
        check_model_config(self)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def ffn_dim(self) -> int:
        if self.ffn_hidden > 0:
            return self.ffn_hidden
        raw = int(8 * self.d_model / 3)
        m = self.ffn_multiple_of
        return ((raw + m - 1) // m) * m

    @property
    def patches_per_side(self) -> int:
        return self.latent_size // self.patch_size

    @property
    def patches_per_image(self) -> int:
        return self.patches_per_side**2

    @property
    def patch_dim(self) -> int:
        return self.latent_channels * self.patch_size**2

    def replace(self, **changes: Any) -> "ModelConfig":
        """A copy with some fields changed (validated like any config)."""
        return model_config_from_mapping({**dataclasses.asdict(self), **changes}, where="config")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_model_config(cfg: ModelConfig) -> None:
    """Reject values no model can be built from, naming the key."""
    for key, allowed in CHOICES.items():
        if getattr(cfg, key) not in allowed:
            raise ConfigError(f"must be one of {', '.join(allowed)}, got {getattr(cfg, key)!r}", where=key)
    positive = ("vocab_size", "d_model", "n_layers", "n_heads", "ffn_multiple_of", "max_seq_len",
                "latent_channels", "latent_size", "patch_size", "unet_channels", "num_train_timesteps")
    for key in positive:
        if getattr(cfg, key) <= 0:
            raise ConfigError(f"must be positive, got {getattr(cfg, key)}", where=key)
    if cfg.d_model % cfg.n_heads or cfg.head_dim % 2:
        raise ConfigError("d_model / n_heads must be a whole, even number", where="n_heads")
    if cfg.patch_size not in (1, 2, 4):
        raise ConfigError(f"must be 1, 2 or 4, got {cfg.patch_size}", where="patch_size")
    if cfg.latent_size % cfg.patch_size:
        raise ConfigError("latent_size must be a multiple of patch_size", where="latent_size")
    if not 0 < cfg.noise_limit_t <= cfg.num_train_timesteps:
        raise ConfigError("must lie in 1..num_train_timesteps", where="noise_limit_t")
    if not cfg.time_shift > 0:
        raise ConfigError("must be positive", where="time_shift")
    if cfg.time_shift != 1.0 and cfg.objective != "flow":
        raise ConfigError("applies to the flow objective only", where="time_shift")
    if not 0.0 <= cfg.cond_drop_prob < 1.0:
        raise ConfigError("must lie in [0, 1)", where="cond_drop_prob")
    if cfg.image_loss_weight < 0 or cfg.norm_eps <= 0 or cfg.rope_theta <= 0:
        raise ConfigError("image_loss_weight >= 0, norm_eps > 0 and rope_theta > 0 are required",
                          where="image_loss_weight/norm_eps/rope_theta")


# Paper presets (arXiv 2408.11039, layers/width/heads) use the Llama 2 vocabulary (32K) and
# 256 px images -> 32x32x8 latents in 2x2 patches (256 patches). The world presets are sized
# for CPU training on storyworld scenes: 128 px -> 16x16x8 latents, 2x2 patches (64 patches).
_PAPER = dict(vocab_size=32000, latent_channels=8, latent_size=32, patch_size=2, max_seq_len=4096,
              ffn_multiple_of=256, unet_channels=128)
_WORLD = dict(vocab_size=4096, latent_channels=8, latent_size=16, patch_size=2, max_seq_len=512)

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(vocab_size=512, d_model=64, n_layers=2, n_heads=4, latent_channels=4, latent_size=8,
                 patch_size=2, unet_channels=16, max_seq_len=256),
    "world-s": dict(_WORLD, d_model=256, n_layers=8, n_heads=4, unet_channels=64),
    "world-m": dict(_WORLD, d_model=384, n_layers=12, n_heads=6, unet_channels=96),
    "0.16B": dict(_PAPER, d_model=768, n_layers=16, n_heads=12),
    "0.37B": dict(_PAPER, d_model=1024, n_layers=24, n_heads=16),
    "0.76B": dict(_PAPER, d_model=1536, n_layers=24, n_heads=24),
    "1.4B": dict(_PAPER, d_model=2048, n_layers=24, n_heads=16),
    "7B": dict(_PAPER, d_model=4096, n_layers=32, n_heads=32),
}


def preset(name: str) -> ModelConfig:
    """The named preset's config."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset (known: {', '.join(PRESETS)})", where=name)
    return ModelConfig(**PRESETS[name])


def _check_type(key: str, value: Any, expected: type, where: str) -> Any:
    # bool is an int subclass in Python, so it is rejected explicitly for numeric fields.
    if expected is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if expected is str and isinstance(value, str):
        return value
    if expected is bool and isinstance(value, bool):
        return value
    raise ConfigError(f"must be {expected.__name__}, got {type(value).__name__} {value!r}", where=f"{where}.{key}")


# Fields that change how the model is trained or sampled but not the shape of any weight, so a
# fine-tune (`tfgen train --init-from`) may set them in its [model] table.
TRAINING_SWITCHES = ("objective", "time_shift", "noise_limit_t", "image_loss_weight", "cond_drop_prob", "cross_image",
                     "image_attention")


def model_config_from_mapping(data: Mapping[str, Any], where: str = "model") -> ModelConfig:
    """Build a config from a mapping; `preset = NAME` picks the base that other keys override."""
    types = {f.name: f.type for f in fields(ModelConfig)}
    type_of = {"int": int, "float": float, "str": str, "bool": bool}
    values: dict[str, Any] = {}
    if "preset" in data:
        name = data["preset"]
        if not isinstance(name, str) or name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})", where=f"{where}.preset")
        values.update(PRESETS[name])
    for key, value in data.items():
        if key == "preset":
            continue
        if key not in types:
            raise ConfigError(f"unknown key (known: {', '.join(types)})", where=f"{where}.{key}")
        values[key] = _check_type(key, value, type_of[str(types[key])], where)
    try:
        return ModelConfig(**values)
    except ConfigError as exc:
        raise ConfigError(exc.message, where=f"{where}.{exc.where}") from None


def load_model_config(path: str | Path) -> ModelConfig:
    """Read a TOML file: the `[model]` table if there is one, else the top level."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("file not found", where=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read ({exc})", where=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML ({exc})", where=str(path)) from None
    table = data.get("model", data)
    if not isinstance(table, dict):
        raise ConfigError("must be a table", where=f"{path}:model")
    return model_config_from_mapping(table, where=f"{path}:model")
