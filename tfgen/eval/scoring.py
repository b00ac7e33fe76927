"""GenEval's judgement of one image, computed from detections exactly as GenEval computes it.

GenEval (Ghosh et al. 2023, evaluation/evaluate_images.py): detections above a confidence
threshold, grouped by class and sorted by confidence; for each `include` requirement the top
`count` detections of its class must exist, must have the asked colour (colour counted over
those detections) and, for position, every one must stand in the asked relation to every
detection of the target group; an `exclude` requirement fails when at least `count` of its
class are found. Relative position offsets the box centres by POSITION_THRESHOLD times the
summed box sizes before reading the direction. A category's score is the share of its images
judged correct; the overall score is the mean of the six category scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from tfgen.eval.detector import Detection

POSITION_THRESHOLD = 0.1  # GenEval's
SCORE_THRESHOLD = 0.3  # GenEval's detection threshold
COUNTING_THRESHOLD = 0.9  # GenEval's stricter one for counting prompts (its detector's scale)


@dataclass(frozen=True)
class Judgement:
    correct: bool
    reason: str


def relative_position(box_a: Sequence[float], box_b: Sequence[float]) -> set[str]:
    """Where A is relative to B, factoring in object dimensions (GenEval's rule); boxes x0,y0,x1,y1."""
    boxes = np.array([box_a[:4], box_b[:4]], dtype=np.float64).reshape(2, 2, 2)
    centre_a, centre_b = boxes.mean(axis=-2)
    dim_a, dim_b = np.abs(np.diff(boxes, axis=-2))[..., 0, :]
    offset = centre_a - centre_b
    revised = np.maximum(np.abs(offset) - POSITION_THRESHOLD * (dim_a + dim_b), 0) * np.sign(offset)
    if np.all(np.abs(revised) < 1e-3):
        return set()
    dx, dy = revised / np.linalg.norm(offset)
    relations = set()
    if dx < -0.5:
        relations.add("left of")
    if dx > 0.5:
        relations.add("right of")
    if dy < -0.5:
        relations.add("above")
    if dy > 0.5:
        relations.add("below")
    return relations


def group_by_class(detections: list[Detection], threshold: float) -> dict[str, list[Detection]]:
    """Detections at or above `threshold`, by class, most confident first."""
    groups: dict[str, list[Detection]] = {}
    for d in sorted(detections, key=lambda d: -d.score):
        if d.score >= threshold:
            groups.setdefault(d.cls, []).append(d)
    return groups


def judge_image(detections: list[Detection], metadata: dict[str, Any], threshold: float = SCORE_THRESHOLD,
                counting_threshold: float | None = None) -> Judgement:
    """GenEval's `evaluate` for one image: is it correct for its prompt's metadata, and why not."""
    if metadata.get("tag") == "counting" and counting_threshold is not None:
        threshold = counting_threshold
    objects = group_by_class(detections, threshold)
    correct, reasons = True, []
    matched_groups: list[list[Detection] | None] = []
    for req in metadata.get("include", []):
        name, matched = req["class"], True
        found = objects.get(name, [])[: req["count"]]
        if len(found) < req["count"]:
            correct = matched = False
            reasons.append(f"expected {name}>={req['count']}, found {len(found)}")
        else:
            if "color" in req:
                colours = [d.colour for d in found]
                if colours.count(req["color"]) < req["count"]:
                    correct = matched = False
                    reasons.append(f"expected {req['color']} {name}>={req['count']}, found "
                                   f"{colours.count(req['color'])} {req['color']}; and " + ", ".join(colours))
            if "position" in req and matched:
                expected, target = req["position"]
                if matched_groups[target] is None:
                    correct = matched = False
                    reasons.append(f"no target for {name} to be {expected}")
                else:
                    for obj in found:
                        for tgt in matched_groups[target] or []:
                            rels = relative_position(obj.box, tgt.box)
                            if expected not in rels:
                                correct = matched = False
                                reasons.append(f"expected {name} {expected} target, found {' and '.join(sorted(rels)) or 'no relation'}")
                                break
                        if not matched:
                            break
        matched_groups.append(found if matched else None)
    for req in metadata.get("exclude", []):
        name = req["class"]
        if len(objects.get(name, [])) >= req["count"]:
            correct = False
            reasons.append(f"expected {name}<{req['count']}, found {len(objects[name])}")
    return Judgement(correct, "; ".join(reasons))


def category_scores(results: list[tuple[str, bool]], categories: Sequence[str]) -> dict[str, Any]:
    """Per-category share correct over (tag, correct) pairs, and GenEval's overall mean of them."""
    scores: dict[str, float] = {}
    counts: dict[str, int] = {}
    for cat in categories:
        flags = [ok for tag, ok in results if tag == cat]
        if flags:
            scores[cat] = sum(flags) / len(flags)
            counts[cat] = len(flags)
    overall = sum(scores.values()) / len(scores) if scores else float("nan")
    return {"categories": scores, "images": counts, "overall": overall}
