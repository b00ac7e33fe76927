"""`tfgen eval`: score a model with the world detector; rich table on stderr, JSON to stdout or -o."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from tfgen.cli.console import print_info


def eval_command(
    model: Optional[str] = typer.Option(None, "--model", help="Checkpoint directory (default: the shipped model); "
                                        "'storyworld' scores ground-truth renders (the ceiling)."),
    suite: str = typer.Option("all", "--suite", help="all, or comma-separated: compositional, consistency, "
                              "documents, text, vae."),
    n_per_prompt: int = typer.Option(4, "--n-per-prompt", help="Images per prompt (compositional)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="A fixed, stratified subset of N prompts per suite."),
    seed: int = typer.Option(0, "--seed", help="Seed for generation and renders; same seed, same report."),
    detector: Optional[Path] = typer.Option(None, "--detector", help="Detector directory (default: the shipped one)."),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON report on stdout."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the JSON report to this file."),
    grid: Optional[Path] = typer.Option(None, "--grid", help="Write a PNG grid of samples per category."),
    threads: int = typer.Option(1, "--threads", help="CPU threads for torch (small models run fastest on one)."),
    sampler: Optional[str] = typer.Option(None, "--sampler", help="ddpm, ddim, euler or heun (default: the checkpoint's)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Denoising steps (default: the checkpoint's)."),
    cfg_scale: Optional[float] = typer.Option(None, "--cfg", help="Guidance scale (default: the checkpoint's)."),
) -> None:
    """Measure a model: GenEval-style composition, character consistency, documents, perplexity, VAE PSNR."""
    from tfgen.errors import TfgenError
    from tfgen.eval.report import print_table, report_json, write_grid
    from tfgen.eval.runner import EvalConfig, parse_suites, run_eval

    if n_per_prompt < 1:
        raise TfgenError(f"must be at least 1 (got {n_per_prompt})", where="--n-per-prompt")
    if limit is not None and limit < 1:
        raise TfgenError(f"must be at least 1 (got {limit})", where="--limit")
    cfg = EvalConfig(model=model, suites=parse_suites(suite), n_per_prompt=n_per_prompt, limit=limit, seed=seed,
                     detector=str(detector) if detector else None, sampler=sampler, steps=steps, guidance=cfg_scale)
    if threads < 1:
        raise TfgenError(f"must be at least 1 (got {threads})", where="--threads")
    import torch

    torch.set_num_threads(threads)
    report, rows = run_eval(cfg, progress=lambda s: print_info(f"running {s} ..."))
    print_table(report)
    text = report_json(report)
    if output is not None:
        from tfgen.atomic import write_text_atomic

        write_text_atomic(output, text)
        print_info(f"wrote {output}")
    if as_json or output is None:
        typer.echo(text, nl=False)
    if grid is not None:
        write_grid(grid, rows)
        print_info(f"wrote {grid}")


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
