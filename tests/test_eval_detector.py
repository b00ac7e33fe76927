"""The detector's conventions: targets and decoding agree, weights round-trip, bad files are clear errors."""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch")

from tfgen.errors import TfgenError  # noqa: E402
from tfgen.eval.detector import (  # noqa: E402
    CONFIG_FILE, WEIGHTS_FILE, DetectorConfig, WorldDetector, box_iou, decode, load_judge, save_detector,
)
from tfgen.eval.detector_loss import IGNORE, detector_loss  # noqa: E402
from tfgen.eval.detector_train import TrainingScenes, build_targets  # noqa: E402

# The shipped shape (full-resolution input, strided stem, grid 32) and the earlier one (64 px, grid 16).
SHAPES = [DetectorConfig(internal_size=128, stem_stride=2), DetectorConfig(internal_size=64, stem_stride=1)]


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


@pytest.mark.parametrize("cfg", SHAPES, ids=["fine", "coarse"])
def test_targets_decode_back_to_the_annotations(scenes, cfg):
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


@pytest.mark.parametrize("stem_stride", [2, 1])
def test_loss_is_finite_and_falls_on_a_few_steps(scenes, stem_stride):
    torch.manual_seed(0)
    cfg = DetectorConfig(widths=(8, 8, 16, 16), internal_size=64 * stem_stride, stem_stride=stem_stride)
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


def test_colour_reader_finds_the_fill_when_the_box_is_a_few_pixels_off():
    import random as _random

    from tfgen.eval.colour import ColourReader
    from tfgen.world.colours import COLOUR_NAMES
    from tfgen.world.scene import Composer, ObjectSpec, SceneSpec

    composer, reader = Composer(), ColourReader()
    rng = _random.Random(1)
    wrong = []
    for cls in ("fork", "knife", "skateboard"):  # thin fills: a 2 px error lands on the outline
        for colour in COLOUR_NAMES:
            scene = composer.compose(SceneSpec((ObjectSpec(cls, colour=colour),), "meadow"), 128, rng)
            x0, y0, x1, y1 = scene.annotations[0]["box"]
            for dx, dy in ((2, 0), (-2, 1), (0, -2)):
                got = reader.read(scene.image, cls, (x0 + dx, y0 + dy, x1 + dx, y1 + dy))
                if got != colour:
                    wrong.append((cls, colour, (dx, dy), got))
    assert not wrong


def test_colours_kept_counts_a_greyed_fill_as_lost_and_skips_what_the_original_cannot_show():
    import random as _random

    import numpy as np
    from PIL import Image

    from tfgen.eval.colour import ColourReader
    from tfgen.eval.vae import colours_kept
    from tfgen.world.scene import Composer, ObjectSpec, SceneSpec

    reader = ColourReader()
    scene = Composer().compose(SceneSpec((ObjectSpec("car", colour="pink"), ObjectSpec("apple", colour="blue")),
                                         "meadow"), 128, _random.Random(3))
    image = scene.image
    assert colours_kept(reader, scene.annotations, image, image) == (2, 2)
    x0, y0, x1, y1 = scene.annotations[0]["box"]
    grey = image.copy()
    grey[y0:y1, x0:x1] = grey[y0:y1, x0:x1].mean(axis=2, keepdims=True).astype(np.uint8)  # the car's chroma gone
    assert reader.fill_colour(grey, "car", (x0, y0, x1, y1)) != "pink"
    assert colours_kept(reader, scene.annotations, image, grey) == (2, 1)
    # halved images with boxes scaled from the 128 px scene: the same answers
    half = [np.asarray(Image.fromarray(im).resize((64, 64), Image.NEAREST)) for im in (image, grey)]
    assert colours_kept(reader, scene.annotations, half[0], half[1], scene_size=128) == (2, 1)
    # a painted colour the original itself does not show (here: annotated wrongly) is not counted at all
    wrong = [dict(scene.annotations[0], colour="green"), scene.annotations[1]]
    assert colours_kept(reader, wrong, image, grey) == (1, 1)


def test_colour_name_map_matches_the_exact_nearest_swatch_on_swatches():
    import numpy as np

    from tfgen.eval.colour import ColourReader
    from tfgen.world.colours import COLOUR_NAMES, SWATCHES

    image = np.array([[SWATCHES[n] for n in COLOUR_NAMES]], np.uint8)  # (1, 10, 3)
    assert ColourReader().name_map(image).tolist() == [list(range(len(COLOUR_NAMES)))]


