"""Everything `tfgen train` wires together: data -> latents -> packed rows -> model -> Trainer -> checkpoint.

Sources of each part, in order of precedence:
- model config: the `--init-from` checkpoint's (its [model] table may change only the training
  switches, tfgen.model.config.TRAINING_SWITCHES), else the TOML `[model]` table, else the preset;
  vocab_size and the latent shape are then set from the tokenizer and the VAE, which must agree;
- tokenizer: the init checkpoint's, else `tokenizer` (a tokenizer.json), else trained on the data;
- VAE: `vae` (a `tfgen train-vae` directory), else the init checkpoint's; a fine-tune given both moves the
  model onto the new VAE's latents (the latent shape must match).
A plain folder of documents or of captioned images is converted into a dataset inside the run
directory first; VAE latents are cached there too (re-encoded only when the VAE or data change).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch

from tfgen.errors import TfgenError
from tfgen.model.config import TRAINING_SWITCHES, ModelConfig, model_config_from_mapping, preset
from tfgen.model.tokenizer import TextTokenizer, train_tokenizer
from tfgen.sampling.vocabulary import training_vocabulary
from tfgen.model.transfusion import Transfusion, count_parameters
from tfgen.train import checkpoint as ckpt
from tfgen.train.batch_source import PackedRowSource, PrefetchSource
from tfgen.train.config import TrainConfig
from tfgen.train.dataset import MANIFEST_FILE, convert_folder, open_dataset, text_corpus
from tfgen.train.latents import build_latent_cache
from tfgen.train.packing import PackingConfig, pack_rows, tokenize_documents
from tfgen.train.distributed import barrier, setup_distributed, teardown_distributed
from tfgen.train.resume import has_train_state
from tfgen.train.trainer import Trainer, TrainResult, TransfusionLossModule

CHECKPOINT_DIR = "checkpoint"
RUN_TOKENIZER = "tokenizer.json"
NET_PREFIX = "net."  # TransfusionLossModule holds the Transfusion as `net`


@dataclass(frozen=True)
class DataRights:
    """Whose the training images are: copied into config.json so generated files can credit them."""

    attribution: str = ""
    licence: str = ""

    def config_entries(self) -> dict[str, str]:
        """The top-level config.json keys ("data_attribution", "data_licence"); none when unknown."""
        entries = {"data_attribution": self.attribution, "data_licence": self.licence}
        return {k: v for k, v in entries.items() if v}


def training_data_rights(source: Any, init: ckpt.Checkpoint | None = None) -> DataRights:
    """The rights of `source` (a dataset manifest, or {"attribution": ..., "licence": ...}).

    A fine-tuned checkpoint's own rights come first: its weights still carry what they learnt from.
    """

    def text(mapping: Any, key: str) -> list[str]:
        value = mapping.get(key) if isinstance(mapping, dict) else None
        return [value.strip()] if isinstance(value, str) and value.strip() else []

    inherited = init.config if init is not None else {}

    def joined(key: str, init_key: str) -> str:
        parts = text(inherited, init_key) + text(source, key)
        return "; ".join(dict.fromkeys(parts))  # each once, in order

    return DataRights(joined("attribution", "data_attribution"), joined("licence", "data_licence"))


@dataclass
class PreparedRun:
    """The parts of a run, built and checked before the first step."""

    model_cfg: ModelConfig
    module: TransfusionLossModule
    source: Any  # PackedRowSource or WorldSource: the trainer's batch-source protocol
    tokenizer: TextTokenizer
    vae: ckpt.VAEBundle
    stats: dict[str, Any]
    vocabulary: list[str]  # words seen in training, so generation can warn about unseen prompt words
    data_rights: DataRights = field(default_factory=DataRights)


def resolve_model_config(cfg: TrainConfig, model_table: dict[str, Any] | None,
                         init: ckpt.Checkpoint | None) -> ModelConfig:
    if init is not None:
        section = init.config.get("model")
        if not isinstance(section, dict):
            raise TfgenError("has no 'model' section", where=str(init.directory / ckpt.CONFIG_FILE))
        base = model_config_from_mapping(section, where=f"{init.directory / ckpt.CONFIG_FILE}:model")
        return base if model_table is None else fine_tune_config(base, model_table)
    if model_table is not None:
        if not isinstance(model_table, dict):
            raise TfgenError("must be a table", where="model")
        return model_config_from_mapping(model_table)
    return preset(cfg.preset)


def fine_tune_config(base: ModelConfig, model_table: dict[str, Any]) -> ModelConfig:
    """The init checkpoint's config with the [model] table's training switches applied.

    The weights fix the model's shape, so any other key must repeat the checkpoint's value (a
    `preset` key is ignored: the checkpoint is the base).
    """
    if not isinstance(model_table, dict):
        raise TfgenError("must be a table", where="model")
    keys = [k for k in model_table if k != "preset"]
    wanted = model_config_from_mapping({**dataclasses.asdict(base), **{k: model_table[k] for k in keys}})
    for key in keys:
        if key not in TRAINING_SWITCHES and getattr(wanted, key) != getattr(base, key):
            raise TfgenError(f"cannot change from {getattr(base, key)!r} to {getattr(wanted, key)!r} when fine-tuning "
                             f"(--init-from): only {', '.join(TRAINING_SWITCHES)} may change", where=f"model.{key}")
    return wanted


def prepare_run(cfg: TrainConfig, run_dir: Path, model_table: dict[str, Any] | None = None,
                device: torch.device = torch.device("cpu"), log: Callable[[str], None] = lambda _: None,
                primary: bool = True) -> PreparedRun:
    """Open the data, build tokenizer/VAE/latents/rows and the model (with init weights if asked).

    `primary` (rank 0) may write into run_dir; the other ranks only read what it wrote.
    """
    if cfg.data_source == "world":
        return prepare_world_run(cfg, run_dir, model_table, device, log, primary)
    if not cfg.data:
        raise TfgenError("no training data: pass --data DIR (a dataset directory or a folder of documents)",
                         where="data")
    init = _load_init(cfg)
    vae = _run_vae(cfg, init)
    dataset = _open_or_convert(Path(cfg.data), run_dir, vae.image_size, primary, log)
    if dataset.image_size != vae.image_size:
        raise TfgenError(f"the dataset's images are {dataset.image_size} px but the VAE was trained on "
                         f"{vae.image_size} px", where=str(dataset.directory / MANIFEST_FILE))
    base = resolve_model_config(cfg, model_table, init)
    tokenizer = _tokenizer_for(cfg, init, run_dir, primary, base.vocab_size, lambda: text_corpus(dataset),
                               "the dataset's text", log)
    model_cfg = _fit_model_config(cfg, base, tokenizer, vae, init)
    log(f"encoding images with the VAE (cached in {run_dir / 'latents.safetensors'})")
    cache = build_latent_cache(dataset, vae, run_dir / "latents.safetensors", device=str(device))
    packing = PackingConfig(seq_len=cfg.seq_len, max_images=cfg.max_images,
                            patches_per_image=model_cfg.patches_per_image)
    docs = tokenize_documents(dataset, tokenizer, packing, np.random.default_rng(cfg.seed))
    rows = pack_rows(docs, packing, tokenizer.pad_id, cache.doc_offsets)
    source = PackedRowSource(rows, cache.latents.to(device), model_cfg, cfg.batch_size, seed=cfg.seed)
    module = TransfusionLossModule(build_model(model_cfg, cfg.seed, init.model_state if init else None))
    stats = {"documents": len(docs), "rows": len(rows), "truncated": rows.truncated,
             "images": int(cache.latents.shape[0]), "parameters": count_parameters(module.net),
             "tokens_per_row": cfg.seq_len}
    return PreparedRun(model_cfg, module, source, tokenizer, vae, stats, training_vocabulary(text_corpus(dataset)),
                       training_data_rights(dataset.manifest, init))


WORLD_TOKENIZER_DOCUMENTS = 2000  # storyworld documents whose text trains the tokenizer


def prepare_world_run(cfg: TrainConfig, run_dir: Path, model_table: dict[str, Any] | None, device: torch.device,
                      log: Callable[[str], None], primary: bool) -> PreparedRun:
    """The same parts, fed by the storyworld's documents in memory (tfgen.train.world_source)."""
    from tfgen.train.world_source import WorldSource, training_document
    from tfgen.world.atlas import ATTRIBUTION, LICENCE
    from tfgen.world.documents import WORLD_KINDS, iter_documents

    init = _load_init(cfg)
    vae = _run_vae(cfg, init)
    base = resolve_model_config(cfg, model_table, init)

    def world_texts():
        docs = (training_document(d, "storyworld") for d in
                iter_documents(cfg.seed, WORLD_KINDS, vae.image_size, stop=WORLD_TOKENIZER_DOCUMENTS))
        return (t for d in docs for t in [d.prompt, *[s for s in d.segments if isinstance(s, str)]] if t)

    tokenizer = _tokenizer_for(cfg, init, run_dir, primary, base.vocab_size, world_texts,
                               f"{WORLD_TOKENIZER_DOCUMENTS} storyworld documents", log)
    model_cfg = _fit_model_config(cfg, base, tokenizer, vae, init)
    packing = PackingConfig(seq_len=cfg.seq_len, max_images=cfg.max_images,
                            patches_per_image=model_cfg.patches_per_image)
    vae.vae.to(device)
    source = WorldSource(tokenizer, vae, model_cfg, packing, cfg.batch_size, seed=cfg.seed, device=device)
    module = TransfusionLossModule(build_model(model_cfg, cfg.seed, init.model_state if init else None))
    stats = {"documents": "storyworld stream", "rows": "one batch at a time", "truncated": 0, "images": 0,
             "parameters": count_parameters(module.net), "tokens_per_row": cfg.seq_len}
    return PreparedRun(model_cfg, module, source, tokenizer, vae, stats, training_vocabulary(world_texts()),
                       training_data_rights({"attribution": ATTRIBUTION, "licence": LICENCE}, init))


