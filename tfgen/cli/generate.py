"""`tfgen generate`, `tfgen comic|magazine|deck` and `tfgen info`: prompt -> document -> file.

Thin: options are checked before the model loads (fast, clear errors), then tfgen.sampling does
the work. stdout carries data only (the document JSON, or --json result lines); progress,
warnings and the summary go to stderr. A batch (--from FILE) is run by tfgen.batch.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import typer

from tfgen.errors import OutputError, TfgenError

RENDER_KINDS = {"comic": "panels", "magazine": "pages", "deck": "slides"}
DEFAULT_FORMAT = {"comic": "pdf", "magazine": "pdf", "deck": "pptx"}
STDIN = "-"
COUNT_HELP = {
    "comic": "Number of panels (default 4).",
    "deck": "Number of slides (default 5).",
    "magazine": "Article pages after the cover (default 1); sections are generated until the layout fills them.",
}


@dataclass
class Common:
    """Options every generation command takes."""

    seed: int
    steps: Optional[int]
    sampler: Optional[str]
    cfg: Optional[float]
    temperature: float
    top_k: int
    top_p: float
    max_tokens: Optional[int]
    model: Optional[str]
    device: str
    threads: int
    quiet: bool
    from_file: Optional[Path]
    out_dir: Optional[Path]
    force: bool
    json_lines: bool
    structure: bool = True


@dataclass
class RenderSpec:
    """How a generated document becomes a file (None for `tfgen generate`)."""

    fmt: str
    template: Optional[str]
    page_size: Optional[str]
    dpi: int
    keep_json: Optional[Path]


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
    for kind in RENDER_KINDS:
        app.command(kind)(_kind_command(kind))
    app.command("info")(info)


# --- option declarations (shared by every generation command) ---------------------------------

def _opt(default: Any, *decls: str, help: str, **kw: Any) -> Any:
    return typer.Option(default, *decls, help=help, **kw)


SEED = _opt(0, "--seed", help="Random seed; the same seed gives the same output. Batches derive one per item.")
STEPS = _opt(None, "--steps", help="Denoising steps (default: the checkpoint's; DDPM: its full schedule).")
SAMPLER = _opt(None, "--sampler", help="ddpm or ddim (DDPM checkpoints), euler or heun (flow). Default: the checkpoint's.")
CFG = _opt(None, "--cfg", help="Classifier-free guidance scale (1 = none). Default: the checkpoint's.")
TEMPERATURE = _opt(0.8, "--temperature", help="Text sampling temperature (0 = greedy).")
TOP_K = _opt(0, "--top-k", help="Sample only from the k likeliest tokens (0 = off).")
TOP_P = _opt(1.0, "--top-p", help="Sample from the smallest set holding this much probability (1 = off).")
MAX_TOKENS = _opt(None, "--max-tokens", help="Stop after this many text tokens.")
MODEL = _opt(None, "--model", help="Checkpoint directory (default: the shipped model).")
DEVICE = _opt("cpu", "--device", help="cpu or cuda.")
THREADS = _opt(0, "--threads", help="CPU threads for torch (0 = torch's default).")
QUIET = _opt(False, "--quiet", "-q", help="No progress or info on stderr (errors and warnings still show).")
FROM = _opt(None, "--from", help="Batch: prompts from FILE (text lines or JSON Lines); outputs go to --out-dir.")
OUT_DIR = _opt(None, "--out-dir", help="Batch: folder for the outputs (stable names: line number + prompt slug).")
FORCE = _opt(False, "--force", help="Batch: redo outputs that already exist.")
JSON_LINES = _opt(False, "--json", help="Print one JSON line per finished item to stdout.")
STRUCTURE = _opt(True, "--structure/--no-structure",
                 help="Steer the model to the kind's shape (headings, images, the requested count); off: write freely.")


def generate(
    prompt: Optional[str] = typer.Argument(None, help="The prompt, or '-' to read it from stdin."),
    kind: str = _opt("none", "--kind", "-k", help="comic, magazine, deck or none."),
    output: Optional[Path] = _opt(None, "-o", "--output", help="Write the document JSON here (default: stdout)."),
    count: Optional[int] = _opt(None, "--count", help="Panels (comic), slides (deck) or pages (magazine)."),
    seed: int = SEED, steps: Optional[int] = STEPS, sampler: Optional[str] = SAMPLER, cfg: Optional[float] = CFG,
    temperature: float = TEMPERATURE, top_k: int = TOP_K, top_p: float = TOP_P, max_tokens: Optional[int] = MAX_TOKENS,
    model: Optional[str] = MODEL, device: str = DEVICE, threads: int = THREADS, quiet: bool = QUIET,
    from_file: Optional[Path] = FROM, out_dir: Optional[Path] = OUT_DIR, force: bool = FORCE,
    json_lines: bool = JSON_LINES, structure: bool = STRUCTURE,
) -> None:
    """Generate a tfgen.document/1 JSON from a prompt (reproduction settings in its meta)."""
    common = Common(seed, steps, sampler, cfg, temperature, top_k, top_p, max_tokens, model, device, threads, quiet,
                    from_file, out_dir, force, json_lines, structure)
    _run(kind, prompt, output, count, common, None)


def _kind_command(kind: str):
    """`tfgen comic|magazine|deck`: the count option is named for the kind (--panels, --pages, --slides)."""
    noun = RENDER_KINDS[kind]

    def command(
        prompt: Optional[str] = typer.Argument(None, help="The prompt, or '-' to read it from stdin."),
        output: Optional[Path] = _opt(None, "-o", "--output",
                                      help=f"Output file (.pdf, .pptx, .png, .cbz; default: <prompt slug>.{DEFAULT_FORMAT[kind]})."),
        count: Optional[int] = _opt(None, f"--{noun}", help=COUNT_HELP[kind]),
        fmt: Optional[str] = _opt(None, "--format", "-f", help="pdf, pptx, png or cbz (default: from -o's extension)."),
        template: Optional[str] = _opt(None, "--template", "-t", help="Template name or file (see `tfgen render`)."),
        page_size: Optional[str] = _opt(None, "--page-size", help="A4 or letter (comic, magazine); 16:9 or 4:3 (deck)."),
        dpi: int = _opt(150, "--dpi", min=18, max=1200, help="Resolution of PNG and CBZ pages."),
        keep_json: Optional[Path] = _opt(None, "--keep-json",
                                         help="Also write the document JSON: a file, or in a batch a folder."),
        seed: int = SEED, steps: Optional[int] = STEPS, sampler: Optional[str] = SAMPLER, cfg: Optional[float] = CFG,
        temperature: float = TEMPERATURE, top_k: int = TOP_K, top_p: float = TOP_P,
        max_tokens: Optional[int] = MAX_TOKENS, model: Optional[str] = MODEL, device: str = DEVICE,
        threads: int = THREADS, quiet: bool = QUIET, from_file: Optional[Path] = FROM,
        out_dir: Optional[Path] = OUT_DIR, force: bool = FORCE, json_lines: bool = JSON_LINES,
        structure: bool = STRUCTURE,
    ) -> None:
        from tfgen.layout.compose import normalize_page_size

        common = Common(seed, steps, sampler, cfg, temperature, top_k, top_p, max_tokens, model, device, threads,
                        quiet, from_file, out_dir, force, json_lines, structure)
        spec = RenderSpec(_render_format(kind, fmt, output), template, normalize_page_size(page_size, kind), dpi, keep_json)
        _run(kind, prompt, output, count, common, spec)

    command.__doc__ = f"Generate a {kind} from a prompt and render it (PDF, PPTX, PNG or CBZ)."
    command.__name__ = kind
    return command


def info(
    model: Optional[str] = MODEL,
    json_out: bool = _opt(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """What the model was trained on, its vocabulary of things, its defaults and its figures."""
    import json

    from tfgen.train.checkpoint import load_checkpoint
    from tfgen.sampling.loader import resolve_model_dir
    from tfgen.sampling.vocabulary import known_things

    ckpt = load_checkpoint(resolve_model_dir(model))
    config = ckpt.config
    summary = {
        "model": str(ckpt.directory),
        "architecture": {k: config["model"].get(k) for k in ("n_layers", "d_model", "n_heads", "patch_encoder",
                                                            "objective", "latent_size", "cross_image")},
        # A shipped model describes its data in words; a fresh run only knows the folder it read.
        "trained_on": (config["training"].get("data_description") or config["training"].get("data"))
        if isinstance(config.get("training"), dict) else None,
        "training_steps": config.get("training", {}).get("steps_done") if isinstance(config.get("training"), dict) else None,
        # A fine-tune's steps are only its own: say so, or a staged model looks barely trained.
        "fine_tuned": bool(isinstance(config.get("training"), dict) and config["training"].get("init_from")),
        "image_size": ckpt.vae.image_size,
        "things": sorted(known_things(config) or []),
        "defaults": config.get("sampler", {}),
        "figures": config.get("evaluation", config.get("eval", {})),
        # Whose the training images are (e.g. OpenMoji, CC BY-SA 4.0): generated files credit them too.
        "data_attribution": _config_text(config, "data_attribution"),
        "data_licence": _config_text(config, "data_licence"),
    }
    if json_out:
        typer.echo(json.dumps(summary, ensure_ascii=False))
        return
    arch = summary["architecture"]
    lines = [
        f"model:        {summary['model']}",
        f"architecture: {arch['n_layers']} layers, width {arch['d_model']}, {arch['n_heads']} heads, "
        f"{arch['patch_encoder']} patches, {arch['objective']} objective, cross-image {arch['cross_image']}",
        f"trained on:   {summary['trained_on'] or 'not recorded'} ({summary['training_steps']} steps"
        + (" of fine-tuning: earlier stages in its model card)" if summary["fine_tuned"] else ")"),
        f"images:       {summary['image_size']} px",
        f"things:       {', '.join(summary['things']) or 'not recorded (prompt words are checked against the tokenizer)'}",
        f"defaults:     " + (", ".join(f"{k} {v}" for k, v in summary["defaults"].items()) or "none recorded"),
        f"figures:      " + (", ".join(f"{k} {v}" for k, v in summary["figures"].items()) or "not yet measured"),
    ]
    if summary["data_attribution"]:
        lines.append(f"data credit:  {summary['data_attribution']}")
    if summary["data_licence"]:
        lines.append(f"data licence: {summary['data_licence']}")
    typer.echo("\n".join(lines))


def _config_text(config: dict, key: str) -> str | None:
    """A top-level string of config.json, or None when it is missing, empty or not a string."""
    value = config.get(key)
    return value.strip() if isinstance(value, str) and value.strip() else None


# --- the shared run ----------------------------------------------------------------------------

def _render_format(kind: str, fmt: Optional[str], output: Optional[Path]) -> str:
    from tfgen.render import check_format, format_for_path

    if fmt is not None:
        return check_format(fmt)
    if output is None or str(output) == STDIN:
        return DEFAULT_FORMAT[kind]
    found = format_for_path(str(output))
    if found is None:
        raise OutputError("cannot tell the format from the extension; add --format pdf|pptx|png|cbz", where=str(output))
    return found


def _options(kind: str, count: Optional[int], c: Common, item: Optional[dict] = None):
    """GenerationOptions from the command line, with a batch item's own options on top."""
    from tfgen.sampling.options import GenerationOptions

    values: dict[str, Any] = dict(kind=kind, seed=c.seed, sampler=c.sampler, steps=c.steps, guidance=c.cfg,
                                  temperature=c.temperature, top_k=c.top_k, top_p=c.top_p, count=count,
                                  max_tokens=c.max_tokens, structure=c.structure)
    for key, value in (item or {}).items():
        if key in ("panels", "slides", "pages", "count"):
            values["count"] = value
        elif key == "cfg":
            values["guidance"] = float(value)
        elif key == "kind" and kind != "none" and value != kind:
            raise TfgenError(f"this command makes a {kind}, the item asks for a {value}", where="kind")
        elif key != "template":
            values[key] = value
    return GenerationOptions(**values)


