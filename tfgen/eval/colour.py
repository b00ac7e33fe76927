"""Reading an object's colour from its pixels, as GenEval reads it with a separate classifier.

The detector's colour head learns which colours each class usually wears, so it guesses the
natural colour for a class/colour pair it never saw (the held-out list withholds exactly those).
For a recolourable class the judge instead reads the pixels: the class's pictogram (from the
storyworld atlas) gives where its main fill lies relative to its tight box; those points, mapped
into the detected box, are sampled and their nearest colour names voted. Points near the fill's
edge are dropped, so the vote sees the fill's interior.

A detected box is a few pixels off on thin objects (a fork is ~10 px wide), which puts the points
on the outline. So the points are also laid into slightly shifted and scaled copies of the box,
and the copy that best matches the pictogram wins: its fill points agree on one colour, and its
anchor points (the parts a recolouring never paints: outline, wheels, eyes) show the pictogram's
own colours there. A misplaced copy straddles fill, outline and background, or sits on a dark
trim with its anchors off the outline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tfgen.world.colours import COLOUR_NAMES, SWATCHES, srgb_to_lab

_FILL_TOLERANCE = 30.0  # RGB distance from the glyph's main fill that still counts as fill
_EDGE = 4  # atlas pixels of fill kept clear of the fill's edge
_ANCHOR_EDGE = 2  # atlas pixels of the never-recoloured parts kept clear of their edges
_MAX_POINTS = 400
_SHIFTS = (0.0, -2.0, -1.0, 1.0, 2.0)  # input pixels tried around the detected box (0 first: it wins ties)
_SCALES = (1.0, 0.92, 1.08)
_CLEAR_FILL, _CLEAR_ANCHORS = 0.9, 0.75  # shares at the detected box itself that need no search
_SEARCH_POINTS = 100  # fill points that judge the candidate boxes; the winner is then voted with all
_LUT_BITS = 6  # nearest colour name per 6-bit RGB bin (4-level steps), built once per reader
_SWATCH_LAB = srgb_to_lab(np.array([SWATCHES[n] for n in COLOUR_NAMES], dtype=np.float64))


@dataclass(frozen=True)
class Pictogram:
    """Where a class's fill and anchors lie, as (P, 2) fractions (x, y) of the glyph's tight box."""

    fill: np.ndarray
    anchors: np.ndarray
    anchor_colours: np.ndarray  # (A,) index into COLOUR_NAMES of each anchor in the pictogram


def rgb_bins(image: np.ndarray, levels: int) -> np.ndarray:
    """Each uint8 channel's bin among `levels` (a power of two) equal bins: its top bits."""
    return image >> (8 - (levels.bit_length() - 1))


def nearest_swatch_map(levels: int = 1 << _LUT_BITS) -> np.ndarray:
    """(L, L, L) uint8: index into COLOUR_NAMES of the nearest swatch (CIELAB) to each RGB bin's centre."""
    step = 256 // levels
    centres = np.arange(levels) * step + step / 2 - 0.5
    grid = np.stack(np.meshgrid(centres, centres, centres, indexing="ij"), axis=-1).reshape(-1, 3)
    d = ((srgb_to_lab(grid)[:, None, :] - _SWATCH_LAB[None]) ** 2).sum(-1)
    return d.argmin(axis=1).astype(np.uint8).reshape(levels, levels, levels)


