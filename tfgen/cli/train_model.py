"""`tfgen train`: train (or fine-tune, or resume) the Transfusion model; also runs unchanged under torchrun."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def add_train_command(app: typer.Typer) -> None:
    """Register `tfgen train` on `app` (called from tfgen.cli.train.register)."""
    app.command("train")(train)


def train(
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML file with a \\[train] and an optional \\[model] table.")] = None,
    preset: Annotated[Optional[str], typer.Option(help="Model preset when no \\[model] table is given (e.g. tiny, world-s).")] = None,
    data: Annotated[Optional[str], typer.Option(help="Dataset directory, or a folder of .md/.json documents or captioned images.")] = None,
    out: Annotated[Optional[str], typer.Option(help="Run directory: checkpoint/, train_state.*, latent cache.")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Optimiser updates.")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Global batch in packed sequences.")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate.")] = None,
    init_from: Annotated[Optional[str], typer.Option("--init-from", help="Checkpoint directory to fine-tune ('default': the shipped model).")] = None,
    vae: Annotated[Optional[str], typer.Option(help="VAE directory from `tfgen train-vae` (with --init-from: replaces the checkpoint's VAE).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its train_state.")] = False,
    device: Annotated[Optional[str], typer.Option(help="auto, cpu or cuda.")] = None,
    dtype: Annotated[Optional[str], typer.Option(help="fp32, bf16 (autocast) or auto.")] = None,
) -> None:
    """Train the model on a dataset; writes a checkpoint directory and an exact-resume training state."""
    from tfgen.cli.console import print_info
    from tfgen.train.config import TrainConfig, load_train_config, read_toml
    from tfgen.train.pipeline import train_from_config

    base = load_train_config(config) if config else TrainConfig()
    model_table = read_toml(config).get("model") if config else None
    cfg = base.replace(preset=preset, data=data, out=out, steps=steps, batch_size=batch_size, lr=lr,
                       init_from=init_from, vae=vae, device=device, dtype=dtype)
    outcome = train_from_config(cfg, model_table, resume=resume, log=print_info)
    last = outcome.result.last
    if last is not None and outcome.is_main:
        print_info(f"done: {outcome.steps_done} steps, loss {last.loss:.4f} (lm {last.lm:.4f}, image {last.image:.4f}), "
                   f"{last.tokens_per_s:,.0f} tokens/s; checkpoint in {outcome.checkpoint}")
