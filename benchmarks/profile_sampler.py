"""Per-step cost of the prefix-cached sampler against the naive loop, with an optional profile.

Loads a checkpoint (the shipped model by default) as `tfgen` does (tfgen.sampling.loader), feeds a
`--prefix`-token prefix to each backend (untimed), then times single denoising calls (one image,
`--rows 1` unguided or `--rows 2` cond + uncond in one batch) and the codec alone, in turn, so a
shared machine's load hits all alike, and prints per-step medians and minima and the naive/cached
ratio. `--compare-layouts` adds the same model in torch's default layouts (without
tfgen.sampling.memory_layout); `--profile` adds torch.profiler's top operators for each call.

Run: OMP_NUM_THREADS=1 python benchmarks/profile_sampler.py --steps 60 --compare-layouts
     OMP_NUM_THREADS=1 python benchmarks/profile_sampler.py --profile --rows 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tfgen.sampling.backend import CachedBackend
from tfgen.sampling.loader import load_model
from tfgen.sampling.naive import NaiveBackend


def step_call(backend, model, rows: int, seed: int):
    """A denoising call of one image (`rows` = 1 unguided, 2 = cond + uncond in one batch)."""
    cfg = model.cfg
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((rows, cfg.latent_channels, cfg.latent_size, cfg.latent_size), generator=gen)
    t = torch.full((rows,), 500.0)
    drop = torch.tensor([False, True]) if rows == 2 else None
    return lambda: backend.denoise(x, t, drop)


def paired_step_times(calls: dict, steps: int) -> dict[str, tuple[float, float]]:
    """(median, minimum) seconds per call of each callable, run in turn `steps` times after a
    warm-up. The minimum is the figure least disturbed by other jobs on a shared machine."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for fn in calls.values():
        fn(), fn()
    for _ in range(steps):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(ts), min(ts)) for name, ts in times.items()}


def print_profile(name: str, fn, steps: int, rows_shown: int) -> None:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            fn()
    print(f"--- {name}: {steps} calls")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows_shown))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--prefix", type=int, default=200)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rows", type=int, default=1, choices=(1, 2))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--compare-layouts", action="store_true",
                        help="also time the model in torch's default layouts (without prepare_for_sampling)")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    variants = {"": load_model(args.model).model}
    if args.compare_layouts:
        variants["default layouts "] = default_layouts(variants[""])
    ids = torch.randint(10, 2080, (args.prefix,), generator=torch.Generator().manual_seed(0)).tolist()
    calls = {}
    for label, model in variants.items():
        for name, cls in (("naive", NaiveBackend), ("cached", CachedBackend)):
            backend = cls(model, model.cfg.max_seq_len, args.rows == 2)
            backend.feed(ids)
            calls[label + name] = step_call(backend, model, args.rows, 0)
        calls[label + "codec"] = codec_call(model, args.rows)
    with torch.inference_mode():  # as tfgen.sampling.image.sample_latents runs the steps
        figures = paired_step_times(calls, args.steps)
        for name, (median, best) in figures.items():
            print(f"{name:>20}: median {median * 1000:7.2f} ms/step, min {best * 1000:7.2f}")
        for label in variants:
            naive, cached = figures[label + "naive"], figures[label + "cached"]
            print(f"{label}ratio naive/cached: median {naive[0] / cached[0]:.2f}x, min {naive[1] / cached[1]:.2f}x "
                  f"({args.rows} row(s), prefix {args.prefix}, {torch.get_num_threads()} thread(s))")
        if args.profile:
            for name, fn in calls.items():
                print_profile(name, fn, args.steps, args.top)


def default_layouts(model):
    """A copy of `model` with every parameter contiguous again (torch's default layouts)."""
    from tfgen.model.transfusion import Transfusion

    plain = Transfusion(model.cfg).eval().requires_grad_(False)
    plain.load_state_dict({k: v.contiguous() for k, v in model.state_dict().items()})
    return plain


def codec_call(model, rows: int):
    """The image codec alone (time embedding, U-Net down, U-Net up), as each step runs it."""
    cfg = model.cfg
    x = torch.randn((rows, cfg.latent_channels, cfg.latent_size, cfg.latent_size))
    t = torch.full((rows,), 500.0)

    def run():
        emb, skips, temb = model.embed_images(x, t)
        return model.decode_images(emb, skips, temb)
    return run


if __name__ == "__main__":
    main()