@dataclass
class ColourReader:
    """Per-class pictogram templates (built lazily from the atlas) and the pixel vote.

    `lut` names each RGB bin: (L, L, L) uint8 indices into COLOUR_NAMES, L a power of two; by default
    the nearest swatch, or a map fitted on training renders (tfgen.eval.colour_map) that knows how a
    washed-out fill looks.
    """

    lut: np.ndarray | None = None
    _templates: dict[str, Pictogram | None] = field(default_factory=dict)
    _kit: object | None = None

    def name_map(self, image: np.ndarray) -> np.ndarray:
        """(H, W) index into COLOUR_NAMES of each pixel of an (H, W, 3) uint8 image, by `lut`."""
        if self.lut is None:
            self.lut = nearest_swatch_map()
        q = rgb_bins(image, self.lut.shape[0])
        return self.lut[q[..., 0], q[..., 1], q[..., 2]]

    def template(self, cls: str) -> np.ndarray | None:
        """(P, 2) fill-interior points as fractions of the glyph's tight box; None if not recolourable."""
        pic = self.pictogram(cls)
        return None if pic is None else pic.fill

    def pictogram(self, cls: str) -> Pictogram | None:
        if cls not in self._templates:
            self._templates[cls] = self._build(cls)
        return self._templates[cls]

    def _build(self, cls: str) -> Pictogram | None:
        from tfgen.world.cast import NOT_RECOLOURED, all_things
        from tfgen.world.recolour import fill_mask  # exactly the pixels a recolouring paints
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
        if not interior.any():
            return None
        anchors = _erode((glyph[..., 3] >= 250) & ~fill_mask(glyph, info.rgb)[0], _ANCHOR_EDGE)

        def points(mask: np.ndarray, most: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            py, px = np.nonzero(mask)
            step = max(1, len(px) // most)
            py, px = py[::step], px[::step]
            return np.stack([(px + 0.5 - x0) / (x1 - x0), (py + 0.5 - y0) / (y1 - y0)], axis=1), py, px

        anchor_pts, ay, ax = points(anchors, _MAX_POINTS // 2)
        anchor_colours = self.name_map(np.ascontiguousarray(glyph[ay, ax, :3])[None])[0].astype(np.int64)
        return Pictogram(points(interior, _MAX_POINTS)[0], anchor_pts, anchor_colours)

    def read(self, image: np.ndarray, cls: str, box: tuple[float, float, float, float],
             names: np.ndarray | None = None) -> str | None:
        """The voted colour name of the object's fill in `image` (H, W, 3) uint8; None when unknown.

        `names` is `name_map(image)` when the caller reads several objects of one image.
        """
        votes = self.votes(image, cls, box, names)
        return None if votes is None else COLOUR_NAMES[int(votes.argmax())]

    def fill_pixels(self, image: np.ndarray, cls: str, box: tuple[float, float, float, float]) -> np.ndarray | None:
        """(P, 3) pixels of `image` at the fill points laid into `box` as given (no search); None if not recolourable."""
        pic = self.pictogram(cls)
        if pic is None:
            return None
        x0, y0, x1, y1 = box
        rows, cols = _pixels(image.shape, np.array([[(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0]]), pic.fill)
        return image[rows[0], cols[0]]

    def fill_colour(self, image: np.ndarray, cls: str, box: tuple[float, float, float, float]) -> str | None:
        """The nearest swatch to the median of `fill_pixels`; None if not recolourable. For true boxes:
        whether a painted colour is still there after an image changed (by the swatches, whatever `lut` is)."""
        pixels = self.fill_pixels(image, cls, box)
        if pixels is None:
            return None
        median = np.median(pixels, axis=0)[None]  # (1, 3)
        return COLOUR_NAMES[int(((srgb_to_lab(median) - _SWATCH_LAB) ** 2).sum(-1).argmin())]

    def votes(self, image: np.ndarray, cls: str, box: tuple[float, float, float, float],
              names: np.ndarray | None = None) -> np.ndarray | None:
        """(K,) fill points per name in COLOUR_NAMES order, laid into the best-matching box; None when unknown."""
        pic = self.pictogram(cls)
        if pic is None:
            return None
        names = self.name_map(image) if names is None else names
        x0, y0, x1, y1 = box
        cx, cy, bw, bh = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
        cand = np.array([(cx + dx, cy + dy, bw * s, bh * s) for s in _SCALES for dy in _SHIFTS for dx in _SHIFTS])
        k = len(COLOUR_NAMES)
        own = _votes(names, cand[:1], pic.fill, k)[0]
        if (own.max() >= _CLEAR_FILL * own.sum()
                and _agreement(names, cand[:1], pic.anchors, pic.anchor_colours)[0] >= _CLEAR_ANCHORS):
            return own  # the detected box already sits on the pictogram
        few = max(1, len(pic.fill) // _SEARCH_POINTS)
        inside = _votes(names, cand, pic.fill[::few], k)
        uniform = inside.max(axis=1) / np.maximum(1, inside.sum(axis=1))
        score = uniform + _agreement(names, cand, pic.anchors, pic.anchor_colours)
        best = int(score.argmax())  # first maximum: the detected box itself when it ties
        return _votes(names, cand[best : best + 1], pic.fill, k)[0]


def _pixels(shape: tuple[int, ...], boxes: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(C, P) row and column indices of `pts` (box fractions) laid into each (cx, cy, w, h) box."""
    h, w = shape[:2]
    xs = boxes[:, None, 0] + (pts[None, :, 0] - 0.5) * boxes[:, None, 2]
    ys = boxes[:, None, 1] + (pts[None, :, 1] - 0.5) * boxes[:, None, 3]
    return np.clip(ys.astype(int), 0, h - 1), np.clip(xs.astype(int), 0, w - 1)


def _sample(names: np.ndarray, boxes: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """(C, P) colour indices of the name map at `pts` laid into each box."""
    return names[_pixels(names.shape, boxes, pts)].astype(np.int64)


def _votes(names: np.ndarray, boxes: np.ndarray, pts: np.ndarray, k: int) -> np.ndarray:
    """(C, K) colour votes of `pts` laid into each box."""
    flat = (_sample(names, boxes, pts) + k * np.arange(len(boxes))[:, None]).ravel()
    return np.bincount(flat, minlength=k * len(boxes)).reshape(len(boxes), k)


def _agreement(names: np.ndarray, boxes: np.ndarray, pts: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """(C,) share of anchor points whose colour in the image is the pictogram's own there."""
    if len(pts) == 0:
        return np.zeros(len(boxes))
    return (_sample(names, boxes, pts) == expected[None, :]).mean(axis=1)


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
