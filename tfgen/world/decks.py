"""Slide decks: a title slide, then 4 to 10 '## ' slides with bullets, some images and '^' notes."""

from __future__ import annotations

import random

from tfgen.document import Document, ImageSegment, TextSegment
from tfgen.world.backgrounds import SETTING_NAMES, SETTINGS
from tfgen.world.cast import all_things, plural, with_article
from tfgen.world.colours import COLOUR_NAMES
from tfgen.world.sampling import SceneSampler
from tfgen.world.topics import pick_companion, topic_picture

# Slide heading -> bullet templates; {t} topic, {p} plural, {a} with article, {place}, {colour}, {other}.
_SLIDES = {
    "What is {a}?": ("{a} is easy to recognise", "it has a clear outline and bold colours", "everyone has seen one"),
    "Where to find {p}": ("{place}", "{place2}", "sometimes in surprising places"),
    "Colours": ("most are {natural}", "some are {colour}", "colour never changes what it is"),
    "Counting {p}": ("one {t} on its own", "two or three {p} together", "rarely more than four at once"),
    "Good company": ("{p} and {other_p} get along", "look for {a_other} nearby", "pairs make better pictures"),
    "Fun facts": ("a {t} fits in any story", "{p} appear in comics and decks alike", "children draw them first"),
    "How to draw {a}": ("start with the outline", "fill it with one flat colour", "add a dark edge"),
    "Looking closer": ("left, right, above, below: position matters", "size changes with distance",
                       "each {t} keeps its shape"),
    "Questions": ("what would you add?", "where have you seen {p}?", "thank you for listening"),
}
_NOTES = ("Pause here and ask the room.", "Point at the picture while you speak.", "Keep this slide short.",
          "Mention the {where} as an example.", "This is the key slide: slow down.", "Invite a question about {p}.")


def _fill(template: str, values: dict[str, str]) -> str:
    text = template.format(**values)
    return text[0].upper() + text[1:]


def make_deck(rng: random.Random, sampler: SceneSampler, size: int) -> Document:
    """A deck about one thing."""
    names = sorted(all_things())
    topic = rng.choice(names)
    other = pick_companion(rng, sampler, topic, names)
    places = rng.sample(SETTING_NAMES, 2)
    values = {"t": topic, "p": plural(topic), "a": with_article(topic), "place": SETTINGS[places[0]].phrase,
              "place2": SETTINGS[places[1]].phrase, "where": places[0], "natural": sampler.natural_colour(topic),
              "colour": rng.choice(COLOUR_NAMES), "other_p": plural(other), "a_other": with_article(other)}
    title = rng.choice(("{P}", "All About {P}", "{P} in Ten Minutes", "A Short Guide to {P}")).format(P=plural(topic).title())
    subtitle = rng.choice(("A talk for curious people", "Notes from the storyworld", "An introduction",
                           "What we learned this week"))
    n_slides = rng.randint(4, 10)
    headings = rng.sample(list(_SLIDES), min(n_slides, len(_SLIDES)))
    while len(headings) < n_slides:
        headings.append(rng.choice([h for h in _SLIDES if h != "Questions"]))
    if "Questions" in headings:  # questions close a talk
        headings.remove("Questions")
        headings.append("Questions")
    segments: list = []
    annotations = []
    text = f"# {title}\n\n{subtitle}"
    for k, heading in enumerate(headings):
        bullets = rng.sample(_SLIDES[heading], rng.randint(2, 3))
        text += f"\n\n## {_fill(heading, values)}\n\n" + "\n".join("- " + _fill(b, values) for b in bullets)
        if k % 2 == 0 or rng.random() < 0.3:
            pic = topic_picture(rng, sampler, size, topic, companion=other if heading == "Good company" else None)
            segments.append(TextSegment(text))
            segments.append(ImageSegment.from_pil(pic.scene.to_pil(), alt=pic.caption))
            annotations.append(pic.scene.annotations)
            text = ""
        text += ("\n\n" if text else "") + "^ " + _fill(rng.choice(_NOTES), values)
    segments.append(TextSegment(text))
    prompt = rng.choice((f"a deck about {plural(topic)}", f"slides on {plural(topic)} for a class",
                         f"make a {n_slides}-slide presentation about {with_article(topic)}",
                         f"a short talk about {plural(topic)}, with pictures"))
    meta = {"world_kind": "deck", "topic": topic, "annotations": annotations}
    return Document(segments, kind="deck", prompt=prompt, title=title, meta=meta)
