"""The DDPM cosine noise schedule (Nichol & Dhariwal 2021) over the training steps.

Time convention (the one statement of it for all of tfgen): a diffusion time t is an integer
training step in 0..T-1 (T = num_train_timesteps, 1000 in the paper). t = 0 is the CLEAN end
(alpha_bar[0] ~ 1, barely any noise) and t = T-1 is PURE NOISE (alpha_bar[T-1] ~ 0). Noising runs
forward in t: x_t = sqrt(alpha_bar[t]) * x_0 + sqrt(1 - alpha_bar[t]) * eps; sampling runs t
backwards from T-1 to 0. alpha_bar[t] = prod_{i <= t} (1 - beta_i) is strictly decreasing in t.
Rectified flow uses the same axis: sigma = t / (T-1), x_t = (1 - sigma) x_0 + sigma * eps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class CosineSchedule:
    """betas, alphas and alpha_bar over T steps; float64 on the CPU, index with a step t."""

    num_train_timesteps: int = 1000
    offset: float = 0.008  # s in the cosine formula: keeps beta_0 from being vanishingly small
    max_beta: float = 0.999  # clip so the last steps stay finite

    def __post_init__(self) -> None:
        T = self.num_train_timesteps

        def f(u: float) -> float:
            return math.cos((u + self.offset) / (1 + self.offset) * math.pi / 2) ** 2

        betas = [min(1 - f((i + 1) / T) / f(i / T), self.max_beta) for i in range(T)]
        betas_t = torch.tensor(betas, dtype=torch.float64, device="cpu")  # CPU even inside a meta-device context
        object.__setattr__(self, "betas", betas_t)
        object.__setattr__(self, "alphas", 1.0 - betas_t)
        object.__setattr__(self, "alpha_bar", torch.cumprod(1.0 - betas_t, dim=0))

    betas: torch.Tensor = field(init=False, repr=False, compare=False)  # (T,)
    alphas: torch.Tensor = field(init=False, repr=False, compare=False)  # (T,)
    alpha_bar: torch.Tensor = field(init=False, repr=False, compare=False)  # (T,)

    def alpha_bar_at(self, t: torch.Tensor) -> torch.Tensor:
        """alpha_bar at integer-valued steps `t` (any shape, any device), as float32."""
        table = self.alpha_bar.to(device=t.device, dtype=torch.float32)
        return table[t.long().clamp(0, self.num_train_timesteps - 1)]

    def alpha_bar_prev(self, t: int) -> float:
        """alpha_bar one step before t; 1.0 before step 0 (the clean data)."""
        return 1.0 if t < 0 else float(self.alpha_bar[t])


def trailing_timesteps(num_train_timesteps: int, num_steps: int) -> torch.Tensor:
    """`num_steps` integer times from T-1 down, evenly spaced, ending near 0 (int64, descending).

    "Trailing" spacing starts at pure noise (T-1) whatever the step count; with num_steps = T it
    visits every step T-1, ..., 0.
    """
    if not 1 <= num_steps <= num_train_timesteps:
        raise ValueError(f"num_steps must lie in 1..{num_train_timesteps}, got {num_steps}")
    stride = num_train_timesteps / num_steps
    grid = torch.arange(num_train_timesteps, 0, -stride, dtype=torch.float64)[:num_steps]
    return grid.round().long() - 1
