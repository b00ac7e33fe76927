"""The training state for an exact resume: `train_state.safetensors` + `train_state.json` in the run directory.

What is saved: the raw (non-EMA) weights, the optimiser's moments and step counts, the EMA
weights, the update step (the learning-rate schedule is a pure function of it), every rank's torch
CPU/CUDA and numpy global RNG states, and the batch source's data position. The file pair itself
(tensors in safetensors, the tree's shape and plain values in JSON, a SHA-256 of the tensor file
recorded in the JSON, atomic writes, no pickle) is tfgen.train.checkpoint's; this module fixes
what goes in it and checks what comes out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tfgen.errors import TfgenError
from tfgen.train import checkpoint

STATE_TENSORS = checkpoint.STATE_TENSORS_FILE
STATE_JSON = checkpoint.STATE_JSON_FILE
STATE_KIND = "tfgen.trainer_state/1"  # the layout of the tree below (the file format is checkpoint's)


class TrainStateError(TfgenError):
    """A training state that is missing, damaged or does not belong to this run."""


@dataclass
class TrainState:
    """Everything a run needs to continue exactly where it stopped."""

    step: int  # updates already taken
    model: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor]
    optimizer: dict[str, Any]  # torch's Optimizer.state_dict() layout
    rng: dict[str, torch.Tensor] = field(default_factory=dict)  # "torch_cpu.rank0", "cuda.rank0", "numpy.rank0"
    data: dict[str, Any] = field(default_factory=dict)  # the batch source's state_dict()
    config: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)  # JSON values only (e.g. tokens seen)


def has_train_state(run_dir: str | Path) -> bool:
    run_dir = Path(run_dir)
    return (run_dir / STATE_TENSORS).exists() or (run_dir / STATE_JSON).exists()


def save_train_state(run_dir: str | Path, state: TrainState) -> None:
    """Write both files atomically (tensors first, JSON with the tensors' checksum last)."""
    tree = {"kind": STATE_KIND, "step": state.step, "model": dict(state.model), "ema": dict(state.ema),
            "optimizer": state.optimizer, "rng": dict(state.rng), "data": state.data,
            "config": state.config, "info": state.info}
    try:
        checkpoint.save_train_state(run_dir, tree)
    except TypeError as exc:
        raise TrainStateError(f"cannot store the training state ({exc})", where=str(Path(run_dir) / STATE_JSON)) from None


def load_train_state(run_dir: str | Path) -> TrainState:
    """Read and check both files; any damage raises a TfgenError naming the file."""
    run_dir = Path(run_dir)
    json_path = run_dir / STATE_JSON
    if not json_path.is_file():
        raise TrainStateError("missing: there is no training state to resume from here", where=str(json_path))
    tree = checkpoint.load_train_state(run_dir)
    if not isinstance(tree, dict) or tree.get("kind") != STATE_KIND:
        raise TrainStateError(f"not a trainer state ({STATE_KIND})", where=str(json_path))
    expected = {"step": int, "model": dict, "ema": dict, "optimizer": dict, "rng": dict, "data": dict,
                "config": dict, "info": dict}
    for key, kind in expected.items():
        if not isinstance(tree.get(key), kind):
            raise TrainStateError(f"entry {key!r} is missing or has the wrong type", where=str(json_path))
    return TrainState(**{key: tree[key] for key in expected})


# ---- numpy's RNG state as a tensor (so every rank's can be gathered without pickling) ----

def numpy_rng_to_tensor() -> torch.Tensor:
    """numpy's global MT19937 state packed into uint8: 624 words, position, has_gauss, cached gaussian."""
    _kind, keys, pos, has_gauss, cached = np.random.get_state()
    blob = np.concatenate([
        np.asarray(keys, dtype="<u4").view(np.uint8),
        np.asarray([pos, has_gauss], dtype="<i8").view(np.uint8),
        np.asarray([cached], dtype="<f8").view(np.uint8),
    ])
    return torch.from_numpy(blob.copy())


def numpy_rng_from_tensor(blob: torch.Tensor) -> None:
    raw = blob.numpy()
    keys = raw[:2496].view("<u4")
    pos, has_gauss = raw[2496:2512].view("<i8")
    cached = raw[2512:2520].view("<f8")[0]
    np.random.set_state(("MT19937", keys.astype(np.uint32), int(pos), int(has_gauss), float(cached)))
