"""The training loop: packed batches in, AdamW updates, EMA, checkpoints and an exact resume out.

Protocols (so the loop does not depend on any one model or data pipeline):
- the model is an nn.Module whose forward takes one packed batch (and, if its signature has it,
  `generator=`, a torch.Generator for its noise draws) and returns a dict of scalar losses with
  "loss" (what is minimised) and optionally "lm" and "image" (shown);
- the batch source is an iterator of GLOBAL batches (tensors, dicts or dataclasses of tensors
  with a leading batch dimension, fixed shapes) with `state_dict()` / `load_state_dict()` for its
  data position (string keys; values JSON scalars, lists, dicts or tensors).

The step does no per-sample Python and no host sync: losses accumulate on the device and are read
(`.tolist()`, one sync) only every `log_every` steps. Randomness: the generator handed to the
model is re-seeded for every micro-batch from (seed, step, the micro-batch's index in the global
batch), so a resumed run draws exactly the noise an uninterrupted one would, and N ranks with A
accumulation steps each match one process with N * A, without saving any generator state.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import torch
from torch import nn

from tfgen.errors import TfgenError
from tfgen.model.batch import PackedBatch
from tfgen.train.config import TrainConfig
from tfgen.train.distributed import (DistContext, all_gather_uint8, all_reduce_mean, barrier, batch_rows,
                                     keep_cpu_memory_in_process, maybe_no_sync, rank_micro_batches,
                                     setup_distributed, to_device, wrap_for_training)
from tfgen.train.ema import EmaWeights, ema_decay_for_run
from tfgen.train.optim import LrSchedule, build_adamw, clip_gradients, set_lr
from tfgen.train.progress import StepFigures, TrainProgress
from tfgen.train.resume import (TrainState, TrainStateError, has_train_state, load_train_state,
                                numpy_rng_from_tensor, numpy_rng_to_tensor, save_train_state)

# Config keys that must not change between a run and its resume: they fix the schedule and the data order.
RESUME_FIXED_KEYS = ("steps", "batch_size", "lr", "min_lr_ratio", "warmup_steps", "seed", "ema_half_life",
                     "weight_decay", "beta1", "beta2")


class BatchSource(Protocol):
    def __iter__(self) -> Iterator[Any]: ...
    def __next__(self) -> Any: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class TrainResult:
    steps_done: int
    last: StepFigures | None  # the last figures reported (None if no report happened)
    history: list[StepFigures]  # every report of this fit() call
    seconds: float


class TransfusionLossModule(nn.Module):
    """The trainer's model protocol around a Transfusion: forward(batch, generator) -> dict of losses.

    The Transfusion sits at `.net`, so state-dict keys carry the prefix "net.". The batch's roles,
    times and condition drops are drawn by the batch source; here only the noise is drawn.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, batch: Any, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        out = self.net.loss(batch, generator)
        return {"loss": out.total, "lm": out.lm, "image": out.image}

    def prepare_batch(self, batch: Any) -> Any:
        """Host-side work before the step: a host-resident PackedBatch gets its `lm_index`, so the LM
        head and its softmax run on the text positions only (the same loss; images are most of a
        row: 4x fewer LM-head FLOPs for the storyworld's scenes). The count read is free on the host;
        a device-resident batch is left as it is (the read would be a sync)."""
        if isinstance(batch, PackedBatch) and batch.lm_index is None and batch.tokens.device.type == "cpu":
            return batch.with_lm_index()
        return batch


# Measured with benchmarks/bench_train.py on this CPU (AMX): bf16 autocast made `tiny` (width 64) 5-10x
# slower (casts and small matmuls) and `world-s` (width 256) 1.5x faster.
BF16_MIN_WIDTH_CPU = 256


def resolve_dtype(name: str, device: torch.device, model: nn.Module | None = None) -> torch.dtype:
    """'auto' -> bf16 autocast on a GPU that supports it, or on a CPU with AMX tiles when the model is
    wide enough (BF16_MIN_WIDTH_CPU) for bf16 to be faster; fp32 otherwise."""
    if name == "fp32":
        return torch.float32
    if name == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    wide = model is None or model_width(model) >= BF16_MIN_WIDTH_CPU
    return torch.bfloat16 if cpu_has_amx() and wide else torch.float32


def model_width(model: nn.Module) -> int:
    """The largest 'short side' of the model's weight matrices: d_model for a transformer."""
    return max((min(p.shape) for p in model.parameters() if p.ndim == 2), default=0)


def cpu_has_amx() -> bool:
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private, so looked up defensively
    return bool(probe()) if probe is not None else False


