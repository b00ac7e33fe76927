"""Reading an object's colour from its pixels, as GenEval reads it with a separate classifier.

The detector's colour head learns which colours each class usually wears, so it guesses the
natural colour for a class/colour pair it never saw (the held-out list withholds exactly those).
For a recolourable class the judge instead reads the pixels: the class's pictogram (from the
storyworld atlas) gives where its main fill lies relative to its tight box; those points, mapped
into the detected box, are sampled and their nearest colour names voted. Points near the fill's
edge are dropped (the box is not pixel-exact), so the vote sees the fill's interior.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tfgen.world.colours import COLOUR_NAMES, SWATCHES, srgb_to_lab

_FILL_TOLERANCE = 30.0  # RGB distance from the glyph's main fill that still counts as fill
_EDGE = 4  # atlas pixels of fill kept clear of the fill's edge
_MAX_POINTS = 400
_SWATCH_LAB = srgb_to_lab(np.array([SWATCHES[n] for n in COLOUR_NAMES], dtype=np.float64))


@dataclass
class ColourReader:
    """Per-class fill templates (built lazily from the atlas) and the pixel vote."""

    _templates: dict[str, np.ndarray | None] = field(default_factory=dict)
    _kit: object | None = None

    def template(self, cls: str) -> np.ndarray | None:
        """(P, 2) fill-interior points as fractions of the glyph's tight box; None if not recolourable."""
        if cls not in self._templates:
            self._templates[cls] = self._build(cls)
        return self._templates[cls]

    def _build(self, cls: str) -> np.ndarray | None:
        from tfgen.world.cast import NOT_RECOLOURED, all_things
        from tfgen.world.sprites import BOX_ALPHA, SpriteKit

        things = all_things()
        if cls not in things or cls in NOT_RECOLOURED:
            return None
        if self._kit is None:
            self._kit = SpriteKit()
        kit = self._kit
        info = kit.fill(things[cls].glyph)  # type: ignore[attr-defined]
        if not info.colourable:
            return None
        glyph = kit.atlas.glyph(things[cls].glyph)  # type: ignore[attr-defined]
        opaque = glyph[..., 3] >= BOX_ALPHA
        ys, xs = np.nonzero(opaque)
        x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
        fill = (np.linalg.norm(glyph[..., :3].astype(np.float64) - np.array(info.rgb), axis=-1) < _FILL_TOLERANCE)
        fill &= glyph[..., 3] >= 250
        interior = _erode(fill, _EDGE)
        if interior.sum() < 20:
            interior = _erode(fill, 1)
        py, px = np.nonzero(interior)
        if len(px) == 0:
            return None
        step = max(1, len(px) // _MAX_POINTS)
        pts = np.stack([(px[::step] + 0.5 - x0) / (x1 - x0), (py[::step] + 0.5 - y0) / (y1 - y0)], axis=1)
        return pts

    def read(self, image: np.ndarray, cls: str, box: tuple[float, float, float, float]) -> str | None:
        """The voted colour name of the object's fill in `image` (H, W, 3) uint8; None when unknown."""
        pts = self.template(cls)
        if pts is None:
            return None
        h, w = image.shape[:2]
        x = np.clip((box[0] + pts[:, 0] * (box[2] - box[0])).astype(int), 0, w - 1)
        y = np.clip((box[1] + pts[:, 1] * (box[3] - box[1])).astype(int), 0, h - 1)
        lab = srgb_to_lab(image[y, x].astype(np.float64))
        names = np.linalg.norm(lab[:, None, :] - _SWATCH_LAB[None], axis=-1).argmin(axis=1)
        return COLOUR_NAMES[int(np.bincount(names, minlength=len(COLOUR_NAMES)).argmax())]


def _erode(mask: np.ndarray, n: int) -> np.ndarray:
    """Binary erosion by n pixels (4-neighbourhood), no scipy needed."""
    out = mask.copy()
    for _ in range(n):
        m = out.copy()
        m[1:, :] &= out[:-1, :]
        m[:-1, :] &= out[1:, :]
        m[:, 1:] &= out[:, :-1]
        m[:, :-1] &= out[:, 1:]
        out = m
    return out
