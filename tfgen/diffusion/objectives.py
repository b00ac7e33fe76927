"""Training targets: DDPM epsilon prediction and rectified-flow velocity, on one time axis.

Shapes: x0 / noise are (..., C, h, w) with t of shape (...) broadcast over the last three dims.
Times follow tfgen.diffusion.schedules: t in [0, T-1], 0 = clean, T-1 = pure noise.
- "ddpm": x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps, the model predicts eps (integer t).
- "flow": sigma = t / (T-1), x_t = (1 - sigma) x0 + sigma eps, the model predicts the velocity
  d x_t / d sigma = eps - x0 (t continuous).
"""

from __future__ import annotations

import torch

from tfgen.diffusion.flow import shift_sigma

OBJECTIVES = ("ddpm", "flow")


def _expand(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape + (1,) * (like.dim() - t.dim())).to(like.dtype)


def add_noise(objective: str, alpha_bar: torch.Tensor, x0: torch.Tensor, noise: torch.Tensor,
              t: torch.Tensor) -> torch.Tensor:
    """x_t for the given objective; t = 0 gives x0 exactly for "flow" and ~x0 for "ddpm".

    `alpha_bar` is the schedule's (T,) table already on x0's device (no copy inside the step).
    """
    T = alpha_bar.shape[0]
    if objective == "ddpm":
        ab = _expand(alpha_bar[t.long().clamp(0, T - 1)], x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    if objective == "flow":
        sigma = _expand(t.float() / (T - 1), x0)
        return (1 - sigma) * x0 + sigma * noise
    raise ValueError(f"unknown objective {objective!r}")


def training_target(objective: str, x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """What the model's image head regresses onto (MSE)."""
    if objective == "ddpm":
        return noise
    if objective == "flow":
        return noise - x0
    raise ValueError(f"unknown objective {objective!r}")


def sample_times(objective: str, num_train_timesteps: int, noise_limit_t: int, is_target: torch.Tensor,
                 noise_limited: torch.Tensor, generator: torch.Generator | None = None,
                 time_shift: float = 1.0) -> torch.Tensor:
    """Per-image training times (B, M) float32, vectorised.

    Targets draw t over the full range [0, T-1] (integers for ddpm, continuous for flow);
    noise-limited targets (a caption follows the image) draw t in [0, noise_limit_t); clean
    context images (is_target False) get t = 0. For "flow", `time_shift` > 1 draws the uniform
    share through tfgen.diffusion.flow.shift_sigma, so more targets sit at high noise.
    """
    u = torch.rand(is_target.shape, generator=generator, device=is_target.device)
    if objective == "flow" and time_shift != 1.0:
        u = shift_sigma(u, time_shift)
    top = torch.where(noise_limited, float(noise_limit_t), float(num_train_timesteps))
    if objective == "ddpm":
        t = (u * top).floor().clamp(max=num_train_timesteps - 1)
    else:
        t = u * (top - 1).clamp(min=0)
    return torch.where(is_target, t, torch.zeros_like(t))
