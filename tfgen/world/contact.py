"""Contact sheets: a grid of images with their captions (and optionally annotation boxes) to look at."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from tfgen.document import Document
from tfgen.resources import fonts_dir

TILE = 192  # images are scaled to this width on the sheet
LABEL_LINES = 4


@dataclass(frozen=True)
class Tile:
    image: Image.Image
    label: str
    annotations: tuple[dict[str, Any], ...] = ()


def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(fonts_dir() / "LiberationSans-Regular.ttf"), size)


def tiles_for(doc: Document, all_images: bool = False) -> list[Tile]:
    """One tile per image of `doc` (or only the first), labelled with the image's caption."""
    anns = doc.meta.get("annotations", [])
    tiles = []
    for i, seg in enumerate(doc.images if all_images else doc.images[:1]):
        kind = doc.meta.get("world_kind", doc.kind)
        label = f"[{kind}] {seg.alt}" if not all_images else seg.alt
        tiles.append(Tile(seg.to_pil(), label, tuple(anns[i]) if i < len(anns) else ()))
    return tiles


def contact_sheet(tiles: list[Tile], columns: int = 4, boxes: bool = False, header: str = "") -> Image.Image:
    """Draw the tiles in a grid, each with up to LABEL_LINES lines of label under it."""
    font, small = _font(12), _font(10)
    label_h = LABEL_LINES * 14 + 6
    columns = max(1, min(columns, len(tiles)))
    rows = (len(tiles) + columns - 1) // columns
    header_lines = textwrap.wrap(header, width=columns * TILE // 7) if header else []
    top = len(header_lines) * 16 + (8 if header_lines else 0)
    sheet = Image.new("RGB", (columns * TILE + (columns + 1) * 6, top + rows * (TILE + label_h) + 6), "white")
    draw = ImageDraw.Draw(sheet)
    for i, line in enumerate(header_lines):
        draw.text((6, 4 + i * 16), line, fill="black", font=font)
    for i, tile in enumerate(tiles):
        x, y = 6 + (i % columns) * (TILE + 6), top + 6 + (i // columns) * (TILE + label_h)
        scale = TILE / tile.image.width
        sheet.paste(tile.image.resize((TILE, round(tile.image.height * scale)), Image.NEAREST), (x, y))
        if boxes:
            for ann in tile.annotations:
                x0, y0, x1, y1 = (round(v * scale) for v in ann["box"])
                draw.rectangle([x + x0, y + y0, x + x1 - 1, y + y1 - 1], outline=(255, 0, 255))
                draw.text((x + x0 + 2, y + y0 + 1), f"{ann['colour']} {ann['class']}", fill=(255, 0, 255), font=small)
        lines = textwrap.wrap(tile.label, width=TILE // 6)[:LABEL_LINES]
        for j, line in enumerate(lines):
            draw.text((x, y + TILE + 3 + j * 14), line, fill="black", font=font)
    return sheet
