"""The dataset directory (format tfgen.dataset/1): manifest.json plus JSONL shards of documents.

    manifest.json     {"format", "n_documents", "counts" (per world kind: caption, comic, magazine,
                       deck), "seed", "kinds", "image_size", "licence", "attribution",
                       "heldout": {"version", "sha256"}, "shards": [...]}
    docs-00000.jsonl  one tfgen.document/1 per line, images as png_base64, annotations in meta

Written into a temporary folder beside the target and renamed into place, so a reader never
sees half a dataset. The same arguments give the same bytes (no timestamps, fixed key order).
"""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from tfgen.document import Document
from tfgen.errors import DocumentError, OutputError, TfgenError
from tfgen.world.atlas import ATTRIBUTION, LICENCE
from tfgen.world.documents import DEFAULT_IMAGE_SIZE, WORLD_KINDS, check_kinds, iter_documents

DATASET_FORMAT = "tfgen.dataset/1"
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 32, 1024


@dataclass(frozen=True)
class BuildConfig:
    out: Path
    n: int
    seed: int = 0
    kinds: tuple[str, ...] = WORLD_KINDS
    image_size: int = DEFAULT_IMAGE_SIZE
    shard_size: int = 1000
    force: bool = False
    workers: int = 1

    def validate(self) -> None:
        if self.n <= 0:
            raise TfgenError(f"the number of documents must be at least 1 (got {self.n})", where="--n")
        if not MIN_IMAGE_SIZE <= self.image_size <= MAX_IMAGE_SIZE:
            raise TfgenError(f"image size must be {MIN_IMAGE_SIZE}-{MAX_IMAGE_SIZE} (got {self.image_size})",
                             where="--image-size")
        if self.shard_size <= 0:
            raise TfgenError(f"shard size must be at least 1 (got {self.shard_size})", where="--shard-size")
        if self.workers <= 0:
            raise TfgenError(f"workers must be at least 1 (got {self.workers})", where="--workers")
        check_kinds(self.kinds)
        if self.out.exists() and not self.out.is_dir():
            raise OutputError("exists and is not a folder", where=str(self.out))
        if self.out.is_dir() and any(self.out.iterdir()) and not self.force:
            raise OutputError("the folder is not empty (use --force to replace it)", where=str(self.out))


def _shard_lines(args: tuple[int, int, int, tuple[str, ...], int], sampler=None) -> tuple[str, dict[str, int]]:
    """Documents start..stop as JSONL text, and their counts per world kind (may run in a worker)."""
    seed, start, stop, kinds, size = args
    counts: dict[str, int] = {}
    lines = []
    for doc in iter_documents(seed, kinds, size, start=start, stop=stop, sampler=sampler):
        lines.append(doc.to_json() + "\n")
        counts[doc.meta["world_kind"]] = counts.get(doc.meta["world_kind"], 0) + 1
    return "".join(lines), counts


def build_dataset(cfg: BuildConfig, progress: Callable[[int], None] | None = None) -> dict:
    """Write the dataset directory and return its manifest."""
    from tfgen.world.heldout import load_heldout

    cfg.validate()
    heldout = load_heldout()
    parent = cfg.out.parent if str(cfg.out.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError("the folder does not exist", where=str(parent))
    tmp = parent / f".{cfg.out.name}.part-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        jobs = [(cfg.seed, s, min(s + cfg.shard_size, cfg.n), cfg.kinds, cfg.image_size)
                for s in range(0, cfg.n, cfg.shard_size)]
        shards, counts = [], {k: 0 for k in cfg.kinds}
        with _pool(cfg.workers) as run:
            for i, (text, shard_counts) in enumerate(run(_shard_lines, jobs)):
                name = f"docs-{i:05d}.jsonl"
                (tmp / name).write_text(text, encoding="utf-8")
                shards.append(name)
                for k, v in shard_counts.items():
                    counts[k] += v
                if progress:
                    progress(jobs[i][2])
        manifest = {
            "format": DATASET_FORMAT, "n_documents": cfg.n, "counts": counts, "seed": cfg.seed,
            "kinds": list(cfg.kinds), "image_size": cfg.image_size, "images": "png_base64",
            "licence": LICENCE, "attribution": ATTRIBUTION,
            "heldout": {"version": heldout.version, "sha256": heldout.sha256}, "shards": shards,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
        if cfg.out.exists():
            shutil.rmtree(cfg.out)
        os.replace(tmp, cfg.out)
    except OSError as exc:
        raise OutputError(f"cannot write the dataset ({exc.strerror})", where=str(cfg.out)) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


class _pool:
    """Shards in order: in this process with one shared sampler, or over a process pool."""

    def __init__(self, workers: int):
        self.executor = ProcessPoolExecutor(workers) if workers > 1 else None

    def __enter__(self):
        if self.executor:
            return self.executor.map
        from tfgen.world.sampling import SceneSampler

        sampler = SceneSampler()
        return lambda fn, jobs: (fn(job, sampler) for job in jobs)

    def __exit__(self, *exc) -> None:
        if self.executor:
            self.executor.shutdown(cancel_futures=True)


def read_manifest(folder: Path) -> dict:
    path = folder / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DocumentError("not a dataset folder (no manifest.json)", where=str(folder)) from None
    except (OSError, ValueError) as exc:
        raise DocumentError(f"cannot read the manifest ({exc})", where=str(path)) from None
    if not isinstance(manifest, dict) or manifest.get("format") != DATASET_FORMAT:
        raise DocumentError(f"not a {DATASET_FORMAT} manifest", where=str(path))
    return manifest


def iter_dataset(folder: Path, kinds: Sequence[str] | None = None) -> Iterator[Document]:
    """The documents of a dataset folder in order (optionally only some world kinds)."""
    manifest = read_manifest(folder)
    for shard in manifest.get("shards", []):
        path = folder / shard
        try:
            handle = path.open(encoding="utf-8")
        except OSError as exc:
            raise DocumentError(f"cannot read the shard ({exc.strerror})", where=str(path)) from None
        with handle:
            for lineno, line in enumerate(handle, 1):
                try:
                    doc = Document.from_json(line)
                except DocumentError as exc:
                    raise DocumentError(exc.message, where=f"{path}:{lineno}: {exc.where or ''}".rstrip(": ")) from None
                if kinds is None or doc.meta.get("world_kind") in kinds:
                    yield doc
