"""`tfgen data build` and `tfgen data show`: the storyworld's dataset on disk, and a look at it."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Optional

import typer

from tfgen.cli.console import print_info

data_app = typer.Typer(help="Build the storyworld dataset and look at it.", no_args_is_help=True)


@data_app.command("build")
def build(
    out: Path = typer.Option(..., "--out", help="Dataset folder to write (must be empty, or use --force)."),
    n: int = typer.Option(1000, "--n", help="Number of documents."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed gives the same bytes."),
    kinds: str = typer.Option("caption,comic,magazine,deck", "--kinds", help="Comma-separated world kinds."),
    image_size: int = typer.Option(128, "--image-size", help="Image side in pixels."),
    shard_size: int = typer.Option(1000, "--shard-size", help="Documents per docs-NNNNN.jsonl shard."),
    workers: int = typer.Option(1, "--workers", help="Processes to use (the output does not depend on it)."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty output folder."),
) -> None:
    """Write a tfgen.dataset/1 folder: manifest.json plus JSONL shards of documents."""
    from tfgen.world.dataset import BuildConfig, build_dataset

    kind_list = tuple(k.strip() for k in kinds.split(",") if k.strip())
    cfg = BuildConfig(out=out, n=n, seed=seed, kinds=kind_list, image_size=image_size,
                      shard_size=shard_size, force=force, workers=workers)
    started = time.perf_counter()
    manifest = build_dataset(cfg, progress=lambda done: print_info(f"{done}/{n} documents"))
    took = time.perf_counter() - started
    counts = ", ".join(f"{k} {v}" for k, v in manifest["counts"].items())
    print_info(f"wrote {out} ({counts}) in {took:.1f} s; held-out list {manifest['heldout']['version']}")


@data_app.command("show")
def show(
    folder: Path = typer.Argument(..., help="A dataset folder written by `tfgen data build`."),
    index: Optional[int] = typer.Option(None, "--index", "-i", help="Show every image of this one document."),
    count: int = typer.Option(16, "--count", help="How many documents to show (first image of each)."),
    kind: Optional[str] = typer.Option(None, "--kind", help="Only this world kind (caption, comic, ...)."),
    boxes: bool = typer.Option(False, "--boxes", help="Draw the annotation boxes."),
    output: Path = typer.Option(Path("contact.png"), "-o", "--output", help="PNG file to write."),
) -> None:
    """Write a contact sheet of a dataset's images and captions."""
    from tfgen.atomic import atomic_path
    from tfgen.errors import TfgenError
    from tfgen.world.contact import contact_sheet, tiles_for
    from tfgen.world.dataset import iter_dataset
    from tfgen.world.documents import check_kinds

    kinds = check_kinds([kind]) if kind else None
    if count <= 0:
        raise TfgenError(f"must be at least 1 (got {count})", where="--count")
    if index is not None:
        doc = next(itertools.islice(iter_dataset(folder, kinds), index, None), None) if index >= 0 else None
        if doc is None:
            raise TfgenError("no document with this index", where=f"--index {index}")
        header = f"#{index} {doc.meta.get('world_kind', doc.kind)} | prompt: {doc.prompt} | {doc.title}"
        sheet = contact_sheet(tiles_for(doc, all_images=True), columns=4, boxes=boxes, header=header)
    else:
        tiles = [t for doc in itertools.islice(iter_dataset(folder, kinds), count) for t in tiles_for(doc)]
        if not tiles:
            raise TfgenError("no images to show", where=str(folder))
        sheet = contact_sheet(tiles, columns=4, boxes=boxes)
    with atomic_path(output) as tmp:
        sheet.save(tmp, format="PNG")
    print_info(f"wrote {output}")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
