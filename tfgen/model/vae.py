"""The image autoencoder: a convolutional KL-VAE between pixels and the latents the transformer diffuses.

Conventions (used everywhere images meet the model):
- pixels: float tensors (B, 3, H, W) in [-1, 1], channel order RGB;
- latents: (B, C, H / f, W / f) with C = `latent_channels` and f = `downsample` (default 8x, 8 channels,
  the paper's shape); the transformer sees latents multiplied by the data's scale factor
  (`latent_scale_factor`), so they have roughly unit variance.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from tfgen.errors import TfgenError

LOGVAR_RANGE = (-30.0, 20.0)
INITIAL_LOGVAR = -6.0


@dataclass(frozen=True)
class VAEConfig:
    """The autoencoder's shape; `len(channel_multipliers) - 1` stride-2 steps give the downsample factor."""

    in_channels: int = 3
    latent_channels: int = 8
    base_channels: int = 32
    channel_multipliers: tuple[int, ...] = (1, 2, 4, 4)
    res_blocks: int = 1
    kl_weight: float = 1e-6  # weight of the per-element KL against the per-element squared error

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel_multipliers", tuple(self.channel_multipliers))
        for name in ("in_channels", "latent_channels", "base_channels", "res_blocks"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise TfgenError(f"must be a positive integer, not {value!r}", where=f"vae.{name}")
        mults = self.channel_multipliers
        if not mults or not all(isinstance(m, int) and not isinstance(m, bool) and m >= 1 for m in mults):
            raise TfgenError(f"must be a non-empty list of positive integers, not {mults!r}", where="vae.channel_multipliers")
        if not isinstance(self.kl_weight, (int, float)) or isinstance(self.kl_weight, bool) or self.kl_weight < 0:
            raise TfgenError(f"must be a number >= 0, not {self.kl_weight!r}", where="vae.kl_weight")

    @classmethod
    def for_downsample(cls, downsample: int, latent_channels: int = 8, base_channels: int = 32) -> "VAEConfig":
        """A config with `downsample` (1, 2, 4, 8 or 16) stride-2 steps' worth of levels, widths 1, 2, 4, 4, ..."""
        if downsample not in (1, 2, 4, 8, 16):
            raise TfgenError(f"must be 1, 2, 4, 8 or 16, not {downsample}", where="vae.downsample")
        levels = downsample.bit_length()
        mults = tuple(min(2**i, 4) for i in range(levels))
        return cls(latent_channels=latent_channels, base_channels=base_channels, channel_multipliers=mults)

    @property
    def downsample(self) -> int:
        return 2 ** (len(self.channel_multipliers) - 1)

    def latent_shape(self, image_size: int) -> tuple[int, int, int]:
        """(C, h, w) of the latents of a square image of `image_size` pixels."""
        if image_size % self.downsample:
            raise TfgenError(f"image size {image_size} is not a multiple of {self.downsample}", where="image_size")
        side = image_size // self.downsample
        return (self.latent_channels, side, side)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["channel_multipliers"] = list(self.channel_multipliers)
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str = "vae") -> "VAEConfig":
        """Build from JSON/TOML data; an unknown key or a wrong type is a TfgenError naming it."""
        if not isinstance(data, dict):
            raise TfgenError("must be an object", where=where)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TfgenError(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})", where=where)
        values = dict(data)
        if "channel_multipliers" in values:
            mults = values["channel_multipliers"]
            if not isinstance(mults, (list, tuple)):
                raise TfgenError(f"must be a list of integers, not {mults!r}", where=f"{where}.channel_multipliers")
            values["channel_multipliers"] = tuple(mults)
        if isinstance(values.get("kl_weight"), int) and not isinstance(values.get("kl_weight"), bool):
            values["kl_weight"] = float(values["kl_weight"])
        return cls(**values)


class VAEOutput(NamedTuple):
    reconstruction: torch.Tensor  # (B, 3, H, W)
    mean: torch.Tensor  # (B, C, h, w)
    logvar: torch.Tensor  # (B, C, h, w)


