"""The colour-name map fitted on training renders (tfgen.eval.colour_map) and how a detector carries it."""

from __future__ import annotations

import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tfgen.eval.accuracy import training_renders  # noqa: E402
from tfgen.eval.colour import ColourReader, nearest_swatch_map  # noqa: E402
from tfgen.eval.colour_map import ColourMapFit, fit_colour_map  # noqa: E402
from tfgen.errors import TfgenError  # noqa: E402
from tfgen.eval.detector import CONFIG_FILE, DetectorConfig, Judge, WorldDetector, load_judge, save_detector  # noqa: E402
from tfgen.eval.detector_train import random_wash  # noqa: E402
from tfgen.world.colours import COLOUR_NAMES  # noqa: E402


def _reads(reader: ColourReader, scenes: list, washed: bool) -> int:
    """Recolourable objects whose colour `reader` names right at their true boxes."""
    rng, right = random.Random(0), 0
    for s in scenes:
        image = random_wash(s.image, rng) if washed else s.image
        for a in s.annotations:
            if "accessory" not in a and reader.template(a["class"]) is not None:
                right += reader.read(image, a["class"], tuple(a["box"])) == a["colour"]
    return right


def test_without_renders_the_map_is_the_nearest_swatch():
    table, info = fit_colour_map(ColourMapFit(images=0))
    assert table.shape == (32, 32, 32) and table.dtype == np.uint8
    assert (table == nearest_swatch_map(32)).all() and info["bins_changed"] == 0 and info["objects"] == 0


def test_a_fitted_map_reads_washed_fills_better_and_clean_ones_as_well():
    table, info = fit_colour_map(ColourMapFit(images=300))
    assert info["objects"] > 1000 and 0 < info["bins_changed"] and table.max() < len(COLOUR_NAMES)
    scenes = training_renders(128, 150, 7, "tests-colour-map")  # another stream than the fit's
    nearest, fitted = ColourReader(), ColourReader(table)
    assert _reads(fitted, scenes, washed=True) >= _reads(nearest, scenes, washed=True) + 15  # 253 -> 280 of 299
    assert _reads(fitted, scenes, washed=False) >= _reads(nearest, scenes, washed=False) - 2


def test_a_detector_carries_its_map_through_save_and_load(tmp_path):
    model = WorldDetector(DetectorConfig(widths=(8, 8, 8, 8)))
    assert Judge(model).colour_reader.name_map(np.zeros((1, 1, 3), np.uint8))[0, 0] == COLOUR_NAMES.index("black")
    table = nearest_swatch_map(16)
    table[0, 0, 0] = COLOUR_NAMES.index("purple")
    model.set_colour_map(table)
    save_detector(tmp_path, model, {})
    judge = load_judge(tmp_path)
    assert judge.cfg.colour_map_bins == 16 and (judge.colour_reader.lut == table).all()
    assert judge.colour_reader.name_map(np.full((1, 1, 3), 10, np.uint8))[0, 0] == COLOUR_NAMES.index("purple")


def test_a_map_that_is_not_a_power_of_two_cube_is_refused_with_the_file_named(tmp_path):
    model = WorldDetector(DetectorConfig(widths=(8, 8, 8, 8)))
    for bad in (np.zeros((24, 24, 24), np.uint8), np.zeros((16, 16, 8), np.uint8)):
        with pytest.raises(TfgenError):
            model.set_colour_map(bad)
    model.set_colour_map(nearest_swatch_map(16))
    save_detector(tmp_path, model, {})
    doc = (tmp_path / CONFIG_FILE).read_text().replace('"colour_map_bins": 16', '"colour_map_bins": 24')
    (tmp_path / CONFIG_FILE).write_text(doc)
    with pytest.raises(TfgenError, match="power of two") as err:
        load_judge(tmp_path)
    assert CONFIG_FILE in err.value.where
