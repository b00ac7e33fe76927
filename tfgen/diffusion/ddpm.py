"""Ancestral DDPM sampling (Ho et al. 2020) with epsilon prediction, any number of steps."""

from __future__ import annotations

import torch

from tfgen.diffusion.schedules import CosineSchedule, trailing_timesteps


class DDPMSampler:
    """diffusers-shaped: `set_timesteps(n)`, then `x = step(eps, t, x)` for t in `timesteps`.

    x is a latent batch of any shape; t is an int from `timesteps` (descending, see the time
    convention in tfgen.diffusion.schedules). Skipping steps uses the strided posterior.
    """

    def __init__(self, schedule: CosineSchedule | None = None, clip_sample: float | None = None,
                 generator: torch.Generator | None = None):
        self.schedule = schedule or CosineSchedule()
        self.clip_sample = clip_sample
        self.generator = generator
        self.set_timesteps(self.schedule.num_train_timesteps)

    def set_timesteps(self, num_steps: int) -> None:
        self.timesteps = trailing_timesteps(self.schedule.num_train_timesteps, num_steps)
        self._prev = {int(t): int(p) for t, p in zip(self.timesteps, list(self.timesteps[1:]) + [-1])}

    def previous_timestep(self, t: int) -> int:
        return self._prev[int(t)]

    def predict_x0(self, eps: torch.Tensor, t: int, x: torch.Tensor) -> torch.Tensor:
        ab = float(self.schedule.alpha_bar[int(t)])
        x0 = (x - (1 - ab) ** 0.5 * eps) / ab**0.5
        return x0.clamp(-self.clip_sample, self.clip_sample) if self.clip_sample else x0

    def step(self, model_output: torch.Tensor, t: int, x: torch.Tensor,
             noise: torch.Tensor | None = None) -> torch.Tensor:
        """One step t -> previous time; `noise` overrides the drawn Gaussian (for tests)."""
        t = int(t)
        prev = self.previous_timestep(t)
        ab, ab_prev = float(self.schedule.alpha_bar[t]), self.schedule.alpha_bar_prev(prev)
        beta = 1 - ab / ab_prev  # the strided step's beta
        x0 = self.predict_x0(model_output, t, x)
        mean = (ab_prev**0.5 * beta / (1 - ab)) * x0 + ((1 - beta) ** 0.5 * (1 - ab_prev) / (1 - ab)) * x
        if prev < 0:
            return mean
        var = (1 - ab_prev) / (1 - ab) * beta
        if noise is None:
            noise = torch.randn(x.shape, generator=self.generator, device=x.device, dtype=x.dtype)
        return mean + var**0.5 * noise
