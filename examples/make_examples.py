"""Write the sample documents in examples/: one per kind, plus a Markdown folder.

    python examples/make_examples.py          # rewrites examples/*.json and examples/markdown/

The pictures are drawn here with Pillow (flat shapes, no randomness), so the files are the same
on every run and the script is all anyone needs to rebuild them.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
try:
    import tfgen  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without installing
    sys.path.insert(0, str(HERE.parent))

from tfgen.atomic import write_bytes_atomic, write_text_atomic  # noqa: E402
from tfgen.document import Document, ImageSegment, TextSegment  # noqa: E402

SIZE = (320, 240)
NIGHT, DUSK, DAY = "#1D2B53", "#7E2553", "#8FD3FF"


def _sky(colour: str) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("RGB", SIZE, colour)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 170, SIZE[0], SIZE[1]), fill="#2E5E2E")
    return img, draw


def _trees(draw: ImageDraw.ImageDraw, xs: list[int]) -> None:
    for x in xs:
        draw.rectangle((x - 4, 140, x + 4, 180), fill="#5B3A1E")
        draw.polygon([(x - 26, 150), (x, 70), (x + 26, 150)], fill="#1F7A3A")


def _fox(draw: ImageDraw.ImageDraw, x: int, y: int, s: float = 1.0) -> None:
    """A fox's head: a triangle face, two ears, a white muzzle and two eyes."""
    def p(dx: float, dy: float) -> tuple[float, float]:
        return x + dx * s, y + dy * s

    draw.polygon([p(-30, -20), p(30, -20), p(0, 30)], fill="#E8741E")
    draw.polygon([p(-30, -20), p(-22, -48), p(-8, -20)], fill="#E8741E")
    draw.polygon([p(30, -20), p(22, -48), p(8, -20)], fill="#E8741E")
    draw.polygon([p(-12, 8), p(12, 8), p(0, 30)], fill="#FFFFFF")
    for dx in (-12, 12):
        draw.ellipse((*p(dx - 3, -8), *p(dx + 3, -2)), fill="#000000")


def _lantern(draw: ImageDraw.ImageDraw, x: int, y: int, lit: bool = True) -> None:
    if lit:
        draw.ellipse((x - 40, y - 40, x + 40, y + 40), fill="#FFE08A")
    draw.rectangle((x - 12, y - 18, x + 12, y + 18), fill="#FFCC33" if lit else "#886622", outline="#333333", width=2)
    draw.arc((x - 10, y - 32, x + 10, y - 12), 180, 360, fill="#333333", width=3)


def _moon(draw: ImageDraw.ImageDraw, x: int, y: int) -> None:
    draw.ellipse((x - 18, y - 18, x + 18, y + 18), fill="#FFF1E8")


def _owl(draw: ImageDraw.ImageDraw, x: int, y: int) -> None:
    draw.ellipse((x - 18, y - 24, x + 18, y + 24), fill="#8B6B4A")
    for dx in (-8, 8):
        draw.ellipse((x + dx - 6, y - 14, x + dx + 6, y - 2), fill="#FFFFFF")
        draw.ellipse((x + dx - 2, y - 10, x + dx + 2, y - 6), fill="#000000")
    draw.polygon([(x - 3, y), (x + 3, y), (x, y + 6)], fill="#FFB000")


def picture(scene: str) -> Image.Image:
    """One of the named sample scenes."""
    if scene == "forest":
        img, d = _sky(NIGHT)
        _moon(d, 270, 40)
        _trees(d, [40, 110, 250])
        _fox(d, 175, 150, 0.8)
    elif scene == "light":
        img, d = _sky(NIGHT)
        _trees(d, [30, 290])
        _lantern(d, 210, 120)
        _fox(d, 110, 150, 0.9)
    elif scene == "owl":
        img, d = _sky(DUSK)
        d.rectangle((200, 112, 320, 122), fill="#5B3A1E")
        _owl(d, 250, 88)
        _lantern(d, 150, 140)
        _fox(d, 70, 150, 0.8)
    elif scene == "dawn":
        img, d = _sky(DAY)
        d.ellipse((130, 130, 190, 190), fill="#FFB000")
        _trees(d, [40, 280])
        _fox(d, 110, 160, 0.8)
        _owl(d, 220, 150)
    elif scene == "chart":
        img = Image.new("RGB", SIZE, "#FFFFFF")
        d = ImageDraw.Draw(img)
        d.line((30, 210, 300, 210), fill="#333333", width=2)
        d.line((30, 20, 30, 210), fill="#333333", width=2)
        for i, h in enumerate([40, 75, 110, 150, 170]):
            d.rectangle((50 + i * 50, 210 - h, 80 + i * 50, 208), fill="#29ADFF")
    elif scene == "dial":
        img = Image.new("RGB", SIZE, "#FFF1E8")
        d = ImageDraw.Draw(img)
        d.ellipse((90, 50, 230, 190), outline="#1D2B53", width=6)
        for k in range(12):
            a = 2 * math.pi * k / 12
            d.line((160 + 58 * math.cos(a), 120 + 58 * math.sin(a), 160 + 66 * math.cos(a), 120 + 66 * math.sin(a)), fill="#1D2B53", width=3)
        d.line((160, 120, 200, 90), fill="#FF004D", width=5)
    else:
        raise ValueError(f"unknown scene {scene!r}")
    return img


def image(scene: str, alt: str) -> ImageSegment:
    return ImageSegment.from_pil(picture(scene), alt=alt)


