"""`tfgen train` (defined in tfgen.cli.train_model) and `tfgen train-vae`: thin wrappers over tfgen.train."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from tfgen.cli.console import print_info
from tfgen.errors import TfgenError


def register(app: typer.Typer) -> None:
    from tfgen.cli.train_model import add_train_command

    add_train_command(app)
    app.command("train-vae")(train_vae_command)


def train_vae_command(
    source: Path = typer.Argument(..., help="A folder of images (searched recursively) or a dataset directory."),
    out: Path = typer.Option(..., "--out", "-o", help="Directory to write (vae.safetensors + vae.json)."),
    steps: int = typer.Option(2000, help="Optimiser steps."),
    batch_size: int = typer.Option(16, help="Images per step."),
    lr: float = typer.Option(1e-3, help="AdamW learning rate."),
    image_size: Optional[int] = typer.Option(None, help="Square training size in pixels (default: the dataset's, else 64)."),
    latent_channels: int = typer.Option(8, help="Latent channels (paper: 8)."),
    downsample: int = typer.Option(8, help="Spatial downsampling: 1, 2, 4, 8 (paper) or 16."),
    base_channels: int = typer.Option(32, help="Width of the first level (doubles per level, up to 4x)."),
    kl_weight: float = typer.Option(1e-6, help="Weight of the KL term (per element) against the squared error."),
    holdout: float = typer.Option(0.1, help="Share of images held out for the PSNR report."),
    max_images: int = typer.Option(0, help="Use at most this many images (0: all)."),
    init: Optional[Path] = typer.Option(None, help="Continue from a VAE directory or checkpoint (its shape wins)."),
    seed: int = typer.Option(0, help="Seed for the split, the initial weights and the batches."),
    threads: int = typer.Option(0, help="CPU threads for torch (0: torch's default)."),
    crop_size: int = typer.Option(64, "--crop-size", help="Train on random crops of this side in pixels (0: whole images)."),
    dtype: str = typer.Option("auto", "--dtype", help="fp32, bf16 (autocast) or auto (bf16 on AMX CPUs and GPUs for wide VAEs)."),
) -> None:
    """Train the image autoencoder; report held-out PSNR and the latent scale factor."""
    import torch  # imported here so that `tfgen --help` stays fast

    from tfgen.model.vae import VAEConfig
    from tfgen.train.checkpoint import load_vae_dir, save_vae_dir
    from tfgen.train.dataset import MANIFEST_FILE, open_dataset
    from tfgen.train.vae_trainer import VAETrainConfig, load_training_images, train_vae

    if threads < 0:
        raise TfgenError("must be 0 or more", where="--threads")
    if threads:
        torch.set_num_threads(threads)
    initial = load_vae_dir(init) if init is not None else None
    if image_size is None:
        if initial is not None:
            image_size = initial.image_size
        elif (source / MANIFEST_FILE).is_file():
            image_size = open_dataset(source).image_size
        else:
            image_size = 64
    vae_config = initial.vae.cfg if initial is not None else VAEConfig.for_downsample(downsample, latent_channels, base_channels)
    if initial is None:
        vae_config = VAEConfig.from_dict({**vae_config.to_dict(), "kl_weight": kl_weight})
    cfg = VAETrainConfig(steps=steps, batch_size=batch_size, lr=lr, image_size=image_size, holdout=holdout,
                         max_images=max_images, seed=seed, crop_size=crop_size, dtype=dtype)
    images = load_training_images(source, image_size, max_images)
    print_info(f"training a {vae_config.downsample}x, {vae_config.latent_channels}-channel VAE on {len(images)} images "
               f"of {image_size}px for {steps} steps")
    with _progress(steps) as on_step:
        result = train_vae(images, vae_config, cfg, init=initial.vae if initial else None, on_step=on_step, source=str(source))
    save_vae_dir(out, result.bundle)
    print_info(f"held-out PSNR {result.psnr_after:.2f} dB (before training {result.psnr_before:.2f} dB) "
               f"on {result.heldout_images} images; latent scale factor {result.bundle.scale_factor:.4f}")
    print_info(f"wrote {out}")


class _progress:
    """A rich progress bar on stderr with the running loss; a step callback for the trainer."""

    def __init__(self, total: int):
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        from tfgen.cli.console import stderr

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                            TextColumn("{task.fields[stats]}"), TimeRemainingColumn(), console=stderr(), transient=True)
        self.task = self.bar.add_task("train-vae", total=total, stats="")

    def __enter__(self):
        self.bar.start()
        return self.step

    def __exit__(self, *exc) -> None:
        self.bar.stop()

    def step(self, step: int, loss: float, mse: float, kl: float) -> None:
        self.bar.update(self.task, completed=step, stats=f"loss {loss:.4f} mse {mse:.4f} kl {kl:.2f}")
