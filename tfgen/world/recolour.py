"""Recolouring a pictogram: its main fill colour becomes one of the ten swatches.

OpenMoji glyphs are flat fills inside black outlines. The main fill is the most common opaque,
non-dark colour; a pixel belongs to it when it is that colour scaled by k (k = 1 inside the
fill, k < 1 on the anti-aliased edge towards the outline). Those pixels become k * swatch, so
edges stay smooth and the rest of the glyph (outlines, eyes, windows) is untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfgen.world.colours import SWATCHES, nearest_colour_name

MIN_FILL_SHARE = 0.15  # a glyph whose main fill covers less of it is not colourable
_MIN_K, _MAX_RESIDUAL = 0.35, 28.0


@dataclass(frozen=True)
class FillInfo:
    """A glyph's main fill colour, its share of the opaque pixels and its nearest colour name."""

    rgb: tuple[int, int, int]
    share: float
    natural_colour: str

    @property
    def colourable(self) -> bool:
        return self.share >= MIN_FILL_SHARE


def main_fill(glyph: np.ndarray) -> FillInfo:
    """Find the main fill of an RGBA glyph (H, W, 4) uint8."""
    rgb, alpha = glyph[..., :3], glyph[..., 3]
    lum = rgb.astype(np.int32).sum(axis=-1)
    candidates = rgb[(alpha >= 250) & (lum > 150)]
    if len(candidates) == 0:
        return FillInfo((0, 0, 0), 0.0, "black")
    codes = (candidates[:, 0].astype(np.int32) << 16) | (candidates[:, 1].astype(np.int32) << 8) | candidates[:, 2]
    values, counts = np.unique(codes, return_counts=True)
    top = int(values[counts.argmax()])
    best = (top >> 16, (top >> 8) & 255, top & 255)
    share = float(fill_mask(glyph, best)[0].sum()) / max(1, int((alpha > 0).sum()))
    return FillInfo(best, share, nearest_colour_name(best))  # type: ignore[arg-type]


def _hue_saturation(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """HSV hue in degrees and saturation in 0-1 of float RGB (..., 3)."""
    mx, mn = rgb.max(axis=-1), rgb.min(axis=-1)
    chroma = mx - mn
    safe = np.where(chroma == 0, 1.0, chroma)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    hue = np.where(mx == r, ((g - b) / safe) % 6, np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4))
    return hue * 60.0, np.where(mx == 0, 0.0, chroma / np.where(mx == 0, 1.0, mx))


def fill_mask(glyph: np.ndarray, fill: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The fill's pixels and their brightness k relative to the fill (1 = the fill itself), (H, W).

    A pixel belongs when it is the fill scaled by k in [_MIN_K, 1.1] (anti-aliased edges), or,
    for a chromatic fill, when it has the fill's hue (OpenMoji's darker shading tone of a fill).
    """
    rgb = glyph[..., :3].astype(np.float32)
    c = np.array(fill, dtype=np.float32)
    k = (rgb @ c) / max(float(c @ c), 1.0)
    residual = np.linalg.norm(rgb - k[..., None] * c, axis=-1)
    mask = (k >= _MIN_K) & (k <= 1.1) & (residual < _MAX_RESIDUAL)
    fill_hue, fill_sat = _hue_saturation(c)
    if fill_sat > 0.35:
        hue, sat = _hue_saturation(rgb)
        dh = np.abs((hue - fill_hue + 180.0) % 360.0 - 180.0)
        value_ratio = rgb.max(axis=-1) / max(float(c.max()), 1.0)
        shade = (dh < 18.0) & (sat > 0.35) & (value_ratio >= _MIN_K)
        mask |= shade
        k = np.where(shade, np.minimum(value_ratio, 1.0), k)
    return mask & (glyph[..., 3] > 0), np.clip(k, 0.0, 1.0)


def recolour(glyph: np.ndarray, fill: tuple[int, int, int], colour: str) -> np.ndarray:
    """A copy of `glyph` with its main fill painted in the named colour's swatch."""
    out = glyph.copy()
    mask, k = fill_mask(glyph, fill)
    swatch = np.array(SWATCHES[colour], dtype=np.float32)
    out[..., :3][mask] = np.round(k[mask][:, None] * swatch).astype(np.uint8)
    if colour == "black":
        # A black fill would swallow the black outline; lift the outline to grey so the shape reads.
        dark = (glyph[..., 3] > 0) & ~mask & (glyph[..., :3].max(axis=-1) < 60)
        out[..., :3][dark] = 110
    return out