def _read_prompt(prompt: Optional[str]) -> str:
    from tfgen.sampling.generate import check_prompt

    if prompt is None:
        raise TfgenError("give a PROMPT (or '-' to read it from stdin, or --from FILE for a batch)", where="prompt")
    if prompt == STDIN:
        try:
            prompt = sys.stdin.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise TfgenError(f"cannot read the prompt ({exc})", where="stdin") from None
    return check_prompt(prompt)


def _run(kind: str, prompt: Optional[str], output: Optional[Path], count: Optional[int], c: Common,
         spec: Optional[RenderSpec]) -> None:
    if c.threads < 0:
        raise TfgenError("must be 0 or more", where="--threads")
    _options(kind, count, c)  # every option checked before the (slow) model load
    if c.from_file is not None:
        if prompt is not None:
            raise TfgenError("give either a PROMPT or --from FILE, not both", where="--from")
        if c.out_dir is None:
            raise TfgenError("a batch needs --out-dir DIR for its outputs", where="--from")
        _run_batch(kind, count, c, spec)
        return
    if c.out_dir is not None:
        raise TfgenError("--out-dir is for batches (--from FILE); use -o for one output", where="--out-dir")
    text = _read_prompt(prompt)
    target = _single_target(kind, text, output, spec)
    loaded = _load(c)
    with _Progress(c.quiet) as progress:
        _produce_one(loaded, kind, text, _options(kind, count, c), target, spec, progress, None)
    if c.json_lines and target is not None:
        import json

        typer.echo(json.dumps({"prompt": text, "status": "done", "output": str(target), "seed": c.seed}))


