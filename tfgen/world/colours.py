"""GenEval's ten colour names, their swatches (sRGB 0-255) and CIELAB distances between colours."""

from __future__ import annotations

import numpy as np

# Swatches are chosen far apart in CIELAB so a recoloured fill is never nearer to another name.
SWATCHES: dict[str, tuple[int, int, int]] = {
    "red": (214, 36, 36),
    "orange": (246, 138, 22),
    "yellow": (250, 218, 30),
    "green": (46, 160, 66),
    "blue": (36, 86, 214),
    "purple": (128, 52, 180),
    "pink": (246, 136, 196),
    "brown": (122, 74, 36),
    "black": (30, 30, 30),
    "white": (250, 250, 250),
}
COLOUR_NAMES: tuple[str, ...] = tuple(SWATCHES)

# CIELAB distance below which two colours are too close to tell apart at a glance.
MIN_CONTRAST_DE = 25.0


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (..., 3) in 0-255 to CIELAB (..., 3), D65 white."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    lab = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


_SWATCH_LAB = srgb_to_lab(np.array([SWATCHES[n] for n in COLOUR_NAMES]))


def delta_e(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """CIE76 distance between sRGB colours (broadcasting over leading axes)."""
    return np.linalg.norm(srgb_to_lab(a) - srgb_to_lab(b), axis=-1)


def nearest_colour_names(rgb: np.ndarray) -> list[str]:
    """For sRGB pixels (N, 3), the name of the nearest swatch in CIELAB."""
    lab = srgb_to_lab(np.asarray(rgb).reshape(-1, 3))
    d = np.linalg.norm(lab[:, None, :] - _SWATCH_LAB[None, :, :], axis=-1)
    return [COLOUR_NAMES[i] for i in d.argmin(axis=1)]


def nearest_colour_name(rgb: tuple[int, int, int]) -> str:
    """The colour name nearest to one sRGB colour."""
    return nearest_colour_names(np.array([rgb]))[0]
