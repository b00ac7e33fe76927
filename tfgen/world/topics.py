"""Pictures about one topic thing (for articles and decks): the thing in varied settings, colours, counts."""

from __future__ import annotations

import random
from dataclasses import dataclass

from tfgen.world.backgrounds import SETTING_NAMES, VARIANTS_PER_SETTING
from tfgen.world.colours import COLOUR_NAMES
from tfgen.world.grammar import free_caption
from tfgen.world.sampling import SceneSampler
from tfgen.world.scene import ObjectSpec, Scene, SceneSpec


def pick_companion(rng: random.Random, sampler: SceneSampler, topic: str, names: list[str]) -> str:
    """Another thing that may appear beside `topic` (the pair is not held out)."""
    while True:
        other = rng.choice(names)
        if other != topic and sampler.allowed(SceneSpec((ObjectSpec(topic), ObjectSpec(other)), "meadow")):
            return other


@dataclass(frozen=True)
class TopicPicture:
    scene: Scene
    caption: str


def topic_picture(rng: random.Random, sampler: SceneSampler, size: int, topic: str,
                  setting: str | None = None, companion: str | None = None) -> TopicPicture:
    """A scene with the topic thing (some in a new colour or a small group), captioned freely."""
    for attempt in range(40):
        where = setting or rng.choice(SETTING_NAMES)
        colour = rng.choice(COLOUR_NAMES) if topic in sampler.colourable and rng.random() < 0.35 else None
        objects = (ObjectSpec(topic, count=rng.choice((1, 1, 2, 3)), colour=colour),)
        if companion and attempt < 20:
            objects += (ObjectSpec(companion),)
        spec = SceneSpec(objects, where, rng.randrange(VARIANTS_PER_SETTING))
        scene = sampler.compose_allowed(spec, size, rng)
        if scene is not None:
            return TopicPicture(scene, free_caption(spec, rng))
        setting = None  # that place did not work out (e.g. no contrast); let the next try move
    raise RuntimeError(f"no picture of {topic!r} could be composed")  # a bug if reached