def _norm(channels: int) -> nn.GroupNorm:
    # At least 4 channels per group: one-channel groups (instance norm) erase each image's colours.
    return nn.GroupNorm(math.gcd(32, max(1, channels // 4)), channels, eps=1e-6)


class ResBlock(nn.Module):
    """Pre-norm residual block of two 3x3 convolutions."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.norm1, self.conv1 = _norm(in_ch), nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.norm2, self.conv2 = _norm(out_ch), nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Encoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        chans = [cfg.base_channels * m for m in cfg.channel_multipliers]
        self.conv_in = nn.Conv2d(cfg.in_channels, chans[0], 3, padding=1)
        layers: list[nn.Module] = []
        prev = chans[0]
        for level, ch in enumerate(chans):
            for _ in range(cfg.res_blocks):
                layers.append(ResBlock(prev, ch))
                prev = ch
            if level < len(chans) - 1:
                layers.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
        layers.append(ResBlock(prev, prev))
        self.body = nn.Sequential(*layers)
        self.norm_out = _norm(prev)
        self.conv_out = nn.Conv2d(prev, 2 * cfg.latent_channels, 3, padding=1)
        # Start with a narrow posterior (std ~0.05): with unit noise at first, the decoder would see
        # mostly noise and reconstruction would learn very slowly; the KL term widens it as needed.
        with torch.no_grad():
            self.conv_out.bias[cfg.latent_channels :].fill_(INITIAL_LOGVAR)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(F.silu(self.norm_out(self.body(self.conv_in(x)))))


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Decoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        chans = [cfg.base_channels * m for m in cfg.channel_multipliers]
        prev = chans[-1]
        self.conv_in = nn.Conv2d(cfg.latent_channels, prev, 3, padding=1)
        layers: list[nn.Module] = [ResBlock(prev, prev)]
        for level in reversed(range(len(chans))):
            for _ in range(cfg.res_blocks):
                layers.append(ResBlock(prev, chans[level]))
                prev = chans[level]
            if level > 0:
                layers.append(Upsample(prev))
        self.body = nn.Sequential(*layers)
        self.norm_out = _norm(prev)
        self.conv_out = nn.Conv2d(prev, cfg.in_channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.conv_out(F.silu(self.norm_out(self.body(self.conv_in(z)))))


class VAE(nn.Module):
    """KL autoencoder: `encode` gives the posterior's mean and log-variance, `decode` maps latents to pixels."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) in [-1, 1] -> mean, logvar, each (B, C, H/f, W/f)."""
        f = self.cfg.downsample
        if images.dim() != 4 or images.shape[1] != self.cfg.in_channels or images.shape[2] % f or images.shape[3] % f:
            raise TfgenError(
                f"images must be (B, {self.cfg.in_channels}, H, W) with H and W multiples of {f}, got {tuple(images.shape)}",
                where="vae.encode",
            )
        mean, logvar = self.encoder(images).chunk(2, dim=1)
        return mean, logvar.clamp(*LOGVAR_RANGE)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) unscaled latents -> (B, 3, h*f, w*f) pixels (not clamped)."""
        return self.decoder(latents)

    def forward(self, images: torch.Tensor, generator: torch.Generator | None = None, sample: bool = True) -> VAEOutput:
        mean, logvar = self.encode(images)
        z = mean
        if sample:
            noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            z = mean + torch.exp(0.5 * logvar) * noise
        return VAEOutput(self.decode(z), mean, logvar)


def kl_divergence(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)), averaged over every latent element: a scalar."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()


def vae_loss(images: torch.Tensor, out: VAEOutput, kl_weight: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, reconstruction MSE, KL): total = MSE + kl_weight * KL, both per-element means."""
    mse = F.mse_loss(out.reconstruction, images)
    kl = kl_divergence(out.mean, out.logvar)
    return mse + kl_weight * kl, mse, kl


def to_pixels(images: Sequence[Image.Image | np.ndarray], size: int) -> torch.Tensor:
    """RGB images (Pillow, or uint8 arrays (H, W, 3)) -> (B, 3, size, size) float in [-1, 1].

    Images of another size are centre-cropped to a square and resized (bicubic).
    """
    arrays = [square_uint8(img, size) for img in images]
    batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float()
    return batch / 127.5 - 1.0


def to_images(pixels: torch.Tensor) -> list[Image.Image]:
    """(B, 3, H, W) in [-1, 1] -> RGB Pillow images (values clamped)."""
    arr = ((pixels.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return [Image.fromarray(a.permute(1, 2, 0).cpu().numpy(), mode="RGB") for a in arr]


def square_uint8(img: Image.Image | np.ndarray, size: int) -> np.ndarray:
    """(size, size, 3) uint8 RGB: centre-cropped to a square and resized (bicubic) where needed."""
    if isinstance(img, np.ndarray):
        if img.dtype == np.uint8 and img.shape == (size, size, 3):
            return img
        img = Image.fromarray(np.asarray(img, dtype=np.uint8))
    img = img.convert("RGB")
    if img.size != (size, size):
        side = min(img.size)
        left, top = (img.width - side) // 2, (img.height - side) // 2
        img = img.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.uint8)
