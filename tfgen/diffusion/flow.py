"""Rectified-flow samplers: Euler and Heun ODE steps on the velocity v = eps - x0.

Times are model times in [0, T-1] (see tfgen.diffusion.schedules); sigma = t / (T-1) runs from
1 (pure noise) down to 0 (clean). `timesteps` are floats.

`shift` (SD3's timestep shift, Esser et al. 2024 eq. 23) moves the same grid toward high noise,
where the caption decides the picture; it must match the shift the checkpoint was trained with.
"""

from __future__ import annotations

import torch


def shift_sigma(sigma: torch.Tensor, shift: float) -> torch.Tensor:
    """s * sigma / (1 + (s - 1) * sigma): fixes 0 and 1, monotone, identity at s = 1."""
    if shift <= 0:
        raise ValueError(f"shift must be positive, got {shift}")
    return shift * sigma / (1 + (shift - 1) * sigma)


def _sigmas(num_steps: int, shift: float = 1.0) -> torch.Tensor:
    """num_steps + 1 sigmas from 1 down to 0, evenly spaced before the shift (float64)."""
    return shift_sigma(torch.linspace(1.0, 0.0, num_steps + 1, dtype=torch.float64), shift)


class FlowEulerSampler:
    """diffusers-shaped: `set_timesteps(n)`, then `x = step(v, t, x)` for t in `timesteps`."""

    def __init__(self, num_train_timesteps: int = 1000, shift: float = 1.0):
        self.num_train_timesteps = num_train_timesteps
        self.shift = shift
        self.set_timesteps(20)

    def set_timesteps(self, num_steps: int) -> None:
        self.sigmas = _sigmas(num_steps, self.shift)
        self.timesteps = self.sigmas[:-1] * (self.num_train_timesteps - 1)

    def _sigma_pair(self, t: float) -> tuple[float, float]:
        i = int(torch.argmin((self.timesteps - float(t)).abs()))
        return float(self.sigmas[i]), float(self.sigmas[i + 1])

    def step(self, model_output: torch.Tensor, t: float, x: torch.Tensor) -> torch.Tensor:
        """One Euler step from t's sigma to the next one: x + (sigma_next - sigma) * v."""
        sigma, sigma_next = self._sigma_pair(t)
        return x + (sigma_next - sigma) * model_output


class FlowHeunSampler:
    """Heun's second-order method, diffusers-style: each interior time appears twice in
    `timesteps`; the first call takes an Euler step, the second corrects it with the average slope.
    The last step is plain Euler (the slope at sigma = 0 is not needed).
    """

    def __init__(self, num_train_timesteps: int = 1000, shift: float = 1.0):
        self.num_train_timesteps = num_train_timesteps
        self.shift = shift
        self.set_timesteps(20)

    def set_timesteps(self, num_steps: int) -> None:
        sig = _sigmas(num_steps, self.shift)
        scale = self.num_train_timesteps - 1
        # (time the model is evaluated at, sigma it starts from, sigma it goes to, stage)
        plan: list[tuple[float, float, float, str]] = []
        for i in range(num_steps):
            s, s_next = float(sig[i]), float(sig[i + 1])
            if s_next > 0:
                plan += [(s * scale, s, s_next, "predict"), (s_next * scale, s, s_next, "correct")]
            else:
                plan.append((s * scale, s, s_next, "euler"))
        self._plan = plan
        self.timesteps = torch.tensor([p[0] for p in plan], dtype=torch.float64)
        self._index = 0
        self._first_slope: torch.Tensor | None = None
        self._x_start: torch.Tensor | None = None

    def step(self, model_output: torch.Tensor, t: float, x: torch.Tensor) -> torch.Tensor:
        """Calls must follow `timesteps` in order (the second call of a pair is the correction)."""
        _, s, s_next, stage = self._plan[self._index]
        self._index += 1
        if stage == "predict":
            self._first_slope, self._x_start = model_output, x
            return x + (s_next - s) * model_output
        if stage == "correct":
            assert self._first_slope is not None and self._x_start is not None
            slope = (self._first_slope + model_output) / 2
            x_next = self._x_start + (s_next - s) * slope
            self._first_slope = self._x_start = None
            return x_next
        return x + (s_next - s) * model_output
