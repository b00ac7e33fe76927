"""The shipped pictogram atlas: one RGBA sprite sheet of OpenMoji glyphs plus a JSON index.

Built by scripts/build_atlas.py; reading it needs no font. Cells are square and `cell` pixels
wide; the index maps a code point (hex, as in tfgen.world.cast) to its cell number, row-major.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from tfgen.errors import TfgenError
from tfgen.resources import assets_dir

ATLAS_FORMAT = "tfgen.atlas/1"
LICENCE = "CC BY-SA 4.0"
ATTRIBUTION = (
    "OpenMoji – the open-source emoji and icon project. License: CC BY-SA 4.0 (https://openmoji.org)"
)


def atlas_dir() -> Path:
    return assets_dir() / "atlas"


@dataclass(frozen=True)
class Atlas:
    """The glyph cells, as RGBA uint8 arrays (cell, cell, 4), by code point."""

    cell: int
    cells: dict[str, np.ndarray]
    source: str

    def glyph(self, codepoint: str) -> np.ndarray:
        try:
            return self.cells[codepoint]
        except KeyError:
            raise TfgenError("no such glyph in the atlas (rebuild it with scripts/build_atlas.py)",
                             where=f"U+{codepoint}") from None


def load_atlas(folder: Path | None = None) -> Atlas:
    """Read atlas.png and atlas.json; a missing or damaged file is a TfgenError naming it."""
    folder = folder or atlas_dir()
    index_path, sheet_path = folder / "atlas.json", folder / "atlas.png"
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TfgenError(f"cannot read the atlas index ({exc})", where=str(index_path)) from None
    if not isinstance(index, dict) or index.get("format") != ATLAS_FORMAT:
        raise TfgenError(f"not a {ATLAS_FORMAT} index", where=str(index_path))
    try:
        with Image.open(sheet_path) as img:
            sheet = np.array(img.convert("RGBA"))
    except Exception as exc:  # Pillow raises many types for damaged files
        raise TfgenError(f"cannot read the atlas sheet ({type(exc).__name__})", where=str(sheet_path)) from None
    # The 256-colour palette nudges opaque pixels to alpha 246-254 and clear ones just above 0;
    # snap them back so a fill is solid and the background never shows through it.
    alpha = sheet[..., 3]
    alpha[alpha >= 240] = 255
    alpha[alpha <= 8] = 0
    cell, columns = int(index["cell"]), int(index["columns"])
    cells: dict[str, np.ndarray] = {}
    for codepoint, i in index["glyphs"].items():
        y, x = (i // columns) * cell, (i % columns) * cell
        if y + cell > sheet.shape[0] or x + cell > sheet.shape[1]:
            raise TfgenError(f"cell {i} lies outside the sheet", where=str(sheet_path))
        cells[codepoint] = np.ascontiguousarray(sheet[y : y + cell, x : x + cell])
    return Atlas(cell=cell, cells=cells, source=str(index.get("source", "")))
