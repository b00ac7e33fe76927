"""The paper's claims in miniature (issue 8): train each ablation arm with tfgen's own code, evaluate, tabulate.

    python benchmarks/ablations.py --out DIR [--scale tiny|cpu|gpu] [--only ARM,...] [--seeds 0,1]
        [--steps N] [--eval-limit N] [--n-per-prompt K] [--threads 1] [--data DIR] [--vae DIR] [--latents FILE]

Arms, scales and claims: benchmarks/ablation_arms.py. Every training arm shares the data, the
tokenizer, the VAE and its latent cache, the model size, steps, batch and seed; only its switch
differs. Each arm is trained by tfgen.train.pipeline.train_from_config (its TOML is written beside
it, so `tfgen train --config DIR/ARM/train.toml` repeats it), evaluated by tfgen.eval.runner
(`tfgen eval --suite compositional,consistency`), timed with the sampling benchmark's primitives,
and measured on held-out captioned scenes (image loss per range of t, conditioning gap).

Output: DIR/ARM/report.json (the raw eval report), DIR/ARM/row.json, DIR/results.json (all rows,
the seed spread, the claims) and DIR/ablations.md (the table and one sentence per claim). A row
whose row.json exists is reused, so a stopped run continues where it was.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ablation_arms as arms  # noqa: E402
from ablation_arms import SamplerArm, Scale, TrainingArm  # noqa: E402


@dataclass(frozen=True)
class Settings:
    out: Path
    scale: Scale
    arms: tuple[str, ...]
    threads: int
    data: Path | None
    vae: Path | None
    latents: Path | None
    command: str


@dataclass(frozen=True)
class Shared:
    """What every arm shares."""

    data: Path
    heldout: Path
    vae: Path
    tokenizer: Path
    latents: Path


def log(message: str) -> None:
    print(f"[ablations {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- shared inputs -------------------------------------------------------------------------------


def prepare_shared(s: Settings) -> Shared:
    """Dataset, held-out caption scenes, VAE, tokenizer and latent cache: built once, reused by every arm."""
    from tfgen.model.config import model_config_from_mapping
    from tfgen.model.tokenizer import train_tokenizer
    from tfgen.train.checkpoint import load_vae_dir
    from tfgen.train.dataset import open_dataset, text_corpus
    from tfgen.train.latents import build_latent_cache
    from tfgen.world.dataset import BuildConfig, build_dataset

    scale, out = s.scale, s.out
    data = s.data or out / "data"
    if s.data is None and not (data / "manifest.json").is_file():
        log(f"building {scale.data_n} storyworld documents into {data}")
        build_dataset(BuildConfig(out=data, n=scale.data_n, seed=0, image_size=scale.image_size, force=True))
    dataset = open_dataset(data)
    heldout = out / "heldout"
    if not (heldout / "manifest.json").is_file():
        log(f"building {scale.heldout_n} held-out captioned scenes (world seed 4242) into {heldout}")
        build_dataset(BuildConfig(out=heldout, n=scale.heldout_n, seed=4242, kinds=("caption",),
                                  image_size=dataset.image_size, force=True))
    vae = s.vae or out / "vae"
    if s.vae is None and not (vae / "vae.safetensors").is_file():
        train_small_vae(data, vae, scale, dataset.image_size)
    tokenizer = out / "tokenizer.json"
    if not tokenizer.is_file():
        vocab = model_config_from_mapping(scale.model).vocab_size
        log(f"training a {vocab}-token tokenizer on the dataset's text")
        train_tokenizer(text_corpus(dataset), vocab_size=vocab).save(tokenizer)
    latents = out / "latents.safetensors"
    if s.latents is not None and not latents.is_file():
        shutil.copyfile(s.latents, latents)  # re-encoded below if it does not match this data and VAE
    log("encoding the training images once (shared by every arm)")
    build_latent_cache(dataset, load_vae_dir(vae), latents)
    return Shared(data, heldout, vae, tokenizer, latents)


def train_small_vae(data: Path, out: Path, scale: Scale, image_size: int) -> None:
    from tfgen.model.vae import VAEConfig
    from tfgen.train.checkpoint import save_vae_dir
    from tfgen.train.vae_trainer import VAETrainConfig, load_training_images, train_vae

    v = scale.vae
    log(f"training a {v['downsample']}x VAE for {v['steps']} steps into {out}")
    images = load_training_images(str(data), image_size, max_images=2000)
    config = VAEConfig.for_downsample(v["downsample"], v["latent_channels"], v["base_channels"])
    result = train_vae(images, config, VAETrainConfig(steps=v["steps"], batch_size=v["batch_size"], lr=2e-3,
                                                      image_size=image_size, holdout=0.05))
    save_vae_dir(out, result.bundle)


# --- one row -------------------------------------------------------------------------------------


def row_dir_name(arm: str, seed: int, first_seed: int) -> str:
    return arm if seed == first_seed else f"{arm}-seed{seed}"


def toml_text(tables: dict[str, dict[str, Any]]) -> str:
    """Flat TOML tables (str, bool, int, float values)."""
    lines = []
    for name, table in tables.items():
        lines.append(f"[{name}]")
        for key, value in table.items():
            text = ("true" if value else "false") if isinstance(value, bool) else \
                json.dumps(value) if isinstance(value, str) else repr(value)
            lines.append(f"{key} = {text}")
        lines.append("")
    return "\n".join(lines)


def train_arm(arm: TrainingArm, seed: int, directory: Path, shared: Shared, s: Settings) -> dict[str, Any]:
    """Train (or reuse) one arm; {"checkpoint", "seconds", "budget", "objective"}."""
    from tfgen.atomic import write_text_atomic
    from tfgen.train.config import train_config_from_mapping
    from tfgen.train.pipeline import train_from_config

    done = directory / "train.json"
    if done.is_file() and (directory / "run" / "checkpoint" / "config.json").is_file():
        return json.loads(done.read_text(encoding="utf-8"))
    run = directory / "run"
    if run.exists():
        shutil.rmtree(run)  # an interrupted run: start the arm again from scratch, budgets stay equal
    run.mkdir(parents=True)
    _link_or_copy(shared.latents, run / "latents.safetensors")
    t = s.scale.train
    steps = int(t["steps"])
    train_table = {**t, "data": str(shared.data), "vae": str(shared.vae), "tokenizer": str(shared.tokenizer),
                   "out": str(run), "seed": seed, "num_threads": s.threads, "device": "auto",
                   "checkpoint_every": steps, "state_every": steps, "state_every_seconds": 1e9,
                   "log_every": max(1, steps // 10)}
    model_table = {**s.scale.model, **arm.model_changes}
    write_text_atomic(directory / "train.toml", toml_text({"train": train_table, "model": model_table}))
    cfg = train_config_from_mapping(train_table)
    log(f"training {directory.name}: {arm.switch}, {steps} steps x {cfg.batch_size} x {cfg.seq_len}")
    start = time.perf_counter()
    outcome = train_from_config(cfg, model_table, log=lambda m: log(f"  {m}"), show_progress=False)
    seconds = time.perf_counter() - start
    info = {"checkpoint": str(outcome.checkpoint), "seconds": round(seconds, 1),
            "budget": f"{outcome.steps_done} x {cfg.batch_size} x {cfg.seq_len}, {seconds:.0f} s",
            "objective": outcome.run.model_cfg.objective}
    write_text_atomic(done, json.dumps(info, indent=1) + "\n")
    return info


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def evaluate(model_dir: Path, directory: Path, s: Settings, sampler: tuple[str, int, float]) -> dict[str, Any]:
    """`tfgen eval --suite compositional,consistency --sampler --steps --cfg` on the row's checkpoint;
    the report is written beside it."""
    from tfgen.atomic import write_text_atomic
    from tfgen.eval.report import report_json
    from tfgen.eval.runner import EvalConfig, run_eval

    name, steps, guidance = sampler
    cfg = EvalConfig(model=str(model_dir), suites=("compositional", "consistency"), n_per_prompt=s.scale.n_per_prompt,
                     limit=s.scale.eval_limit, seed=0, sampler=name, steps=steps, guidance=guidance)
    report, _ = run_eval(cfg)
    text = report_json(report)
    write_text_atomic(directory / "report.json", text)
    return json.loads(text)


def eval_measures(report: dict[str, Any]) -> dict[str, Any]:
    suites = report.get("suites", {})
    comp = suites.get("compositional", {})
    return {"compositional": comp.get("overall"), "categories": comp.get("categories", {}),
            "frechet": suites.get("frechet", {}).get("distance"),
            "consistency": suites.get("consistency", {}).get("score")}


def t_ranges(num_train_timesteps: int) -> list[tuple[int, int]]:
    edges = [round(i * num_train_timesteps / arms.N_T_RANGES) for i in range(arms.N_T_RANGES + 1)]
    return [(edges[i], edges[i + 1]) for i in range(arms.N_T_RANGES)]


def heldout_measures(loaded: Any, shared: Shared, s: Settings) -> dict[str, Any]:
    """Image loss per range of t on every held-out image (all noised targets), and the conditioning gap.

    Paired across arms: each held-out image gets the same t and the same noise in every arm (drawn
    per latent-cache row, not per packed slot, so 2x2 and 4x4 packings score the same draws), and
    the condition-dropped pass reuses the kept pass's draws (tfgen.eval.caption_gap).
    """
    import numpy as np
    import torch

    from tfgen.eval.caption_gap import paired_image_loss
    from tfgen.train.dataset import open_dataset
    from tfgen.train.latents import build_latent_cache
    from tfgen.train.packing import PackingConfig, pack_rows, tokenize_documents

    cfg = loaded.cfg
    dataset = open_dataset(shared.heldout)
    cache = build_latent_cache(dataset, loaded.vae, s.out / "heldout-latents.safetensors")
    packing = PackingConfig(seq_len=int(s.scale.train["seq_len"]), max_images=int(s.scale.train["max_images"]),
                            patches_per_image=cfg.patches_per_image)
    docs = tokenize_documents(dataset, loaded.tokenizer, packing, np.random.default_rng(0))
    rows = pack_rows(docs, packing, loaded.tokenizer.pad_id, cache.doc_offsets)
    ranges = t_ranges(cfg.num_train_timesteps)
    draws = torch.Generator().manual_seed(4242)
    u = torch.rand((len(ranges), cache.latents.shape[0]), generator=draws)  # (R, N) position inside each range
    noise = torch.randn((len(ranges), *cache.latents.shape), generator=draws)  # (R, N, C, h, w)
    row_batches = [torch.arange(first, min(first + s.scale.heldout_batch, len(rows)))
                   for first in range(0, len(rows), s.scale.heldout_batch)]
    scores = [paired_image_loss(loaded.model, rows, cache.latents, lo + u[r] * (hi - lo), noise[r], row_batches)
              for r, (lo, hi) in enumerate(ranges)]
    kept = [p.kept / max(p.images, 1) for p in scores]
    return {"loss_by_t": [round(v, 6) for v in kept], "t_ranges": [list(r) for r in ranges],
            "heldout_loss": round(sum(kept) / len(kept), 6),
            "cond_gap": round(sum(p.gap for p in scores) / len(scores), 6), "heldout_images": scores[0].images}


def seconds_per_image(loaded: Any, sampler: tuple[str, int, float], s: Settings) -> float:
    """Median seconds for one image at the row's sampler and guidance: prefix-cached, VAE decode included
    (the measurement of `tfgen bench`'s "one image, N steps" rows, with this row's sampler)."""
    import torch

    from tfgen.diffusion.schedules import CosineSchedule
    from tfgen.sampling.backend import CachedBackend
    from tfgen.sampling.benchmark import median_time
    from tfgen.sampling.image import make_sampler, sample_latents

    cfg, model, vae = loaded.cfg, loaded.model, loaded.vae
    name, steps, guidance = sampler
    schedule = CosineSchedule(cfg.num_train_timesteps)
    shape = (cfg.latent_channels, cfg.latent_size, cfg.latent_size)
    prefix = torch.randint(10, cfg.vocab_size, (s.scale.time_prefix,), generator=torch.Generator().manual_seed(0))
    guided = guidance != 1.0

    def once() -> None:
        backend = CachedBackend(model, cfg.max_seq_len, guided)
        backend.feed(prefix.tolist())
        gen = torch.Generator().manual_seed(0)
        sampler_obj = make_sampler(name, steps, schedule, gen, shift=cfg.time_shift)
        x = sample_latents(backend, shape, sampler_obj, guidance, gen, "cpu", "batched" if guided else "auto")
        with torch.no_grad():
            vae.vae.decode(x / vae.scale_factor)

    return round(median_time(once, s.scale.time_repeats), 5)


def run_row(arm: TrainingArm | SamplerArm, seed: int, shared: Shared, s: Settings,
            trained: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Train (training arms), evaluate and measure one row; DIR/ROW/row.json."""
    from tfgen.atomic import write_text_atomic
    from tfgen.sampling.loader import load_model

    first = s.scale.seeds[0]
    directory = s.out / row_dir_name(arm.name, seed, first)
    saved = directory / "row.json"
    if saved.is_file():
        log(f"reusing {saved}")
        row = json.loads(saved.read_text(encoding="utf-8"))
        if isinstance(arm, TrainingArm):
            trained[directory.name] = json.loads((directory / "train.json").read_text(encoding="utf-8"))
        return row
    directory.mkdir(parents=True, exist_ok=True)
    sampler = arms.sampler_for(arm, s.scale)
    if isinstance(arm, TrainingArm):
        info = trained[directory.name] = train_arm(arm, seed, directory, shared, s)
        budget, train_seconds = info["budget"], info["seconds"]
    else:
        info = trained[arm.base]
        budget, train_seconds = f"{arm.base}'s checkpoint", None
    checkpoint = Path(info["checkpoint"])
    log(f"evaluating {directory.name} ({sampler[0]} {sampler[1]} steps, guidance {sampler[2]})")
    report = evaluate(checkpoint, directory, s, sampler)
    loaded = load_model(str(checkpoint))
    row = {"arm": arm.name, "seed": seed, "kind": "training" if isinstance(arm, TrainingArm) else "sampler",
           "base": getattr(arm, "base", arm.name), "switch": arm.switch, "objective": info["objective"],
           "sampler": f"{sampler[0]} {sampler[1]}, guidance {sampler[2]:g}", "budget": budget,
           "train_seconds": train_seconds, "eval_seconds": report.get("seconds"), **eval_measures(report),
           "heldout_loss": None, "loss_by_t": None, "t_ranges": None, "cond_gap": None, "heldout_images": None,
           "report": str((directory / "report.json").relative_to(s.out))}
    if isinstance(arm, TrainingArm):  # a sampler row shares its checkpoint's held-out figures
        row.update(heldout_measures(loaded, shared, s))
    row["seconds_per_image"] = seconds_per_image(loaded, sampler, s)
    write_text_atomic(saved, json.dumps(row, indent=1) + "\n")
    return row


