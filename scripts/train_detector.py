"""Train the world detector and ship it: `python scripts/train_detector.py [--steps N] [--out DIR]`.

Fixed seed, storyworld renders made on the fly (`--workers` processes render them ahead), one torch
thread. Writes a checkpoint every `--checkpoint-every` steps, then measures held-out accuracy per task
on renders of the held-out prompts and the GenEval scores of ground-truth renders and hard negatives,
and records them in the detector's JSON config. `--calibrate` first picks the score threshold, then
the suppression IoUs, then the head-colour classes and the colour split on fresh training-distribution
renders (never on the held-out ones); `--colour-map-images N` fits the colour reader's name map
first. `--init DIR` continues a detector on scenes past every earlier phase's; `--whole-world` lets
the held-out compositions into the judge's training (the model never sees them; see
docs/DETECTOR.md for why the judge may).

docs/DETECTOR.md records the exact commands of the shipped detector's phases, their measurements, and
the detectors before it. Batches draw their augmentations from one RNG per step; detectors trained
before that change (the 64-px detector of sessions 2-4) do not replay bit for bit.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tfgen.eval.detector import DetectorConfig, Judge, default_detector_dir, load_judge, save_detector  # noqa: E402
from tfgen.eval.detector_train import DetectorTrainConfig, train_detector  # noqa: E402

# The training-data mix and loss knobs of DetectorTrainConfig, one float flag each (--crowd-share, ...).
MIX_KNOBS = tuple(f.name for f in fields(DetectorTrainConfig) if f.name.endswith("_share") or f.name == "edge_weight")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workers", type=int, default=0, help="processes rendering batches ahead (0: between steps)")
    ap.add_argument("--internal-size", type=int, default=DetectorConfig.internal_size,
                    help="a fresh detector's working resolution (see DetectorConfig)")
    ap.add_argument("--stem-stride", type=int, default=DetectorConfig.stem_stride, choices=(1, 2),
                    help="a fresh detector's stem stride: 2 with --internal-size 128 reads full resolution")
    ap.add_argument("--out", type=Path, default=default_detector_dir())
    ap.add_argument("--init", type=Path, default=None, help="continue from this detector directory (a second phase)")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--stop-after", type=int, default=None, help="end after this many steps of the --steps schedule")
    for name in MIX_KNOBS:  # DetectorTrainConfig says what each does; its defaults are the flags' defaults
        ap.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(DetectorTrainConfig, name))
    ap.add_argument("--heldout-guard", action="store_true",
                    help="skip grey, channel swaps and hue turns that would paint a held-out class/colour pair")
    ap.add_argument("--whole-world", action="store_true",
                    help="train on every composition, the held-out ones included (the model never sees them; "
                         "the judge's held-out accuracy is then measured on fresh renders of them)")
    ap.add_argument("--checkpoint-every", type=int, default=250)
    ap.add_argument("--ema-decay", type=float, default=0.0, help="> 0: keep and save an average of the weights")
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--eval-per-category", type=int, default=0, help="held-out prompts per category to measure (0: all)")
    ap.add_argument("--calibrate", action="store_true",
                    help="choose the score threshold, suppression IoUs and head-colour classes on fresh "
                         "training-distribution renders (never the held-out ones)")
    ap.add_argument("--calibrate-split", action="store_true",
                    help="choose only the colour split (see DetectorConfig) on training renders, keeping the other "
                         "calibrated values (the threshold and suppression calibrations depend on each other's order)")
    ap.add_argument("--colour-map-images", type=int, default=0,
                    help="> 0: fit the colour reader's name map on this many training renders, clean and washed "
                         "(tfgen.eval.colour_map), before calibrating; 0 keeps --init's map, if any")
    ap.add_argument("--finish-only", action="store_true",
                    help="no training: take --init as it is, (re)calibrate and measure it, save to --out")
    args = ap.parse_args()
    if args.finish_only and args.init is None:
        ap.error("--finish-only needs --init")
    if args.heldout_guard and args.whole_world:
        ap.error("--heldout-guard guards against held-out looks, which --whole-world lets in: choose one")
    torch.set_num_threads(args.threads)
    cfg = DetectorTrainConfig(steps=args.steps, batch_size=args.batch_size, seed=args.seed, lr=args.lr,
                              ema_decay=args.ema_decay, warmup=args.warmup, heldout_guard=args.heldout_guard,
                              whole_world=args.whole_world,
                              **{name: getattr(args, name) for name in MIX_KNOBS})
    t0 = time.perf_counter()
    seen = "held-out compositions included" if cfg.whole_world else "held-out compositions excluded"
    info = {"train": asdict(cfg), "data": f"storyworld SceneSampler renders ({seen})"}
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

    if args.finish_only:
        model, info = init, dict(prior)
    else:
        dcfg = DetectorConfig(internal_size=args.internal_size, stem_stride=args.stem_stride)
        model = train_detector(cfg, dcfg, on_log=log, on_checkpoint=checkpoint,
                               checkpoint_every=args.checkpoint_every, init=init, start_position=start,
                               stop_after=args.stop_after, workers=args.workers)
        info["train_seconds"] = round(time.perf_counter() - t0, 1)
        info["steps_done"] = done
    finish(model, info, args)


def finish(model, info: dict, args: argparse.Namespace) -> None:
    """Fit the colour map and calibrate (both optional), measure on the held-out renders, save, print."""
    from dataclasses import replace

    from tfgen.eval.accuracy import (calibrate_colour_classes, calibrate_colour_split, calibrate_suppression,
                                     calibrate_threshold, detector_accuracy)
    from tfgen.eval.colour_map import ColourMapFit, fit_colour_map

    if args.colour_map_images > 0:
        table, info["colour_map"] = fit_colour_map(ColourMapFit(images=args.colour_map_images), model.cfg.image_size)
        model.set_colour_map(table)
        print("colour map:", json.dumps(info["colour_map"]), flush=True)
    if args.calibrate:
        model.cfg = replace(model.cfg, head_colour_classes=())  # judge the reader on every recolourable class
        cal = calibrate_threshold(Judge(model))
        model.cfg = replace(model.cfg, score_threshold=cal["threshold"])
        info["threshold_calibration"] = cal
        sup = calibrate_suppression(Judge(model))
        model.cfg = replace(model.cfg, suppress_iou=sup["suppress_iou"],
                            suppress_iou_same_class=sup["suppress_iou_same_class"])
        info["suppression_calibration"] = sup
        whole_world = any(p and p.get("whole_world") for p in info.get("phases", []))
        colour_cal = calibrate_colour_classes(Judge(model), floor=1.0 if whole_world else 0.8)
        model.cfg = replace(model.cfg, head_colour_classes=tuple(colour_cal["classes"]))
        info["colour_calibration"] = colour_cal
        split_cal = calibrate_colour_split(Judge(model))
        model.cfg = replace(model.cfg, colour_split=split_cal["colour_split"])
        info["colour_split_calibration"] = split_cal
        print("calibrated on training renders:", json.dumps(cal), json.dumps(sup), json.dumps(colour_cal),
              json.dumps(split_cal))
    elif args.calibrate_split:
        split_cal = calibrate_colour_split(Judge(model))
        model.cfg = replace(model.cfg, colour_split=split_cal["colour_split"])
        info["colour_split_calibration"] = split_cal
        print("calibrated on training renders:", json.dumps(split_cal))
    judge = Judge(model)
    acc = detector_accuracy(judge, per_category=args.eval_per_category or None)
    info["heldout_accuracy"] = acc
    info["heldout_judge"] = judge_scores(judge)
    save_detector(args.out, model, info)
    print(json.dumps(acc, indent=1))
    print(json.dumps(info["heldout_judge"], indent=1))
    print(f"saved to {args.out} after {info.get('train_seconds')} s of training")


def judge_scores(judge: Judge, seed: int = 2024) -> dict:
    """GenEval scores of ground-truth renders and of hard negatives, all held-out prompts, one render each."""
    from tfgen.eval.compositional import score_images
    from tfgen.eval.prompts import GENEVAL_CATEGORIES, prompt_set, render_images
    from tfgen.world.scene import Composer

    entries, composer = list(prompt_set(GENEVAL_CATEGORIES).entries), Composer()
    out = {"seed": seed, "prompts": len(entries)}
    for name, negative in (("ground_truth", False), ("hard_negatives", True)):
        res = score_images(judge, entries, render_images(entries, 1, seed, negative=negative, composer=composer))
        scores = res.scores["categories"] | {"overall": res.scores["overall"]}
        out[name] = {k: round(v, 4) for k, v in scores.items()}
    return out


if __name__ == "__main__":
    main()