def build_model(model_cfg: ModelConfig, seed: int, state: dict[str, torch.Tensor] | None = None) -> Transfusion:
    """A Transfusion with weights from `seed` (the global RNG is left as it was) or from `state`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Transfusion(model_cfg)
    if state is not None:
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise TfgenError(f"the checkpoint's weights do not fit its config ({str(exc).splitlines()[0]})",
                             where="--init-from") from None
    return model


def checkpoint_writer(run: PreparedRun, cfg: TrainConfig, run_dir: Path) -> Callable[[Trainer], None]:
    """The trainer's on_checkpoint: the EMA weights and everything the sampler needs, in run_dir/checkpoint."""
    def write(trainer: Trainer) -> None:
        ema = {k[len(NET_PREFIX):]: v for k, v in trainer.ema.state_dict().items() if k.startswith(NET_PREFIX)}
        config = {
            "model": run.model_cfg.to_dict(),
            "objective": run.model_cfg.objective,
            "training": {"steps_done": trainer.step, "tokens_seen": trainer.tokens_seen, "data": cfg.data,
                         "init_from": cfg.init_from or None, "train_config": cfg.to_dict(), **run.stats},
            # Defaults until eval measures better ones.
            "vocabulary": {"words": run.vocabulary},
            "sampler": {"name": "ddim" if run.model_cfg.objective == "ddpm" else "heun",
                        "steps": 50 if run.model_cfg.objective == "ddpm" else 20, "guidance": 3.0},
            **run.data_rights.config_entries(),
        }
        ckpt.save_checkpoint(run_dir / CHECKPOINT_DIR, config, ema, run.vae, run.tokenizer,
                             model_card(run, cfg, trainer))
    return write


