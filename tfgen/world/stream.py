"""In-memory training source: batches of captioned, annotated scenes with no files at all.

    stream = SceneStream(seed=0, image_size=128)
    images, captions, annotations = stream.batch(32)   # images: (32, 128, 128, 3) uint8 numpy

Scene j of a seed comes from its own random stream, so `SceneStream(seed, start=j)` resumes
exactly where a run stopped (`stream.position` is the next j). No torch import here:
`torch.from_numpy(images)` is the caller's one line. Documents: tfgen.world.documents.iter_documents.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfgen.errors import TfgenError
from tfgen.world.documents import DEFAULT_IMAGE_SIZE, iter_documents  # noqa: F401  (re-exported)
from tfgen.world.grammar import free_caption, geneval_caption
from tfgen.world.sampling import CATEGORY_WEIGHTS, SceneSampler


@dataclass
class SceneStream:
    seed: int = 0
    image_size: int = DEFAULT_IMAGE_SIZE
    start: int = 0
    geneval_share: float = 0.6  # the rest of the captions use freer phrasings
    categories: tuple[str, ...] | None = None  # None: all (see sampling.CATEGORY_WEIGHTS)
    sampler: SceneSampler | None = None  # None: a fresh one (loads the atlas and held-out list)

    def __post_init__(self) -> None:
        if self.image_size < 32:
            raise TfgenError(f"image size must be at least 32 (got {self.image_size})", where="image_size")
        for c in self.categories or ():
            if c not in CATEGORY_WEIGHTS:
                raise TfgenError(f"unknown category {c!r} (one of {', '.join(CATEGORY_WEIGHTS)})", where="categories")
        self.position = self.start
        if self.sampler is None:
            self.sampler = SceneSampler()

    def next_scene(self) -> tuple[np.ndarray, str, list[dict[str, Any]]]:
        """One (image (H, W, 3) uint8, caption, annotations)."""
        rng = random.Random(f"tfgen-stream:{self.seed}:{self.position}")
        self.position += 1
        category = rng.choice(self.categories) if self.categories else None
        scene = self.sampler.scene(rng, self.image_size, category)
        caption = geneval_caption(scene.spec) if rng.random() < self.geneval_share else free_caption(scene.spec, rng)
        return scene.image, caption, scene.annotations

    def batch(self, n: int) -> tuple[np.ndarray, list[str], list[list[dict[str, Any]]]]:
        """n scenes: images (n, H, W, 3) uint8, captions, per-image annotation lists."""
        if n <= 0:
            raise TfgenError(f"batch size must be at least 1 (got {n})", where="n")
        images = np.empty((n, self.image_size, self.image_size, 3), dtype=np.uint8)
        captions, annotations = [], []
        for i in range(n):
            images[i], caption, anns = self.next_scene()
            captions.append(caption)
            annotations.append(anns)
        return images, captions, annotations