# --- the whole run -------------------------------------------------------------------------------


def selected_runs(s: Settings) -> list[tuple[TrainingArm | SamplerArm, int]]:
    """(arm, seed) in order: training arms at the first seed, the baseline at the others, then samplers.
    A sampler arm brings in the training arm it samples."""
    wanted = set(s.arms) | {a.base for a in arms.SAMPLER_ARMS if a.name in s.arms}
    first, *others = s.scale.seeds
    runs: list[tuple[TrainingArm | SamplerArm, int]] = [(a, first) for a in arms.TRAINING_ARMS if a.name in wanted]
    if "baseline" in wanted:
        runs += [(arms.training_arm("baseline"), seed) for seed in others]
    runs += [(a, first) for a in arms.SAMPLER_ARMS if a.name in wanted]
    return runs


def check_signature(s: Settings) -> None:
    """Rows are reused between invocations only when everything they depend on is unchanged."""
    from tfgen.atomic import write_text_atomic
    from tfgen.errors import TfgenError

    signature = {"scale": s.scale.name, "train": dict(s.scale.train), "model": dict(s.scale.model),
                 "eval_limit": s.scale.eval_limit, "n_per_prompt": s.scale.n_per_prompt,
                 "data": str(s.data) if s.data else None, "vae": str(s.vae) if s.vae else None}
    path = s.out / "signature.json"
    if path.is_file():
        before = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(k for k in signature if before.get(k) != signature[k])
        if changed:
            raise TfgenError(f"holds a run made with other settings ({', '.join(changed)}): choose another --out",
                             where=str(s.out))
    else:
        write_text_atomic(path, json.dumps(signature, indent=1) + "\n")


