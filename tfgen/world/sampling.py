"""Random scene specs in GenEval's categories (and freer mixes), never a held-out composition."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from tfgen.world.backgrounds import SETTING_NAMES, VARIANTS_PER_SETTING
from tfgen.world.cast import COCO_GLYPHS, NOT_RECOLOURED, all_things
from tfgen.world.colours import COLOUR_NAMES
from tfgen.world.heldout import HeldOut, load_heldout
from tfgen.world.scene import RELATIONS, Composer, CompositionError, ObjectSpec, Scene, SceneSpec

# Scene categories and how often the caption kind draws each (GenEval's six plus free mixes).
CATEGORY_WEIGHTS = {"single_object": 2, "two_object": 2, "counting": 2, "colors": 2, "position": 2,
                    "color_attr": 2, "free": 3}
_MAX_TRIES = 50


class SamplingError(Exception):
    """No allowed, placeable scene was found (should not happen with the shipped cast)."""


@dataclass
class SceneSampler:
    """Draws specs, rejects held-out compositions, composes them; owns the caches."""

    composer: Composer = field(default_factory=Composer)
    heldout: HeldOut = field(default_factory=load_heldout)

    def __post_init__(self) -> None:
        things = all_things()
        self.coco = sorted(COCO_GLYPHS)
        self.all_names = sorted(things)
        self.colourable = {n for n, t in things.items()
                           if self.composer.kit.fill(t.glyph).colourable and n not in NOT_RECOLOURED}

    def natural_colour(self, thing: str) -> str:
        return self.composer.kit.fill(self.composer.things[thing].glyph).natural_colour

    def allowed(self, spec: SceneSpec) -> bool:
        """True when the spec holds no held-out composition (checked before drawing)."""
        anns: list[dict[str, Any]] = []
        for o in spec.objects:
            ann = {"class": o.thing, "colour": o.colour or self.natural_colour(o.thing)}
            if o.accessory:
                ann["accessory"] = o.accessory.phrase()
            anns += [ann] * o.count
        return not self.heldout.violations(anns)

    def scene(self, rng: random.Random, size: int, category: str | None = None, setting: str | None = None,
              extra: tuple[ObjectSpec, ...] = ()) -> Scene:
        """A composed scene of `category` (random when None) with `extra` objects added."""
        for _ in range(_MAX_TRIES):
            cat = category or rng.choices(list(CATEGORY_WEIGHTS), weights=list(CATEGORY_WEIGHTS.values()))[0]
            spec = self.spec(rng, cat, setting)
            if extra:
                spec = SceneSpec(extra + spec.objects, spec.setting, spec.variant, _shift(spec.relation, len(extra)), spec.scale)
            scene = self.compose_allowed(spec, size, rng)
            if scene is not None:
                scene.category = cat
                return scene
        raise SamplingError(f"no allowed scene of category {category!r} after {_MAX_TRIES} tries")

    def compose_allowed(self, spec: SceneSpec, size: int, rng: random.Random) -> Scene | None:
        """Compose `spec` if it is allowed and placeable; None otherwise."""
        if not self.allowed(spec):
            return None
        try:
            scene = self.composer.compose(spec, size, rng)
        except CompositionError:
            return None
        return None if self.heldout.violations(scene.annotations) else scene

    def spec(self, rng: random.Random, category: str, setting: str | None = None) -> SceneSpec:
        """A random spec of one category (not yet checked against the held-out list)."""
        setting = setting or rng.choice(SETTING_NAMES)
        variant = rng.randrange(VARIANTS_PER_SETTING)
        pool = self.coco if rng.random() < 0.75 else self.all_names
        a, b = rng.sample(pool, 2)
        objects: tuple[ObjectSpec, ...]
        relation = None
        if category == "single_object":
            objects = (ObjectSpec(a),)
        elif category == "two_object":
            objects = (ObjectSpec(a), ObjectSpec(b))
        elif category == "counting":
            objects = (ObjectSpec(a, count=rng.randint(2, 4)),)
        elif category == "colors":
            objects = (ObjectSpec(self._colourable(rng, pool), colour=rng.choice(COLOUR_NAMES)),)
        elif category == "position":
            objects, relation = (ObjectSpec(a), ObjectSpec(b)), (0, rng.choice(RELATIONS), 1)
        elif category == "color_attr":
            a, b = rng.sample(sorted(self.colourable), 2)
            objects = (ObjectSpec(a, colour=rng.choice(COLOUR_NAMES)), ObjectSpec(b, colour=rng.choice(COLOUR_NAMES)))
        else:
            objects = self._free_objects(rng, pool)
        return SceneSpec(objects, setting, variant, relation)

    def _colourable(self, rng: random.Random, pool: list[str]) -> str:
        return rng.choice([n for n in pool if n in self.colourable] or sorted(self.colourable))

    def _free_objects(self, rng: random.Random, pool: list[str]) -> tuple[ObjectSpec, ...]:
        """1-3 classes, at most 4 instances in all, some recoloured."""
        budget = rng.choice((1, 2, 2, 3, 3, 4))
        objects = []
        for name in rng.sample(pool, 3):
            if budget <= 0:
                break
            count = rng.randint(1, budget) if rng.random() < 0.3 else 1
            colour = rng.choice(COLOUR_NAMES) if name in self.colourable and rng.random() < 0.4 else None
            objects.append(ObjectSpec(name, count=count, colour=colour))
            budget -= count
        return tuple(objects)


def _shift(relation, by: int):
    return None if relation is None else (relation[0] + by, relation[1], relation[2] + by)
