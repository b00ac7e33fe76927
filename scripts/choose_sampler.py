"""Choose a checkpoint's default sampler, steps and guidance by measurement: quality against time.

    python scripts/choose_sampler.py --model RUN/flow/checkpoint [--limit 30] [--n-per-prompt 1]
        [--grid euler:10,euler:20,heun:10,heun:20] [--guidance 1,3,5] [--budget 2.0] [--write] [--out DIR]

Each setting is scored with tfgen's own `tfgen eval --suite compositional` code on the same fixed,
stratified prompt subset and seed (GenEval overall, then the Fréchet distance on the judge's
features breaking ties), and timed per image from the same run (the eval's wall time over the
images it made, prompt text included). Samplers run first at the middle guidance, then the guidance
values run on the winning sampler. The winner is the best quality among the settings at most
`--budget` x the fastest one's time per image; `--write` records it, with every measurement, in the
checkpoint's config.json ("sampler" and "sampler_measurements"), which `tfgen comic|...` read as
their defaults. Reports go to --out (one JSON per setting, plus choice.json).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


@dataclass(frozen=True)
class Setting:
    sampler: str
    steps: int
    guidance: float

    @property
    def label(self) -> str:
        return f"{self.sampler}-{self.steps}-cfg{self.guidance:g}"


def parse_grid(value: str) -> list[tuple[str, int]]:
    """"euler:10,heun:20" -> [("euler", 10), ("heun", 20)]."""
    out = []
    for item in value.split(","):
        name, _, steps = item.strip().partition(":")
        if not name or not steps.isdigit() or int(steps) < 1:
            raise SystemExit(f"--grid: expected NAME:STEPS, got {item!r}")
        out.append((name, int(steps)))
    return out


def measure(model: str, setting: Setting, limit: int, n_per_prompt: int, out: Path,
            detector: str | None = None) -> dict[str, Any]:
    """One setting through tfgen.eval's compositional suite; the report is kept in `out`."""
    from tfgen.eval.report import report_json
    from tfgen.eval.runner import EvalConfig, run_eval

    cfg = EvalConfig(model=model, suites=("compositional",), n_per_prompt=n_per_prompt, limit=limit, seed=0,
                     detector=detector, sampler=setting.sampler, steps=setting.steps, guidance=setting.guidance)
    report, _ = run_eval(cfg)
    (out / f"{setting.label}.json").write_text(report_json(report), encoding="utf-8")
    comp = report["suites"]["compositional"]
    images = report["prompts"]["compositional"]["n"] * n_per_prompt
    return {"sampler": setting.sampler, "steps": setting.steps, "guidance": setting.guidance,
            "compositional": comp["overall"], "categories": comp["categories"],
            "frechet": report["suites"].get("frechet", {}).get("distance"),
            "seconds_per_image": round(report["seconds"] / images, 3), "missing_images": report.get("missing_images")}


def better(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Higher GenEval overall wins; equal scores go to the lower Fréchet distance."""
    if a["compositional"] != b["compositional"]:
        return a["compositional"] > b["compositional"]
    fa, fb = a["frechet"], b["frechet"]
    return fa is not None and (fb is None or fa < fb)


def choose(rows: list[dict[str, Any]], budget: float) -> dict[str, Any]:
    """The best row among those at most `budget` x the fastest one's time per image."""
    fastest = min(r["seconds_per_image"] for r in rows)
    best = None
    for row in rows:
        if row["seconds_per_image"] <= budget * fastest and (best is None or better(row, best)):
            best = row
    assert best is not None
    return best


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="Checkpoint directory.")
    p.add_argument("--limit", type=int, default=30, help="Stratified held-out prompts per setting.")
    p.add_argument("--n-per-prompt", type=int, default=1)
    p.add_argument("--grid", default="euler:10,euler:20,heun:10,heun:20", help="Samplers as NAME:STEPS, comma-separated.")
    p.add_argument("--guidance", default="1,3,5", help="Guidance scales tried on the winning sampler.")
    p.add_argument("--budget", type=float, default=2.0, help="Allowed time per image, as a multiple of the fastest.")
    p.add_argument("--out", type=Path, default=None, help="Folder for the reports (default: MODEL/../sampler-choice).")
    p.add_argument("--write", action="store_true", help="Record the choice in the checkpoint's config.json.")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--detector", default=None, help="Judge directory (default: the shipped detector).")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    out = args.out or Path(args.model).resolve().parent / "sampler-choice"
    out.mkdir(parents=True, exist_ok=True)
    scales = [float(g) for g in args.guidance.split(",")]
    middle = scales[len(scales) // 2]
    rows = []
    for name, steps in parse_grid(args.grid):
        rows.append(measure(args.model, Setting(name, steps, middle), args.limit, args.n_per_prompt, out,
                            args.detector))
        print(json.dumps(rows[-1]), flush=True)
    sampler = choose(rows, args.budget)
    for g in scales:
        if g != middle:
            rows.append(measure(args.model, Setting(sampler["sampler"], sampler["steps"], g), args.limit,
                                args.n_per_prompt, out, args.detector))
            print(json.dumps(rows[-1]), flush=True)
    same = [r for r in rows if (r["sampler"], r["steps"]) == (sampler["sampler"], sampler["steps"])]
    best = choose(same, float("inf"))
    choice = {"name": best["sampler"], "steps": best["steps"], "guidance": best["guidance"]}
    result = {"choice": choice, "rule": f"best GenEval overall (then Fréchet) within {args.budget:g}x the fastest "
              f"time per image; {args.limit} prompts x {args.n_per_prompt}, seed 0", "rows": rows}
    (out / "choice.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result["choice"]), flush=True)
    if args.write:
        write_choice(Path(args.model), result)
    return result


def write_choice(model: Path, result: dict[str, Any]) -> None:
    """Record the choice in config.json (the file has no checksum of its own; the others are untouched)."""
    from tfgen.atomic import write_text_atomic

    path = model / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["sampler"] = dict(result["choice"])
    config["sampler_measurements"] = {"rule": result["rule"], "rows": result["rows"]}
    write_text_atomic(path, json.dumps(config, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
