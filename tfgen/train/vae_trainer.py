"""Training the VAE on a folder of images or a dataset directory, with held-out PSNR and the latent scale.

The scale factor makes the transformer's latents roughly unit-variance: 1 / std of the posterior
means over the training images (the recipe of latent diffusion, computed from our data, not copied).

Speed (measured on the 2-core AMX CPU, docs/TRAINING.md): the VAE is fully convolutional, so it trains
on random crops (64 px of 128 px images: 6.4x cheaper per step) and is evaluated on whole images;
bf16 autocast roughly halves the step time of a VAE with 16 or more base channels.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from tfgen.errors import TfgenError
from tfgen.model.vae import VAE, VAEConfig, square_uint8, vae_loss
from tfgen.train.checkpoint import VAEBundle
from tfgen.train.dataset import IMAGE_SUFFIXES, MANIFEST_FILE, open_dataset


@dataclass(frozen=True)
class VAETrainConfig:
    """How to train; the VAE's own shape is a VAEConfig."""

    steps: int = 2000
    batch_size: int = 16
    lr: float = 1e-3
    image_size: int = 64
    holdout: float = 0.1  # share of images kept out of training for the PSNR report (at least one)
    max_images: int = 0  # 0: all
    seed: int = 0
    crop_size: int = 64  # train on random crops of this side (pixels); 0, or >= image_size: whole images
    dtype: str = "auto"  # "fp32", "bf16" (autocast), or "auto": bf16 on an AMX CPU or a GPU for wide VAEs

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "image_size"):
            if getattr(self, name) < 1:
                raise TfgenError(f"must be positive, not {getattr(self, name)}", where=name)
        if self.crop_size < 0:
            raise TfgenError(f"must be 0 or more, not {self.crop_size}", where="crop_size")
        if self.dtype not in VAE_DTYPES:
            raise TfgenError(f"must be one of {', '.join(VAE_DTYPES)}, not {self.dtype!r}", where="dtype")

    @property
    def train_size(self) -> int:
        """Side in pixels of the images the optimiser sees (a crop, or the whole image)."""
        return self.image_size if self.crop_size == 0 else min(self.crop_size, self.image_size)
        if not self.lr > 0:
            raise TfgenError(f"must be positive, not {self.lr}", where="lr")
        if not 0.0 < self.holdout < 1.0:
            raise TfgenError(f"must lie strictly between 0 and 1, not {self.holdout}", where="holdout")


@dataclass
class VAETrainResult:
    bundle: VAEBundle
    psnr_before: float  # held-out PSNR of the untrained (or initial) VAE, dB
    psnr_after: float  # held-out PSNR after training, dB
    train_images: int
    heldout_images: int


VAE_DTYPES = ("fp32", "bf16", "auto")
# Measured (batch 16, 64 px crops, one thread): base 16 fp32 0.39 s/step, bf16 0.22; base 8 on 16 px
# images gains nothing, so narrow VAEs stay in fp32.
BF16_MIN_BASE_CHANNELS = 16

StepCallback = Callable[[int, float, float, float], None]  # step, total loss, mse, kl


