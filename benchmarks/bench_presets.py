"""Instantiate every model preset on the meta device (no memory, no compute) and print its size.

Run: python benchmarks/bench_presets.py
"""

from __future__ import annotations

import time

import torch

from tfgen.model.config import PRESETS, preset
from tfgen.model.transfusion import Transfusion, count_parameters


def main() -> None:
    print(f"{'preset':8} {'encoder':7} {'layers':>6} {'d_model':>7} {'heads':>5} {'vocab':>6} "
          f"{'patches':>7} {'params':>14} {'non-embedding':>14} {'build s':>8}")
    for name in PRESETS:
        for encoder in ("linear", "unet"):
            cfg = preset(name).replace(patch_encoder=encoder)
            start = time.perf_counter()
            with torch.device("meta"):
                model = Transfusion(cfg)
            built = time.perf_counter() - start
            total = count_parameters(model)
            embedding = model.tok_embed.weight.numel() + model.lm_head.weight.numel()
            print(f"{name:8} {encoder:7} {cfg.n_layers:6d} {cfg.d_model:7d} {cfg.n_heads:5d} {cfg.vocab_size:6d} "
                  f"{cfg.patches_per_image:7d} {total:14,d} {total - embedding:14,d} {built:8.2f}")


if __name__ == "__main__":
    main()
