"""Scene composition: place sprites on a background and annotate every object exactly.

Coordinates are pixels, origin top-left, y down; boxes are [x0, y0, x1, y1] with x1/y1
exclusive, the tight extent of the object's pixels with alpha >= BOX_ALPHA. Every object stays
at least MIN_VISIBLE of its pixels visible, and a recoloured object's fill is at least
MIN_CONTRAST_DE (CIELAB) away from the background behind it. Relations hold between boxes:
"A left of B" means A's box ends before B's begins (likewise above/below, in y).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from tfgen.world.backgrounds import BackgroundBank
from tfgen.world.cast import Thing, all_things
from tfgen.world.colours import MIN_CONTRAST_DE, SWATCHES, srgb_to_lab
from tfgen.world.sprites import Accessory, Sprite, SpriteKit

MIN_VISIBLE = 0.7
RELATIONS = ("left of", "right of", "above", "below")
_TRIES = 40


@dataclass(frozen=True)
class ObjectSpec:
    """One class in a scene: `count` instances, optionally recoloured or a named character."""

    thing: str
    count: int = 1
    colour: str | None = None  # None: the pictogram's own colours
    accessory: Accessory | None = None
    character: str = ""  # a character's name, for stories


@dataclass(frozen=True)
class SceneSpec:
    """What to draw. `relation` is (i, phrase, j) over indices of `objects` (single instances)."""

    objects: tuple[ObjectSpec, ...]
    setting: str
    variant: int = 0
    relation: tuple[int, str, int] | None = None
    scale: float = 1.0  # multiplies the default object size


@dataclass
class Scene:
    """A composed image (H, W, 3) uint8 with one annotation dict per drawn instance."""

    image: np.ndarray
    annotations: list[dict[str, Any]]
    spec: SceneSpec
    category: str = ""  # the sampler's category ("counting", "free", ...), for captions and stats

    def to_pil(self) -> Image.Image:
        return Image.fromarray(self.image, "RGB")


class CompositionError(Exception):
    """No placement met the constraints; the caller samples another spec."""


def _size_range(n_instances: int, image_size: int, scale: float) -> tuple[int, int]:
    lo, hi = {1: (0.5, 0.68), 2: (0.36, 0.46), 3: (0.3, 0.38)}.get(n_instances, (0.26, 0.32))
    return max(8, int(lo * image_size * scale)), max(9, int(hi * image_size * scale))


@dataclass
class Placement:
    spec_index: int
    sprite: Sprite
    x: int  # top-left of the sprite image on the canvas (may be negative: its margin is clear)
    y: int
    visible_now: int = 0  # its pixels not covered by later objects, kept while placing

    @property
    def box(self) -> tuple[int, int, int, int]:
        b = self.sprite.box
        return (self.x + b[0], self.y + b[1], self.x + b[2], self.y + b[3])


@dataclass
class Composer:
    """Turns SceneSpecs into Scenes; holds the sprite and background caches."""

    kit: SpriteKit = field(default_factory=SpriteKit)
    backgrounds: BackgroundBank = field(default_factory=BackgroundBank)
    things: dict[str, Thing] = field(default_factory=all_things)

    def compose(self, spec: SceneSpec, size: int, rng: random.Random) -> Scene:
        """Draw `spec` at size x size; raises CompositionError when it cannot be placed."""
        n = sum(o.count for o in spec.objects)
        lo, hi = _size_range(n, size, spec.scale)
        bg_lab = self.backgrounds.lab(spec.setting, size, spec.variant)
        placed: list[Placement] = []
        labels = np.full((size, size), -1, dtype=np.int16)
        for gi, obj in enumerate(spec.objects):
            glyph = self.things[obj.thing].glyph
            for _ in range(obj.count):
                side = rng.randrange(lo, hi + 1) // 2 * 2
                sprite = self.kit.sprite(glyph, side, obj.colour, obj.accessory)
                placed.append(self._place(spec, gi, sprite, placed, labels, bg_lab, size, rng))
        return Scene(self._draw(spec, placed, size), self._annotate(spec, placed, labels), spec)

    def render_alone(self, spec: SceneSpec, annotation: dict[str, Any], size: int) -> np.ndarray:
        """The annotated object alone on a transparent canvas, (size, size, 4) uint8 (for checks)."""
        obj = spec.objects[annotation["group"]]
        sprite = self.kit.sprite(self.things[obj.thing].glyph, annotation["sprite_size"], obj.colour, obj.accessory)
        canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))
        paste_clipped(canvas, sprite.image, *annotation["sprite_xy"])
        return np.asarray(canvas)

    def _place(self, spec, gi, sprite, placed, labels, bg_lab, size, rng) -> Placement:
        b = sprite.box
        w, h = b[2] - b[0], b[3] - b[1]
        if w > size or h > size:
            raise CompositionError("object larger than the image")
        for attempt in range(_TRIES):
            x0, y0 = self._sample_box_origin(spec, gi, placed, w, h, size, rng)
            if x0 is None:
                continue
            cand = Placement(gi, sprite, x0 - b[0], y0 - b[1])
            min_visible = 0.92 if attempt < _TRIES // 2 else MIN_VISIBLE
            if self._keeps_visible(cand, placed, labels, min_visible) and self._contrasts(spec, cand, bg_lab):
                self._stamp(cand, len(placed), labels)
                return cand
        raise CompositionError("no placement met the constraints")

    def _sample_box_origin(self, spec, gi, placed, w, h, size, rng):
        """A random top-left for a w x h box inside the canvas, honouring the scene's relation."""
        xs, ys = (0, size - w), (0, size - h)
        rel = spec.relation
        if rel is not None and gi == max(rel[0], rel[2]):
            other_gi = rel[2] if gi == rel[0] else rel[0]
            phrase = rel[1] if gi == rel[0] else _inverse(rel[1])
            other = next(p for p in placed if p.spec_index == other_gi).box
            gap = max(2, size // 32)
            if phrase == "left of":
                xs = (0, other[0] - gap - w)
            elif phrase == "right of":
                xs = (other[2] + gap, size - w)
            elif phrase == "above":
                ys = (0, other[1] - gap - h)
            else:
                ys = (other[3] + gap, size - h)
        elif rel is not None and gi == min(rel[0], rel[2]):
            # The first of the pair goes to its side of the canvas so the second fits beside it.
            phrase = rel[1] if gi == rel[0] else _inverse(rel[1])
            half = size // 2
            if phrase == "left of":
                xs = (0, max(0, half - w))
            elif phrase == "right of":
                xs = (min(size - w, half), size - w)
            elif phrase == "above":
                ys = (0, max(0, half - h))
            else:
                ys = (min(size - h, half), size - h)
        if xs[1] < xs[0] or ys[1] < ys[0]:
            return None, None
        return rng.randint(*xs), rng.randint(*ys)

    @staticmethod
    def _keeps_visible(cand: Placement, placed: list[Placement], labels: np.ndarray, min_visible: float) -> bool:
        """Would every earlier object keep `min_visible` of its pixels with `cand` drawn on top?"""
        region, m = _overlap(labels, cand)
        covered = region[m]
        if covered.size == 0 or (covered < 0).all():
            return True
        hidden = np.bincount(covered[covered >= 0], minlength=len(placed))
        for i, p in enumerate(placed):
            if hidden[i] and (p.visible_now - hidden[i]) < min_visible * p.sprite.mask.sum():
                return False
        return True

    @staticmethod
    def _stamp(cand: Placement, index: int, labels: np.ndarray) -> None:
        region, m = _overlap(labels, cand)
        region[m] = index
        cand.visible_now = int(m.sum())

    def _contrasts(self, spec: SceneSpec, cand: Placement, bg_lab: np.ndarray) -> bool:
        """Is a recoloured object's swatch far enough from the background its pixels cover?"""
        colour = spec.objects[cand.spec_index].colour
        if colour is None:
            return True
        region, m = _overlap(bg_lab[..., 0], cand)
        top, left = cand.y + max(0, -cand.y), cand.x + max(0, -cand.x)
        behind = bg_lab[top : top + region.shape[0], left : left + region.shape[1]][m].mean(axis=0)
        return float(np.linalg.norm(behind - _SWATCH_LAB[colour])) >= MIN_CONTRAST_DE

    def _draw(self, spec: SceneSpec, placed: list[Placement], size: int) -> np.ndarray:
        bg = self.backgrounds.rgb(spec.setting, size, spec.variant)
        canvas = Image.fromarray(bg, "RGB").convert("RGBA")
        for p in placed:
            paste_clipped(canvas, p.sprite.image, p.x, p.y)
        return np.asarray(canvas.convert("RGB"))

    def _annotate(self, spec: SceneSpec, placed: list[Placement], labels: np.ndarray) -> list[dict[str, Any]]:
        visible = np.bincount(labels[labels >= 0].ravel(), minlength=len(placed))
        out = []
        for i, p in enumerate(placed):
            obj = spec.objects[p.spec_index]
            fill = self.kit.fill(self.things[obj.thing].glyph)
            ann: dict[str, Any] = {
                "class": obj.thing,
                "colour": obj.colour or fill.natural_colour,
                "recoloured": obj.colour is not None,
                "box": list(p.box),
                "count": obj.count,
                "group": p.spec_index,
                "visible": round(float(visible[i]) / max(1, int(p.sprite.mask.sum())), 3),
                "sprite_size": p.sprite.image.width,
                "sprite_xy": [p.x, p.y],
            }
            if obj.character:
                ann["character"] = obj.character
            if obj.accessory is not None:
                ann["accessory"] = obj.accessory.phrase()
            out.append(ann)
        return out


def paste_clipped(canvas: Image.Image, image: Image.Image, x: int, y: int) -> None:
    """alpha_composite `image` at (x, y), where x or y may be negative (Pillow refuses those)."""
    left, top = max(0, -x), max(0, -y)
    canvas.alpha_composite(image, (x + left, y + top), (left, top))


def _overlap(labels: np.ndarray, p: Placement) -> tuple[np.ndarray, np.ndarray]:
    """The label-map window under sprite `p` and the part of its mask that falls on the canvas."""
    mh, mw = p.sprite.mask.shape
    left, top = max(0, -p.x), max(0, -p.y)
    region = labels[p.y + top : p.y + mh, p.x + left : p.x + mw]
    return region, p.sprite.mask[top : top + region.shape[0], left : left + region.shape[1]]


def _inverse(phrase: str) -> str:
    return {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}[phrase]


_SWATCH_LAB = {name: srgb_to_lab(np.array(rgb, dtype=np.float64)) for name, rgb in SWATCHES.items()}