def load_training_images(source: str | os.PathLike, image_size: int, max_images: int = 0) -> np.ndarray:
    """(N, S, S, 3) uint8 from a dataset directory or a folder of image files (recursively, sorted)."""
    source = Path(source)
    if (source / MANIFEST_FILE).is_file():
        images = [img.pixels() for doc in open_dataset(source) for img in doc.images]
    elif source.is_dir():
        images = [_read_image(p) for p in sorted(source.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    else:
        raise TfgenError("no such folder or dataset directory", where=str(source))
    if max_images:
        images = images[:max_images]
    if len(images) < 2:
        raise TfgenError(f"found {len(images)} image(s); training needs at least 2 (one is held out)", where=str(source))
    return np.stack([square_uint8(img, image_size) for img in images])


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except Exception as exc:  # Pillow raises many types for unreadable files
        raise TfgenError(f"cannot read image ({type(exc).__name__})", where=str(path)) from None


def psnr(reference: torch.Tensor, estimate: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of images in [-1, 1] (peak-to-peak range 2)."""
    mse = float((reference.float() - estimate.float().clamp(-1, 1)).pow(2).mean())
    return 99.0 if mse == 0 else 10.0 * math.log10(4.0 / mse)


@torch.no_grad()
def reconstruction_psnr(vae: VAE, images: np.ndarray, batch_size: int = 32) -> float:
    """PSNR of deterministic reconstructions (posterior means) over `images` (N, S, S, 3) uint8."""
    vae.eval()
    total, count = 0.0, 0
    for start in range(0, len(images), batch_size):
        x = _to_tensor(images[start : start + batch_size])
        mean, _ = vae.encode(x)
        err = (vae.decode(mean).clamp(-1, 1) - x).pow(2).mean(dim=(1, 2, 3))
        total, count = total + float(err.sum()), count + len(x)
    mse = total / count
    return 99.0 if mse == 0 else 10.0 * math.log10(4.0 / mse)


@torch.no_grad()
def latent_scale_factor(vae: VAE, images: np.ndarray, batch_size: int = 32) -> float:
    """1 / std of the posterior means over `images`, so scaled latents have unit variance."""
    vae.eval()
    means = [vae.encode(_to_tensor(images[s : s + batch_size]))[0] for s in range(0, len(images), batch_size)]
    std = float(torch.cat(means).float().std())
    return 1.0 / std if std > 1e-8 else 1.0


def train_vae(
    images: np.ndarray, vae_config: VAEConfig, cfg: VAETrainConfig, init: VAE | None = None,
    on_step: StepCallback | None = None, source: str = "",
) -> VAETrainResult:
    """Train on all but a held-out share of `images` (N, S, S, 3) uint8 and report held-out PSNR."""
    if cfg.image_size % vae_config.downsample:
        raise TfgenError(f"image size {cfg.image_size} is not a multiple of the VAE's {vae_config.downsample}x", where="image_size")
    if cfg.train_size % vae_config.downsample:
        raise TfgenError(f"crop size {cfg.train_size} is not a multiple of the VAE's {vae_config.downsample}x", where="crop_size")
    gen = torch.Generator().manual_seed(cfg.seed)
    order = torch.randperm(len(images), generator=gen).numpy()
    n_held = max(1, int(round(len(images) * cfg.holdout)))
    held, train = images[order[:n_held]], images[order[n_held:]]
    torch.manual_seed(cfg.seed)  # the VAE's initial weights
    vae = init if init is not None else VAE(vae_config)
    psnr_before = reconstruction_psnr(vae, held)
    optimiser = torch.optim.AdamW(vae.parameters(), lr=cfg.lr, betas=(0.9, 0.99), weight_decay=0.0)
    autocast_dtype = resolve_vae_dtype(cfg.dtype, vae.cfg)
    vae.train()
    for step in range(1, cfg.steps + 1):
        picks = train[torch.randint(len(train), (min(cfg.batch_size, len(train)),), generator=gen).numpy()]
        batch = _to_tensor(random_crops(picks, cfg.train_size, vae.cfg.downsample, gen))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast_dtype == torch.bfloat16):
            out = vae(batch, generator=gen)
        # The loss in fp32: the squared errors of a nearly trained VAE are below bf16's resolution.
        out = type(out)(*(t.float() for t in out))
        loss, mse, kl = vae_loss(batch, out, vae.cfg.kl_weight)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimiser.step()
        if on_step is not None:
            on_step(step, loss.item(), mse.item(), kl.item())
    vae.eval()
    psnr_after = reconstruction_psnr(vae, held)
    scale = latent_scale_factor(vae, train[:1024])
    info = {"psnr_heldout_db": round(psnr_after, 3), "train_images": len(train), "heldout_images": len(held),
            "steps": cfg.steps, "batch_size": cfg.batch_size, "lr": cfg.lr, "seed": cfg.seed, "source": source,
            "crop_size": cfg.train_size, "dtype": str(autocast_dtype).removeprefix("torch.")}
    bundle = VAEBundle(vae, scale, cfg.image_size, info)
    return VAETrainResult(bundle, psnr_before, psnr_after, len(train), len(held))


def resolve_vae_dtype(name: str, vae_config: VAEConfig) -> torch.dtype:
    """The autocast dtype for training: 'auto' is bf16 on an AMX CPU when the VAE is wide enough."""
    if name == "fp32":
        return torch.float32
    if name == "bf16":
        return torch.bfloat16
    from tfgen.train.trainer import cpu_has_amx

    wide = vae_config.base_channels >= BF16_MIN_BASE_CHANNELS
    return torch.bfloat16 if wide and cpu_has_amx() else torch.float32


def random_crops(images: np.ndarray, size: int, align: int, gen: torch.Generator) -> np.ndarray:
    """(B, S, S, 3) -> (B, size, size, 3): one random crop per image, its corner on the `align`-pixel grid.

    Aligned corners keep every crop on the same latent grid as the whole image it came from.
    """
    side = images.shape[1]
    if size >= side:
        return images
    slots = (side - size) // align + 1
    corners = torch.randint(slots, (len(images), 2), generator=gen).numpy() * align
    return np.stack([img[y : y + size, x : x + size] for img, (y, x) in zip(images, corners)])


def _to_tensor(batch: np.ndarray) -> torch.Tensor:
    """(B, S, S, 3) uint8 -> (B, 3, S, S) float in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