def comic() -> Document:
    return Document(
        [
            TextSegment("# The Fox and the Lantern\n\n## Panel 1"),
            image("forest", "a fox in a dark forest under the moon"),
            TextSegment('> Night falls on the old forest.\n\nFox: "Something is glowing over there."'),
            TextSegment("## Panel 2"),
            image("light", "a fox looking at a glowing lantern"),
            TextSegment('Fox: "A lantern! Who left it here?"'),
            TextSegment("## Panel 3"),
            image("owl", "an owl on a branch above the fox and the lantern"),
            TextSegment('Owl: "It is mine. I lost it last winter."\nFox: "Then let me carry it home for you."'),
            TextSegment("## Panel 4"),
            image("dawn", "the fox and the owl together at sunrise"),
            TextSegment('> By morning they were friends.\n\nOwl: "Thank you, friend."'),
        ],
        kind="comic",
        prompt="a fox finds a lantern in the forest",
        title="The Fox and the Lantern",
        meta={"source": "examples/make_examples.py"},
    )


def magazine() -> Document:
    body = (
        "Foxes are at home almost everywhere people live. They hunt at dusk, sleep through the "
        "bright hours and learn the habits of a neighbourhood within weeks. Naturalists who follow "
        "them with lanterns and notebooks describe animals that are curious rather than shy."
    )
    more = (
        "A fox's year is built around the den. Cubs are born in spring, explore above ground by "
        "early summer and leave in autumn to find a territory of their own. The whole family keeps "
        "in touch with calls that carry a surprisingly long way on a still night."
    )
    return Document(
        [
            TextSegment("# Night Walkers\n\nA field guide to the animals that own the dark."),
            image("forest", "a fox in a dark forest under the moon"),
            TextSegment(f"## The Quiet Hunters\n\n{body}\n\n{more}"),
            image("light", "a fox beside a lantern"),
            TextSegment(
                "> A young fox investigates a lantern left on the path.\n\n"
                ">> Foxes learn a neighbourhood within weeks.\n\n"
                f"{body}\n\n{more}"
            ),
            TextSegment(
                "## Owls After Dark\n\nOwls hunt by ear. The dish of feathers around an owl's face "
                "funnels sound towards its ears, which sit at different heights, so it can place a "
                f"mouse under snow in complete darkness.\n\n{more}"
            ),
            image("owl", "an owl on a branch"),
            TextSegment(f"> An owl keeps watch from a low branch.\n\n{body}"),
            TextSegment("## Counting the Night\n\n" + body + "\n\n- Walk the same route every week.\n- Write down the time and the weather.\n- Count what you hear as well as what you see."),
            image("chart", "a bar chart rising from left to right"),
            TextSegment("> Sightings per walk, five weeks of notes."),
        ],
        kind="magazine",
        prompt="a magazine about animals that live at night",
        title="Night Walkers",
        meta={"source": "examples/make_examples.py"},
    )


def deck() -> Document:
    return Document(
        [
            TextSegment("# Lanterns for Everyone\n\nA plan for a brighter forest path\n\n^ Welcome everyone; this takes ten minutes."),
            TextSegment(
                "## Why lanterns\n\n- The path is dark from October to March\n- Three animals got lost last winter\n"
                "  - two foxes\n  - one very embarrassed owl\n- Lanterns are cheap to run\n\n^ Stress the lost owl story."
            ),
            TextSegment("## Where they go"),
            image("light", "a lantern on the forest path"),
            TextSegment("- One lantern every fifty steps\n- Extra light at the bridge\n\n^ Point at the map."),
            TextSegment("## Results so far"),
            image("chart", "a bar chart of visitors rising each week"),
            TextSegment("- Visitors up every week\n- No one lost since October\n\n^ Numbers come from the gate counter."),
            TextSegment("## The path at dawn"),
            image("dawn", "the fox and the owl on the path at sunrise"),
            TextSegment("> The first regular visitors.\n\n^ Let the picture speak."),
            TextSegment("## Timing"),
            image("dial", "a clock face"),
            TextSegment("- Lit at dusk, out at dawn\n- A timer does the work\n\n^ Mention the timer costs."),
            TextSegment("## Next steps\n\n- Order twenty lanterns\n- Ask the owls to keep watch\n\n^ Hand out the leaflets."),
        ],
        kind="deck",
        prompt="a short talk proposing lanterns along the forest path",
        title="Lanterns for Everyone",
        meta={"source": "examples/make_examples.py"},
    )


MARKDOWN = """# A Walk at Dusk

Notes from an evening on the forest path, written by hand in Markdown.

## Setting out

We left the gate as the light went. The path was quiet, and the first trees swallowed the last
of the sun.

![a fox in a dark forest under the moon](forest.png)

> The first fox of the evening.

## The lantern

Halfway along, something glowed beside the path.

![a fox beside a glowing lantern](light.png)

> Someone had left a lantern on a stump.

- It was still warm
- Nobody was in sight

## Home

By the time we reached the bridge the moon was up, and an owl called from the far bank.
"""


def main(out: Path = HERE) -> list[Path]:
    """Write every example under `out` and return the paths written."""
    written = []
    for name, doc in (("comic", comic()), ("magazine", magazine()), ("deck", deck())):
        path = out / f"{name}.json"
        write_text_atomic(path, doc.to_json(indent=1) + "\n")
        written.append(path)
    md_dir = out / "markdown"
    md_dir.mkdir(exist_ok=True)
    for scene in ("forest", "light"):
        path = md_dir / f"{scene}.png"
        write_bytes_atomic(path, image(scene, "").png)
        written.append(path)
    write_text_atomic(md_dir / "doc.md", MARKDOWN)
    written.append(md_dir / "doc.md")
    return written


if __name__ == "__main__":
    for p in main():
        print(p)
