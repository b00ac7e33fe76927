"""GenEval's rules from detections, the prompt subsets and the plain measures (no detector needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tfgen.eval.detector import Detection
from tfgen.eval.frechet import frechet_distance
from tfgen.eval.prompts import GENEVAL_CATEGORIES, geneval_metadata, prompt_set, select
from tfgen.eval.scoring import category_scores, judge_image, relative_position
from tfgen.eval.text import perplexity
from tfgen.eval.vae import psnr


def det(cls, box, colour="red", score=0.9):
    return Detection(cls, score, tuple(box), colour, {}, "none", "red")


# Boxes are [x0, y0, x1, y1] pixels, y down.
def test_relative_position_follows_geneval_with_size_margin():
    assert relative_position([0, 40, 20, 60], [80, 40, 100, 60]) == {"left of"}
    assert relative_position([80, 40, 100, 60], [0, 40, 20, 60]) == {"right of"}
    assert relative_position([40, 0, 60, 20], [40, 80, 60, 100]) == {"above"}  # smaller y is above
    assert relative_position([40, 80, 60, 100], [40, 0, 60, 20]) == {"below"}
    # centres 10 px apart but boxes 60 px wide: inside the 0.1 * (w_a + w_b) margin, no relation
    assert relative_position([0, 0, 60, 60], [10, 0, 70, 60]) == set()
    assert relative_position([0, 0, 20, 20], [80, 80, 100, 100]) == {"left of", "above"}  # diagonal: both axes


def test_two_object_needs_both_classes():
    meta = {"tag": "two_object", "include": [{"class": "cat", "count": 1}, {"class": "dog", "count": 1}], "exclude": []}
    assert judge_image([det("cat", [0, 0, 10, 10]), det("dog", [50, 50, 60, 60])], meta).correct
    verdict = judge_image([det("cat", [0, 0, 10, 10])], meta)
    assert not verdict.correct and "dog" in verdict.reason


def test_counting_checks_at_least_and_the_exclude_bound():
    meta = geneval_metadata({"category": "counting", "composition": {"class": "apple", "count": 3}, "prompt": "x"})
    three = [det("apple", [i * 30, 0, i * 30 + 20, 20]) for i in range(3)]
    assert judge_image(three, meta).correct
    assert not judge_image(three[:2], meta).correct
    assert not judge_image(three + [det("apple", [100, 100, 120, 120])], meta).correct


def test_low_confidence_detections_do_not_count():
    meta = {"tag": "single_object", "include": [{"class": "cat", "count": 1}], "exclude": []}
    assert not judge_image([det("cat", [0, 0, 10, 10], score=0.2)], meta).correct


def test_colour_is_counted_over_the_top_detections():
    meta = geneval_metadata({"category": "colors", "composition": {"class": "car", "colour": "blue"}, "prompt": "x"})
    assert judge_image([det("car", [0, 0, 10, 10], "blue")], meta).correct
    assert not judge_image([det("car", [0, 0, 10, 10], "green")], meta).correct
    # GenEval looks only at the most confident detection(s) for count 1
    assert not judge_image([det("car", [0, 0, 10, 10], "green", 0.9), det("car", [50, 0, 60, 10], "blue", 0.5)], meta).correct


def test_position_uses_the_target_group():
    entry = {"category": "position", "composition": {"classes": ["cat", "dog"], "relation": ["cat", "left of", "dog"]}, "prompt": "x"}
    meta = geneval_metadata(entry)
    assert meta["include"][0]["class"] == "dog" and meta["include"][1]["position"] == ["left of", 0]
    assert judge_image([det("cat", [0, 40, 20, 60]), det("dog", [80, 40, 100, 60])], meta).correct
    assert not judge_image([det("cat", [80, 40, 100, 60]), det("dog", [0, 40, 20, 60])], meta).correct
    assert "no target" in judge_image([det("cat", [0, 40, 20, 60])], meta).reason or \
        not judge_image([det("cat", [0, 40, 20, 60])], meta).correct


def test_colour_attribution_needs_each_colour_on_its_class():
    entry = {"category": "color_attr", "composition": {"coloured": [["car", "red"], ["cup", "blue"]]}, "prompt": "x"}
    meta = geneval_metadata(entry)
    assert judge_image([det("car", [0, 0, 10, 10], "red"), det("cup", [50, 0, 60, 10], "blue")], meta).correct
    assert not judge_image([det("car", [0, 0, 10, 10], "blue"), det("cup", [50, 0, 60, 10], "red")], meta).correct


def test_overall_is_the_mean_of_category_scores_not_of_images():
    results = [("single_object", True)] * 9 + [("single_object", False)] + [("counting", False)]
    s = category_scores(results, GENEVAL_CATEGORIES)
    assert s["categories"] == {"single_object": 0.9, "counting": 0.0}
    assert s["overall"] == pytest.approx(0.45)


def test_select_is_fixed_stratified_and_exact_in_size():
    ps = prompt_set(GENEVAL_CATEGORIES)
    assert len(ps.entries) == 553
    sub = select(list(ps.entries), 30)
    assert len(sub) == 30 and sub == select(list(ps.entries), 30)
    cats = {e["category"] for e in sub}
    assert cats == set(GENEVAL_CATEGORIES)
    counts = {c: sum(e["category"] == c for e in sub) for c in cats}
    assert max(counts.values()) - min(counts.values()) <= 2
    assert len(select(list(ps.entries), 3)) == 3
    assert select(list(ps.entries), None) == list(ps.entries)


def test_frechet_distance_is_zero_for_one_set_and_the_mean_gap_for_a_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 5))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = np.array([3.0, 0, 0, 4.0, 0])
    assert frechet_distance(a, a + shift) == pytest.approx(25.0, rel=1e-6)
    assert frechet_distance(a, a * 2) > 1.0


def test_psnr_and_perplexity():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 255  # MSE = 255^2 / 48
    assert psnr(a, b) == pytest.approx(10 * math.log10(48))
    assert psnr(a, a) == math.inf
    assert perplexity(2.0 * math.log(7), 2) == pytest.approx(7.0)


def test_settled_relations_drop_only_what_a_few_pixels_of_box_error_would_flip():
    from tfgen.eval.accuracy import settled_relations, task_outcomes

    # far apart on x, level on y: "left of" holds and the vertical relations are surely absent
    assert settled_relations([0, 40, 20, 60], [80, 40, 100, 60]) == {"left of": True, "right of": False,
                                                                     "above": False, "below": False}
    # diagonal, below and just left: "left of" sits on GenEval's 0.5 boundary (dx = -0.5 at x0 = -1.4)
    a, b = [-1.6, 80, 18.4, 100], [50, 0, 70, 20]
    assert relative_position(a, b) == {"left of", "below"}
    settled = settled_relations(a, b)
    assert "left of" not in settled and settled["below"] is True and settled["above"] is False
    truth = [{"class": "cat", "box": a, "colour": "red"}, {"class": "dog", "box": b, "colour": "red"}]
    one_px_off = [det("cat", [-0.6, 80, 19.4, 100]), det("dog", b)]
    assert relative_position(one_px_off[0].box, b) == {"below"}  # the strict set flips...
    out = task_outcomes(truth, one_px_off)
    assert out["position"] == [False] and out["position_settled"] == [True]  # ...the settled relations hold
    # touching side by side: "left of" is settled; boxes found (centres inside the truth) diagonal: wrong
    side = [{"class": "cat", "box": [40, 40, 60, 60], "colour": "red"},
            {"class": "dog", "box": [60, 40, 80, 60], "colour": "red"}]
    diagonal = [det("cat", [49, 49, 69, 69]), det("dog", [51, 31, 71, 51])]
    assert relative_position(diagonal[0].box, diagonal[1].box) == {"below"}
    assert task_outcomes(side, diagonal)["position_settled"] == [False]
