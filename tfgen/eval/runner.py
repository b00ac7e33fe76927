"""Runs the requested suites and assembles the report (the library side of `tfgen eval`)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from tfgen.errors import TfgenError

SUITES = ("compositional", "consistency", "documents", "text", "vae")
MODEL_SUITES = ("compositional", "consistency", "documents", "text")


@dataclass(frozen=True)
class EvalConfig:
    model: str | None = None  # checkpoint dir; None: the shipped model; "storyworld": ground truth
    suites: tuple[str, ...] = SUITES
    n_per_prompt: int = 4
    limit: int | None = None  # stratified subset of each suite's prompts
    seed: int = 0
    detector: str | None = None  # None: the shipped detector
    text_documents: int = 50
    documents_per_kind: int = 20
    vae_images: int = 200
    # Sampler overrides (None: the checkpoint's defaults), so settings can be compared on one model.
    sampler: str | None = None
    steps: int | None = None
    guidance: float | None = None


def parse_suites(value: str) -> tuple[str, ...]:
    names = [s.strip() for s in value.split(",") if s.strip()]
    if names == ["all"]:
        return SUITES
    bad = [n for n in names if n not in SUITES]
    if bad or not names:
        raise TfgenError(f"unknown suite {', '.join(bad) or value!r} (all, {', '.join(SUITES)})", where="--suite")
    return tuple(names)


def _model_dir(model: str | None) -> str:
    from tfgen.resources import default_model_dir

    return str(default_model_dir()) if model is None else model


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def run_eval(cfg: EvalConfig, progress: Callable[[str], None] = lambda s: None) -> tuple[dict[str, Any], list]:
    """(report, grid rows). Suites that cannot run are listed under report["skipped"] with why."""
    import torch

    from tfgen.eval.detector import WEIGHTS_FILE, default_detector_dir, load_judge
    from tfgen.eval.generation import WORLD_MODEL
    from tfgen.eval.prompts import COMIC_CATEGORY, GENEVAL_CATEGORIES, prompt_set
    from tfgen.eval.report import new_report

    torch.manual_seed(cfg.seed)
    model = _model_dir(cfg.model)
    judge = load_judge(cfg.detector)
    det_dir = Path(cfg.detector) if cfg.detector else default_detector_dir()
    detector_info = {"sha256": _sha256(det_dir / WEIGHTS_FILE), "heldout_accuracy": judge.info.get("heldout_accuracy")}
    report = new_report({"name": model}, detector_info, asdict(cfg) | {"suites": list(cfg.suites), "model": model})
    heldout = prompt_set(GENEVAL_CATEGORIES, 1)
    report["prompts"] = {"version": heldout.version, "sha256": heldout.sha256}
    rows: list = []
    generator = _generator(report, model, cfg.suites, cfg)
    t0 = time.perf_counter()
    if generator is not None and "compositional" in cfg.suites:
        progress("compositional")
        ps = prompt_set(GENEVAL_CATEGORIES, cfg.limit)
        report["prompts"]["compositional"] = ps.describe() | {"limit": cfg.limit}
        _compositional(report, rows, generator, judge, list(ps.entries), cfg)
    if generator is not None and ("consistency" in cfg.suites or "documents" in cfg.suites):
        comics = prompt_set((COMIC_CATEGORY,), cfg.limit)
        report["prompts"]["comic"] = comics.describe() | {"limit": cfg.limit}
        if "consistency" in cfg.suites:
            progress("consistency")
            _consistency(report, rows, generator, judge, list(comics.entries), cfg)
        if "documents" in cfg.suites:
            progress("documents")
            _documents(report, generator, list(comics.entries), cfg)
    if generator is not None and "text" in cfg.suites:
        progress("text")
        from tfgen.eval.text import run_text

        res = run_text(generator, cfg.text_documents if cfg.limit is None else min(cfg.text_documents, cfg.limit))
        if res is None:
            report["skipped"]["text"] = f"{getattr(generator, 'name', 'the model')} is not a language model"
        else:
            report["suites"]["text"] = asdict(res)
    if "vae" in cfg.suites:
        progress("vae")
        if model == WORLD_MODEL:
            report["skipped"]["vae"] = "the storyworld has no VAE"
        else:
            _vae(report, rows, model, cfg)
    if generator is not None and hasattr(generator, "missing_images"):
        # Prompts whose document ended without an image: judged as blank images, so say how many.
        report["missing_images"] = generator.missing_images
    report["seconds"] = round(time.perf_counter() - t0, 2)
    return report, rows


def _generator(report: dict[str, Any], model: str, suites: tuple[str, ...], cfg: EvalConfig) -> Any:
    """The model's Generator when a model suite runs; a failure skips those suites (or raises if alone)."""
    from tfgen.eval.generation import load_generator

    if not any(s in MODEL_SUITES for s in suites):
        return None
    try:
        generator = load_generator(model, {"sampler": cfg.sampler, "steps": cfg.steps, "guidance": cfg.guidance})
    except TfgenError as exc:
        if len(suites) == 1:
            raise
        report["skipped"].update({s: str(exc) for s in suites if s in MODEL_SUITES})
        return None
    report["model"]["config"] = generator.config
    return generator


