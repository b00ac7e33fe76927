"""The held-out prompt sets for evaluation: GenEval metadata, ground-truth renders, hard negatives.

Entries come from the versioned held-out list (tfgen/assets/heldout/, tfgen.world.heldout).
`select(entries, limit)` is a fixed, stratified subset: each category keeps its share of `limit`
(at least one), taken at evenly spaced positions, so two runs with the same limit compare.
Ground-truth renders draw an entry's composition with the storyworld composer (deliberately
without the held-out filter); hard negatives draw a near miss that must score 0.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfgen.errors import TfgenError
from tfgen.world.backgrounds import SETTING_NAMES, VARIANTS_PER_SETTING
from tfgen.world.colours import COLOUR_NAMES
from tfgen.world.heldout import HeldOut, load_heldout
from tfgen.world.scene import Composer, CompositionError, ObjectSpec, Scene, SceneSpec
from tfgen.world.sprites import Accessory

GENEVAL_CATEGORIES = ("single_object", "two_object", "counting", "colors", "position", "color_attr")
COMIC_CATEGORY = "comic"
_INVERSE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}


@dataclass(frozen=True)
class PromptSet:
    """A list of held-out entries plus what identifies it in a report."""

    version: str
    sha256: str
    entries: tuple[dict[str, Any], ...]

    def describe(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for e in self.entries:
            counts[e["category"]] = counts.get(e["category"], 0) + 1
        return {"version": self.version, "sha256": self.sha256, "n": len(self.entries), "counts": counts}


def prompt_set(categories: tuple[str, ...], limit: int | None = None, heldout: HeldOut | None = None) -> PromptSet:
    """The held-out entries of `categories`, optionally a stratified subset of `limit` of them."""
    heldout = heldout or load_heldout()
    entries = [e for e in heldout.entries if e["category"] in categories]
    return PromptSet(heldout.version, heldout.sha256, tuple(select(entries, limit)))


def select(entries: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    """A fixed, stratified subset of `limit` entries (all of them when limit is None or large)."""
    if limit is None or limit >= len(entries):
        return list(entries)
    if limit < 1:
        raise TfgenError(f"--limit must be at least 1 (got {limit})", where="--limit")
    by_cat: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        by_cat.setdefault(e["category"], []).append(e)
    quotas = _quotas({c: len(v) for c, v in by_cat.items()}, limit)
    out = []
    for cat, items in by_cat.items():
        q = quotas[cat]
        out += [items[(i * len(items)) // q] for i in range(q)]
    return out


def _quotas(sizes: dict[str, int], limit: int) -> dict[str, int]:
    """Largest-remainder shares of `limit`, at least one per category when limit allows."""
    total = sum(sizes.values())
    base = {c: max(1 if limit >= len(sizes) else 0, (n * limit) // total) for c, n in sizes.items()}
    rest = sorted(sizes, key=lambda c: -((sizes[c] * limit) % total))
    i = 0
    while sum(base.values()) < limit and rest:
        c = rest[i % len(rest)]
        if base[c] < sizes[c]:
            base[c] += 1
        i += 1
    while sum(base.values()) > limit:  # the minimum of one per category overshot
        c = max(base, key=lambda k: base[k])
        base[c] -= 1
    return {c: min(q, sizes[c]) for c, q in base.items()}


def geneval_metadata(entry: dict[str, Any]) -> dict[str, Any]:
    """GenEval's per-prompt metadata (tag, include, exclude) for one held-out entry."""
    cat, comp = entry["category"], entry["composition"]
    if cat == "single_object":
        include = [{"class": comp["classes"][0], "count": 1}]
    elif cat == "two_object":
        include = [{"class": c, "count": 1} for c in comp["classes"]]
    elif cat == "counting":
        return {"tag": cat, "include": [{"class": comp["class"], "count": comp["count"]}],
                "exclude": [{"class": comp["class"], "count": comp["count"] + 1}]}
    elif cat == "colors":
        include = [{"class": comp["class"], "count": 1, "color": comp["colour"]}]
    elif cat == "position":
        a, rel, b = comp["relation"]
        include = [{"class": b, "count": 1}, {"class": a, "count": 1, "position": [rel, 0]}]
    elif cat == "color_attr":
        include = [{"class": c, "count": 1, "color": k} for c, k in comp["coloured"]]
    else:
        raise TfgenError(f"not a GenEval category: {cat!r}", where="category")
    return {"tag": cat, "include": include, "exclude": []}


