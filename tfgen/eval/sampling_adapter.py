"""The Generator protocol (tfgen.eval.generation) over a checkpoint, through tfgen.sampling.

Images: each prompt is sent as a kind-"none" document (how caption-first training documents are
laid out) with at most one image; a document that ends without an image counts as a blank image
(judged wrong) and is counted in `missing_images`. Documents: with forcing on, tfgen.sampling's
structure plan forces the kind's shape; with it off (GenerationOptions.structure=False) the model
writes freely after `BOS <kind> prompt SEP`. Forced tokens are the sampler's own count
(GenerationResult.forced_tokens: forced markup, fallback titles, forced BOI/EOI, added text).
Text: next-token NLL of `BOS <kind> prompt SEP text EOS`, images left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from tfgen.document import Document
from tfgen.errors import TfgenError
from tfgen.eval.generation import GeneratedDocument


class Unsupported(TfgenError):
    """The sampler cannot do what a suite asks (the suite is skipped with this message)."""


@dataclass
class SamplingGenerator:
    loaded: Any  # tfgen.sampling.loader.LoadedModel
    name: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    missing_images: int = 0
    sampling: dict[str, Any] = field(default_factory=dict)  # GenerationOptions overrides: sampler, steps, guidance

    @classmethod
    def from_dir(cls, model: str | None, sampling: dict[str, Any] | None = None) -> "SamplingGenerator":
        from tfgen.sampling.loader import load_model
        from tfgen.sampling.options import GenerationOptions

        loaded = load_model(model)
        cfg = loaded.config
        overrides = {k: v for k, v in (sampling or {}).items() if v is not None}
        # Resolved once here, so a sampler that does not fit the checkpoint fails before any work.
        used = GenerationOptions(**overrides).resolve(loaded.sampler_defaults, loaded.cfg.objective,
                                                      loaded.cfg.num_train_timesteps)
        summary = {k: cfg.get(k) for k in ("model", "objective", "sampler", "training", "vae") if k in cfg}
        summary["sampling_used"] = {"sampler": used.sampler, "steps": used.steps, "guidance": used.guidance}
        return cls(loaded, str(loaded.directory), summary, sampling=overrides)

    def images(self, prompts: Sequence[str], n_per_prompt: int, seed: int) -> list[list[np.ndarray]]:
        from tfgen.sampling.generate import generate_document
        from tfgen.sampling.options import GenerationOptions

        out = []
        for i, prompt in enumerate(prompts):
            per = []
            for k in range(n_per_prompt):
                opts = GenerationOptions(kind="none", seed=seed * 1_000_003 + i * 101 + k, max_images=1,
                                         **self.sampling)
                doc = generate_document(self.loaded, prompt, opts).document
                per.append(_first_image(doc, self.loaded.vae.image_size, self))
            out.append(per)
        return out

    def document(self, prompt: str, kind: str, parts: int, seed: int, force_structure: bool) -> GeneratedDocument:
        from tfgen.sampling import structure
        from tfgen.sampling.generate import generate_document
        from tfgen.sampling.options import GenerationOptions

        # `parts` of a magazine are its sections; the sampler counts magazine pages.
        count = parts // structure.SECTIONS_PER_PAGE if kind == "magazine" else parts
        opts = GenerationOptions(kind=kind, seed=seed, count=max(1, count), structure=force_structure,
                                 **self.sampling)
        result = generate_document(self.loaded, prompt, opts)
        return GeneratedDocument(result.document, result.forced_tokens)

    def text_nll(self, documents: Sequence[Document]) -> tuple[float, int] | None:
        import torch
        import torch.nn.functional as F

        tok, model = self.loaded.tokenizer, self.loaded.model
        capacity = self.loaded.cfg.max_seq_len
        total, count = 0.0, 0
        for doc in documents:
            head = [tok.bos_id, tok.kind_id(doc.kind), *tok.encode(doc.prompt), tok.sep_id]
            ids = (head + tok.encode(doc.text) + [tok.eos_id])[:capacity]
            if len(ids) <= len(head):
                continue
            with torch.inference_mode():
                cache = model.new_cache(1, capacity, self.loaded.device)
                logits = model.prefill(torch.tensor([ids], device=self.loaded.device), cache)[0].float()
            targets = torch.tensor(ids[len(head):], device=logits.device)
            total += float(F.cross_entropy(logits[len(head) - 1 : len(ids) - 1], targets, reduction="sum"))
            count += len(targets)
        return (total, count) if count else None


def _first_image(doc: Document, size: int, gen: SamplingGenerator) -> np.ndarray:
    from tfgen.document import ImageSegment

    for seg in doc.segments:
        if isinstance(seg, ImageSegment):
            return np.asarray(seg.to_pil().resize((128, 128)))
    gen.missing_images += 1
    return np.full((128, 128, 3), 127, np.uint8)