def _single_target(kind: str, prompt: str, output: Optional[Path], spec: Optional[RenderSpec]) -> Optional[Path]:
    """Where one output goes (None: stdout), checked before generating."""
    from tfgen.batch import slug
    from tfgen.sampling.pipeline import check_writable

    if spec is None:
        if output is None or str(output) == STDIN:
            return None
        check_writable(output)
        return output
    target = output if output is not None else Path(f"{slug(prompt)}.{spec.fmt}")
    if str(target) == STDIN:
        from tfgen.render import STDOUT_FORMATS

        if spec.fmt not in STDOUT_FORMATS:
            raise OutputError(f"{spec.fmt} output is one file per page and cannot go to stdout", where="-o -")
        if sys.stdout.isatty():
            raise OutputError(f"refusing to write {spec.fmt} bytes to a terminal; redirect stdout", where="-o -")
        return target
    check_writable(target)
    if spec.keep_json is not None:
        check_writable(spec.keep_json)
    return target


def _load(c: Common):
    import torch

    from tfgen.sampling.loader import load_model

    if c.threads:
        torch.set_num_threads(c.threads)
    return load_model(c.model, c.device)


def _produce_one(loaded, kind: str, prompt: str, opts, target: Optional[Path], spec: Optional[RenderSpec],
                 progress: "_Progress", template: Optional[str]) -> None:
    """Generate one document and write it (JSON, or rendered); warnings and info to stderr."""
    from tfgen.cli.console import print_warning
    from tfgen.sampling.pipeline import layout_page_counter, make_document, render_document, write_document_json
    from tfgen.sampling.vocabulary import unknown_words

    unknown = unknown_words(prompt, loaded.config, loaded.tokenizer)
    if unknown:
        print_warning(f"the model never saw {', '.join(repr(w) for w in unknown)} in training; "
                      "it cannot draw what it does not know")
    counter = None
    if spec is not None and kind == "magazine":
        counter = layout_page_counter(kind, spec.fmt, template or spec.template, spec.page_size)
    doc = make_document(loaded, prompt, opts, on_step=progress.on_step, page_count=counter)
    if spec is None:
        if target is None:
            sys.stdout.write(doc.to_json() + "\n")
            sys.stdout.flush()
        else:
            write_document_json(doc, target)
            progress.info(f"wrote {target}")
        return
    if spec.keep_json is not None:
        keep = spec.keep_json / f"{target.stem}.json" if spec.keep_json.is_dir() else spec.keep_json
        write_document_json(doc, keep)
    written, warnings, pages = render_document(doc, kind, target, spec.fmt, template or spec.template,
                                               spec.page_size, spec.dpi)
    for warning in warnings:
        print_warning(warning)
    if kind == "magazine" and opts.count is not None and pages - 1 != opts.count:
        # Sections are added until the layout fills the pages; the context can run out first.
        print_warning(f"the magazine came out at {pages - 1} pages after the cover (asked for {opts.count}); "
                      f"the model's context of "
                      f"{loaded.cfg.max_seq_len} positions limits how much one document holds")
    for path in written:
        progress.info(f"wrote {path}")


