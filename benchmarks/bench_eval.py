"""Measure the judge: detector images per second (floor: 200/s) and scoring time per image.

    python benchmarks/bench_eval.py [--images 512] [--threads 1] [--detector DIR ...]

Prints measured figures only; the images are ground-truth renders of held-out prompts. With several
`--detector` directories (default: the shipped one) each is measured on the same images, in turn.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--detector", type=Path, action="append", default=None,
                    help="a detector directory to measure (repeatable; default: the shipped detector)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from tfgen.eval.compositional import score_images
    from tfgen.eval.detector import load_judge
    from tfgen.eval.prompts import GENEVAL_CATEGORIES, prompt_set, render_images

    entries = list(prompt_set(GENEVAL_CATEGORIES).entries)
    reps = max(1, args.images // len(entries) + 1)
    t0 = time.perf_counter()
    rendered = render_images(entries, reps, seed=5)
    images = [img for per in rendered for img in per][: args.images]
    render_s = time.perf_counter() - t0
    n_scored = sum(len(p) for p in rendered)
    print(f"threads={args.threads} batch={args.batch_size}")
    print(f"render (storyworld ground truth): {len(images) / render_s:.0f} images/s")
    for where in args.detector or [None]:
        judge = load_judge(where)
        judge.batch_size = args.batch_size
        print(f"detector {where or 'shipped'} ({judge.cfg.internal_size} px, grid {judge.cfg.grid}):")
        judge.detect(images[: args.batch_size])  # warm-up
        t0 = time.perf_counter()
        judge.detect(images)
        det_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = score_images(judge, entries, rendered)
        score_s = time.perf_counter() - t0
        print(f"  detection: {len(images)} images in {det_s:.2f} s = {len(images) / det_s:.0f} images/s (floor 200)")
        print(f"  compositional scoring (detect + GenEval rules): {n_scored} images in {score_s:.2f} s = "
              f"{n_scored / score_s:.0f} images/s; 500 prompts x 4 images would take {2000 * score_s / n_scored:.0f} s")
        print(f"  ground-truth overall {res.scores['overall']:.3f}")


if __name__ == "__main__":
    main()
