"""The detector's conventions: targets and decoding agree, weights round-trip, bad files are clear errors."""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch")

from tfgen.errors import TfgenError  # noqa: E402
from tfgen.eval.detector import (  # noqa: E402
    CONFIG_FILE, WEIGHTS_FILE, DetectorConfig, WorldDetector, box_iou, decode, load_judge, save_detector,
)
from tfgen.eval.detector_train import IGNORE, TrainingScenes, build_targets, detector_loss  # noqa: E402


@pytest.fixture(scope="module")
def scenes():
    stream = TrainingScenes(seed=3, character_share=0.5)
    return [stream.next() for _ in range(12)]


def _perfect_maps(tg, cfg: DetectorConfig):
    """Head maps whose decoding should give back exactly the targets' objects."""
    big = 20.0
    heat = torch.where(tg["heat"] == 1.0, big, -big)
    onehot = lambda idx, k: torch.nn.functional.one_hot(idx.clamp(min=0), k).permute(0, 3, 1, 2).float() * big  # noqa: E731
    return {"heat": heat, "size": tg["size"], "offset": tg["offset"],
            "colour": onehot(tg["colour"], len(cfg.colours)), "acc_kind": onehot(tg["acc_kind"], len(cfg.accessories)),
            "acc_colour": onehot(tg["acc_colour"], len(cfg.colours))}


def test_targets_decode_back_to_the_annotations(scenes):
    cfg = DetectorConfig()
    anns = [a for _, a in scenes]
    tg = build_targets(anns, cfg)
    g = cfg.grid
    assert tg["heat"].shape == (12, len(cfg.classes), g, g) and tg["size"].shape == (12, 2, g, g)
    dets = decode(_perfect_maps(tg, cfg), cfg)
    for truth, found in zip(anns, dets):
        assert len(found) == len(truth)
        for a in truth:
            best = max((d for d in found if d.cls == a["class"]), key=lambda d: box_iou(d.box, a["box"]))
            assert box_iou(best.box, a["box"]) > 0.97  # sizes/offsets are exact up to float rounding
            assert best.colour == a["colour"]
            if "accessory" in a:
                assert f"{best.accessory_colour} {best.accessory}" == a["accessory"]
            else:
                assert best.accessory == "none"


def test_loss_is_finite_and_falls_on_a_few_steps(scenes):
    torch.manual_seed(0)
    cfg = DetectorConfig(widths=(8, 8, 16, 16))
    model = WorldDetector(cfg)
    import numpy as np

    x = torch.from_numpy(np.stack([img for img, _ in scenes])).permute(0, 3, 1, 2).float() / 255
    tg = build_targets([a for _, a in scenes], cfg)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = detector_loss(model(x), tg, 5.0)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses)) and losses[-1] < 0.7 * losses[0]


def test_ignored_cells_are_marked(scenes):
    tg = build_targets([scenes[0][1]], DetectorConfig())
    assert (tg["colour"] == IGNORE).sum() > 0 and (tg["colour"] != IGNORE).sum() >= 1


def test_weights_round_trip_and_bad_files_are_named(tmp_path):
    torch.manual_seed(0)
    cfg = DetectorConfig(widths=(8, 8, 16, 16))
    model = WorldDetector(cfg).eval()
    save_detector(tmp_path, model, {"note": "test"})
    judge = load_judge(tmp_path)
    x = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        assert torch.equal(judge.model(x)["heat"], model(x)["heat"])
    assert judge.info == {"note": "test"}
    (tmp_path / WEIGHTS_FILE).write_bytes(b"not safetensors")
    with pytest.raises(TfgenError) as err:
        load_judge(tmp_path)
    assert WEIGHTS_FILE in err.value.where
    (tmp_path / CONFIG_FILE).write_text('{"format": "something else"}')
    with pytest.raises(TfgenError, match="tfgen.detector/1"):
        load_judge(tmp_path)


def test_detect_accepts_pil_and_arrays_and_checks_shapes(tmp_path):
    from PIL import Image

    import numpy as np

    judge = load_judge()
    img = np.zeros((128, 128, 3), np.uint8)
    assert len(judge.detect([img, Image.fromarray(img).resize((64, 64))])) == 2
    with pytest.raises(TfgenError):
        judge.detect([np.zeros((10, 10), np.uint8)])
    assert judge.features([img, img]).shape == (2, judge.cfg.widths[3])


def test_colour_reader_reads_every_swatch_from_true_boxes():
    import random as _random

    from tfgen.eval.colour import ColourReader
    from tfgen.world.colours import COLOUR_NAMES
    from tfgen.world.scene import Composer, ObjectSpec, SceneSpec

    composer, reader = Composer(), ColourReader()
    rng = _random.Random(0)
    wrong = []
    for cls in ("car", "apple", "cup", "umbrella"):
        for colour in COLOUR_NAMES:
            scene = composer.compose(SceneSpec((ObjectSpec(cls, colour=colour),), "meadow"), 128, rng)
            ann = scene.annotations[0]
            got = reader.read(scene.image, cls, tuple(ann["box"]))
            if got != colour:
                wrong.append((cls, colour, got))
    assert not wrong
    assert reader.template("person") is None  # never recoloured: the colour head decides
