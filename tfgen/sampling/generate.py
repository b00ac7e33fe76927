"""The interleaved generation loop: prompt -> Document.

The model is fed `BOS <kind> prompt <SEP>` (exactly as tfgen.train.packing lays out training
documents) and writes the rest. Text is chosen token by token (tfgen.sampling.text); at each BOI
(the model's own, or one the plan forces) an image is denoised over its patches only
(tfgen.sampling.image), committed clean to the cache, EOI follows and text resumes conditioned on
the image. The plan (tfgen.sampling.structure) steers comics, magazines and decks to their shape;
with `opts.structure` off the model writes freely after the prompt, whatever the kind.

Forced tokens: every token fed that the model did not sample - forced markup, fallback titles, the
BOI and EOI of an image the plan required, and text added to the finished document (a magazine's
stand-in standfirst, the stand-in for an empty document). The EOI after the model's own BOI is the
generation procedure, not forcing, and the prompt is input. Counted in _Writer.feed (fed tokens)
and _assemble (added text).

Stops: EOS (kind none, or forcing off), the end of the plan, `max_tokens` text tokens, `max_images` images, or the
model's context (`max_seq_len` positions). One torch.Generator seeded from the options drives
every random choice (tokens, initial noise, DDPM noise), in a fixed order.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable

import torch

from tfgen.diffusion.schedules import CosineSchedule
from tfgen.document import Document, ImageSegment, TextSegment
from tfgen.errors import TfgenError
from tfgen.model.tokenizer import SPECIAL_TOKENS
from tfgen.sampling import structure
from tfgen.sampling.backend import CachedBackend
from tfgen.sampling.image import StepCallback, decode_latents, make_sampler, sample_latents
from tfgen.sampling.loader import LoadedModel
from tfgen.sampling.options import GenerationOptions
from tfgen.sampling.text import banned_mask, choose_token

MAX_PROMPT_CHARS = 2000


@dataclass
class GenerationResult:
    """The document and the raw sequence behind it (for tests and reproducibility checks)."""

    document: Document
    token_ids: list[int]  # every text token fed after the prompt, forced or sampled (no BOI/EOI)
    latents: list[torch.Tensor] = field(default_factory=list)  # (1, C, h, w) per image
    stopped_by: str = ""  # "eos", "plan", "max_tokens", "max_images", "context", "filled"
    forced_tokens: int = 0  # tokens inserted instead of sampled (see the module docstring); 0 when nothing was forced


Snapshot = tuple[int, int, int, int, int]  # runs, tokens in the last run, images, text tokens, forced tokens


class _Stop(Exception):
    def __init__(self, reason: str):
        self.reason = reason


class _Writer:
    """The sequence being written: feeds the backend, keeps text runs and images, enforces limits."""

    def __init__(self, loaded: LoadedModel, opts: GenerationOptions, backend, generator: torch.Generator,
                 guidance_mode: str, on_step: StepCallback | None):
        self.loaded, self.opts, self.backend, self.generator = loaded, opts, backend, generator
        self.tok = loaded.tokenizer
        self.guidance_mode, self.on_step = guidance_mode, on_step
        self.schedule = CosineSchedule(loaded.cfg.num_train_timesteps)
        self.runs: list[list[int]] = [[]]  # text runs between images
        self.latents: list[torch.Tensor] = []
        self.pictures: list = []  # the decoded images (Pillow), one per latent
        self.token_ids: list[int] = []
        self.forced_tokens = 0
        self.logits: torch.Tensor | None = None
        V = loaded.cfg.vocab_size
        specials = list(range(len(SPECIAL_TOKENS)))
        self.ban_all = banned_mask(V, specials)
        self.ban_body = banned_mask(V, [i for i in specials if i not in (self.tok.eos_id, self.tok.boi_id)])
        self.ban_body_no_image = banned_mask(V, [i for i in specials if i != self.tok.eos_id])
        # A title or heading starts with a space-led word (tfgen.sampling.structure says why).
        self.ban_line_start = self.ban_all | ~loaded.word_starts

    # --- limits ---------------------------------------------------------------------------------
    def room(self) -> int:
        return self.backend.capacity - self.backend.length

    def image_positions(self) -> int:
        return self.loaded.cfg.patches_per_image + 2

    def can_add_image(self) -> bool:
        limit = self.opts.max_images
        return (limit is None or len(self.latents) < limit) and self.room() >= self.image_positions()

    def text_left(self) -> int:
        limit = self.opts.max_tokens
        return (1 << 30) if limit is None else limit - len(self.token_ids)

    # --- writing --------------------------------------------------------------------------------
    def feed(self, ids: list[int], count: bool = True, forced: bool = False) -> None:
        """Append `ids`; `count`: they are document text; `forced`: the sampler chose them, not the model."""
        if not ids:
            return
        if self.backend.length + len(ids) > self.backend.capacity:
            raise _Stop("context")
        self.logits = self.backend.feed(ids)
        if forced:
            self.forced_tokens += len(ids)
        if count:
            self.token_ids.extend(ids)
            self.runs[-1].extend(ids)

    def choose(self, banned: torch.Tensor) -> int:
        o = self.opts
        return choose_token(self.logits, o.temperature, o.top_k, o.top_p, self.generator, banned)

    def image(self, forced: bool = False) -> None:
        """BOI, denoise, commit the clean image, EOI; `forced`: the plan required it, the model did not ask."""
        cfg = self.loaded.cfg
        self.feed([self.tok.boi_id], count=False, forced=forced)
        sampler = make_sampler(self.opts.sampler, self.opts.steps, self.schedule, self.generator, self.opts.eta,
                               cfg.time_shift)
        shape = (cfg.latent_channels, cfg.latent_size, cfg.latent_size)
        x = sample_latents(self.backend, shape, sampler, self.opts.guidance, self.generator,
                           self.loaded.device, self.guidance_mode, self.on_step)
        self.backend.commit_image(x)
        self.latents.append(x)
        self.pictures.append(decode_latents(self.loaded.vae, x)[0])
        self.runs.append([])
        self.feed([self.tok.eoi_id], count=False, forced=forced)

    def snapshot(self) -> Snapshot:
        """What the document holds now, to drop what follows (the cache keeps it; the document does not)."""
        return len(self.runs), len(self.runs[-1]), len(self.latents), len(self.token_ids), self.forced_tokens

    def restore(self, snap: Snapshot) -> None:
        runs, last, images, tokens, self.forced_tokens = snap
        del self.runs[runs:]
        del self.runs[-1][last:]
        del self.latents[images:], self.pictures[images:], self.token_ids[tokens:]

    def text(self, run: int = -1) -> str:
        return self.tok.decode(self.runs[run])


def generate_document(loaded: LoadedModel, prompt: str, opts: GenerationOptions, on_step: StepCallback | None = None,
                      backend_factory: Callable | None = None, guidance_mode: str = "auto",
                      page_count: Callable[[Document], int] | None = None) -> GenerationResult:
    """Write one document for `prompt`; unset sampler, steps and guidance come from the checkpoint.

    `page_count` (a magazine's layout: document -> pages) makes a magazine generate sections until
    its layout reaches `opts.count` pages, dropping a last section that spills onto one more page.
    """
    prompt = check_prompt(prompt)
    opts = opts.resolve(loaded.sampler_defaults, loaded.cfg.objective, loaded.cfg.num_train_timesteps)
    tok = loaded.tokenizer
    head = [tok.bos_id, tok.kind_id(opts.kind), *tok.encode(prompt), tok.sep_id]
    capacity = loaded.cfg.max_seq_len
    fill = page_count if opts.kind == "magazine" and opts.structure else None
    plan = structure.build_plan(opts.kind, opts.count, prompt, opts.max_tokens, fill_pages=fill is not None,
                                forced=opts.structure)
    P = loaded.cfg.patches_per_image
    minimum = [_step_minimum(s, tok, P) for s in plan]
    optional = _optional_steps(plan)
    # needs[i]: positions the required steps i.. need at the least (forced text, fallbacks, images).
    needs = list(itertools.accumulate(reversed([0 if o else m for m, o in zip(minimum, optional)]), initial=0))[::-1]
    reserve = needs[0]
    if len(head) + reserve > capacity:
        raise TfgenError(f"the prompt ({len(head)} tokens) and the requested shape ({reserve} positions) do not fit "
                         f"the model's context of {capacity}; shorten the prompt or ask for fewer", where="prompt")
    factory = backend_factory or CachedBackend
    guided = guidance_mode != "two-pass" and (guidance_mode == "batched" or opts.guidance != 1.0)
    backend = factory(loaded.model, capacity, guided, loaded.device)
    generator = torch.Generator().manual_seed(opts.seed)
    writer = _Writer(loaded, opts, backend, generator, guidance_mode, on_step)
    writer.feed(head, count=False)
    stopped_by = "plan"
    unit_start: Snapshot | None = None
    units = 0  # units started so far
    try:
        for i, step in enumerate(plan):
            if isinstance(step, structure.Unit):
                if fill is not None and units and _filled(writer, prompt, opts, loaded, fill, unit_start, units):
                    stopped_by = "filled"
                    break
                if step.optional and writer.room() < _unit_minimum(plan, minimum, i) + needs[i]:
                    stopped_by = "context"
                    break
                unit_start = writer.snapshot()
                units += 1
                continue
            # Optional units count too: text is shared so that the sections a full page needs fit.
            bodies_left = sum(isinstance(s, structure.Body) for s in plan[i + 1:])
            _run_step(writer, step, _fair_share(step, writer.room() - needs[i + 1], bodies_left, P))
        else:
            if fill is not None and units and _filled(writer, prompt, opts, loaded, fill, unit_start, units):
                stopped_by = "filled"
    except _Stop as stop:
        stopped_by = stop.reason
    document, added = _assemble(writer, prompt, opts, loaded)
    return GenerationResult(document, writer.token_ids, writer.latents, stopped_by, writer.forced_tokens + added)


def check_prompt(prompt: str) -> str:
    text = prompt.strip()
    if not text:
        raise TfgenError("the prompt is empty", where="prompt")
    if len(text) > MAX_PROMPT_CHARS:
        raise TfgenError(f"the prompt is {len(text)} characters long (at most {MAX_PROMPT_CHARS})", where="prompt")
    return text


def _optional_steps(plan: list) -> list[bool]:
    """Per step: does it belong to an optional unit?"""
    flags, current = [], False
    for step in plan:
        if isinstance(step, structure.Unit):
            current = step.optional
        flags.append(current)
    return flags


def _unit_minimum(plan: list, minimum: list[int], start: int) -> int:
    """Positions the unit starting at `start` needs at the least."""
    total = 0
    for step, need in zip(plan[start + 1:], minimum[start + 1:]):
        if isinstance(step, structure.Unit):
            break
        total += need
    return total


def _filled(w: _Writer, prompt: str, opts: GenerationOptions, loaded: LoadedModel,
            page_count: Callable[[Document], int], last_unit: Snapshot, units: int) -> bool:
    """The layout has spilled past the requested pages: the last unit (of several) that spilled is
    dropped. Reaching exactly the requested count is not enough, since the last page may still have
    room (a page counts as soon as it holds anything): sections go on until one spills."""
    target = opts.count if opts.count is not None else structure.DEFAULT_COUNT[opts.kind]
    pages = page_count(_assemble(w, prompt, opts, loaded)[0])
    if pages <= target:
        return False
    if units > 1:
        w.restore(last_unit)
    return True


def _step_minimum(step, tok, patches: int) -> int:
    """Positions a step needs at the least: its forced text, its fallback, its required image."""
    if isinstance(step, structure.Unit):
        return 0
    if isinstance(step, structure.Force):
        return len(tok.encode(step.text))
    if isinstance(step, structure.Line):
        return len(tok.encode(" " + step.fallback))
    return patches + 2 if step.image == "required" else 0


def _fair_share(step, room: int, bodies_left: int, patches: int) -> int:
    """A body's share of the spare room, so early panels cannot starve later ones of text."""
    if not isinstance(step, structure.Body):
        return room
    own = patches + 2 if step.image == "required" else 0
    return own + max(0, room - own) // (1 + bodies_left)


def _run_step(w: _Writer, step, room: int) -> None:
    """`room`: positions this step may use beyond what the rest of the plan needs at the least."""
    if isinstance(step, structure.Force):
        w.feed(w.tok.encode(step.text), forced=True)
    elif isinstance(step, structure.Line):
        _free_line(w, step, room - len(w.tok.encode(" " + step.fallback)))
    else:
        _free_body(w, step, room)


def _free_line(w: _Writer, step: structure.Line, room: int) -> None:
    """Free text up to the end of the line; the fallback is forced when nothing usable came."""
    start = len(w.runs[-1])
    for k in range(max(0, min(step.max_tokens, w.text_left(), room))):
        token = w.choose(w.ban_line_start if k == 0 else w.ban_all)
        before = w.text()
        after = w.tok.decode(w.runs[-1] + [token])
        if "\n" in after[len(before):]:
            break
        w.feed([token])
    if not structure.clean_line(w.tok.decode(w.runs[-1][start:])):
        w.feed(w.tok.encode(" " + step.fallback), forced=True)


def _free_body(w: _Writer, step: structure.Body, room: int) -> None:
    """Free text with images as the step allows (see tfgen.sampling.structure.Body)."""
    images_before = len(w.latents)
    limit = w.backend.length + max(0, room)  # the last position this body may fill
    if step.image == "required":
        limit -= w.image_positions()
        # Half the text budget before the image, the rest after it (captions, dialogue).
        used = _write_until_end(w, step, step.max_tokens // 2, limit, images_before)
        if len(w.latents) == images_before:
            if not w.can_add_image():
                raise _Stop("max_images" if w.opts.max_images is not None else "context")
            w.image(forced=True)
            limit += w.image_positions()
        _write_until_end(w, step, step.max_tokens - used, limit, images_before)
        return
    _write_until_end(w, step, step.max_tokens, limit, images_before)
    if step.image == "free":
        raise _Stop("max_tokens" if w.text_left() <= 0 else "context")


def _write_until_end(w: _Writer, step: structure.Body, budget: int, limit: int, images_before: int) -> int:
    """Sample body tokens until EOS, a heading, the budget or the position `limit`; returns tokens written.

    A BOI is allowed while the step takes another image and one fits before `limit`.
    """
    used = 0
    free = step.image == "free"
    while used < budget and w.text_left() > 0 and w.backend.length < limit:
        may_image = ((free or (step.image != "none" and len(w.latents) == images_before))
                     and w.can_add_image() and w.backend.length + w.image_positions() < limit)
        token = w.choose(w.ban_body if may_image else w.ban_body_no_image)
        if token == w.tok.eos_id:
            if free:
                raise _Stop("eos")
            break
        if token == w.tok.boi_id:
            w.image()
            continue
        before = w.text()
        if step.stop_at_heading and structure.starts_heading(w.tok.decode(w.runs[-1] + [token]), before.count("\n")):
            break
        w.feed([token])
        used += 1
    return used


def _assemble(w: _Writer, prompt: str, opts: GenerationOptions, loaded: LoadedModel) -> tuple[Document, int]:
    """Text runs and decoded images, in order, as a tfgen.document/1 with reproduction meta.

    Also returns the tokens of text added that the model did not write (counted as forced).
    With forcing off, the model's lines are kept as written, so the strict parser judges them.
    """
    images = w.pictures
    segments: list = []
    structured = opts.kind in structure.UNIT_NAMES and opts.structure
    for i, run in enumerate(w.runs):
        text = structure.strip_control(w.tok.decode(run))
        text = _sanitize(text) if structured else text.strip("\n")
        if text.strip():
            segments.append(TextSegment(text))
        if i < len(images):
            segments.append(ImageSegment.from_pil(images[i]))
    title = ""
    first = segments[0] if segments else None
    if opts.kind in structure.UNIT_NAMES and isinstance(first, TextSegment) and first.text.startswith("# "):
        title = first.text.split("\n")[0][2:].strip()
    doc = Document(segments, kind=opts.kind, prompt=prompt, title=title, meta=reproduction_meta(loaded, opts))
    added: list[str] = []
    if opts.kind == "magazine" and structured:
        added += _ensure_article_text(doc, prompt)
    if doc.is_empty():  # an empty document is not a valid tfgen.document/1
        added.append(structure.fallback_title(prompt))
        doc.segments.append(TextSegment(added[-1]))
    return doc, sum(len(w.tok.encode(text)) for text in added)


def _sanitize(text: str) -> str:
    """Keep forced '#'/'##' lines, repair the free lines between them (tfgen.sampling.structure)."""
    out: list[str] = []
    body: list[str] = []
    for line in text.split("\n"):
        if line.startswith("# ") or line.startswith("## "):
            out.append(structure.sanitize_body("\n".join(body)))
            body = []
            out.append(line.split(" ", 1)[0] + " " + (structure.clean_line(line) or "Untitled"))
        else:
            body.append(line)
    out.append(structure.sanitize_body("\n".join(body)))
    return "\n\n".join(part for part in out if part.strip())


def _ensure_article_text(doc: Document, prompt: str) -> list[str]:
    """A magazine needs article text: when the model wrote none, the prompt stands in as the standfirst.

    Returns the text added (none or one standfirst).
    """
    from tfgen.structure import check_kind

    if "no article text" not in check_kind(doc, "magazine"):
        return []
    at = 1 if doc.segments and isinstance(doc.segments[0], TextSegment) else 0
    standfirst = prompt.rstrip(".") + "."
    doc.segments.insert(at, TextSegment(standfirst))
    return [standfirst]


def reproduction_meta(loaded: LoadedModel, opts: GenerationOptions) -> dict:
    """Everything needed to make the same document again."""
    from tfgen import __version__

    files = loaded.config.get("files", {})
    model_sha = files.get("model.safetensors", {}).get("sha256", "") if isinstance(files, dict) else ""
    # The training images' credit (e.g. OpenMoji, CC BY-SA): the renderers write it into file metadata.
    rights = loaded.config.get("data_attribution")
    credit = {"attribution": rights.strip()} if isinstance(rights, str) and rights.strip() else {}
    return {
        "model": str(loaded.directory), "model_sha256": model_sha, "seed": opts.seed, "sampler": opts.sampler,
        "steps": opts.steps, "cfg": opts.guidance, "temperature": opts.temperature, "top_k": opts.top_k,
        "top_p": opts.top_p, "count": opts.count, "max_tokens": opts.max_tokens, "max_images": opts.max_images,
        "eta": opts.eta, "structure": opts.structure, "generator": f"tfgen {__version__}", **credit,
    }
