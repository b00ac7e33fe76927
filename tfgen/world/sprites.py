"""Sprites: atlas glyphs resized, recoloured and dressed (a hat or a cap), cached for reuse.

A sprite is an RGBA Pillow image plus its visibility mask (alpha >= BOX_ALPHA) and the tight
box of that mask, in sprite pixels (x0, y0, x1, y1), x1/y1 exclusive. Annotations use the same
mask, so a box is exactly the visible extent of the object it names.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from tfgen.world.atlas import Atlas, load_atlas
from tfgen.world.colours import SWATCHES
from tfgen.world.recolour import FillInfo, main_fill, recolour

BOX_ALPHA = 128  # a pixel is part of an object where its alpha is at least this
CACHE_SIZE = 4000


@dataclass(frozen=True)
class Accessory:
    """A character's distinguishing attribute: kind ("hat" or "cap") in one of the ten colours."""

    kind: str
    colour: str

    def phrase(self) -> str:
        return f"{self.colour} {self.kind}"


@dataclass(frozen=True)
class Sprite:
    image: Image.Image  # RGBA
    mask: np.ndarray  # (h, w) bool, alpha >= BOX_ALPHA
    box: tuple[int, int, int, int]  # tight box of `mask`: x0, y0, x1, y1 (exclusive)


def _tight_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return (0, 0, 0, 0)
    return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def _head(mask: np.ndarray) -> tuple[float, int]:
    """Where a hat goes: the mean x of the columns that reach (nearly) the top, and that top y.

    For upright pictograms that is the middle of the head; for animals drawn side-on it is the
    head or ears, the highest part of the outline.
    """
    cols = np.flatnonzero(mask.any(axis=0))
    tops = mask[:, cols].argmax(axis=0)
    top = int(tops.min())
    near = cols[tops <= top + max(2, mask.shape[0] // 25)]
    return float(near.mean()) + 0.5, top


def _draw_accessory(img: Image.Image, accessory: Accessory) -> Image.Image:
    """Draw a pointed hat or a cap on the head; outlined like OpenMoji art."""
    w, h = img.size
    fill = SWATCHES[accessory.colour]
    line = max(1, w // 36)
    draw = ImageDraw.Draw(img)
    cx, head_top = _head(np.asarray(img)[..., 3] >= BOX_ALPHA)
    if accessory.kind == "hat":
        cx = min(max(cx, w * 0.25), w * 0.75)
        brim_y = head_top + h * 0.1
        draw.polygon([(cx - w * 0.2, brim_y), (cx + w * 0.2, brim_y), (cx, brim_y - h * 0.24)],
                     fill=fill, outline=(0, 0, 0))
        draw.rectangle([cx - w * 0.24, brim_y - h * 0.02, cx + w * 0.24, brim_y + h * 0.04],
                       fill=fill, outline=(0, 0, 0), width=line)
        r = w * 0.045
        draw.ellipse([cx - r, brim_y - h * 0.24 - r, cx + r, brim_y - h * 0.24 + r], fill=fill,
                     outline=(0, 0, 0), width=line)
    else:  # a cap: a dome with a visor
        cx = min(max(cx, w * 0.22), w * 0.66)
        brim_y = head_top + h * 0.07
        draw.pieslice([cx - w * 0.19, brim_y - h * 0.17, cx + w * 0.19, brim_y + h * 0.17], 180, 360,
                      fill=fill, outline=(0, 0, 0), width=line)
        draw.rounded_rectangle([cx - w * 0.02, brim_y - h * 0.025, cx + w * 0.33, brim_y + h * 0.025],
                               radius=h * 0.02, fill=fill, outline=(0, 0, 0), width=line)
    return img


@dataclass
class SpriteKit:
    """Builds sprites from the atlas and keeps the most recent CACHE_SIZE of them."""

    atlas: Atlas = field(default_factory=load_atlas)
    _fills: dict[str, FillInfo] = field(default_factory=dict)
    _cache: OrderedDict = field(default_factory=OrderedDict)

    def fill(self, glyph: str) -> FillInfo:
        """The glyph's main fill (its natural colour, and whether it can be recoloured)."""
        if glyph not in self._fills:
            self._fills[glyph] = main_fill(self.atlas.glyph(glyph))
        return self._fills[glyph]

    def sprite(self, glyph: str, size: int, colour: str | None = None,
               accessory: Accessory | None = None) -> Sprite:
        """The glyph at `size` px (the cell's side), recoloured to `colour`, wearing `accessory`."""
        key = (glyph, size, colour, accessory)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        sprite = self._build(glyph, size, colour, accessory)
        self._cache[key] = sprite
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return sprite

    def _build(self, glyph: str, size: int, colour: str | None, accessory: Accessory | None) -> Sprite:
        cell = self.atlas.glyph(glyph)
        if colour is not None:
            cell = recolour(cell, self.fill(glyph).rgb, colour)
        img = Image.fromarray(cell, "RGBA").resize((size, size), Image.LANCZOS)
        if accessory is not None:
            headroom = size // 4
            canvas = Image.new("RGBA", (size, size + headroom), (0, 0, 0, 0))
            canvas.alpha_composite(img, (0, headroom))
            img = _draw_accessory(canvas, accessory)
        mask = np.asarray(img)[..., 3] >= BOX_ALPHA
        return Sprite(img, mask, _tight_box(mask))
