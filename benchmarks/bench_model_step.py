"""One training step of the Transfusion model, profiled: wall time, time inside operators, host
time outside them, host syncs, tokens/s and samples/s, at several batch sizes (minimum over steps).

The host time (step wall time minus the time spent inside top-level aten operators, from
torch.profiler) must stay flat as the batch grows: the step does no per-sample Python.

Run: python benchmarks/bench_model_step.py --preset tiny --batches 8 128
     python benchmarks/bench_model_step.py --preset world-s --batches 8 --dtype bf16
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch
from torch.profiler import ProfilerActivity, profile

from tfgen.model.batch import random_packed_batch
from tfgen.model.config import preset
from tfgen.model.transfusion import Transfusion, count_parameters
from tfgen.train.distributed import keep_cpu_memory_in_process

SYNC_OPS = ("aten::_local_scalar_dense", "aten::item", "aten::nonzero", "cudaStreamSynchronize",
            "cudaDeviceSynchronize")


def matmul_peak_gflops(device: torch.device, dtype: torch.dtype, n: int = 2048, reps: int = 5) -> float:
    """Measured n x n x n matrix-product rate (best of `reps`), the ceiling a step is compared to."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    a @ b
    sync()
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        a @ b
        sync()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def in_optimizer(evt) -> bool:
    """True for events under the optimizer step (CPU AdamW reads its step count with .item(), a
    host read on CPU; fused AdamW on CUDA does not synchronise)."""
    parent = evt.cpu_parent
    while parent is not None:
        if parent.name.startswith("Optimizer.step"):
            return True
        parent = parent.cpu_parent
    return False


def top_level_ops(events) -> list:
    """aten operators not nested inside another aten operator."""
    out = []
    for evt in events:
        if not evt.name.startswith("aten::"):
            continue
        parent = evt.cpu_parent
        while parent is not None and not parent.name.startswith("aten::"):
            parent = parent.cpu_parent
        if parent is None:
            out.append(evt)
    return out


def measure(args, batch_size: int) -> dict[str, float]:
    cfg = preset(args.preset).replace(patch_encoder=args.encoder, objective=args.objective,
                                      cross_image=args.cross_image)
    g = torch.Generator().manual_seed(0)
    doc_len = 1 + args.images * (cfg.patches_per_image + 2 + args.text) + args.text
    seq_len = args.seq_len or doc_len
    device = torch.device(args.device)
    batch = random_packed_batch(cfg, batch_size, seq_len, g, images_per_doc=args.images, text_per_image=args.text,
                                cond_drop_prob=0.1)
    if not args.all_positions_lm:
        batch = batch.with_lm_index()  # outside the step: the LM head runs on text positions only
    batch = batch.to(device)
    torch.manual_seed(0)
    model = Transfusion(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1, fused=True)
    gen = torch.Generator(device=device).manual_seed(1)
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if args.dtype == "bf16"
                else contextlib.nullcontext())

    def step() -> None:
        with autocast:
            out = model.loss(batch, gen)
        opt.zero_grad(set_to_none=True)
        out.total.backward()
        opt.step()

    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:  # the first warm-up step, counted
        step()
    flops = counter.get_total_flops()
    for _ in range(max(args.warmup - 1, 0)):
        step()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    # Each step is profiled on its own and the minimum taken: on a shared machine, preemption only
    # ever adds time, so the minimum is the steadiest estimate of what the step itself costs.
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    walls, op_times, hosts, syncs, calls = [], [], [], [], []
    for _ in range(args.steps):
        with profile(activities=activities) as prof:
            start = time.perf_counter()
            step()
            sync()
            wall = time.perf_counter() - start
        events = prof.events()
        top = top_level_ops(events)
        ops = sum(e.cpu_time_total for e in top) / 1e6
        walls.append(wall)
        op_times.append(ops)
        hosts.append(wall - ops)
        syncs.append(sum(1 for e in events if e.name in SYNC_OPS and not in_optimizer(e)))
        calls.append(len(top))
    wall = min(walls)
    return {"params": count_parameters(model), "seq_len": seq_len, "wall": wall, "ops": min(op_times),
            "gflop": flops / 1e9, "gflops_s": flops / wall / 1e9,
            "host": min(hosts), "host_median": statistics.median(hosts), "syncs": max(syncs),
            "op_calls": statistics.median(calls),
            "tokens_s": batch_size * seq_len / wall, "samples_s": batch_size * (seq_len // doc_len) / wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--batches", type=int, nargs="+", default=[8, 128])
    ap.add_argument("--encoder", default="linear", choices=["linear", "unet"])
    ap.add_argument("--objective", default="ddpm", choices=["ddpm", "flow"])
    ap.add_argument("--cross-image", default="blocked", choices=["blocked", "allowed"])
    ap.add_argument("--images", type=int, default=1, help="images per document")
    ap.add_argument("--text", type=int, default=12, help="text tokens per image (and before the first)")
    ap.add_argument("--seq-len", type=int, default=0, help="0: one document per row")
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--default-malloc", action="store_true", help="leave glibc malloc's settings alone")
    ap.add_argument("--all-positions-lm", action="store_true", help="no lm_index: LM head on every position")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tuned = False if args.default_malloc else keep_cpu_memory_in_process()
    print(f"preset={args.preset} encoder={args.encoder} dtype={args.dtype} device={args.device} "
          f"threads={args.threads} malloc_tuned={tuned} lm_index={not args.all_positions_lm} "
          f"torch={torch.__version__}")
    print(f"{'batch':>6} {'seq':>5} {'wall ms':>9} {'ops ms':>9} {'host ms':>9} {'host med':>9} {'syncs':>6} {'op calls':>9} {'tokens/s':>10} {'samples/s':>10} {'GFLOP':>7} {'GFLOP/s':>8}")
    results = {}
    for b in args.batches:
        r = measure(args, b)
        results[b] = r
        print(f"{b:6d} {r['seq_len']:5d} {r['wall'] * 1e3:9.2f} {r['ops'] * 1e3:9.2f} {r['host'] * 1e3:9.2f} "
              f"{r['host_median'] * 1e3:9.2f} {r['syncs']:6d} {r['op_calls']:9.0f} {r['tokens_s']:10.0f} {r['samples_s']:10.1f} "
              f"{r['gflop']:7.2f} {r['gflops_s']:8.1f}")
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    peak = matmul_peak_gflops(torch.device(args.device), dtype)
    best = max(r["gflops_s"] for r in results.values())
    print(f"matmul peak ({args.dtype}, 2048^3, this run): {peak:.1f} GFLOP/s; best step: {best:.1f} GFLOP/s "
          f"= {100 * best / peak:.0f}% of peak")
    if len(args.batches) >= 2:
        lo, hi = min(args.batches), max(args.batches)
        ratio = results[hi]["host"] / max(results[lo]["host"], 1e-9)
        print(f"host time ratio batch {hi} / batch {lo}: {ratio:.2f} (goal <= 1.2); "
              f"syncs counted outside the optimizer")


if __name__ == "__main__":
    main()