def run(s: Settings) -> dict[str, Any]:
    from tfgen.atomic import write_text_atomic

    s.out.mkdir(parents=True, exist_ok=True)
    check_signature(s)
    started = time.perf_counter()
    shared = prepare_shared(s)
    trained: dict[str, dict[str, Any]] = {}
    rows = [run_row(arm, seed, shared, s, trained) for arm, seed in selected_runs(s)]
    settings = {"scale": s.scale.name, "train": dict(s.scale.train), "model": dict(s.scale.model),
                "eval_limit": s.scale.eval_limit, "n_per_prompt": s.scale.n_per_prompt, "seeds": list(s.scale.seeds),
                "threads": s.threads, "data": str(shared.data), "vae": str(shared.vae),
                "wall_seconds": round(time.perf_counter() - started, 1)}
    results = arms.ResultsFile(s.scale.name, s.command, settings, rows).to_dict()
    write_text_atomic(s.out / "results.json", json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    notes = [f"Whole run: {settings['wall_seconds']:.0f} s on {s.threads} thread(s) (rows reused from an earlier "
             f"invocation not counted); data {shared.data}, VAE {shared.vae}."]
    write_text_atomic(s.out / "ablations.md", arms.markdown_report(rows, s.scale, s.command, notes))
    log(f"wrote {s.out / 'results.json'} and {s.out / 'ablations.md'}")
    return results


def parse_args(argv: Sequence[str]) -> Settings:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="Output directory (data, runs, reports, tables).")
    p.add_argument("--scale", choices=tuple(arms.SCALES), default="cpu")
    p.add_argument("--only", default="", help=f"Comma-separated arms (default all): {', '.join(arms.ARM_NAMES)}.")
    p.add_argument("--seeds", default="", help="Comma-separated training seeds; the baseline runs at each "
                                              "(their spread is the yardstick). Default: the scale's.")
    p.add_argument("--steps", type=int, help="Training updates per arm (default: the scale's).")
    p.add_argument("--eval-limit", type=int, help="Prompts per eval suite (default: the scale's).")
    p.add_argument("--n-per-prompt", type=int, help="Images per compositional prompt (default: the scale's).")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads.")
    p.add_argument("--data", type=Path, help="A dataset directory (default: build one in OUT/data).")
    p.add_argument("--vae", type=Path, help="A `tfgen train-vae` directory (default: train one in OUT/vae).")
    p.add_argument("--latents", type=Path, help="A latent cache of --data with --vae to start from (checked).")
    a = p.parse_args(list(argv))
    scale = arms.SCALES[a.scale]
    try:
        chosen = arms.parse_arm_list(a.only)
        seeds = tuple(int(x) for x in a.seeds.split(",") if x.strip()) if a.seeds else scale.seeds
    except ValueError as exc:
        p.error(str(exc))
    for name, value in (("--steps", a.steps), ("--eval-limit", a.eval_limit), ("--n-per-prompt", a.n_per_prompt),
                        ("--threads", a.threads)):
        if value is not None and value < 1:
            p.error(f"{name} must be at least 1")
    if not seeds or len(set(seeds)) != len(seeds):
        p.error("--seeds must name distinct seeds")
    scale = replace(scale, seeds=seeds, eval_limit=a.eval_limit or scale.eval_limit,
                    n_per_prompt=a.n_per_prompt or scale.n_per_prompt,
                    train={**scale.train, **({"steps": a.steps} if a.steps else {})})
    command = shlex.join(["python", "benchmarks/ablations.py", *argv])
    return Settings(a.out, scale, chosen, a.threads, a.data, a.vae, a.latents, command)


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(sys.argv[1:] if argv is None else argv)
    import torch

    from tfgen.errors import TfgenError

    torch.set_num_threads(settings.threads)
    try:
        run(settings)
    except TfgenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