def test_hue_rotation_keeps_greys_and_luma_and_turns_colours():
    import math

    import numpy as np

    from tfgen.eval.detector_train import rotate_hue

    img = np.zeros((2, 2, 3), np.uint8)
    img[0, 0], img[0, 1], img[1, 0], img[1, 1] = (128, 128, 128), (170, 80, 80), (40, 160, 60), (255, 255, 255)
    assert np.array_equal(rotate_hue(img, 0.0), img)
    turned = rotate_hue(img, math.pi / 2)
    assert np.abs(turned[0, 0].astype(int) - 128).max() <= 1 and np.abs(turned[1, 1].astype(int) - 255).max() <= 1
    luma = np.array([0.299, 0.587, 0.114])
    assert abs(float(turned[0, 1] @ luma) - float(img[0, 1] @ luma)) < 3  # brightness kept (no clipping here)
    assert int(np.argmax(turned[0, 1])) != 0  # red is no longer the strongest channel


def test_augmented_batches_drop_colour_targets_only_where_colours_changed():
    from tfgen.eval.detector_train import DetectorTrainConfig, make_batch

    cfg = DetectorTrainConfig(batch_size=16, hue_share=1.0, decolour_share=0.0, jpeg_share=1.0, hard_share=1.0)
    scenes = TrainingScenes(seed=5, hard_share=1.0)
    x, tg = make_batch(scenes, 16, random.Random(0), cfg, DetectorConfig())
    assert x.shape == (16, 3, 128, 128) and float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert (tg["colour"] == IGNORE).all()  # every image hue-turned: its colour names are wrong now
    assert (tg["heat"] == 1.0).sum() >= 16  # but every object is still a target
    plain = DetectorTrainConfig(batch_size=16)
    _, tg2 = make_batch(TrainingScenes(seed=5), 16, random.Random(0), plain, DetectorConfig())
    assert (tg2["colour"] != IGNORE).any()


def test_hard_scenes_are_deterministic_and_never_held_out():
    from tfgen.world.heldout import load_heldout

    heldout = load_heldout()
    a = [TrainingScenes(seed=9, hard_share=1.0).next() for _ in range(1)]
    stream, again = TrainingScenes(seed=9, hard_share=1.0), TrainingScenes(seed=9, hard_share=1.0)
    for _ in range(10):
        (img, anns), (img2, anns2) = stream.next(), again.next()
        assert (img == img2).all() and anns == anns2
        assert not heldout.violations(anns)
    assert a[0][1] == TrainingScenes(seed=9, hard_share=1.0).next()[1]


def test_weight_average_follows_the_model_at_its_decay():
    from tfgen.eval.detector_train import WeightAverage

    torch.manual_seed(0)
    model = WorldDetector(DetectorConfig(widths=(8, 8, 16, 16)))
    avg = WeightAverage(model, decay=0.75)
    before = avg.model.head.weight.clone()
    with torch.no_grad():
        model.head.weight.add_(1.0)
    avg.update()
    assert torch.allclose(avg.model.head.weight, before + 0.25)
    assert not avg.model.head.weight.requires_grad and model.head.weight.requires_grad


def test_crowd_scenes_hold_three_to_five_of_one_class_and_never_held_out():
    from tfgen.world.heldout import load_heldout

    heldout, stream = load_heldout(), TrainingScenes(seed=4, character_share=0.0, crowd_share=1.0)
    for _ in range(6):
        _, anns = stream.next()
        assert len({a["class"] for a in anns}) == 1 and 3 <= len(anns) <= 5, anns
        assert not heldout.violations(anns)
    first, again = (TrainingScenes(seed=4, character_share=0.0, crowd_share=1.0).next()[1] for _ in range(2))
    assert first == again


def test_resample_softens_edges_but_keeps_flat_regions():
    import numpy as np

    from tfgen.eval.detector_train import resample

    img = np.zeros((128, 128, 3), np.uint8)
    img[:, 64:] = 255  # one sharp vertical edge
    out = resample(img, 32)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert (out[:, :56] == 0).all() and (out[:, 72:] == 255).all()
    assert 0 < int(out[0, 63, 0]) < 255 or 0 < int(out[0, 64, 0]) < 255  # the edge is now a ramp


