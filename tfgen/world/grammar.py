"""Captions for scenes: GenEval's phrasing ("a photo of a red car and a blue truck") and freer ones."""

from __future__ import annotations

import random

from tfgen.world.backgrounds import SETTINGS
from tfgen.world.cast import plural, with_article
from tfgen.world.heldout import NUMBER_WORDS
from tfgen.world.scene import ObjectSpec, SceneSpec


def noun_phrase(obj: ObjectSpec, with_colour: bool = True) -> str:
    """'a red car', 'three apples', 'Fern the fox in a red hat'."""
    colour = f"{obj.colour} " if with_colour and obj.colour else ""
    if obj.character:
        wear = f" in {with_article(obj.accessory.phrase())}" if obj.accessory else ""
        return f"{obj.character} the {obj.thing}{wear}"
    if obj.count > 1:
        return f"{NUMBER_WORDS[obj.count]} {colour}{plural(obj.thing)}"
    phrase = with_article(colour + obj.thing)
    if obj.accessory:
        phrase += f" in {with_article(obj.accessory.phrase())}"
    return phrase


def join_and(parts: list[str]) -> str:
    if len(parts) <= 2:
        return " and ".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def geneval_caption(spec: SceneSpec) -> str:
    """The GenEval template for a spec: objects joined by 'and', or 'A <relation> B'."""
    if spec.relation is not None:
        i, rel, j = spec.relation
        return f"a photo of {noun_phrase(spec.objects[i])} {rel} {noun_phrase(spec.objects[j])}"
    return "a photo of " + join_and([noun_phrase(o) for o in spec.objects])


_FREE_OPENINGS = ("{things} {place}.", "A picture of {things} {place}.", "Here we see {things} {place}.",
                  "{things}, {place}.", "An illustration of {things} {place}.", "{place}: {things}.")
_RELATION_WORDS = {"left of": ("to the left of", "on the left of"), "right of": ("to the right of", "on the right of"),
                   "above": ("above", "over"), "below": ("below", "under")}


def free_caption(spec: SceneSpec, rng: random.Random) -> str:
    """A freer description that still names every object, colour, count and relation."""
    place = SETTINGS[spec.setting].phrase
    if spec.relation is not None:
        i, rel, j = spec.relation
        things = f"{noun_phrase(spec.objects[i])} {rng.choice(_RELATION_WORDS[rel])} {noun_phrase(spec.objects[j])}"
        rest = [noun_phrase(o) for k, o in enumerate(spec.objects) if k not in (i, j)]
        if rest:
            things += " with " + join_and(rest)
    else:
        things = join_and([noun_phrase(o) for o in spec.objects])
    text = rng.choice(_FREE_OPENINGS).format(things=things, place=place)
    return text[0].upper() + text[1:]