def _run_batch(kind: str, count: Optional[int], c: Common, spec: Optional[RenderSpec]) -> None:
    from tfgen.batch import check_out_dir, read_prompt_file, run_batch
    from tfgen.cli.console import print_error, print_info

    items = read_prompt_file(c.from_file)
    out_dir = check_out_dir(c.out_dir)
    if spec is not None and spec.keep_json is not None:
        spec.keep_json = check_out_dir(spec.keep_json)
    loaded = _load(c)
    ext = "json" if spec is None else spec.fmt

    with _Progress(c.quiet, total_items=len(items)) as progress:
        def produce(item, target: Path, seed: int) -> None:
            opts = _options(item.options.get("kind", kind) if spec is None else kind,
                            count, c, item.options).replace(seed=seed)
            _produce_one(loaded, opts.kind, item.prompt, opts, target, spec, progress, item.options.get("template"))

        def on_result(result) -> None:
            progress.item_done()
            if result.status == "failed":
                print_error(result.error)
            if c.json_lines:
                sys.stdout.write(result.to_json() + "\n")
                sys.stdout.flush()

        summary = run_batch(items, out_dir, ext, c.seed, produce, c.force, on_result,
                            on_start=lambda i, item: progress.item_started(item.prompt))
    if not c.quiet or summary.count("failed") or summary.interrupted:
        print_info(summary.line())
    if summary.interrupted:
        raise typer.Exit(130)
    if summary.count("failed"):
        raise typer.Exit(1)


class _Progress:
    """rich progress on stderr: items of a batch and steps of the current image (off with --quiet)."""

    def __init__(self, quiet: bool, total_items: int = 0):
        self.quiet = quiet
        self.total_items = total_items
        self._bar = None

    def __enter__(self) -> "_Progress":
        if not self.quiet:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            from tfgen.cli.console import stderr

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=stderr(), transient=True)
            self._bar.__enter__()
            self._items = self._bar.add_task("items", total=self.total_items, visible=self.total_items > 0)
            self._steps = self._bar.add_task("image", total=1, visible=False)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def on_step(self, done: int, total: int) -> None:
        if self._bar is not None:
            self._bar.update(self._steps, completed=done, total=total, visible=True)

    def item_started(self, prompt: str) -> None:
        if self._bar is not None:
            self._bar.update(self._items, description=f"items ({prompt[:30]})")

    def item_done(self) -> None:
        if self._bar is not None:
            self._bar.advance(self._items)

    def info(self, message: str) -> None:
        if not self.quiet:
            from tfgen.cli.console import print_info

            print_info(message)
