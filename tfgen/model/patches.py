"""Images in and out of the transformer: p x p latent patches, linear or U-Net, plus the timestep.

Shapes: latents (N, C, h, w) for N images; patch sequences (N, P, C*p*p) or (N, P, D) with
P = (h/p) * (w/p) patches ordered left-to-right, top-to-bottom (row-major). Times t (N,) are
float model times on the axis of tfgen.diffusion.schedules (0 clean .. T-1 noise). The timestep
embedding (N, D) is added to every patch embedding (and conditions each U-Net residual block).
The U-Net blocks use LayerNorm over channels instead of GroupNorm, as the paper does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tfgen.model.config import ModelConfig


def patchify(latents: torch.Tensor, p: int) -> torch.Tensor:
    """(N, C, h, w) -> (N, (h/p)*(w/p), C*p*p), patches row-major, each patch (C, p, p) flattened."""
    N, C, h, w = latents.shape
    x = latents.reshape(N, C, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(N, (h // p) * (w // p), C * p * p)


def unpatchify(patches: torch.Tensor, p: int, channels: int, side: int) -> torch.Tensor:
    """Inverse of `patchify` for square latents of `side` x `side`: (N, P, C*p*p) -> (N, C, h, w)."""
    N = patches.shape[0]
    g = side // p
    x = patches.reshape(N, g, g, channels, p, p).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(N, channels, side, side)


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(N,) float times -> (N, dim) [cos | sin] features at geometric frequencies."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat((args.cos(), args.sin()), dim=-1)


class TimestepEmbedding(nn.Module):
    """Sinusoidal features of t through a two-layer MLP: (N,) -> (N, D)."""

    def __init__(self, d_model: int, freq_dim: int = 256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, d_model), nn.SiLU(), nn.Linear(d_model, d_model))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal_embedding(t, self.freq_dim).to(self.mlp[0].weight.dtype))


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis of (N, C, h, w) (GroupNorm-free, as in the paper)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ResBlock(nn.Module):
    """x + conv(silu(norm(conv(silu(norm(x))) + time))) with the time projected per channel.

    Takes silu(temb), computed once by the U-Net half for all its blocks."""

    def __init__(self, channels: int, d_time: int):
        super().__init__()
        self.norm1, self.norm2 = ChannelLayerNorm(channels), ChannelLayerNorm(channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.time = nn.Linear(d_time, channels)

    def forward(self, x: torch.Tensor, temb_act: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.time(temb_act)[:, :, None, None]
        return x + self.conv2(F.silu(self.norm2(h)))


class LinearPatchEncoder(nn.Module):
    """Patchify, then one linear map per patch to D: (N, C, h, w) -> (N, P, D)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.p = cfg.patch_size
        self.proj = nn.Linear(cfg.patch_dim, cfg.d_model)

    def forward(self, latents: torch.Tensor, temb: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.proj(patchify(latents, self.p)), []


class LinearPatchDecoder(nn.Module):
    """One linear map per patch back to C*p*p, then unpatchify: (N, P, D) -> (N, C, h, w)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.proj = nn.Linear(cfg.d_model, cfg.patch_dim)

    def forward(self, hidden: torch.Tensor, skips: list[torch.Tensor], temb: torch.Tensor) -> torch.Tensor:
        c = self.cfg
        return unpatchify(self.proj(hidden), c.patch_size, c.latent_channels, c.latent_size)


def _levels(cfg: ModelConfig) -> int:
    """Number of 2x down-samplings: log2(p)."""
    return int(math.log2(cfg.patch_size))


class UNetDown(nn.Module):
    """The U-Net down block: conv in, a residual block per level, stride-2 convs down by p, then
    a 1x1 conv to D; each cell of the (h/p, w/p) grid is one patch. Keeps skips for the up block."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        widths = [cfg.unet_channels * 2**i for i in range(_levels(cfg) + 1)]
        self.conv_in = nn.Conv2d(cfg.latent_channels, widths[0], 3, padding=1)
        self.res = nn.ModuleList(ResBlock(w, cfg.d_model) for w in widths)
        self.down = nn.ModuleList(nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in zip(widths, widths[1:]))
        self.to_model = nn.Conv2d(widths[-1], cfg.d_model, 1)

    def forward(self, latents: torch.Tensor, temb: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = self.conv_in(latents)
        temb_act = F.silu(temb)
        skips = []
        for i, res in enumerate(self.res):
            x = res(x, temb_act)
            skips.append(x)
            if i < len(self.down):
                x = self.down[i](x)
        x = self.to_model(x)  # (N, D, h/p, w/p)
        return x.flatten(2).transpose(1, 2), skips


class UNetUp(nn.Module):
    """The U-Net up block, mirror of `UNetDown`: 1x1 conv from D, residual blocks with additive
    skips, nearest 2x up-sampling + conv per level, conv out to the latent channels."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        widths = [cfg.unet_channels * 2**i for i in range(_levels(cfg) + 1)]
        self.from_model = nn.Conv2d(cfg.d_model, widths[-1], 1)
        self.res = nn.ModuleList(ResBlock(w, cfg.d_model) for w in reversed(widths))
        self.up = nn.ModuleList(nn.Conv2d(b, a, 3, padding=1) for a, b in reversed(list(zip(widths, widths[1:]))))
        self.norm_out = ChannelLayerNorm(widths[0])
        self.conv_out = nn.Conv2d(widths[0], cfg.latent_channels, 3, padding=1)

    def forward(self, hidden: torch.Tensor, skips: list[torch.Tensor], temb: torch.Tensor) -> torch.Tensor:
        N, P, D = hidden.shape
        g = self.cfg.patches_per_side
        x = self.from_model(hidden.transpose(1, 2).reshape(N, D, g, g))
        # A 1x1 conv's weight is both contiguous and channels_last, so torch runs it (and returns)
        # NCHW. When the down path ran channels_last (tfgen.sampling.memory_layout), continue in that
        # format: the skip additions, channel norms, up-sampling and 3x3 convs then run on views
        # instead of copying between formats (same values either way).
        if _is_channels_last(skips[-1]):
            x = x.contiguous(memory_format=torch.channels_last)
        temb_act = F.silu(temb)
        for i, (res, skip) in enumerate(zip(self.res, reversed(skips))):
            x = res(x + skip, temb_act)
            if i < len(self.up):
                x = self.up[i](F.interpolate(x, scale_factor=2.0, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(x)))


def _is_channels_last(x: torch.Tensor) -> bool:
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def build_patch_codec(cfg: ModelConfig) -> tuple[nn.Module, nn.Module]:
    """The (encoder, decoder) pair the config names."""
    if cfg.patch_encoder == "unet":
        return UNetDown(cfg), UNetUp(cfg)
    return LinearPatchEncoder(cfg), LinearPatchDecoder(cfg)
