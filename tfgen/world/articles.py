"""Magazine articles: headline, standfirst, '## ' sections of paragraphs, captioned figures, a pull quote."""

from __future__ import annotations

import random

from tfgen.document import Document, ImageSegment, TextSegment
from tfgen.world.backgrounds import SETTING_NAMES, SETTINGS
from tfgen.world.cast import CHARACTER_NAMES, all_things, plural, with_article
from tfgen.world.sampling import SceneSampler
from tfgen.world.topics import pick_companion, topic_picture

_HEADLINES = ("The Secret Life of {P}", "{P}: A Field Guide", "Why Everyone Is Talking About {P}",
              "In Praise of {P}", "{P} Everywhere", "What {P} Tell Us")
_STANDFIRSTS = ("Our reporter spent a week {place} looking for {p}. Here is what they found.",
                "They turn up in the oddest places. A short guide to {p}, from {place} to {place2}.",
                "Small, bright and easy to miss: a closer look at {p}.")
_SECTIONS = {
    "Where to look": ("You will find {p} {place} and {place2}.", "Many readers first saw {a} {place}.",
                      "Nobody expected {a} {place2}, yet there it was."),
    "In every colour": ("Not every {t} looks the same: we met {a} in {colour}.",
                        "Painters love {p} because the colour stays clear against any sky.",
                        "Some say a {colour} {t} brings luck."),
    "By the numbers": ("One {t} is a sight; three {p} are a crowd.", "On a good day you can count four {p} at once.",
                       "Most pictures show a single {t}, but pairs are common too."),
    "Neighbours": ("{p} are often seen next to {a2}.", "Where there is {a}, {a2} is rarely far away.",
                   "{name} keeps {a} beside {a2} for company."),
}
_QUOTES = ("Once you start looking for {p}, you see them everywhere.", "Every {t} has a story.",
           "I never go {place} without looking for {a}.")


def _fill(template: str, rng: random.Random, topic: str, places: list[str], companion: str, colour: str) -> str:
    text = template.format(p=plural(topic), P=plural(topic).title(), t=topic, a=with_article(topic),
                           a2=with_article(companion), place=SETTINGS[places[0]].phrase,
                           place2=SETTINGS[places[1]].phrase, colour=colour, name=rng.choice(CHARACTER_NAMES))
    return text[0].upper() + text[1:]


def make_article(rng: random.Random, sampler: SceneSampler, size: int) -> Document:
    """A magazine article about one thing, with 1-3 figures."""
    topic = rng.choice(sorted(all_things()))
    companion = pick_companion(rng, sampler, topic, sorted(all_things()))
    places = rng.sample(SETTING_NAMES, 2)
    title = _fill(rng.choice(_HEADLINES), rng, topic, places, companion, "")
    pictures = [topic_picture(rng, sampler, size, topic, setting=places[i % 2] if i < 2 else None,
                              companion=companion if i == 2 else None) for i in range(rng.randint(1, 3))]
    colour = next((p.scene.spec.objects[0].colour for p in pictures if p.scene.spec.objects[0].colour),
                  sampler.natural_colour(topic))
    sections = rng.sample(sorted(_SECTIONS), rng.randint(2, 4))
    segments: list = []
    text = f"# {title}\n\n{_fill(rng.choice(_STANDFIRSTS), rng, topic, places, companion, colour)}"
    quote_at = rng.randrange(len(sections))
    for i, heading in enumerate(sections):
        sentences = rng.sample(_SECTIONS[heading], 2)
        text += f"\n\n## {heading}\n\n" + " ".join(_fill(s, rng, topic, places, companion, colour) for s in sentences)
        if i == quote_at:
            text += "\n\n>> " + _fill(rng.choice(_QUOTES), rng, topic, places, companion, colour)
        if i < len(pictures):
            segments.append(TextSegment(text))
            segments.append(ImageSegment.from_pil(pictures[i].scene.to_pil(), alt=pictures[i].caption))
            text = f"> {pictures[i].caption}"
    for pic in pictures[len(sections):]:
        segments.append(TextSegment(text))
        segments.append(ImageSegment.from_pil(pic.scene.to_pil(), alt=pic.caption))
        text = f"> {pic.caption}"
    segments.append(TextSegment(text))
    prompt = rng.choice((f"a magazine article about {plural(topic)}", f"write a feature on {plural(topic)}",
                         f"an illustrated article: {plural(topic)} {SETTINGS[places[0]].phrase}",
                         f"magazine page about {with_article(topic)}"))
    meta = {"world_kind": "magazine", "topic": topic, "annotations": [p.scene.annotations for p in pictures]}
    return Document(segments, kind="magazine", prompt=prompt, title=title, meta=meta)