def step_seed(seed: int, step: int, micro: int) -> int:
    """A well-mixed 63-bit seed for one (run seed, step, global micro-batch index)."""
    digest = hashlib.blake2b(f"{seed}:{step}:{micro}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def count_tokens(batch: Any) -> int:
    """Positions in a batch (rows x sequence length), read from shapes only (no sync)."""
    tokens = batch.get("tokens") if isinstance(batch, dict) else getattr(batch, "tokens", None)
    if isinstance(tokens, torch.Tensor):
        return tokens.numel()
    return batch_rows(batch)


class Trainer:
    """One training run. Build it, optionally `resume()`, then `fit()`."""

    def __init__(self, cfg: TrainConfig, model: nn.Module, source: BatchSource, run_dir: str | Path,
                 ctx: DistContext | None = None,
                 on_checkpoint: Callable[["Trainer"], None] | None = None,
                 show_progress: bool = True):
        self.cfg = cfg
        self.ctx = ctx or setup_distributed(cfg.device)
        self.run_dir = Path(run_dir)
        self.source = source
        self.on_checkpoint = on_checkpoint
        self.show_progress = show_progress and self.ctx.is_main
        if self.ctx.device.type == "cpu":
            keep_cpu_memory_in_process()  # see its docstring: host time per step stays flat in the batch
        self.model = model.to(self.ctx.device)
        self.autocast_dtype = resolve_dtype(cfg.dtype, self.ctx.device, self.model)
        self.ema = EmaWeights(self.model, ema_decay_for_run(cfg.steps, cfg.ema_half_life))
        self.optimizer = build_adamw(self.model, cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2))
        self.schedule = LrSchedule(cfg.lr, cfg.steps, cfg.warmup_steps, cfg.min_lr_ratio)
        wrapped = wrap_for_training(self.model, self.ctx)
        self.wrapped = torch.compile(wrapped) if cfg.compile else wrapped
        self.generator = torch.Generator(device=self.ctx.device)
        self._passes_generator = "generator" in inspect.signature(self.model.forward).parameters
        self.step = 0  # updates done
        self.tokens_seen = 0

    # ---- the step ----

    def _autocast(self):
        if self.autocast_dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.ctx.device.type, dtype=self.autocast_dtype)

    def train_step(self, global_batch: Any) -> torch.Tensor:
        """One update from one global batch; returns (loss, lm, image) as a device tensor (not synced)."""
        micro = rank_micro_batches(global_batch, self.ctx, self.cfg.grad_accum)
        set_lr(self.optimizer, self.schedule.lr_at(self.step))
        totals = torch.zeros(3, device=self.ctx.device)
        for index, batch in enumerate(micro):
            batch = to_device(batch, self.ctx.device)
            # Keyed by the micro-batch's place in the global batch, not by rank: N ranks x A micro-steps
            # draw the same noise as one process with N * A micro-steps.
            self.generator.manual_seed(step_seed(self.cfg.seed, self.step, self.ctx.rank * len(micro) + index))
            last = index == len(micro) - 1
            with maybe_no_sync(self.wrapped, sync=last):
                with self._autocast():
                    losses = self._forward(batch)
                (losses["loss"] / len(micro)).backward()
            totals += _loss_vector(losses, self.ctx.device) / len(micro)
        clip_gradients(self.model, self.cfg.clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.ema.update()
        self.step += 1
        return totals

    def _forward(self, batch: Any) -> dict[str, torch.Tensor]:
        losses = self.wrapped(batch, generator=self.generator) if self._passes_generator else self.wrapped(batch)
        if not isinstance(losses, dict) or "loss" not in losses:
            raise TypeError("the model's forward must return a dict with a 'loss' entry")
        return losses

    # ---- the loop ----

    def fit(self, stop_after: int | None = None) -> TrainResult:
        """Train to `cfg.steps` (or stop once `stop_after` updates are done), saving state and checkpoints."""
        cfg, started = self.cfg, time.perf_counter()
        end = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
        running = torch.zeros(3, device=self.ctx.device)
        since_log, tokens_since, rows_since = 0, 0, 0
        last_log = last_state = time.perf_counter()
        with TrainProgress(cfg.steps, self.step, enabled=self.show_progress) as progress:
            while self.step < end:
                batch = self._next_batch()
                tokens_since += count_tokens(batch)
                rows_since += batch_rows(batch)
                running += self.train_step(batch)
                since_log += 1
                done = self.step == end
                if self.step % cfg.log_every == 0 or done:
                    now = time.perf_counter()
                    state_due = now - last_state >= cfg.state_every_seconds
                    figures, state_due = self._report(running / since_log, state_due, tokens_since,
                                                      rows_since, now - last_log)
                    progress.report(figures)
                    running.zero_()
                    since_log, tokens_since, rows_since, last_log = 0, 0, 0, time.perf_counter()
                else:
                    state_due = False
                if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                    self.write_checkpoint()
                if state_due or self.step % cfg.state_every == 0 or done:
                    self.save_state()
                    last_state = time.perf_counter()
        return TrainResult(self.step, progress.last, progress.history, time.perf_counter() - started)

    def _next_batch(self) -> Any:
        try:
            return self.prepare_batch(next(self.source))
        except StopIteration:
            raise TfgenError(f"the data ran out at step {self.step}", where="data") from None

    def prepare_batch(self, batch: Any) -> Any:
        """The model's host-side preparation of a batch (its `prepare_batch`, if any), outside the step."""
        prepare = getattr(self.model, "prepare_batch", None)
        return prepare(batch) if callable(prepare) else batch

    def _report(self, means: torch.Tensor, state_due: bool, tokens: int, rows: int,
                seconds: float) -> tuple[StepFigures, bool]:
        # One all-reduce and one host sync for the losses and rank 0's "save now" decision together.
        flag = torch.tensor([1.0 if (state_due and self.ctx.is_main) else 0.0], device=self.ctx.device)
        reduced = all_reduce_mean(torch.cat([means, flag * self.ctx.world_size]), self.ctx).tolist()
        loss, lm, image, save_flag = reduced
        if not math.isfinite(loss):
            raise TfgenError(f"the loss is not finite at step {self.step} (try a lower --lr)", where="train")
        self.tokens_seen += tokens
        seconds = max(seconds, 1e-9)
        figures = StepFigures(self.step, loss, lm, image, tokens / seconds, rows / seconds,
                              self.schedule.lr_at(max(0, self.step - 1)))
        return figures, save_flag > 0.5

    # ---- outputs ----

    def write_checkpoint(self) -> None:
        if self.on_checkpoint is not None and self.ctx.is_main:
            self.on_checkpoint(self)
        barrier(self.ctx)

    def save_state(self) -> None:
        """Write train_state.* (rank 0), with every rank's RNG states gathered first."""
        rng = self._gather_rng_states()
        if self.ctx.is_main:
            save_train_state(self.run_dir, TrainState(
                step=self.step,
                model=self.model.state_dict(),
                ema=self.ema.state_dict(),
                optimizer=self.optimizer.state_dict(),
                rng=rng,
                data=self.source.state_dict(),
                config=self.cfg.to_dict(),
                info={"tokens_seen": self.tokens_seen, "world_size": self.ctx.world_size},
            ))
        barrier(self.ctx)

    def _gather_rng_states(self) -> dict[str, torch.Tensor]:
        local = {"torch_cpu": torch.get_rng_state(), "numpy": numpy_rng_to_tensor()}
        if self.ctx.device.type == "cuda":
            local["cuda"] = torch.cuda.get_rng_state(self.ctx.device)
        out = {}
        for name, blob in local.items():
            for rank, part in enumerate(all_gather_uint8(blob, self.ctx)):
                out[f"{name}.rank{rank}"] = part
        return out

    def resume(self) -> bool:
        """Continue from the run directory's train_state.* if there is one; True if it did."""
        if not has_train_state(self.run_dir):
            return False
        state = load_train_state(self.run_dir)
        self._check_resume_config(state)
        try:
            self.model.load_state_dict(state.model)
            self.ema.load_state_dict(state.ema)
            self.optimizer.load_state_dict(state.optimizer)
        except (RuntimeError, KeyError, ValueError) as exc:
            raise TrainStateError(f"does not fit this model ({str(exc).splitlines()[0]})",
                                  where=str(self.run_dir / "train_state.safetensors")) from None
        self.source.load_state_dict(state.data)
        self._restore_rng(state.rng)
        self.step = state.step
        self.tokens_seen = int(state.info.get("tokens_seen", 0))
        return True

    def _check_resume_config(self, state: TrainState) -> None:
        for key in RESUME_FIXED_KEYS:
            if key in state.config and state.config[key] != getattr(self.cfg, key):
                raise TrainStateError(
                    f"the run was started with {key} = {state.config[key]!r}, not {getattr(self.cfg, key)!r}; "
                    "an exact resume needs the same value", where=key)

    def _restore_rng(self, rng: dict[str, torch.Tensor]) -> None:
        rank = self.ctx.rank
        if f"torch_cpu.rank{rank}" in rng:
            torch.set_rng_state(rng[f"torch_cpu.rank{rank}"])
        if f"numpy.rank{rank}" in rng:
            numpy_rng_from_tensor(rng[f"numpy.rank{rank}"])
        if self.ctx.device.type == "cuda" and f"cuda.rank{rank}" in rng:
            torch.cuda.set_rng_state(rng[f"cuda.rank{rank}"], self.ctx.device)


def _loss_vector(losses: dict[str, torch.Tensor], device: torch.device) -> torch.Tensor:
    zero = torch.zeros((), device=device)
    return torch.stack([losses["loss"].detach().float(),
                        losses.get("lm", zero).detach().float(),
                        losses.get("image", zero).detach().float()])