def model_card(run: PreparedRun, cfg: TrainConfig, trainer: Trainer) -> str:
    m = run.model_cfg
    return "\n".join([
        "# tfgen model card", "",
        f"- Architecture: Transfusion, {m.n_layers} layers, width {m.d_model}, {m.n_heads} heads, "
        f"{run.stats['parameters']:,} parameters; {m.objective} objective, {m.patch_encoder} patches of {m.patch_size}.",
        f"- Trained on: {cfg.data} ({run.stats['documents']} documents, {run.stats['images']} images, "
        f"{run.stats['rows']} packed rows of {cfg.seq_len})" + (f", fine-tuned from {cfg.init_from}" if cfg.init_from else ""),
        f"- Training: {trainer.step} of {cfg.steps} steps, global batch {cfg.batch_size}, peak lr {cfg.lr}, "
        f"{trainer.tokens_seen:,} tokens, on {trainer.ctx.world_size} x {trainer.ctx.device.type}, "
        f"{str(trainer.autocast_dtype).removeprefix('torch.')} autocast.",
        "- Weights: the EMA of the training weights (see tfgen.train.ema).",
        "- Evaluation: not yet measured.",
        *([f"- Training images: {run.data_rights.attribution}"] if run.data_rights.attribution else []), "",
    ])


def _run_vae(cfg: TrainConfig, init: ckpt.Checkpoint | None) -> ckpt.VAEBundle:
    """`--vae` if given (with --init-from it replaces the checkpoint's VAE), else the init checkpoint's."""
    if cfg.vae:
        return ckpt.load_vae_dir(cfg.vae)
    if init is None:
        raise TfgenError("no VAE: pass --vae DIR (from `tfgen train-vae`) or --init-from CHECKPOINT", where="vae")
    return init.vae


def _open_or_convert(data: Path, run_dir: Path, image_size: int, primary: bool, log: Callable[[str], None]):
    if (data / MANIFEST_FILE).is_file():
        return open_dataset(data)
    if not primary:  # rank 0 converted it before the others got here
        return open_dataset(run_dir / "dataset")
    log(f"converting {data} into a dataset in {run_dir / 'dataset'}")
    return convert_folder(data, run_dir / "dataset", image_size=image_size)


def _load_init(cfg: TrainConfig) -> ckpt.Checkpoint | None:
    """The checkpoint to fine-tune: a directory, or "default" for the shipped model."""
    if not cfg.init_from:
        return None
    from tfgen.resources import default_model_dir

    return ckpt.load_checkpoint(default_model_dir() if cfg.init_from == "default" else cfg.init_from)