def entry_objects(entry: dict[str, Any], negative: bool = False, index: int = 0) -> tuple[tuple[ObjectSpec, ...], tuple | None]:
    """The objects (and relation) an entry asks for, or its hard negative when `negative`."""
    cat, comp = entry["category"], entry["composition"]
    if cat == "single_object":
        return (ObjectSpec(_other_class(comp["classes"][0], index) if negative else comp["classes"][0]),), None
    if cat == "two_object":
        a, b = comp["classes"]
        return (ObjectSpec(a), ObjectSpec(_other_class(b, index, avoid=a) if negative else b)), None
    if cat == "counting":
        n = comp["count"]
        if negative:
            n = n + 1 if (index % 2 == 0 and n < 4) or n == 1 else n - 1
        return (ObjectSpec(comp["class"], count=n),), None
    if cat == "colors":
        colour = _other_colour(comp["colour"], index) if negative else comp["colour"]
        return (ObjectSpec(comp["class"], colour=colour),), None
    if cat == "position":
        a, rel, b = comp["relation"]
        return (ObjectSpec(a), ObjectSpec(b)), (0, _INVERSE[rel] if negative else rel, 1)
    if cat == "color_attr":
        (a, ca), (b, cb) = comp["coloured"]
        if negative:
            ca, cb = (cb, ca) if ca != cb else (ca, _other_colour(cb, index))
        return (ObjectSpec(a, colour=ca), ObjectSpec(b, colour=cb)), None
    if cat == COMIC_CATEGORY:
        species, phrase = comp["character"]
        colour, kind = phrase.rsplit(" ", 1)
        if negative:
            colour = _other_colour(colour, index)
        return (ObjectSpec(species, accessory=Accessory(kind, colour), character="hero"),), None
    raise TfgenError(f"unknown category {cat!r}", where="category")


def render_entry(entry: dict[str, Any], seed: int, index: int = 0, negative: bool = False,
                 composer: Composer | None = None, size: int = 128) -> Scene:
    """A storyworld render of an entry (or of its hard negative); deterministic for (seed, index)."""
    composer = composer or Composer()
    objects, relation = entry_objects(entry, negative, index)
    rng = random.Random(f"tfgen-eval-render:{seed}:{index}:{entry['prompt']}:{negative}")
    for attempt in range(60):
        spec = SceneSpec(objects, rng.choice(SETTING_NAMES), rng.randrange(VARIANTS_PER_SETTING), relation,
                         scale=1.0 - 0.01 * attempt)
        try:
            scene = composer.compose(spec, size, rng)
        except CompositionError:
            continue
        if relation is None or _shows_relation(scene, relation):
            return scene
    raise TfgenError("could not compose a render of this entry", where=entry["prompt"])


def _shows_relation(scene: Scene, relation: tuple) -> bool:
    """Whether GenEval's rule sees the relation between the drawn boxes (the composer's placement
    can differ from it near a diagonal, and a judge cannot be asked to see what is not drawn)."""
    from tfgen.eval.scoring import relative_position

    a, rel, b = relation
    boxes = {ann["group"]: ann["box"] for ann in scene.annotations}
    return rel in relative_position(boxes[a], boxes[b])


def render_scenes(entries: list[dict[str, Any]], n_per_prompt: int, seed: int, negative: bool = False,
                  composer: Composer | None = None) -> list[list[Scene]]:
    """n renders per entry, with their annotations; the k-th of entry i is render_entry's index i * 1000 + k."""
    composer = composer or Composer()
    return [[render_entry(e, seed, i * 1000 + k, negative, composer) for k in range(n_per_prompt)]
            for i, e in enumerate(entries)]


def render_images(entries: list[dict[str, Any]], n_per_prompt: int, seed: int, negative: bool = False,
                  composer: Composer | None = None) -> list[list[np.ndarray]]:
    """n renders per entry, as (128, 128, 3) uint8 arrays."""
    return [[s.image for s in per] for per in render_scenes(entries, n_per_prompt, seed, negative, composer)]


def _other_class(name: str, index: int, avoid: str = "") -> str:
    from tfgen.world.cast import COCO_GLYPHS

    pool = [c for c in sorted(COCO_GLYPHS) if c not in (name, avoid)]
    return pool[(index * 7 + len(name)) % len(pool)]


def _other_colour(colour: str, index: int) -> str:
    pool = [c for c in COLOUR_NAMES if c != colour]
    return pool[index % len(pool)]
