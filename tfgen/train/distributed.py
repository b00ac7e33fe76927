"""One process on CPU or GPU, or many under `torchrun --nproc_per_node=N` with DDP: the same code path.

Rank and world size come from the environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK);
without them the run is a single process. Backend: NCCL on GPUs, gloo on CPU.

Batches: the batch source yields the GLOBAL batch (leading dimension B on every tensor);
rank r takes rows [r * B / W, (r + 1) * B / W) and splits them into its accumulation
micro-batches. So a run gives the same updates on any number of ranks (up to float
reduction order), provided the model's loss is a mean over samples of equal weight. (The
Transfusion loss is a mean over the micro-batch's text tokens and target images, so there the
match is close, not exact, when micro-batches hold different counts.) The price: every rank
builds the whole global batch. For packed dataset rows that is a cheap gather; the storyworld
source also VAE-encodes every image on every rank, which a per-rank source would avoid at scale.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from tfgen.errors import TfgenError


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the job."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool  # True when this module started the process group (and so ends it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise TfgenError(f"must be an integer, got {raw!r}", where=f"environment {name}") from None


def pick_device(preference: str, local_rank: int = 0) -> torch.device:
    """'auto' -> the local GPU when there is one, else CPU; 'cuda' without a GPU is an error."""
    if preference == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if preference == "cuda":
        raise TfgenError("no CUDA device is available", where="--device")
    return torch.device("cpu")


def keep_cpu_memory_in_process() -> bool:
    """Stop glibc from handing large freed blocks back to the OS after every training step.

    By default glibc serves big tensors with mmap and returns them (munmap, heap trim) when they are
    freed, so every step pays system calls and page faults again for the same buffers, and that host
    time grows with the batch. Raising the mmap and trim thresholds keeps those blocks in the heap for
    reuse: the CPU counterpart of CUDA's caching allocator (the heap then stays at its peak size).
    Returns False where the C library has no mallopt (not glibc); nothing changes there.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
    ok = mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024)  # glibc's largest allowed value on 64-bit
    ok &= mallopt(M_TRIM_THRESHOLD, 2**31 - 1)
    ok &= mallopt(M_TOP_PAD, 256 * 1024 * 1024)
    return bool(ok)


def setup_distributed(device: str = "auto") -> DistContext:
    """Read rank/world size from the environment; start the process group when there are several ranks."""
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    dev = pick_device(device, local_rank)
    owns_group = False
    if world_size > 1 and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo", init_method="env://",
                                rank=rank, world_size=world_size)
        owns_group = True
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=dev, owns_group=owns_group)


def teardown_distributed(ctx: DistContext) -> None:
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def wrap_for_training(model: nn.Module, ctx: DistContext) -> nn.Module:
    """DDP around the model when there are several ranks; the model itself otherwise."""
    if not ctx.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def maybe_no_sync(wrapped: nn.Module, sync: bool):
    """Skip DDP's gradient all-reduce on accumulation micro-steps that are not the last one."""
    if not sync and hasattr(wrapped, "no_sync"):
        return wrapped.no_sync()
    return contextlib.nullcontext()


def all_reduce_mean(values: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Mean of a tensor over ranks (identity on one process)."""
    if not ctx.distributed:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / ctx.world_size


def all_gather_uint8(blob: torch.Tensor, ctx: DistContext) -> list[torch.Tensor]:
    """Every rank's copy of a same-length uint8 tensor (e.g. an RNG state); no pickling."""
    if not ctx.distributed:
        return [blob]
    transport = blob.to(ctx.device)
    parts = [torch.empty_like(transport) for _ in range(ctx.world_size)]
    dist.all_gather(parts, transport)
    return [p.cpu() for p in parts]


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


# ---- batch slicing: works on tensors, dicts, lists/tuples and dataclasses of tensors ----

def batch_rows(batch: Any) -> int:
    """The leading dimension shared by the batch's tensors."""
    for leaf in _leaves(batch):
        if leaf.ndim >= 1:
            return leaf.shape[0]
    raise TfgenError("a batch must hold at least one tensor with a batch dimension", where="batch")


def slice_rows(batch: Any, start: int, stop: int) -> Any:
    """The same structure holding rows [start, stop) of every tensor (views, no copies)."""
    return _map(batch, lambda t: t[start:stop] if t.ndim >= 1 else t)


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor; from pinned host memory the copy does not block the host."""
    if all(leaf.device == device for leaf in _leaves(batch)):
        return batch
    return _map(batch, lambda t: t.to(device, non_blocking=True))


def rank_micro_batches(batch: Any, ctx: DistContext, grad_accum: int) -> list[Any]:
    """This rank's share of a global batch, cut into `grad_accum` equal micro-batches."""
    rows = batch_rows(batch)
    parts = ctx.world_size * grad_accum
    if rows % parts:
        raise TfgenError(f"a global batch of {rows} rows does not split into {ctx.world_size} ranks x "
                         f"{grad_accum} micro-steps", where="batch_size")
    per_rank = rows // ctx.world_size
    per_micro = per_rank // grad_accum
    base = ctx.rank * per_rank
    return [slice_rows(batch, base + i * per_micro, base + (i + 1) * per_micro) for i in range(grad_accum)]


def _leaves(obj: Any):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from _leaves(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from _leaves(value)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _leaves(getattr(obj, f.name))


def _map(obj: Any, fn) -> Any:
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, dict):
        return {k: _map(v, fn) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_map(v, fn) for v in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {f.name: _map(getattr(obj, f.name), fn) for f in dataclasses.fields(obj) if f.init}
        return dataclasses.replace(obj, **changes)
    return obj
