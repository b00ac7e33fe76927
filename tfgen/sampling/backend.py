"""The prefix-cached backend: text appended to a KV cache once, each denoising step runs only the
image's patches against it, the clean image committed with one more pass.

Backend contract (shared with tfgen.sampling.naive.NaiveBackend, so one generation loop drives both):
- `feed(ids)` appends text tokens and returns the logits (V,) after the last one (an inference-mode
  tensor: read it or copy it, do not modify it in place; tfgen.sampling.text.choose_token copies);
- `denoise(latents (B, C, h, w), t (B,), drop (B,) bool | None)` predicts for the image being drawn
  right after the sequence so far (B = 1, or 2 for guidance in one batch: row 1 unconditional);
- `commit_image(latents (1, C, h, w))` appends the clean image (t = 0);
- `length` positions used, `capacity` positions available.

Classifier-free guidance in one batch needs a 2-row cache. Only row 0 holds the prefix: text and
the clean-image commit run on a 1-row view of it (no doubled work), and row 1 never needs a
prefix because the unconditional branch sees none (tfgen.model.mask rule 5).
"""

from __future__ import annotations

import torch

from tfgen.model.transfusion import Transfusion
from tfgen.model.transformer import KVCache


def row_view(cache: KVCache, rows: slice) -> KVCache:
    """A cache over some rows of `cache` sharing its storage (writes go through)."""
    return KVCache([k[rows] for k in cache.keys], [v[rows] for v in cache.values], cache.is_image[rows], cache.length)


class CachedBackend:
    """Prefix KV cache of one sequence (see the module docstring)."""

    def __init__(self, model: Transfusion, capacity: int, guided: bool, device: torch.device | str = "cpu"):
        self.model = model
        self._full = model.new_cache(2 if guided else 1, capacity, device)
        self._main = row_view(self._full, slice(0, 1))
        self.device = torch.device(device)

    @property
    def length(self) -> int:
        return self._main.length

    @property
    def capacity(self) -> int:
        return self._main.capacity

    @torch.inference_mode()
    def feed(self, ids: list[int]) -> torch.Tensor:
        tokens = torch.tensor([ids], dtype=torch.long, device=self.device)
        return self.model.prefill(tokens, self._main)[0, -1]

    @torch.no_grad()
    def denoise(self, latents: torch.Tensor, t: torch.Tensor, drop: torch.Tensor | None = None) -> torch.Tensor:
        if latents.shape[0] == 1:
            return self.model.denoise(latents, t, self._main, drop_condition=drop)
        self._full.length = self._main.length
        return self.model.denoise(latents, t, self._full, drop_condition=drop)

    @torch.no_grad()
    def commit_image(self, latents: torch.Tensor) -> None:
        t = torch.zeros(latents.shape[0], device=latents.device)
        self.model.denoise(latents, t, self._main, commit=True)
