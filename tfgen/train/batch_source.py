"""Packed rows -> an endless, resumable stream of global PackedBatches (the trainer's batch source).

Order: epoch e visits every packed row once in the order of a permutation drawn from
(seed, e); the stream's only state is how many rows it has handed out, so its data position
saves as one integer and restores exactly. Each batch's random draws (target/context roles,
diffusion times, condition drops) come from a generator seeded by (seed, batch index), so they
too repeat exactly after a resume. All of it is torch ops over index tensors: no per-row Python.
"""

from __future__ import annotations

from typing import Any

import torch

from tfgen.errors import TfgenError
from tfgen.model.batch import PackedBatch
from tfgen.model.config import ModelConfig
from tfgen.train.packing import PackedRows, make_batch


class PackedRowSource:
    """Global batches of `batch_size` rows gathered from `rows`, with latents from `latents` (N, C, h, w)."""

    def __init__(self, rows: PackedRows, latents: torch.Tensor, model_cfg: ModelConfig, batch_size: int,
                 seed: int = 0, context_prob: float = 0.5):
        if len(rows) == 0:
            raise TfgenError("the dataset packs into no rows (is it empty?)", where="data")
        self.rows, self.latents, self.model_cfg = rows, latents, model_cfg
        self.batch_size, self.seed, self.context_prob = batch_size, seed, context_prob
        self.consumed = 0  # rows handed out so far, over all epochs
        self._perm_epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def __iter__(self) -> "PackedRowSource":
        return self

    def __next__(self) -> PackedBatch:
        indices = self._indices(self.consumed, self.batch_size)
        batch_index = self.consumed // self.batch_size
        generator = torch.Generator(device=self.latents.device)
        generator.manual_seed(self.seed * 1_000_003 + batch_index)
        self.consumed += self.batch_size
        return make_batch(self.rows, indices, self.latents, self.model_cfg, self.context_prob, generator)

    def _indices(self, start: int, count: int) -> torch.Tensor:
        R = len(self.rows)
        out = []
        while count > 0:
            epoch, offset = divmod(start, R)
            take = min(count, R - offset)
            out.append(self._permutation(epoch)[offset:offset + take])
            start, count = start + take, count - take
        return torch.cat(out)

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.seed * 7_919 + epoch)
            self._perm, self._perm_epoch = torch.randperm(len(self.rows), generator=g), epoch
        return self._perm

    @property
    def epoch(self) -> float:
        return self.consumed / len(self.rows)

    def state_dict(self) -> dict[str, Any]:
        return {"consumed": self.consumed, "rows": len(self.rows)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("rows") != len(self.rows):
            raise TfgenError(f"the saved data position is for {state.get('rows')} packed rows, the data now packs "
                             f"into {len(self.rows)} (did the dataset change?)", where="data")
        self.consumed = int(state["consumed"])
