"""The Transfusion model: config and presets, transformer, mask, patches, packed batch, full model.

Importing this package does not import torch (the tokenizer and the CLI load it cheaply); the
names below are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "ModelConfig": "tfgen.model.config",
    "preset": "tfgen.model.config",
    "PRESETS": "tfgen.model.config",
    "load_model_config": "tfgen.model.config",
    "model_config_from_mapping": "tfgen.model.config",
    "PackedBatch": "tfgen.model.batch",
    "lm_loss_positions": "tfgen.model.batch",
    "Transfusion": "tfgen.model.transfusion",
    "LossOutput": "tfgen.model.transfusion",
    "KVCache": "tfgen.model.transformer",
    "build_attention_mask": "tfgen.model.mask",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tfgen.model' has no attribute {name!r}")
