"""Exponential moving average of the weights; the decay follows the run's length.

The rule: the EMA's half-life is a fixed share of the run (`half_life` = 0.1 by default), so the
last 10% of the updates carry half of the average's weight whatever the run's length:

    decay = 0.5 ** (1 / (half_life * total_steps))

A 1,000-step run gets decay 0.99309, a 100,000-step run 0.99993. The initial (random) weights keep
a weight of 0.5 ** (1 / half_life) = 2**-10 at the end with the default, so no warm-up is needed.
The average is kept in float32 whatever the training dtype.
"""

from __future__ import annotations

import torch
from torch import nn


def ema_decay_for_run(total_steps: int, half_life: float) -> float:
    """Per-update decay for a run of `total_steps` with a half-life of `half_life * total_steps` updates."""
    half_life_steps = max(1.0, half_life * total_steps)
    return 0.5 ** (1.0 / half_life_steps)


class EmaWeights:
    """Float32 shadow copies of a model's floating-point state-dict entries (weights and persistent buffers), updated in place."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self._names: list[str] = []
        self._sources: list[torch.Tensor] = []
        self.shadow: dict[str, torch.Tensor] = {}
        for name, tensor in _float_tensors(model):
            self._names.append(name)
            self._sources.append(tensor)
            self.shadow[name] = tensor.detach().float().clone()
        self._shadow_list = [self.shadow[n] for n in self._names]
        # Detached views follow the optimiser's in-place updates, so they are made once, not every step.
        self._views = [t.detach() for t in self._sources]
        self._all_fp32 = all(t.dtype == torch.float32 for t in self._views)

    @torch.no_grad()
    def update(self) -> None:
        """shadow <- decay * shadow + (1 - decay) * weights, one fused call, no host sync."""
        sources = self._views if self._all_fp32 else [t.float() for t in self._views]
        torch._foreach_lerp_(self._shadow_list, sources, 1.0 - self.decay)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.shadow)

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = set(self._names) - set(state)
        if missing:
            raise KeyError(f"EMA state lacks {sorted(missing)[:3]}")
        for name in self._names:
            self.shadow[name].copy_(state[name])

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Write the averaged weights into `model` (same architecture)."""
        for name, tensor in _float_tensors(model):
            tensor.copy_(self.shadow[name])


def _float_tensors(model: nn.Module):
    """The model's state-dict entries that are floating point: the keys a checkpoint stores."""
    for name, tensor in model.state_dict(keep_vars=True).items():
        if tensor.is_floating_point():
            yield name, tensor