def _tokenizer_for(cfg: TrainConfig, init: ckpt.Checkpoint | None, run_dir: Path, primary: bool, vocab_size: int,
                   texts: Callable[[], Iterable[str]], what: str, log: Callable[[str], None]) -> TextTokenizer:
    """The init checkpoint's tokenizer, else cfg.tokenizer, else one trained on `texts()` once per run directory."""
    if init is not None:
        return init.tokenizer
    if cfg.tokenizer:
        return TextTokenizer.load(cfg.tokenizer)
    # Kept in the run directory, so a resume (and every rank) uses the very same one.
    path = run_dir / RUN_TOKENIZER
    if path.is_file() or not primary:
        return TextTokenizer.load(path)
    log(f"training a {vocab_size}-token BPE tokenizer on {what}")
    tokenizer = train_tokenizer(texts(), vocab_size=vocab_size)
    tokenizer.save(path)
    return tokenizer


def _fit_model_config(cfg: TrainConfig, base: ModelConfig, tokenizer: TextTokenizer, vae: ckpt.VAEBundle,
                      init: ckpt.Checkpoint | None) -> ModelConfig:
    """The model config with vocab_size and latent shape taken from the tokenizer and the VAE."""
    c, h, _ = vae.vae.cfg.latent_shape(vae.image_size)
    model_cfg = base.replace(vocab_size=tokenizer.vocab_size, latent_channels=c, latent_size=h)
    if init is not None and model_cfg != base:
        which = "the VAE given with --vae" if cfg.vae else "its own tokenizer/VAE"
        raise TfgenError(f"its model config (latents {base.latent_channels}x{base.latent_size}x{base.latent_size}) "
                         f"does not match {which} ({c}x{h}x{h})", where=str(init.directory))
    if cfg.seq_len > model_cfg.max_seq_len:
        raise TfgenError(f"seq_len {cfg.seq_len} exceeds the model's max_seq_len {model_cfg.max_seq_len}",
                         where="seq_len")
    return model_cfg


@dataclass(frozen=True)
class RunOutcome:
    steps_done: int
    resumed_from: int  # 0 for a fresh run
    result: TrainResult
    run: PreparedRun
    checkpoint: Path
    is_main: bool  # rank 0 (the one that reports)


def train_from_config(cfg: TrainConfig, model_table: dict[str, Any] | None = None, resume: bool = False,
                      log: Callable[[str], None] = lambda _: None, show_progress: bool = True) -> RunOutcome:
    """A whole `tfgen train` run, single process or one rank of a torchrun job."""
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    ctx = setup_distributed(cfg.device)
    try:
        run_dir = Path(cfg.out)
        if ctx.is_main:
            _check_run_dir(run_dir, resume)
            run_dir.mkdir(parents=True, exist_ok=True)
        say = log if ctx.is_main else (lambda _: None)
        # Rank 0 writes the shared files (converted data, tokenizer, latent cache) before the others read them.
        run = prepare_run(cfg, run_dir, model_table, ctx.device, say, primary=True) if ctx.is_main else None
        barrier(ctx)
        if run is None:
            run = prepare_run(cfg, run_dir, model_table, ctx.device, say, primary=False)
        say(describe(run))
        source = PrefetchSource(run.source, cfg.prefetch) if cfg.prefetch else run.source
        trainer = Trainer(cfg, run.module, source, run_dir, ctx=ctx,
                          on_checkpoint=checkpoint_writer(run, cfg, run_dir), show_progress=show_progress)
        start = trainer.step
        if resume and trainer.resume():
            start = trainer.step
            say(f"resumed at step {start} of {cfg.steps}")
        try:
            result = trainer.fit()
        finally:
            if isinstance(source, PrefetchSource):
                source.close()
        return RunOutcome(trainer.step, start, result, run, run_dir / CHECKPOINT_DIR, ctx.is_main)
    finally:
        teardown_distributed(ctx)


def _check_run_dir(run_dir: Path, resume: bool) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise TfgenError("exists and is not a folder", where=str(run_dir))
    if not resume and has_train_state(run_dir):
        raise TfgenError("already holds a training run: pass --resume to continue it, or choose another --out",
                         where=str(run_dir))


def describe(run: PreparedRun) -> str:
    s = run.stats
    if s["documents"] == "storyworld stream":
        return f"model {s['parameters']:,} parameters; data: the storyworld's documents, in memory"
    return (f"model {s['parameters']:,} parameters; data {s['documents']} documents, {s['images']} images, "
            f"{s['rows']} packed rows ({s['truncated']} documents cut to fit)")


