"""What the model-dependent suites need from a model, as a small protocol, and where it comes from.

Evaluation never calls the sampler directly: it asks a `Generator` for images, documents and
text likelihoods. `load_generator(dir)` is the one place wired to tfgen.sampling; `WorldGenerator`
answers from the storyworld itself (ground-truth renders and world documents), the ceiling every
model is measured against, and what the tests use to check the suites without a model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from tfgen.document import Document
from tfgen.errors import TfgenError

WORLD_MODEL = "storyworld"  # --model value that evaluates ground-truth renders (the ceiling)


@dataclass
class GeneratedDocument:
    document: Document
    forced_tokens: int = 0  # tokens the sampler forced to keep the structure (0 when forcing is off)


class Generator(Protocol):
    """A model under evaluation. Images are (H, W, 3) uint8 arrays or PIL images."""

    name: str
    config: dict[str, Any]

    def images(self, prompts: Sequence[str], n_per_prompt: int, seed: int) -> list[list[Any]]:
        """n_per_prompt images for each prompt; deterministic for a seed."""
        ...

    def document(self, prompt: str, kind: str, parts: int, seed: int, force_structure: bool) -> GeneratedDocument:
        """One document of `kind` with `parts` panels/pages/slides asked for."""
        ...

    def text_nll(self, documents: Sequence[Document]) -> tuple[float, int] | None:
        """Summed next-token negative log-likelihood (nats) of the documents' text and its token count."""
        ...


def load_generator(model: str | None, sampling: dict[str, Any] | None = None) -> Generator:
    """The generator for --model: the storyworld, or a checkpoint directory through tfgen.sampling.

    `sampling` overrides the checkpoint's sampler, steps and guidance (None values keep them).
    """
    if model == WORLD_MODEL:
        return WorldGenerator()
    from tfgen.eval.sampling_adapter import SamplingGenerator

    return SamplingGenerator.from_dir(model, sampling)


def panel_images(doc: Document) -> list[Any]:
    """The images of a document, in order, as PIL images."""
    from tfgen.document import ImageSegment

    return [seg.to_pil() for seg in doc.segments if isinstance(seg, ImageSegment)]


_PANELS = re.compile(r"(\d+)-panel")


def requested_panels(prompt: str, default: int = 4) -> int:
    """The panel count a comic prompt asks for ("5-panel comic ..."), else `default`."""
    m = _PANELS.search(prompt)
    return int(m.group(1)) if m else default


@dataclass
class WorldGenerator:
    """Ground truth: storyworld renders of what each held-out prompt asks, and world documents."""

    name: str = WORLD_MODEL
    config: dict[str, Any] = field(default_factory=lambda: {"model": WORLD_MODEL, "note": "ground-truth renders"})

    def __post_init__(self) -> None:
        from tfgen.eval.prompts import prompt_set
        from tfgen.world.scene import Composer

        cats = ("single_object", "two_object", "counting", "colors", "position", "color_attr", "comic")
        self._entries = {e["prompt"]: e for e in prompt_set(cats).entries}
        self._composer = Composer()
        self._sampler = None

    def images(self, prompts: Sequence[str], n_per_prompt: int, seed: int) -> list[list[np.ndarray]]:
        from tfgen.eval.prompts import render_entry

        out = []
        for i, p in enumerate(prompts):
            entry = self._entries.get(p)
            if entry is None:
                raise TfgenError("the storyworld only draws held-out prompts", where=p)
            out.append([render_entry(entry, seed, i * 1000 + k, composer=self._composer).image for k in range(n_per_prompt)])
        return out

    def document(self, prompt: str, kind: str, parts: int, seed: int, force_structure: bool) -> GeneratedDocument:
        from tfgen.document import ImageSegment, TextSegment
        from tfgen.eval.prompts import render_entry

        entry = self._entries.get(prompt)
        if kind == "comic" and entry is not None:
            title = prompt.capitalize()
            segs: list[Any] = [TextSegment(f"# {title}")]
            for k in range(parts):
                scene = render_entry(entry, seed, k, composer=self._composer)
                segs += [TextSegment(f"## Panel {k + 1}"), ImageSegment.from_pil(scene.to_pil(), alt="panel")]
            return GeneratedDocument(Document(segs, kind="comic", prompt=prompt, title=title))
        if self._sampler is None:
            from tfgen.world.sampling import SceneSampler

            self._sampler = SceneSampler()
        from tfgen.eval.documents import find_reference_document

        doc = find_reference_document(kind, prompt, self._sampler)
        if doc is None:
            raise TfgenError(f"the storyworld only writes the evaluation's own {kind} prompts", where=prompt)
        return GeneratedDocument(doc)

    def text_nll(self, documents: Sequence[Document]) -> tuple[float, int] | None:
        return None  # the storyworld is not a language model


def as_path(model: str | None) -> Path | None:
    return None if model in (None, WORLD_MODEL) else Path(model)
