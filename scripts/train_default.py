"""Train tfgen's default model with tfgen's own commands: data -> VAE -> tokenizer + Transfusion -> eval.

    python scripts/train_default.py [--run-dir /work/runs/default] [--only STAGE] [--dry-run]

Stages, in order: data, vae, vae-refine, model, flow, refit, eval.

The recipe lives in configs/: default-data.toml (`tfgen data build` flags), default-vae.toml
(`tfgen train-vae` flags), default-vae-refine.toml (the same VAE trained further), default.toml (stage 1, `tfgen train --config`: [train] and [model]; the
tokenizer is trained by `tfgen train` on the dataset's text), default-flow.toml (stage 2: a fine-tune of
stage 1 to flow matching with a time shift; the file says why), default-refit.toml (stage 3: stage 2 moved
onto the refined VAE's latents) and default-eval.toml (`tfgen eval`). Each table key becomes the flag
`--key-name`. The data and VAE stages are skipped when their output exists, and a model run
with a training state is continued with `--resume`, so the script can be run again after a stop. docs/TRAINING.md has the
measurements behind every number.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
STAGES = ("data", "vae", "vae-refine", "model", "flow", "refit", "eval")


def flags(table: dict) -> list[str]:
    """A TOML table as command-line flags: {"image_size": 128} -> ["--image-size", "128"]."""
    out: list[str] = []
    for key, value in table.items():
        if isinstance(value, bool):
            if value:
                out.append(f"--{key.replace('_', '-')}")
            continue
        out += [f"--{key.replace('_', '-')}", str(value)]
    return out


def read_table(name: str, table: str) -> dict:
    with open(CONFIGS / name, "rb") as fh:
        return tomllib.load(fh)[table]


def tfgen(args: list[str], dry_run: bool, log: Path | None = None) -> None:
    """Run `python -m tfgen ARGS` from the repository root; stop the chain if it fails."""
    command = [sys.executable, "-m", "tfgen", *args]
    print("+", shlex.join(command), flush=True)
    if dry_run:
        return
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if log is None:
        done = subprocess.run(command, cwd=REPO, env=env)
    else:
        with open(log, "a", encoding="utf-8") as fh:
            done = subprocess.run(command, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT)
    if done.returncode:
        sys.exit(f"stage failed (exit {done.returncode}): {shlex.join(args[:2])}")


def has_command(name: str) -> bool:
    """Whether this checkout's CLI has the command (eval is optional until it lands)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    probe = subprocess.run([sys.executable, "-m", "tfgen", name, "--help"], cwd=REPO, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return probe.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, default=Path("/work/runs/default"),
                        help="Where the dataset, the VAE and the model run go (outside the repo).")
    parser.add_argument("--only", choices=STAGES, help="Run one stage only.")
    parser.add_argument("--dry-run", action="store_true", help="Print the commands without running them.")
    args = parser.parse_args()
    run, dry = args.run_dir, args.dry_run
    data, vae, vae_refine = run / "data", run / "vae", run / "vae-refine"
    model, flow, refit = run / "model", run / "flow", run / "refit"
    wanted = STAGES if args.only is None else (args.only,)
    if not dry:
        run.mkdir(parents=True, exist_ok=True)

    if "data" in wanted and not (data / "manifest.json").is_file():
        tfgen(["data", "build", "--out", str(data), *flags(read_table("default-data.toml", "data"))], dry)
    if "vae" in wanted and not (vae / "vae.safetensors").is_file():
        tfgen(["train-vae", str(data), "--out", str(vae), *flags(read_table("default-vae.toml", "vae"))], dry,
              log=None if dry else run / "vae.log")
    if "vae-refine" in wanted and not (vae_refine / "vae.safetensors").is_file():
        tfgen(["train-vae", str(data), "--out", str(vae_refine), "--init", str(vae),
               *flags(read_table("default-vae-refine.toml", "vae"))], dry, log=None if dry else run / "vae-refine.log")
    if "model" in wanted:  # a finished run resumes at its last step and stops at once
        resume = ["--resume"] if (model / "train_state.json").is_file() else []
        tfgen(["train", "--config", str(CONFIGS / "default.toml"), "--data", str(data), "--vae", str(vae),
               "--out", str(model), *resume], dry, log=None if dry else run / "model.log")
    if "flow" in wanted:
        resume = ["--resume"] if (flow / "train_state.json").is_file() else []
        tfgen(["train", "--config", str(CONFIGS / "default-flow.toml"), "--data", str(data),
               "--init-from", str(model / "checkpoint"), "--out", str(flow), *resume], dry,
              log=None if dry else run / "flow.log")
    if "refit" in wanted:
        resume = ["--resume"] if (refit / "train_state.json").is_file() else []
        tfgen(["train", "--config", str(CONFIGS / "default-refit.toml"), "--data", str(data),
               "--init-from", str(flow / "checkpoint"), "--vae", str(vae_refine), "--out", str(refit), *resume],
              dry, log=None if dry else run / "refit.log")
    if "eval" in wanted:
        if dry or has_command("eval"):
            tfgen(["eval", "--model", str(refit / "checkpoint"), "-o", str(run / "eval.json"),
                   "--grid", str(run / "eval-grid.png"), *flags(read_table("default-eval.toml", "eval"))],
                  dry, log=None if dry else run / "eval.log")
        else:
            print("tfgen eval is not in this checkout yet: skipped the evaluation stage", flush=True)


if __name__ == "__main__":
    main()
