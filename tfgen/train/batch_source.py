"""Packed rows -> an endless, resumable stream of global PackedBatches (the trainer's batch source).

Order: epoch e visits every packed row once in the order of a permutation drawn from
(seed, e); the stream's only state is how many rows it has handed out, so its data position
saves as one integer and restores exactly. Each batch's random draws (target/context roles,
diffusion times, condition drops) come from a generator seeded by (seed, batch index), so they
too repeat exactly after a resume. All of it is torch ops over index tensors: no per-row Python.
"""

from __future__ import annotations

import queue
import threading
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


class PrefetchSource:
    """Wraps a batch source so the next `depth` batches are built on a background thread during the step.

    The data position it reports is the wrapped source's state right after the last batch handed
    to the trainer (each prefetched batch travels with that state), so a resume stays exact. The
    wrapped source is only touched by the worker thread while it runs; `load_state_dict` stops it.
    """

    def __init__(self, source: Any, depth: int = 2):
        self.source, self.depth = source, depth
        self._state = source.state_dict()
        self._queue: queue.Queue | None = None
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None

    def __iter__(self) -> "PrefetchSource":
        return self

    def __next__(self) -> Any:
        if self._thread is None:
            self._start()
        batch, state, error = self._queue.get()
        if error is not None:
            self.close()
            raise error
        self._state = state
        return batch

    def state_dict(self) -> dict[str, Any]:
        return self._state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.close()
        self.source.load_state_dict(state)
        self._state = self.source.state_dict()

    def close(self) -> None:
        """Stop the worker; the batches it had built ahead are dropped (the source rewinds to our state)."""
        if self._thread is None:
            return
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get_nowait()  # unblock a worker waiting to put
            except queue.Empty:
                self._thread.join(timeout=0.05)
        self._thread = None
        self.source.load_state_dict(self._state)

    def _start(self) -> None:
        self._queue, self._stop = queue.Queue(maxsize=self.depth), threading.Event()
        self._thread = threading.Thread(target=self._work, name="tfgen-prefetch", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                item = (next(self.source), self.source.state_dict(), None)
            except BaseException as exc:  # handed to the trainer's thread, which raises it
                item = (None, None, exc)
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.05)
                    break
                except queue.Full:
                    continue
            if item[2] is not None:
                return
