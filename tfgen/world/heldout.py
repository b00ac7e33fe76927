"""The held-out split: a versioned list of prompts and the compositions behind them.

The list is independent of any dataset seed and ships as tfgen/assets/heldout/heldout-v1.json.
GenEval's six categories in its proportions (553 prompts), plus 100 comic prompts whose recurring
character (species + coloured accessory) is held out. What is held out, per entry:

    two_object, position   the pair of classes never appears together in one training image
    counting               exactly that many of that class never appears
    colors                 that class never appears in that colour
    color_attr             the two classes never appear together in those two colours
    comic                  no character of that species ever wears that accessory in that colour
    single_object          nothing (a class must be seen to be learnt); the prompt is only for evaluation

Regenerate (only for a new version) with `python -m tfgen.world.heldout`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable

from tfgen.errors import TfgenError
from tfgen.resources import assets_dir
from tfgen.world.cast import ACCESSORIES, CHARACTER_SPECIES, COCO_GLYPHS, NOT_RECOLOURED, with_article
from tfgen.world.colours import COLOUR_NAMES

VERSION = "heldout-v1"
FORMAT = "tfgen.heldout/1"
GENEVAL_COUNTS = {"single_object": 80, "two_object": 99, "counting": 80, "colors": 94, "position": 100, "color_attr": 100}
COMIC_COUNT = 100
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four"}


def heldout_path(version: str = VERSION) -> Path:
    return assets_dir() / "heldout" / f"{version}.json"


def _geneval_entries(rng: random.Random, natural: dict[str, str], colourable: set[str]) -> list[dict[str, Any]]:
    from tfgen.world.cast import plural

    classes = sorted(COCO_GLYPHS)
    col_classes = [c for c in classes if c in colourable]
    out: list[dict[str, Any]] = []
    for i in range(GENEVAL_COUNTS["single_object"]):
        name = classes[i % len(classes)]
        lead = "a photo of" if i < len(classes) else "a picture of"
        out.append({"category": "single_object", "prompt": f"{lead} {with_article(name)}",
                    "composition": {"classes": [name]}})
    pairs = rng.sample(list(itertools.combinations(classes, 2)), GENEVAL_COUNTS["two_object"] + GENEVAL_COUNTS["position"])
    for a, b in pairs[: GENEVAL_COUNTS["two_object"]]:
        out.append({"category": "two_object", "prompt": f"a photo of {with_article(a)} and {with_article(b)}",
                    "composition": {"classes": sorted([a, b])}})
    for a, b in pairs[GENEVAL_COUNTS["two_object"]:]:
        rel = rng.choice(("left of", "right of", "above", "below"))
        out.append({"category": "position", "prompt": f"a photo of {with_article(a)} {rel} {with_article(b)}",
                    "composition": {"classes": sorted([a, b]), "relation": [a, rel, b]}})
    for name, n in rng.sample([(c, n) for c in classes for n in (2, 3, 4)], GENEVAL_COUNTS["counting"]):
        out.append({"category": "counting", "prompt": f"a photo of {NUMBER_WORDS[n]} {plural(name)}",
                    "composition": {"class": name, "count": n}})
    colour_pairs = [(c, k) for c in col_classes for k in COLOUR_NAMES if k != natural[c]]
    for name, colour in rng.sample(colour_pairs, GENEVAL_COUNTS["colors"]):
        out.append({"category": "colors", "prompt": f"a photo of {with_article(colour + ' ' + name)}",
                    "composition": {"class": name, "colour": colour}})
    seen: set[tuple] = set()
    while sum(e["category"] == "color_attr" for e in out) < GENEVAL_COUNTS["color_attr"]:
        a, b = rng.sample(col_classes, 2)
        ca, cb = rng.choice([k for k in COLOUR_NAMES if k != natural[a]]), rng.choice([k for k in COLOUR_NAMES if k != natural[b]])
        key = tuple(sorted([(a, ca), (b, cb)]))
        if key in seen:
            continue
        seen.add(key)
        out.append({"category": "color_attr",
                    "prompt": f"a photo of {with_article(ca + ' ' + a)} and {with_article(cb + ' ' + b)}",
                    "composition": {"coloured": [[a, ca], [b, cb]]}})
    return out


_COMIC_PROMPTS = (
    "a comic about {a} in a {acc} who {goal}",
    "a short comic: {a} wearing a {acc} {goal}",
    "{n}-panel comic where {a} with a {acc} {goal}",
)
_GOALS = ("finds a lost key", "looks for a lantern", "delivers a letter", "climbs a mountain",
          "searches for treasure", "plants a tree", "bakes a cake", "learns to fly a kite")


def _comic_entries(rng: random.Random) -> list[dict[str, Any]]:
    identities = [(s, k, c) for s in CHARACTER_SPECIES for k in ACCESSORIES for c in COLOUR_NAMES]
    out = []
    for species, kind, colour in rng.sample(identities, COMIC_COUNT):
        prompt = rng.choice(_COMIC_PROMPTS).format(a=with_article(species), acc=f"{colour} {kind}",
                                                   goal=rng.choice(_GOALS), n=rng.randint(3, 6))
        out.append({"category": "comic", "prompt": prompt,
                    "composition": {"character": [species, f"{colour} {kind}"]}})
    return out


def build_heldout(natural: dict[str, str], colourable: set[str]) -> dict[str, Any]:
    """The held-out list of this version; depends only on the cast and its natural colours."""
    rng = random.Random(f"tfgen:{VERSION}")
    entries = _geneval_entries(rng, natural, colourable) + _comic_entries(rng)
    counts: dict[str, int] = {}
    for e in entries:
        counts[e["category"]] = counts.get(e["category"], 0) + 1
    return {"format": FORMAT, "version": VERSION, "counts": counts, "entries": entries}


def heldout_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class HeldOut:
    """The loaded list, indexed for fast checks of scenes against it."""

    version: str
    sha256: str
    entries: tuple[dict[str, Any], ...]
    pairs: frozenset[frozenset[str]]
    counts: frozenset[tuple[str, int]]
    colours: frozenset[tuple[str, str]]
    colour_pairs: frozenset[frozenset[tuple[str, str]]]
    characters: frozenset[tuple[str, str]]

    def nothing_held_out(self) -> "HeldOut":
        """The same prompts with no composition withheld: every scene may train (a judge's data, not a model's)."""
        none: frozenset = frozenset()
        return replace(self, pairs=none, counts=none, colours=none, colour_pairs=none, characters=none)

    def prompts(self, category: str | None = None) -> list[str]:
        return [e["prompt"] for e in self.entries if category is None or e["category"] == category]

    def violations(self, annotations: Iterable[dict[str, Any]]) -> list[str]:
        """Held-out compositions present in one image's annotations (empty when it may train)."""
        anns = list(annotations)
        found: list[str] = []
        classes = sorted({a["class"] for a in anns})
        for a, b in itertools.combinations(classes, 2):
            if frozenset((a, b)) in self.pairs:
                found.append(f"pair {a} + {b}")
        for name in classes:
            n = sum(1 for a in anns if a["class"] == name)
            if (name, n) in self.counts:
                found.append(f"{n} x {name}")
        coloured = sorted({(a["class"], a["colour"]) for a in anns})
        found += [f"{c} {n}" for n, c in coloured if (n, c) in self.colours]
        for x, y in itertools.combinations(coloured, 2):
            if x[0] != y[0] and frozenset((x, y)) in self.colour_pairs:
                found.append(f"{x[1]} {x[0]} + {y[1]} {y[0]}")
        for a in anns:
            if "accessory" in a and (a["class"], a["accessory"]) in self.characters:
                found.append(f"{a['class']} in a {a['accessory']}")
        return found