def test_edge_loss_is_zero_on_true_boxes_and_grows_with_box_error(scenes):
    from tfgen.eval.detector_loss import detector_loss

    cfg = DetectorConfig()
    tg = build_targets([a for _, a in scenes], cfg)
    maps = _perfect_maps(tg, cfg)
    assert float(detector_loss(maps, tg, 5.0, edge_weight=10.0)["edges"]) < 1e-6
    assert "edges" not in detector_loss(maps, tg, 5.0)  # off by default: earlier phases reproduce
    shifted = dict(maps, offset=maps["offset"] + 1 / cfg.cell)  # one pixel right and down (offsets are in cells)
    grown = dict(maps, size=maps["size"] + 2 / 128)  # two pixels wider and taller
    e_shift = float(detector_loss(shifted, tg, 5.0, edge_weight=1.0)["edges"])
    e_grow = float(detector_loss(grown, tg, 5.0, edge_weight=1.0)["edges"])
    assert abs(e_shift - 4 / 128) < 1e-4 and abs(e_grow - 4 / 128) < 1e-4  # four edges, 1 px each


def test_suppression_keeps_the_surer_of_two_overlapping_boxes_up_to_its_iou():
    from tfgen.eval.detector import Detection, suppress

    def det(score: float, x: float, cls: str = "fork") -> Detection:
        return Detection(cls, score, (x, 0.0, x + 10.0, 10.0), "red", {}, "none", "red")

    dets = [det(0.9, 0.0), det(0.8, 2.0), det(0.7, 30.0)]  # the first two overlap at IoU 8/12
    assert [d.score for d in suppress(dets, 0.5)] == [0.9, 0.7]
    assert [d.score for d in suppress(dets, 0.7)] == [0.9, 0.8, 0.7]
    assert len(suppress(dets, 1.01)) == 3
    # one class overlapping (a crowd) is judged by its own IoU, two classes by the other
    assert [d.score for d in suppress(dets, 0.5, same_class_iou=0.9)] == [0.9, 0.8, 0.7]
    mixed = [det(0.9, 0.0), det(0.8, 2.0, "spoon")]
    assert [d.cls for d in suppress(mixed, 0.5, same_class_iou=0.9)] == ["fork"]


def test_split_vote_keeps_a_clear_winner_and_lets_the_head_choose_between_two_close_ones():
    import numpy as np

    from tfgen.eval.detector import split_vote
    from tfgen.world.colours import COLOUR_NAMES

    votes = np.zeros(len(COLOUR_NAMES))
    votes[COLOUR_NAMES.index("white")], votes[COLOUR_NAMES.index("pink")] = 60, 40
    head = {"pink": 0.5, "white": 0.1, "red": 0.4}
    assert split_vote(votes, head, 0.7) == "white"  # 40 < 0.7 * 60: the pixels decide
    assert split_vote(votes, head, 0.6) == "pink"  # 40 >= 0.6 * 60: the head breaks the tie
    assert split_vote(votes, {"red": 0.9, "white": 0.05, "pink": 0.05}, 0.6) == "white"  # never a third name
    assert split_vote(votes, head, 1.01) == "white"  # above 1: the reader alone
    alone = np.zeros(len(COLOUR_NAMES))
    alone[COLOUR_NAMES.index("blue")] = 5
    assert split_vote(alone, {"red": 1.0}, 0.0) == "blue"  # no runner-up: no tie to break


def test_wash_pales_and_bleeds_colour_but_keeps_luma():
    import numpy as np

    from tfgen.eval.detector_train import wash

    img = np.full((32, 32, 3), 128, np.uint8)
    img[:, 16:] = (246, 136, 196)  # a pink half beside a grey one
    luma = np.array([0.299, 0.587, 0.114])
    out = wash(img, chroma=0.5, bleed=0.0, soften=0.0)
    pink_in, pink_out = img[5, 25].astype(float), out[5, 25].astype(float)
    assert abs(pink_out @ luma - pink_in @ luma) < 1.5  # luma kept
    assert np.ptp(pink_out) == pytest.approx(np.ptp(pink_in) / 2, abs=2)  # half the chroma
    assert (out[:, :14] == 128).all()  # grey has no chroma to lose
    bled = wash(img, chroma=1.0, bleed=2.0, soften=0.0)
    assert np.ptp(bled[5, 14].astype(int)) > 5 and (bled[:, :8] == 128).all()  # colour crosses the edge, not far
    lifted = wash(img, chroma=1.0, bleed=0.0, soften=0.0, lift=0.5)
    assert lifted[5, 2, 0] == pytest.approx(128 + 0.5 * 127, abs=1)