def _compositional(report, rows, generator, judge, entries, cfg: EvalConfig) -> None:
    from tfgen.eval.compositional import run_compositional
    from tfgen.eval.frechet import frechet_distance
    from tfgen.eval.generation import WorldGenerator
    from tfgen.eval.prompts import GENEVAL_CATEGORIES

    res = run_compositional(generator, judge, entries, cfg.n_per_prompt, cfg.seed)
    report["suites"]["compositional"] = res.scores | {"records": res.records}
    flat = [img for per in res.images for img in per]
    ok = {(r["prompt"], r["k"]): r["correct"] for r in res.records}
    for cat in GENEVAL_CATEGORIES:
        cells = [(per[0], ok.get((e["prompt"], 0))) for e, per in zip(entries, res.images) if e["category"] == cat and per]
        rows.append((cat, cells[:8]))
    real = WorldGenerator().images([e["prompt"] for e in entries], cfg.n_per_prompt, cfg.seed + 10_007)
    real_flat = [img for per in real for img in per]
    if len(flat) >= 2 and len(real_flat) >= 2:
        fd = frechet_distance(judge.features(flat), judge.features(real_flat))
        report["suites"]["frechet"] = {"distance": fd, "generated": len(flat), "real": len(real_flat),
                                       "features": f"detector stride-8 pooled ({judge.cfg.widths[3]}-d)"}


def _consistency(report, rows, generator, judge, entries, cfg: EvalConfig) -> None:
    from tfgen.eval.consistency import run_consistency

    res = run_consistency(generator, judge, entries, cfg.seed)
    report["suites"]["consistency"] = {"score": res.score, "panels": res.panels, "documents": res.documents,
                                       "records": res.records}
    if res.images:
        rows.append(("consistency", list(zip(res.images[0], res.records[0]["panels"]))))


def _documents(report, generator, comic_entries, cfg: EvalConfig) -> None:
    from tfgen.eval.documents import document_requests, run_documents

    per_kind = cfg.documents_per_kind if cfg.limit is None else max(1, min(cfg.documents_per_kind, cfg.limit // 3))
    res = run_documents(generator, document_requests(comic_entries, per_kind), cfg.seed)
    report["suites"]["documents"] = asdict(res)


def _vae(report, rows, model: str, cfg: EvalConfig) -> None:
    from tfgen.eval.prompts import GENEVAL_CATEGORIES, prompt_set, render_scenes
    from tfgen.eval.vae import load_vae, run_vae

    bundle = load_vae(model)
    n = cfg.vae_images if cfg.limit is None else min(cfg.vae_images, cfg.limit)
    entries = list(prompt_set(GENEVAL_CATEGORIES, n).entries)
    scenes = [per[0] for per in render_scenes(entries, 1, cfg.seed + 4242)]
    res = run_vae(bundle, [s.image for s in scenes], [s.annotations for s in scenes])
    report["suites"]["vae"] = {"psnr": res.psnr, "psnr_min": res.psnr_min, "images": res.images,
                               "image_size": res.image_size, "colour_kept": res.colour_kept,
                               "colour_objects": res.colour_objects}
    report["prompts"]["vae"] = {"n": len(entries), "seed": cfg.seed + 4242}
    rows.append(("vae (orig|recon)", [(img, None) for pair in res.pairs[:4] for img in pair]))
