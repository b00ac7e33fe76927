"""Train the world detector and ship it: `python scripts/train_detector.py [--steps N] [--out DIR]`.

Fixed seed, storyworld renders made on the fly, one CPU thread. Writes a checkpoint every 250
steps, then measures held-out accuracy per task on renders of the held-out prompts and records
it in the detector's JSON config. The shipped detector (tfgen/assets/detector/) is four phases,
each continuing the last (`--init`), its data past every earlier phase's schedule:

    python scripts/train_detector.py --steps 1500 --stop-after 1000 --out /tmp/d1
    python scripts/train_detector.py --init /tmp/d1 --steps 900 --lr 2e-3 --character-share 0.5 \
        --alone-share 0.5 --out /tmp/d2
    python scripts/train_detector.py --init /tmp/d2 --steps 450 --lr 1e-3 --character-share 0.4 \
        --alone-share 0.5 --recolour-share 0.7 --out /tmp/d3
    python scripts/train_detector.py --init /tmp/d3 --steps 450 --lr 1e-3 --character-share 0.4 \
        --alone-share 0.5 --recolour-share 0.7 --decolour-share 0.3 --out tfgen/assets/detector
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tfgen.eval.detector import DetectorConfig, Judge, default_detector_dir, load_judge, save_detector  # noqa: E402
from tfgen.eval.detector_train import DetectorTrainConfig, train_detector  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=default_detector_dir())
    ap.add_argument("--init", type=Path, default=None, help="continue from this detector directory (a second phase)")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--stop-after", type=int, default=None, help="end after this many steps of the --steps schedule")
    ap.add_argument("--character-share", type=float, default=0.3)
    ap.add_argument("--alone-share", type=float, default=0.0)
    ap.add_argument("--recolour-share", type=float, default=0.0)
    ap.add_argument("--decolour-share", type=float, default=0.0)
    ap.add_argument("--eval-per-category", type=int, default=0, help="held-out prompts per category to measure (0: all)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = DetectorTrainConfig(steps=args.steps, batch_size=args.batch_size, seed=args.seed, lr=args.lr,
                              character_share=args.character_share, alone_share=args.alone_share,
                              recolour_share=args.recolour_share, decolour_share=args.decolour_share)
    t0 = time.perf_counter()
    info = {"train": asdict(cfg), "data": "storyworld SceneSampler renders (held-out compositions excluded)"}
    init, start, phases = None, 0, []
    if args.init is not None:
        judge = load_judge(args.init)
        init, prior = judge.model, judge.info
        phases = prior.get("phases", [prior.get("train")])
        start = sum(p["steps"] * p["batch_size"] for p in phases if p)  # past each earlier schedule
        info["previous_train_seconds"] = prior.get("train_seconds", 0) + prior.get("previous_train_seconds", 0)
    done = min(cfg.steps, args.stop_after or cfg.steps)
    info["phases"] = phases + [asdict(cfg) | {"steps_done": done}]

    def log(step: int, losses: dict[str, float]) -> None:
        print(f"step {step}: " + " ".join(f"{k}={v:.3f}" for k, v in losses.items()), flush=True)

    def checkpoint(step: int, model) -> None:
        save_detector(args.out, model, info | {"steps_done": step})

    model = train_detector(cfg, DetectorConfig(), on_log=log, on_checkpoint=checkpoint, checkpoint_every=250,
                           init=init, start_position=start, stop_after=args.stop_after)
    info["train_seconds"] = round(time.perf_counter() - t0, 1)
    info["steps_done"] = done
    from tfgen.eval.accuracy import detector_accuracy

    acc = detector_accuracy(Judge(model), per_category=args.eval_per_category or None)
    info["heldout_accuracy"] = acc
    save_detector(args.out, model, info)
    print(json.dumps(acc, indent=1))
    print(f"saved to {args.out} after {info['train_seconds']} s")


if __name__ == "__main__":
    main()
