"""DDIM sampling (Song et al. 2021) with epsilon prediction; eta = 0 deterministic, eta = 1 ~ DDPM."""

from __future__ import annotations

import torch

from tfgen.diffusion.schedules import CosineSchedule, trailing_timesteps


class DDIMSampler:
    """diffusers-shaped: `set_timesteps(n)`, then `x = step(eps, t, x)` for t in `timesteps`."""

    def __init__(self, schedule: CosineSchedule | None = None, eta: float = 0.0,
                 clip_sample: float | None = None, generator: torch.Generator | None = None):
        self.schedule = schedule or CosineSchedule()
        self.eta = eta
        self.clip_sample = clip_sample
        self.generator = generator
        self.set_timesteps(50)

    def set_timesteps(self, num_steps: int) -> None:
        self.timesteps = trailing_timesteps(self.schedule.num_train_timesteps, num_steps)
        self._prev = {int(t): int(p) for t, p in zip(self.timesteps, list(self.timesteps[1:]) + [-1])}

    def step(self, model_output: torch.Tensor, t: int, x: torch.Tensor,
             noise: torch.Tensor | None = None) -> torch.Tensor:
        """One step t -> previous time; `noise` overrides the drawn Gaussian when eta > 0."""
        t = int(t)
        prev = self._prev[t]
        ab, ab_prev = float(self.schedule.alpha_bar[t]), self.schedule.alpha_bar_prev(prev)
        eps = model_output
        x0 = (x - (1 - ab) ** 0.5 * eps) / ab**0.5
        if self.clip_sample:
            x0 = x0.clamp(-self.clip_sample, self.clip_sample)
            eps = (x - ab**0.5 * x0) / (1 - ab) ** 0.5
        sigma = self.eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)) ** 0.5
        x_prev = ab_prev**0.5 * x0 + max(1 - ab_prev - sigma**2, 0.0) ** 0.5 * eps
        if sigma > 0:
            if noise is None:
                noise = torch.randn(x.shape, generator=self.generator, device=x.device, dtype=x.dtype)
            x_prev = x_prev + sigma * noise
        return x_prev
