"""AdamW as in the paper: betas (0.9, 0.95), weight decay on matrices only, linear warm-up then cosine decay.

Step convention: `step` is the 0-based index of the update about to be taken, so a run of S
steps uses lr_at(0) ... lr_at(S - 1). The learning rate is a pure function of the step, which
makes the schedule trivially exact on resume (nothing to save but the step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LrSchedule:
    """Linear warm-up to `peak` over `warmup_steps`, then a half cosine down to `peak * min_ratio` at the last step."""

    peak: float
    total_steps: int
    warmup_steps: int
    min_ratio: float = 0.1

    def lr_at(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.peak * (step + 1) / self.warmup_steps
        decay_steps = self.total_steps - 1 - self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / decay_steps) if decay_steps > 0 else 1.0
        floor = self.peak * self.min_ratio
        return floor + (self.peak - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def split_decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two parameter groups: matrices (ndim >= 2: linear, embedding, conv weights) decay; vectors and scalars do not."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_adamw(model: nn.Module, lr: float, weight_decay: float, betas: tuple[float, float] = (0.9, 0.95),
                device_type: str = "cpu") -> torch.optim.AdamW:
    """AdamW over the two decay groups; the fused kernel where this torch has one for the device."""
    groups = split_decay_groups(model, weight_decay)
    try:
        return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=1e-8, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=1e-8, foreach=True)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def clip_gradients(model: nn.Module, max_norm: float) -> torch.Tensor | None:
    """Clip the global gradient norm; returns the pre-clip norm as a device tensor (no host sync)."""
    if max_norm <= 0:
        return None
    params = [p for p in model.parameters() if p.grad is not None]
    return torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=True)
