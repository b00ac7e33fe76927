"""Comics: small stories (a goal, events, an ending) with one to three recurring characters.

A character keeps the same pictogram and the same coloured accessory on every panel; settings
change as the story travels. Each panel is '## Panel k', its image, a '> caption' and dialogue.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from tfgen.document import Document, ImageSegment, TextSegment
from tfgen.world.backgrounds import SETTING_NAMES, SETTINGS, VARIANTS_PER_SETTING
from tfgen.world.cast import ACCESSORIES, CHARACTER_NAMES, CHARACTER_SPECIES, PROP_GLYPHS, plural, with_article
from tfgen.world.colours import COLOUR_NAMES
from tfgen.world.sampling import SceneSampler
from tfgen.world.scene import ObjectSpec, Scene, SceneSpec
from tfgen.world.sprites import Accessory

STORY_PROPS = tuple(sorted(PROP_GLYPHS)) + ("umbrella", "kite", "cake", "book", "backpack", "clock")


@dataclass(frozen=True)
class Character:
    name: str
    species: str
    accessory: Accessory

    def spec(self) -> ObjectSpec:
        return ObjectSpec(self.species, accessory=self.accessory, character=self.name)

    @property
    def intro(self) -> str:
        return f"{self.name} the {self.species}"


@dataclass(frozen=True)
class Beat:
    """One panel: who is in it, whether the prop shows, where, and its words."""

    cast: tuple[int, ...]
    show_prop: bool
    setting: str
    caption: str
    lines: tuple[tuple[int, str], ...]


def _characters(rng: random.Random, sampler: SceneSampler, n: int) -> list[Character]:
    names = rng.sample(CHARACTER_NAMES, n)
    out: list[Character] = []
    while len(out) < n:
        species = rng.choice(CHARACTER_SPECIES)
        acc = Accessory(rng.choice(ACCESSORIES), rng.choice(COLOUR_NAMES))
        if (species, acc.phrase()) in sampler.heldout.characters:
            continue
        out.append(Character(names[len(out)], species, acc))
    return out


def _plot(rng: random.Random, chars: list[Character], prop: str, settings: list[str]) -> tuple[str, list[Beat]]:
    """The beats of one story: a goal, events on the way through `settings`, an ending."""
    a = chars[0]
    helper = 1 if len(chars) > 1 else 0
    everyone = tuple(range(len(chars)))
    the = f"the {prop}"
    home, goal_place = settings[0], settings[-1]
    kind = rng.choice(("find", "deliver", "argue") if len(chars) > 1 else ("find", "deliver", "lost"))
    if kind == "find":
        first = Beat((0,), False, home, f"{a.intro} hears that {with_article(prop)} waits {SETTINGS[goal_place].phrase}.",
                     ((0, f"I will find {the}!"),))
        last = Beat(everyone, True, goal_place, f"At last {a.name} finds {the} {SETTINGS[goal_place].phrase}.",
                    ((0, f"Found it! {the.capitalize()} was here all along."),))
    elif kind == "deliver":
        first = Beat((0,), True, home, f"{a.intro} has to bring {the} to a friend far away.",
                     ((0, f"Nobody else can carry {the}. Off I go."),))
        last = Beat(everyone, True, goal_place, f"{a.name} arrives {SETTINGS[goal_place].phrase} with {the}, safe and sound.",
                    ((0, "Here it is, just as I promised."),))
    elif kind == "argue":
        b = chars[helper]
        first = Beat(everyone, True, home, f"{a.name} and {b.name} both want {the}.",
                     ((0, f"{the.capitalize()} is mine!"), (helper, "No, I saw it first!")))
        last = Beat(everyone, True, goal_place, f"In the end {a.name} and {b.name} decide to share {the}.",
                    ((helper, "Together it is more fun."), (0, "Agreed. Friends first.")))
    else:
        first = Beat((0,), True, home, f"{a.intro} loves their {prop} more than anything.",
                     ((0, f"My {prop} goes everywhere with me."),))
        last = Beat(everyone, True, goal_place, f"{a.name} gets their {prop} back and holds it tight.",
                    ((0, "I will never lose you again."),))
    def meet(s: str) -> Beat:
        return Beat((0, helper), False, s, f"{SETTINGS[s].phrase.capitalize()}, {a.name} meets {chars[helper].intro}.",
                    ((helper, f"Where are you going, {a.name}?"), (0, f"To find {the}!" if kind == "find" else "Far!")))

    def lost(s: str) -> Beat:
        return Beat((0,), False, s, f"Oh no! {a.name} has lost the {prop} {SETTINGS[s].phrase}.",
                    ((0, f"Where is my {prop}?"),))

    pool = [
        lambda s: Beat((0,), False, s, f"{a.name} walks on, {SETTINGS[s].phrase}.", ((0, "Is it much further?"),)),
        lambda s: Beat((0,), False, s, f"A storm breaks {SETTINGS[s].phrase}. {a.name} waits for it to pass.",
                       ((0, "I am not giving up."),)),
        lambda s: Beat(everyone, kind == "argue", s, f"The road is long {SETTINGS[s].phrase}.",
                       ((helper, "Look, a path!"),)),
        lambda s: Beat((0,), kind == "deliver", s, f"{SETTINGS[s].phrase.capitalize()}, {a.name} nearly gives up.",
                       ((0, "Just one more step."),)),
        lambda s: Beat(everyone, False, s, f"{SETTINGS[s].phrase.capitalize()}, a stranger points the way.",
                       ((0, "Thank you, friend!"),)),
    ]
    rng.shuffle(pool)
    # The event that sets the story going comes first: the loss, or meeting the friend.
    events = [lost] if kind == "lost" else [meet] if helper and kind != "argue" else []
    steps = events + pool
    middle = [steps[i % len(steps)](s) for i, s in enumerate(settings[1:-1])]
    return kind, [first] + middle + [last]


_TITLES = ("{A} and the {Prop}", "The {Prop}", "{A}'s Long Day", "A {Prop} for {A}", "Where the {Prop} Went",
           "{A} Sets Out")


def _prompt(rng: random.Random, plot: str, chars: list[Character], prop: str, settings: list[str], n: int) -> str:
    """What a user could have typed for this story: its plot, in one of several phrasings."""
    a = chars[0]
    who, thing, place = with_article(a.species), with_article(prop), SETTINGS[settings[-1]].phrase
    options = [f"a comic about {who} and {thing}", f"a short story in panels about {a.name} the {a.species}"]
    if plot == "find":
        options += [f"{who} finds {thing} {place}", f"{n}-panel comic: {who} goes looking for {thing}"]
    elif plot == "deliver":
        options += [f"{who} delivers {thing}", f"a comic where {who} carries {thing} on a long journey"]
    elif plot == "lost":
        options += [f"{who} loses {thing} and gets it back", f"{n}-panel comic: {who} searches for a lost {prop}"]
    else:
        b = chars[1]
        pair = f"two {plural(a.species)}" if b.species == a.species else f"{who} and {with_article(b.species)}"
        options += [f"{pair} argue about {thing}", f"{n}-panel comic: {pair} both want {thing}"]
    if rng.random() < 0.3:
        return f"{rng.choice(options)}; the {a.species} wears {with_article(a.accessory.phrase())}"
    return rng.choice(options)


def make_comic(rng: random.Random, sampler: SceneSampler, size: int) -> Document:
    """A comic of 3 to 8 panels."""
    n_panels = rng.randint(3, 8)
    while True:  # recast until no panel would show a held-out composition (two cats, cat + kite, ...)
        chars = _characters(rng, sampler, rng.choice((1, 2, 2, 3)))
        prop = rng.choice(STORY_PROPS)
        settings = _settings_path(rng, n_panels)
        plot, beats = _plot(rng, chars, prop, settings)
        if all(sampler.allowed(SceneSpec(_panel_objects(chars, prop, b), b.setting)) for b in beats):
            break
    title = rng.choice(_TITLES).format(A=chars[0].name, Prop=prop.title())
    segments: list = []
    head = f"# {title}\n\n"
    annotations, panels = [], []
    for k, beat in enumerate(beats, 1):
        scene = _panel_scene(rng, sampler, size, chars, prop, beat)
        segments.append(TextSegment(head + f"## Panel {k}"))
        segments.append(ImageSegment.from_pil(scene.to_pil(), alt=beat.caption))
        lines = "\n".join(f'{chars[who].name}: "{text}"' for who, text in beat.lines)
        head = f"> {beat.caption}\n\n{lines}\n\n"
        annotations.append(scene.annotations)
        panels.append({"setting": beat.setting, "cast": [chars[i].name for i in beat.cast]})
    segments.append(TextSegment(head.rstrip()))
    meta = {"world_kind": "comic", "plot": plot, "annotations": annotations, "panels": panels,
            "characters": [{"name": c.name, "species": c.species, "accessory": c.accessory.phrase()} for c in chars]}
    return Document(segments, kind="comic", prompt=_prompt(rng, plot, chars, prop, settings, n_panels), title=title, meta=meta)


def _settings_path(rng: random.Random, n: int) -> list[str]:
    """n panel settings that change along the way (no two neighbours alike)."""
    path = [rng.choice(SETTING_NAMES)]
    while len(path) < n:
        stay = rng.random() < 0.25
        path.append(path[-1] if stay and len(path) > 1 and path[-2] != path[-1] else
                    rng.choice([s for s in SETTING_NAMES if s != path[-1]]))
    return path


def _panel_objects(chars: list[Character], prop: str, beat: Beat) -> tuple[ObjectSpec, ...]:
    objects = tuple(chars[i].spec() for i in sorted(set(beat.cast)))
    return objects + (ObjectSpec(prop),) if beat.show_prop else objects


def _panel_scene(rng, sampler: SceneSampler, size: int, chars, prop: str, beat: Beat) -> Scene:
    objects = _panel_objects(chars, prop, beat)
    for attempt in range(40):
        spec = SceneSpec(objects, beat.setting, rng.randrange(VARIANTS_PER_SETTING), scale=1.0 - 0.015 * attempt)
        scene = sampler.compose_allowed(spec, size, rng)
        if scene is not None:
            return scene
    raise RuntimeError("a comic panel could not be composed")  # the cast always fits; a bug if reached
