"""Tests of the judge: the shipped detector + GenEval's rules on ground-truth renders and hard negatives.

On every held-out GenEval prompt (553), one render each at SEED: a subset of 20 per category left
single misses deciding a category (17 counting prompts: one miss is 0.94), and all of them cost ~25 s.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from tfgen.eval.accuracy import TASKS, detector_accuracy  # noqa: E402
from tfgen.eval.compositional import score_images  # noqa: E402
from tfgen.eval.consistency import score_comics  # noqa: E402
from tfgen.eval.detector import load_judge  # noqa: E402
from tfgen.eval.prompts import (COMIC_CATEGORY, GENEVAL_CATEGORIES, prompt_set, render_entry,  # noqa: E402
                                render_images, render_scenes)
from tfgen.world.scene import Composer  # noqa: E402

SEED = 11
# The shipped detector (docs/DETECTOR.md; its detector.json, all 653 held-out renders: presence 0.985,
# count 0.997, colour 0.995, relative position 0.983 as GenEval's full relation set, accessory 1.0)
# meets the 0.97 on every task. At SEED, ground truth 0.994 overall (lowest category counting
# and colours, 0.988 and 0.989), hard negatives 0.004 (highest counting, 0.025). After the shipped
# VAE's round trip colour attribution is 0.84: in 12 of its 100 prompts the VAE loses a painted colour
# (a small pink fill comes back beige or grey, a purple one blue), which no judge can read back, so
# 0.88 is the most any judge could score there. The 0.90 is asked of the prompts whose colours
# the round trip keeps (colour attribution 0.93 there), and stays a strict xfail on all of them: a
# better VAE makes it pass, and CI then fails until the marker comes off. The guards hold today's level.
BELOW_SPEC = pytest.mark.xfail(reason="the shipped VAE loses 12 of 100 colour-attribution colours", strict=True)


@pytest.fixture(scope="module")
def judge():
    torch.set_num_threads(1)
    return load_judge()


@pytest.fixture(scope="module")
def entries():
    return list(prompt_set(GENEVAL_CATEGORIES).entries)


@pytest.fixture(scope="module")
def composer():
    return Composer()


@pytest.fixture(scope="module")
def scenes(entries, composer):
    """The ground-truth render of each entry, annotations kept."""
    return [per[0] for per in render_scenes(entries, 1, SEED, composer=composer)]


@pytest.fixture(scope="module")
def positives(judge, entries, scenes):
    return score_images(judge, entries, [[s.image] for s in scenes])


@pytest.fixture(scope="module")
def negatives(judge, entries, composer):
    return score_images(judge, entries, render_images(entries, 1, SEED, negative=True, composer=composer))


def test_guard_ground_truth_and_hard_negatives_stay_apart(positives, negatives):
    pos, neg = positives.scores, negatives.scores
    assert pos["overall"] >= 0.99 and min(pos["categories"].values()) >= 0.98, pos
    assert neg["overall"] <= 0.01 and max(neg["categories"].values()) <= 0.03, neg


def test_ground_truth_renders_score_at_least_095_per_category(positives):
    res = positives
    cats = res.scores["categories"]
    assert set(cats) == set(GENEVAL_CATEGORIES)
    low = {c: v for c, v in cats.items() if v < 0.95}
    fails = [r["prompt"] + ": " + r["reason"] for r in res.records if not r["correct"]]
    assert not low, f"{low}; {fails[:5]}"


def test_hard_negatives_score_at_most_005_per_category(negatives):
    res = negatives
    high = {c: v for c, v in res.scores["categories"].items() if v > 0.05}
    passed = [r["prompt"] for r in res.records if r["correct"]]
    assert not high, f"{high}; wrongly passed: {passed[:5]}"


def test_consistency_sees_the_character_and_rejects_the_wrong_hat_colour(judge, composer):
    comics = list(prompt_set((COMIC_CATEGORY,), 20).entries)
    right = [[render_entry(e, SEED, i * 10 + k, composer=composer).image for k in range(3)] for i, e in enumerate(comics)]
    wrong = [[render_entry(e, SEED, i * 10 + k, negative=True, composer=composer).image for k in range(3)]
             for i, e in enumerate(comics)]
    assert score_comics(judge, comics, right).score >= 0.95
    assert score_comics(judge, comics, wrong).score <= 0.05
    # unnamed: panel 1 defines the identity; a changed hat colour in later panels fails them
    mixed = [[r[0], w[1], w[2]] for r, w in zip(right, wrong)]
    res = score_comics(judge, comics, mixed, named=False)
    assert res.score <= 1 / 3 + 0.05


GUARD_ACCURACY = {"presence": 0.984, "count": 0.996, "colour": 0.994, "position": 0.983, "accessory": 1.0}


def test_guard_shipped_detector_records_its_accuracy(judge):
    acc = judge.info["heldout_accuracy"]
    assert acc["images"] == 653 and all(acc[t] >= GUARD_ACCURACY[t] for t in TASKS), acc


def test_shipped_detector_reads_colours_with_a_map_fitted_on_training_renders(judge):
    fit = judge.info["colour_map"]
    assert judge.cfg.colour_map_bins == fit["bins"] == 32 and fit["images"] == fit["rendered"] == 12000
    assert judge.colour_reader.lut.shape == (32, 32, 32)
    washed = judge.info["colour_split_calibration"]["table"]["1.01"]["washed"]
    assert washed >= 0.98, washed  # 0.81 by the nearest swatch


@pytest.mark.parametrize("task", TASKS)
def test_shipped_detector_records_accuracy_at_least_097_per_task(judge, task):
    acc = judge.info.get("heldout_accuracy")
    assert acc, "the shipped detector has no recorded held-out accuracy"
    assert acc[task] >= 0.97, acc


def test_shipped_detector_records_its_hard_negative_scores_within_005(judge):
    neg = judge.info["heldout_judge"]["hard_negatives"]
    assert judge.info["heldout_judge"]["prompts"] == 553 and max(neg.values()) <= 0.05, neg


def test_threshold_calibration_uses_training_renders_and_picks_the_best_of_its_table(judge):
    from tfgen.eval.accuracy import calibrate_threshold

    cal = calibrate_threshold(judge, n_images=40, candidates=(0.2, 0.3, 0.45))
    table = cal["table"]
    assert set(table) == {"0.2", "0.3", "0.45"} and cal["images"] >= 35
    best = max(table.values(), key=lambda r: r["presence"] + r["count"])
    assert table[str(cal["threshold"])]["presence"] + table[str(cal["threshold"])]["count"] == pytest.approx(
        best["presence"] + best["count"])
    # the shipped threshold is the calibrated one
    assert judge.info["threshold_calibration"]["threshold"] == judge.cfg.score_threshold


def test_suppression_calibration_uses_training_renders_and_picks_the_best_of_its_table(judge):
    from tfgen.eval.accuracy import calibrate_suppression

    cal = calibrate_suppression(judge, n_images=40, candidates=(0.3, 0.7, 1.01))
    table = cal["table"]
    assert set(table) == {f"{a} {b}" for a in ("0.3", "0.7", "1.01") for b in ("0.3", "0.7", "1.01")}
    assert cal["images"] >= 35
    score = {k: r["presence"] + r["count"] for k, r in table.items()}
    assert score[f"{cal['suppress_iou']} {cal['suppress_iou_same_class']}"] == pytest.approx(max(score.values()))
    assert score["1.01 1.01"] < max(score.values())  # keeping every overlapping guess costs presence
    recorded = judge.info.get("suppression_calibration", {})  # the shipped pair is the calibrated one
    assert (judge.cfg.suppress_iou, judge.cfg.suppress_iou_same_class) == (
        recorded.get("suppress_iou", 0.7), recorded.get("suppress_iou_same_class", 0.7))


def test_detector_accuracy_on_a_fresh_subset(judge):
    acc = detector_accuracy(judge, per_category=6, seed=77)
    assert all(acc[t] >= 0.92 for t in TASKS), acc


def _trained_vae_dir() -> Path | None:
    """A trained VAE at 128 px: $TFGEN_TEST_VAE, else the shipped default model's."""
    from tfgen.resources import default_model_dir

    for cand in (os.environ.get("TFGEN_TEST_VAE"), default_model_dir()):
        if cand and (Path(cand) / "vae.safetensors").is_file():
            return Path(cand)
    return None


