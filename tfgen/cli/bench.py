"""`tfgen bench`: the sampler's speed figures side by side (tfgen.sampling.benchmark), table or --json."""

from __future__ import annotations

from typing import Optional

import typer

from tfgen.errors import TfgenError


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)


def bench(
    model: Optional[str] = typer.Option(None, "--model", help="Checkpoint directory (default: the shipped model; "
                                        "without one, a randomly initialised --preset)."),
    preset: str = typer.Option("world-s", "--preset", help="Preset to initialise at random when there is no model."),
    prefix: int = typer.Option(200, "--prefix", help="Text tokens before the image."),
    steps: int = typer.Option(20, "--steps", help="Denoising steps for the cache and guidance comparisons."),
    step_counts: str = typer.Option("5,10,20,50", "--step-counts", help="Step counts for time per image vs steps."),
    repeats: int = typer.Option(3, "--repeats", min=1, help="Timed runs per figure (median reported)."),
    threads: int = typer.Option(0, "--threads", min=0, help="CPU threads for torch (0 = torch's default)."),
    json_out: bool = typer.Option(False, "--json", help="Print the figures as one JSON object."),
) -> None:
    """Measure naive vs prefix-cached sampling, batched vs two-pass guidance, steps, and text speed."""
    import json

    import torch

    from tfgen.sampling.benchmark import BenchConfig, run_bench

    if threads:
        torch.set_num_threads(threads)
    try:
        counts = tuple(int(s) for s in step_counts.split(",") if s.strip())
    except ValueError:
        raise TfgenError("must be whole numbers separated by commas", where="--step-counts") from None
    net, name, decode = _model(model, preset)
    if prefix < 1 or prefix + net.cfg.patches_per_image + 2 > net.cfg.max_seq_len:
        raise TfgenError(f"must leave room for an image and text in {net.cfg.max_seq_len} positions", where="--prefix")
    cfg = BenchConfig(prefix=prefix, steps=steps, step_counts=counts, repeats=repeats)
    report = run_bench(net, name, cfg, decode)
    if json_out:
        typer.echo(json.dumps({"model": report.model, "threads": torch.get_num_threads(), "rows": report.rows,
                               "figures": report.figures}))
        return
    _print_table(report, torch.get_num_threads())


def _model(model: Optional[str], preset: str):
    """(model, description, VAE decode or None): the checkpoint, else a random preset when the installation has none."""
    import torch

    from tfgen.model.config import preset as preset_config
    from tfgen.model.transfusion import Transfusion
    from tfgen.sampling.loader import ModelNotFoundError, load_model

    try:
        loaded = load_model(model)
        vae = loaded.vae
        return loaded.model, str(loaded.directory), lambda z: vae.vae.decode(z / vae.scale_factor)
    except ModelNotFoundError:
        if model:
            raise
    from tfgen.sampling.memory_layout import prepare_for_sampling

    torch.manual_seed(0)
    net = prepare_for_sampling(Transfusion(preset_config(preset)).eval().requires_grad_(False))
    return net, f"random-init preset {preset!r}", None


def _print_table(report, threads: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"tfgen bench: {report.model}, {threads} threads")
    table.add_column("measurement")
    table.add_column("seconds", justify="right")
    table.add_column("note")
    for row in report.rows:
        table.add_row(row["name"], "-" if row["seconds"] is None else f"{row['seconds']:.4f}", row["note"])
    Console(highlight=False).print(table)
