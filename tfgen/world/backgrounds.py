"""Settings drawn procedurally as backgrounds: forest, beach, city, night, snow, desert, room, ...

Each setting is a painter `(draw, size, rng)` that fills a square RGB canvas; a few variants per
setting and size are painted once and cached by BackgroundBank, so a scene only copies one.
Decor is kept soft and low in contrast so the pictograms stay the clear subject.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

from tfgen.world.colours import srgb_to_lab

Painter = Callable[[ImageDraw.ImageDraw, int, random.Random], None]
VARIANTS_PER_SETTING = 4


def _sky(draw: ImageDraw.ImageDraw, size: int, top: tuple, bottom: tuple, until: float) -> None:
    """A vertical gradient from `top` to `bottom` over the first `until` of the height."""
    h = max(1, int(size * until))
    for y in range(h):
        t = y / h
        draw.line([(0, y), (size, y)], fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom)))


def _ground(draw: ImageDraw.ImageDraw, size: int, colour: tuple, horizon: float) -> None:
    draw.rectangle([0, int(size * horizon), size, size], fill=colour)


def paint_forest(draw, size, rng):
    _sky(draw, size, (190, 220, 235), (215, 235, 225), 0.55)
    _ground(draw, size, (120, 170, 95), 0.55)
    for _ in range(9):
        x, base = rng.uniform(0, size), size * rng.uniform(0.45, 0.62)
        w, h = size * rng.uniform(0.08, 0.14), size * rng.uniform(0.25, 0.4)
        shade = rng.choice([(70, 120, 80), (85, 135, 90), (95, 140, 100)])
        draw.rectangle([x - w * 0.12, base - h * 0.2, x + w * 0.12, base + size * 0.03], fill=(120, 95, 75))
        draw.polygon([(x - w, base - h * 0.15), (x + w, base - h * 0.15), (x, base - h)], fill=shade)


def paint_beach(draw, size, rng):
    _sky(draw, size, (150, 205, 245), (205, 230, 250), 0.45)
    draw.rectangle([0, int(size * 0.42), size, int(size * 0.6)], fill=(95, 170, 215))
    draw.rectangle([0, int(size * 0.6), size, size], fill=(238, 218, 170))
    for _ in range(3):
        y = size * rng.uniform(0.45, 0.58)
        draw.line([(0, y), (size, y + rng.uniform(-2, 2))], fill=(140, 195, 230), width=1)


def paint_city(draw, size, rng):
    _sky(draw, size, (175, 200, 225), (215, 225, 235), 0.7)
    x = -rng.uniform(0, size * 0.1)
    while x < size:
        w, h = size * rng.uniform(0.12, 0.22), size * rng.uniform(0.25, 0.55)
        tone = rng.choice([(160, 160, 170), (175, 170, 165), (150, 155, 165)])
        draw.rectangle([x, size * 0.7 - h, x + w, size * 0.7], fill=tone)
        for wy in range(int(size * 0.7 - h + 4), int(size * 0.7 - 4), max(4, size // 20)):
            draw.line([(x + 3, wy), (x + w - 3, wy)], fill=(190, 195, 205), width=1)
        x += w + size * rng.uniform(0.0, 0.04)
    _ground(draw, size, (185, 185, 185), 0.7)


def paint_night(draw, size, rng):
    _sky(draw, size, (25, 30, 70), (50, 55, 105), 1.0)
    for _ in range(25):
        x, y = rng.uniform(0, size), rng.uniform(0, size * 0.7)
        draw.point((x, y), fill=(200, 200, 225))
    r, cx, cy = size * 0.07, size * rng.uniform(0.65, 0.9), size * rng.uniform(0.08, 0.2)
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(235, 230, 200))
    _ground(draw, size, (40, 55, 70), 0.8)


def paint_snow(draw, size, rng):
    _sky(draw, size, (190, 205, 225), (220, 228, 238), 0.55)
    _ground(draw, size, (238, 242, 248), 0.55)
    for _ in range(30):
        x, y, r = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(0.6, 1.4)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(248, 250, 255))


def paint_desert(draw, size, rng):
    _sky(draw, size, (245, 200, 140), (250, 225, 180), 0.5)
    _ground(draw, size, (225, 185, 120), 0.5)
    for _ in range(3):
        cx, w = size * rng.uniform(0, 1), size * rng.uniform(0.4, 0.8)
        top = size * rng.uniform(0.42, 0.55)
        draw.ellipse([cx - w, top, cx + w, top + size * 0.6], fill=(215, 172, 110))


def paint_room(draw, size, rng):
    wall = rng.choice([(235, 225, 205), (220, 228, 220), (230, 220, 230)])
    draw.rectangle([0, 0, size, size], fill=wall)
    _ground(draw, size, (190, 150, 110), 0.68)
    x0, y0 = size * rng.uniform(0.08, 0.55), size * 0.12
    draw.rectangle([x0, y0, x0 + size * 0.3, y0 + size * 0.26], fill=(185, 215, 235), outline=(160, 140, 120))
    for y in range(int(size * 0.68), size, max(4, size // 12)):
        draw.line([(0, y), (size, y)], fill=(175, 138, 100), width=1)


def paint_sea(draw, size, rng):
    _sky(draw, size, (160, 205, 240), (205, 228, 245), 0.35)
    _sky_band = int(size * 0.35)
    for y in range(_sky_band, size):
        t = (y - _sky_band) / max(1, size - _sky_band)
        draw.line([(0, y), (size, y)], fill=(round(80 - 40 * t), round(160 - 60 * t), round(210 - 50 * t)))
    for _ in range(12):
        x, y = rng.uniform(0, size), size * rng.uniform(0.4, 0.95)
        draw.arc([x - 5, y - 2, x + 5, y + 2], 200, 340, fill=(140, 195, 230))


def paint_meadow(draw, size, rng):
    _sky(draw, size, (165, 210, 245), (215, 235, 250), 0.5)
    _ground(draw, size, (150, 200, 110), 0.5)
    for _ in range(14):
        x, y = rng.uniform(0, size), size * rng.uniform(0.55, 1.0)
        draw.line([(x, y), (x + rng.uniform(-1.5, 1.5), y - 3)], fill=(125, 180, 95))


def paint_mountains(draw, size, rng):
    _sky(draw, size, (175, 205, 235), (215, 230, 245), 0.7)
    for _ in range(4):
        cx, h, w = size * rng.uniform(-0.1, 1.1), size * rng.uniform(0.3, 0.5), size * rng.uniform(0.3, 0.5)
        base = size * 0.7
        draw.polygon([(cx - w, base), (cx + w, base), (cx, base - h)], fill=(140, 150, 165))
        draw.polygon([(cx - w * 0.2, base - h * 0.8), (cx + w * 0.2, base - h * 0.8), (cx, base - h)],
                     fill=(235, 240, 245))
    _ground(draw, size, (140, 175, 110), 0.7)


@dataclass(frozen=True)
class Setting:
    name: str
    phrase: str  # how text places a thing there: "in the forest"
    painter: Painter


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("forest", "in the forest", paint_forest),
        Setting("beach", "on the beach", paint_beach),
        Setting("city", "in the city", paint_city),
        Setting("night", "at night", paint_night),
        Setting("snow", "in the snow", paint_snow),
        Setting("desert", "in the desert", paint_desert),
        Setting("room", "in a room", paint_room),
        Setting("sea", "at sea", paint_sea),
        Setting("meadow", "in a meadow", paint_meadow),
        Setting("mountains", "in the mountains", paint_mountains),
    )
}
SETTING_NAMES: tuple[str, ...] = tuple(SETTINGS)


def paint_background(setting: str, size: int, variant: int) -> np.ndarray:
    """One background, (size, size, 3) uint8; the same arguments always give the same pixels."""
    img = Image.new("RGB", (size, size))
    SETTINGS[setting].painter(ImageDraw.Draw(img), size, random.Random(f"{setting}:{variant}"))
    return np.asarray(img)


@dataclass
class BackgroundBank:
    """Painted backgrounds and their CIELAB images, cached by (setting, size, variant)."""

    _rgb: dict[tuple[str, int, int], np.ndarray] = field(default_factory=dict)
    _lab: dict[tuple[str, int, int], np.ndarray] = field(default_factory=dict)

    def rgb(self, setting: str, size: int, variant: int) -> np.ndarray:
        key = (setting, size, variant % VARIANTS_PER_SETTING)
        if key not in self._rgb:
            self._rgb[key] = paint_background(setting, size, key[2])
        return self._rgb[key]

    def lab(self, setting: str, size: int, variant: int) -> np.ndarray:
        key = (setting, size, variant % VARIANTS_PER_SETTING)
        if key not in self._lab:
            self._lab[key] = srgb_to_lab(self.rgb(setting, size, variant)).astype(np.float32)
        return self._lab[key]
