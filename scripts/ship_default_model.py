"""Copy a trained checkpoint into the package as the default model, with its model card and figures.

    python scripts/ship_default_model.py --checkpoint RUN/flow/checkpoint [--card MODEL_CARD.md]
        [--eval REPORT.json ...] [--attach DIR ...] [--out tfgen/default_model]

The checkpoint is loaded and checked (sizes and SHA-256 of every file), then written again with
tfgen.train.checkpoint.save_checkpoint, so the new MODEL_CARD.md gets its own fingerprint in
config.json. `--eval` adds the reports' headline figures (suites merged, later reports win) as
config.json's "evaluation" section (what `tfgen info` prints). The weights are written exactly as trained (fp32: the whole folder is
far below the 40 MB budget, so nothing is gained by rounding them). `--attach` copies folders
(e.g. the raw ablation reports) into the shipped folder after it is written.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FILLED_BY_SAVE = ("format", "vae", "tokenizer", "files")  # save_checkpoint writes these itself


def headline_figures(report: dict[str, Any]) -> dict[str, Any]:
    """The numbers a user wants from a tfgen.eval/1 report, flat, rounded."""
    suites = report.get("suites", {})
    out: dict[str, Any] = {}
    comp = suites.get("compositional")
    if comp:
        out["compositional_overall"] = round(comp["overall"], 3)
        out.update({f"compositional_{k}": round(v, 3) for k, v in comp["categories"].items()})
    if "consistency" in suites:
        out["consistency"] = round(suites["consistency"]["score"], 3)
    if "documents" in suites:
        out["documents_parse_rate_unforced"] = suites["documents"]["pass_rate"]
    if "text" in suites:
        out["text_perplexity"] = round(suites["text"]["perplexity"], 2)
    if "vae" in suites:
        out["vae_psnr_db"] = round(suites["vae"]["psnr"], 2)
    if "frechet" in suites:
        out["frechet_detector_features"] = round(suites["frechet"]["distance"], 2)
    settings = report.get("settings", {})
    out[f"measured_with_{'_'.join(sorted(suites))}"] = {k: settings.get(k) for k in ("limit", "n_per_prompt", "seed")}
    return out


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--card", type=Path, help="MODEL_CARD.md to ship (default: the checkpoint's own).")
    p.add_argument("--eval", type=Path, nargs="*", default=[], help="`tfgen eval` JSON reports of this checkpoint.")
    p.add_argument("--attach", type=Path, nargs="*", default=[], help="Folders copied into the shipped folder.")
    p.add_argument("--data-description", help="What the data was, in words (`tfgen info` prints it instead of the "
                   "training run's local folder).")
    p.add_argument("--out", type=Path, default=REPO / "tfgen" / "default_model")
    args = p.parse_args(argv)
    from tfgen.train.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(args.checkpoint)
    config = {k: v for k, v in ckpt.config.items() if k not in FILLED_BY_SAVE}
    if args.data_description:
        config["training"] = {**config.get("training", {}), "data_description": args.data_description}
    if args.eval:
        config["evaluation"] = {k: v for path in args.eval
                                for k, v in headline_figures(json.loads(path.read_text(encoding="utf-8"))).items()}
    card = args.card.read_text(encoding="utf-8") if args.card else ckpt.model_card
    out = save_checkpoint(args.out, config, ckpt.model_state, ckpt.vae, ckpt.tokenizer, card)
    for folder in args.attach:
        shutil.copytree(folder, out / folder.name)
    load_checkpoint(out)  # what ships must load
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"shipped {out} ({size / 1e6:.1f} MB)")
    return out


if __name__ == "__main__":
    main()
