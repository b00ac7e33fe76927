"""Shared fixtures: small documents built in memory (no files, no model)."""

from __future__ import annotations

import os

import pytest
from PIL import Image, ImageDraw

from tfgen.document import Document, ImageSegment, TextSegment

os.environ.setdefault("NO_COLOR", "1")


def make_image(w: int = 64, h: int = 48, colour: str = "#3366cc", label: str = "") -> ImageSegment:
    """A small, recognisable test picture: a coloured field with a white disc."""
    img = Image.new("RGB", (w, h), colour)
    draw = ImageDraw.Draw(img)
    r = min(w, h) // 3
    draw.ellipse((w // 2 - r, h // 2 - r, w // 2 + r, h // 2 + r), fill="white")
    return ImageSegment.from_pil(img, alt=label)


@pytest.fixture
def image_factory():
    return make_image


@pytest.fixture
def comic_doc() -> Document:
    return Document(
        [
            TextSegment("# The Fox and the Lantern\n\n## Panel 1"),
            make_image(label="a fox in a forest"),
            TextSegment('> Night falls in the forest.\n\nFox: "What is that light?"'),
            TextSegment("## Panel 2"),
            make_image(colour="#cc9933", label="a lantern"),
            TextSegment('Fox: "A lantern!"\nOwl: "It was mine."'),
        ],
        kind="comic",
        prompt="a fox finds a lantern in the forest",
    )
