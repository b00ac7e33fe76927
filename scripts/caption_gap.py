"""Does a checkpoint use its captions? The image loss with the condition dropped minus kept, per t.

    python scripts/caption_gap.py --model RUN/flow/checkpoint --data RUN/data [--t 300,600,900,990,999]
        [--batches 3] [--batch-size 8] [--run-dir DIR]

Rows are packed from the dataset exactly as training packs them (same tokenizer, seq_len and
max_images as the checkpoint's training config); every image is made a noised target at the given
t and scored by tfgen.eval.caption_gap (the objective's own error, with the caption kept and
dropped on the same noise). A model that ignores its captions has a gap of 0 at every t.
This is the probe behind the table in the default model's card and docs/TRAINING.md section 4.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def caption_gap(model: str, data: str, times: list[float], batches: int, batch_size: int,
                run_dir: Path) -> list[dict[str, Any]]:
    """Per t: mean image loss with the caption kept, dropped, and their difference (tfgen.eval.caption_gap)."""
    import torch

    from tfgen.eval.caption_gap import paired_image_loss
    from tfgen.train.checkpoint import load_checkpoint
    from tfgen.train.config import TrainConfig
    from tfgen.train.pipeline import prepare_run

    config = load_checkpoint(model).config
    trained = config.get("training", {}).get("train_config", {})
    seq_len = int(trained.get("seq_len", config["model"]["max_seq_len"]))
    cfg = TrainConfig(data=data, init_from=model, seq_len=seq_len, max_images=int(trained.get("max_images", 16)),
                      batch_size=batch_size)
    run_dir.mkdir(parents=True, exist_ok=True)
    run = prepare_run(cfg, run_dir)  # latents cached in run_dir, reused by later calls
    net, source = run.module.net.eval(), run.source
    row_batches = [torch.arange(i * batch_size, (i + 1) * batch_size) % len(source.rows) for i in range(batches)]
    noise = torch.randn(source.latents.shape, generator=torch.Generator().manual_seed(1000))  # the same at every t
    rows = []
    for t in times:
        score = paired_image_loss(net, source.rows, source.latents, torch.full((len(noise),), t), noise, row_batches)
        n = max(score.images, 1)
        rows.append({"t": t, "kept": score.kept / n, "dropped": score.dropped / n, "gap": score.gap})
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="Checkpoint directory.")
    p.add_argument("--data", required=True, help="The dataset it was trained on (or one like it).")
    p.add_argument("--t", default="300,600,900,990,999", help="Model times (0 clean .. 999 noise), comma-separated.")
    p.add_argument("--batches", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--run-dir", type=Path, default=None, help="Where to cache the latents (default: a temporary folder).")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    times = [float(x) for x in args.t.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        rows = caption_gap(args.model, args.data, times, args.batches, args.batch_size, args.run_dir or Path(tmp))
    print("| t | loss, caption kept | loss, caption dropped | gap |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['t']:g} | {r['kept']:.4f} | {r['dropped']:.4f} | {r['gap']:+.4f} |")
    return rows


if __name__ == "__main__":
    main()