@pytest.fixture(scope="module")
def round_trips(judge, entries, scenes):
    """GenEval records of the ground-truth renders after a VAE encode/decode, and per entry whether
    the round trip kept every painted colour (tfgen.eval.vae.colours_kept)."""
    from tfgen.eval.colour import ColourReader
    from tfgen.eval.vae import colours_kept, load_vae, round_trip

    where = _trained_vae_dir()
    if where is None:
        pytest.skip("no trained VAE (set TFGEN_TEST_VAE to a VAE or checkpoint directory)")
    bundle = load_vae(where)
    if bundle.image_size != 128:
        pytest.skip(f"the VAE at {where} works at {bundle.image_size} px, not 128")
    trips = round_trip(bundle, [s.image for s in scenes])
    reader = ColourReader()
    kept = []
    for scene, trip in zip(scenes, trips):
        readable, same = colours_kept(reader, scene.annotations, scene.image, trip)
        kept.append(same == readable)
    return score_images(judge, entries, [[t] for t in trips]), kept


def test_guard_scores_after_a_vae_round_trip(round_trips):
    scores = round_trips[0].scores
    assert min(scores["categories"].values()) >= 0.83 and scores["overall"] >= 0.955, scores


def test_judge_reads_what_a_vae_round_trip_keeps_at_least_090_per_category(entries, round_trips):
    res, kept = round_trips
    assert sum(kept) >= 0.9 * len(kept)  # the filter leaves most prompts in
    tally: dict[str, list[int]] = {}
    for e, r, k in zip(entries, res.records, kept):
        if k:
            t = tally.setdefault(e["category"], [0, 0])
            t[0], t[1] = t[0] + 1, t[1] + r["correct"]
    low = {c: round(right / n, 3) for c, (n, right) in tally.items() if right < 0.90 * n}
    assert set(tally) == set(GENEVAL_CATEGORIES) and not low, low


@BELOW_SPEC
def test_scores_survive_a_vae_round_trip(round_trips):
    low = {c: v for c, v in round_trips[0].scores["categories"].items() if v < 0.90}
    assert not low, low


def test_colour_split_calibration_uses_training_renders_and_picks_the_best_of_its_table(judge):
    from tfgen.eval.accuracy import calibrate_colour_split

    cal = calibrate_colour_split(judge, n_images=40, candidates=(1.01, 0.5))
    table = cal["table"]
    assert set(table) == {"1.01", "0.5"} and cal["images"] >= 70 and table["1.01"]["objects"] >= 40
    score = {k: r["clean"] + r["washed"] for k, r in table.items()}
    assert score[str(cal["colour_split"])] == pytest.approx(max(score.values()))
    assert table["1.01"]["clean"] >= 0.9 and table["1.01"]["washed"] < table["1.01"]["clean"]  # washing costs reads
    recorded = judge.info.get("colour_split_calibration", {})  # the shipped split is the calibrated one
    assert judge.cfg.colour_split == recorded.get("colour_split", 1.01)