def load_heldout(version: str = VERSION) -> HeldOut:
    path = heldout_path(version)
    try:
        raw = path.read_bytes()
        data = json.loads(raw)
    except (OSError, ValueError) as exc:
        raise TfgenError(f"cannot read the held-out list ({exc})", where=str(path)) from None
    if data.get("format") != FORMAT:
        raise TfgenError(f"not a {FORMAT} file", where=str(path))
    entries = tuple(data["entries"])
    comp = [(e["category"], e["composition"]) for e in entries]
    return HeldOut(
        version=data["version"],
        sha256=hashlib.sha256(raw).hexdigest(),
        entries=entries,
        pairs=frozenset(frozenset(c["classes"]) for k, c in comp if k in ("two_object", "position")),
        counts=frozenset((c["class"], c["count"]) for k, c in comp if k == "counting"),
        colours=frozenset((c["class"], c["colour"]) for k, c in comp if k == "colors"),
        colour_pairs=frozenset(frozenset(tuple(x) for x in c["coloured"]) for k, c in comp if k == "color_attr"),
        characters=frozenset(tuple(c["character"]) for k, c in comp if k == "comic"),
    )


def natural_colours() -> tuple[dict[str, str], set[str]]:
    """Each COCO class's natural colour name and the set of colourable classes, from the atlas."""
    from tfgen.world.sprites import SpriteKit

    kit = SpriteKit()
    natural = {name: kit.fill(g).natural_colour for name, g in COCO_GLYPHS.items()}
    return natural, {name for name, g in COCO_GLYPHS.items() if kit.fill(g).colourable and name not in NOT_RECOLOURED}


def main() -> None:
    from tfgen.atomic import write_text_atomic

    natural, colourable = natural_colours()
    path = heldout_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, heldout_json(build_heldout(natural, colourable)))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