def test_heldout_guard_skips_recolourings_that_paint_a_held_out_pair():
    import numpy as np

    from tfgen.world.colours import SWATCHES

    stream = TrainingScenes(seed=1)
    heldout = sorted(stream.sampler.heldout.colours)
    cls, colour = heldout[0]
    other = next(c for c in SWATCHES if c != colour and (cls, c) not in stream.sampler.heldout.colours)
    ann = [{"class": cls, "colour": other, "box": [0, 0, 10, 10]}]
    paint = np.array(SWATCHES[colour], np.uint8)
    assert stream.paints_heldout(ann, lambda x: np.broadcast_to(paint, x.shape).copy())
    assert not stream.paints_heldout(ann, lambda x: x)  # unchanged: its own, allowed colour


def test_guarded_batches_skip_every_grey_swap_and_hue_turn_the_guard_refuses():
    from tfgen.eval.detector_train import DetectorTrainConfig, make_batch

    class Refusing(TrainingScenes):
        def paints_heldout(self, annotations, recolour):
            return True

    cfg = DetectorTrainConfig(batch_size=16, hue_share=0.6, decolour_share=0.6, heldout_guard=True)
    _, refused = make_batch(Refusing(seed=2), 16, random.Random(1), cfg, DetectorConfig())
    assert all((refused["colour"][i] != IGNORE).any() for i in range(16))  # nothing recoloured: colours known
    _, allowed = make_batch(TrainingScenes(seed=2), 16, random.Random(1), cfg, DetectorConfig())
    assert sum(int((allowed["colour"][i] == IGNORE).all()) for i in range(16)) >= 4  # most recolourings pass


def test_tight_crowds_are_drawn_larger():
    stream = TrainingScenes(seed=4, character_share=0.0, crowd_share=1.0, tight_crowd_share=1.0)
    loose = TrainingScenes(seed=4, character_share=0.0, crowd_share=1.0)
    scales = []
    for i in range(4):
        rng = random.Random(f"crowd:{i}")
        scene = stream._crowd(rng)
        if scene is not None:
            scales.append(scene.spec.scale)
            assert 3 <= len(scene.annotations) <= 5
    assert scales and all(1.15 <= s <= 1.4 for s in scales)
    plain = loose._crowd(random.Random("crowd:0"))
    assert plain is None or plain.spec.scale == 1.0


def _pooled_peaks(logits: torch.Tensor, threshold: float, k: int) -> list[list[tuple[float, int]]]:
    """The reference: max-pool the sigmoid of every map, keep local maxima above threshold, best k."""
    heat = torch.sigmoid(logits.float())
    peaks = (heat * (torch.nn.functional.max_pool2d(heat, 3, 1, 1) == heat)).flatten(1)
    out = []
    for row in peaks:
        idx = (row > threshold).nonzero().flatten().tolist()
        out.append(sorted(((float(row[i]), i) for i in idx), key=lambda p: (-p[0], p[1]))[:k])
    return out


@pytest.mark.parametrize("threshold,k", [(0.25, 32), (0.6, 32), (0.25, 3), (0.05, 1000)])
def test_peaks_from_the_threshold_equal_max_pooling_every_map(threshold, k):
    from tfgen.eval.detector import find_peaks

    gen = torch.Generator().manual_seed(5)
    logits = torch.randn(4, 7, 9, 9, generator=gen) * 2.0 - 1.0  # distinct values: no ties
    logits[2] = -30.0  # an image with no peak at all
    image, score, flat = find_peaks(logits, threshold, k)
    got = [[(float(s), int(f)) for i, s, f in zip(image, score, flat) if i == b] for b in range(4)]
    want = _pooled_peaks(logits, threshold, k)
    assert got == want and got[2] == [] and sum(map(len, want)) > 4
    assert image.tolist() == sorted(image.tolist())  # grouped by image


def test_peaks_of_bf16_maps_are_those_of_their_float_values():
    from tfgen.eval.detector import find_peaks

    logits = (torch.randn(3, 5, 8, 8, generator=torch.Generator().manual_seed(8)) * 3.0).bfloat16()
    image, score, flat = find_peaks(logits, 0.3, 1000)
    want = _pooled_peaks(logits, 0.3, 1000)  # ties are possible in bf16: compare as sets
    got = [{(float(s), int(f)) for i, s, f in zip(image, score, flat) if i == b} for b in range(3)]
    assert got == [set(w) for w in want]
