"""Does a model use its captions? Its image loss with the condition kept and dropped, on the same draws.

Every image of the given packed rows is made a noised target at a chosen time, and the objective's own
regression error (epsilon for ddpm, velocity for flow) is measured twice with the same noise: with the
caption visible, and with the condition dropped as classifier-free guidance trains it. A model that
ignores its captions scores the same both ways (a gap of 0) at every t. Times and noise are given per
latent-cache row, not per packed slot, so two models (or two packings) can be scored on the same draws.
Used by scripts/caption_gap.py (the model card's table) and benchmarks/ablations.py (the arms' gap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from tfgen.diffusion.objectives import add_noise, training_target
from tfgen.train.packing import PackedRows, make_batch


@dataclass(frozen=True)
class PairedLoss:
    """Summed per-image MSE over `images` noised targets, with the caption kept and with it dropped."""

    kept: float
    dropped: float
    images: int

    @property
    def gap(self) -> float:
        """Mean loss increase when the caption is dropped (> 0: the caption helps)."""
        return (self.dropped - self.kept) / max(self.images, 1)


def paired_image_loss(model: torch.nn.Module, rows: PackedRows, latents: torch.Tensor, t: torch.Tensor,
                      noise: torch.Tensor, row_batches: Sequence[torch.Tensor]) -> PairedLoss:
    """Score the rows in `row_batches` (index tensors into `rows`) with image i at time t[i] and noise noise[i].

    latents (N, C, h, w) is the latent cache the rows refer to; t (N,) model times (0 clean .. T noise;
    floored to whole steps for ddpm); noise (N, C, h, w).
    """
    cfg = model.cfg
    kept = dropped = 0.0
    images = 0
    with torch.no_grad():
        for idx in row_batches:
            batch = make_batch(rows, idx, latents, cfg, context_prob=0.0, generator=torch.Generator())
            ref = rows.image_ref[idx].long().clamp(min=0)  # (B, M) latent-cache row of each slot
            valid = batch.image_valid  # (B, M)
            times = t[ref].floor() if cfg.objective == "ddpm" else t[ref]
            times = torch.where(valid, times.clamp(max=cfg.num_train_timesteps - 1), torch.zeros_like(times))
            eps = noise[ref] * valid[..., None, None, None]  # (B, M, C, h, w)
            x_t = add_noise(cfg.objective, model.alpha_bar, batch.latents, eps, times)
            target = training_target(cfg.objective, batch.latents, eps)
            for drop in (False, True):
                b = batch.replace(image_t=times, image_is_target=valid, image_drop_cond=valid & drop)
                _, pred = model(b, x_t, times)
                err = (pred.float() - target.float()).pow(2).mean(dim=(2, 3, 4))  # (B, M)
                total = float((err * valid).sum())
                if drop:
                    dropped += total
                else:
                    kept += total
            images += int(valid.sum())
    return PairedLoss(kept, dropped, images)
