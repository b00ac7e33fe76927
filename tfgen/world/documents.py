"""Documents of the storyworld: captioned images (both orders), comics, magazine articles, decks.

Document i of a seed is drawn from its own random stream, random.Random(f"tfgen-world:{seed}:{i}"),
so any document can be made alone, in any order, on any machine, with the same bytes.
"""

from __future__ import annotations

import random
from typing import Iterator, Sequence

from tfgen.document import Document, ImageSegment, TextSegment
from tfgen.errors import TfgenError
from tfgen.world.articles import make_article
from tfgen.world.decks import make_deck
from tfgen.world.grammar import free_caption, geneval_caption
from tfgen.world.sampling import SceneSampler
from tfgen.world.stories import make_comic

WORLD_KINDS = ("caption", "comic", "magazine", "deck")
KIND_WEIGHTS = {"caption": 7, "comic": 1, "magazine": 1, "deck": 1}
DEFAULT_IMAGE_SIZE = 128

_DESCRIBE = ("describe this picture", "what is in this image?", "caption this image", "write a caption",
             "tell me what you see")
_DRAW = ("{c}", "{c}", "draw {c}", "show me {c}", "a picture of {c}", "please make an image: {c}")


def check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    """Validate kind names; an unknown one is a TfgenError listing the known ones."""
    if not kinds:
        raise TfgenError("no kinds given", where="--kinds")
    for k in kinds:
        if k not in WORLD_KINDS:
            raise TfgenError(f"unknown kind {k!r} (one of {', '.join(WORLD_KINDS)})", where="--kinds")
    return tuple(dict.fromkeys(kinds))


def make_caption_doc(rng: random.Random, sampler: SceneSampler, size: int) -> Document:
    """One captioned image; caption then image (for generation) or image then caption (captioning)."""
    scene = sampler.scene(rng, size)
    caption = geneval_caption(scene.spec) if rng.random() < 0.6 else free_caption(scene.spec, rng)
    image = ImageSegment.from_pil(scene.to_pil(), alt=caption)
    order = rng.choice(("caption-first", "image-first"))
    if order == "caption-first":
        segments = [TextSegment(caption), image]
        prompt = rng.choice(_DRAW).format(c=caption.rstrip("."))
    else:
        segments = [image, TextSegment(caption)]
        prompt = rng.choice(_DESCRIBE)
    meta = {"world_kind": "caption", "order": order, "category": scene.category, "setting": scene.spec.setting,
            "annotations": [scene.annotations]}
    return Document(segments, kind="none", prompt=prompt, title="", meta=meta)


_MAKERS = {"caption": make_caption_doc, "comic": make_comic, "magazine": make_article, "deck": make_deck}


def document_kind(seed: int, index: int, kinds: Sequence[str]) -> str:
    """Which kind document `index` is; drawn from its own stream so it is known before drawing."""
    rng = random.Random(f"tfgen-world-kind:{seed}:{index}")
    return rng.choices(list(kinds), weights=[KIND_WEIGHTS[k] for k in kinds])[0]


def make_document(seed: int, index: int, kinds: Sequence[str], sampler: SceneSampler,
                  size: int = DEFAULT_IMAGE_SIZE) -> Document:
    """Document `index` of the dataset with this seed."""
    kind = document_kind(seed, index, kinds)
    doc = _MAKERS[kind](random.Random(f"tfgen-world:{seed}:{index}"), sampler, size)
    doc.meta["heldout"] = sampler.heldout.version
    doc.meta["index"] = index
    return doc


def iter_documents(seed: int, kinds: Sequence[str] = WORLD_KINDS, size: int = DEFAULT_IMAGE_SIZE,
                   start: int = 0, stop: int | None = None, sampler: SceneSampler | None = None) -> Iterator[Document]:
    """Documents start, start+1, ... (forever when stop is None), in memory."""
    kinds = check_kinds(kinds)
    sampler = sampler or SceneSampler()
    index = start
    while stop is None or index < stop:
        yield make_document(seed, index, kinds, sampler, size)
        index += 1
