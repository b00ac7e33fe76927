"""The detector's own accuracy, per task, on storyworld renders of the held-out prompts.

Tasks, each a share in [0, 1]:
    presence  per image: the set of detected classes equals the set drawn
    count     per (image, drawn class): the number found equals the number drawn
    colour    per drawn object: the matched detection names its colour
    position  per two-object image: GenEval's relation set between the matched boxes equals the one
              between the true boxes
    accessory per drawn character: the matched detection names its accessory kind and colour
    box_iou   mean IoU of matched boxes (reported, not a pass mark)
A drawn object is matched to the nearest unused detection of its class whose centre lies inside
its true box.
"""

from __future__ import annotations

from typing import Any

from tfgen.eval.detector import Detection, Judge, box_iou
from tfgen.eval.prompts import GENEVAL_CATEGORIES, COMIC_CATEGORY, prompt_set, render_entry
from tfgen.eval.scoring import relative_position
from tfgen.world.scene import Composer

TASKS = ("presence", "count", "colour", "position", "accessory")


def match(annotations: list[dict[str, Any]], dets: list[Detection]) -> list[Detection | None]:
    """For each annotation, its detection (same class, centre inside the true box) or None."""
    used: set[int] = set()
    out: list[Detection | None] = []
    for a in annotations:
        x0, y0, x1, y1 = a["box"]
        tx, ty = (x0 + x1) / 2, (y0 + y1) / 2
        best, best_d = None, float("inf")
        for i, d in enumerate(dets):
            cx, cy = d.centre
            if i in used or d.cls != a["class"] or not (x0 <= cx <= x1 and y0 <= cy <= y1):
                continue
            dist = (cx - tx) ** 2 + (cy - ty) ** 2
            if dist < best_d:
                best, best_d = i, dist
        if best is not None:
            used.add(best)
        out.append(dets[best] if best is not None else None)
    return out


def task_outcomes(annotations: list[dict[str, Any]], dets: list[Detection]) -> dict[str, list[bool]]:
    """Per-task pass/fail items for one image."""
    res: dict[str, list[bool]] = {t: [] for t in TASKS}
    res["box_iou"] = []  # type: ignore[assignment]
    true_classes = {a["class"] for a in annotations}
    res["presence"].append({d.cls for d in dets} == true_classes)
    for name in true_classes:
        res["count"].append(sum(d.cls == name for d in dets) == sum(a["class"] == name for a in annotations))
    matched = match(annotations, dets)
    for a, d in zip(annotations, matched):
        res["colour"].append(d is not None and d.colour == a["colour"])
        if "accessory" in a:
            res["accessory"].append(d is not None and f"{d.accessory_colour} {d.accessory}" == a["accessory"])
        if d is not None:
            res["box_iou"].append(box_iou(d.box, a["box"]))  # type: ignore[arg-type]
    if len(annotations) == 2 and len({a["class"] for a in annotations}) == 2:
        ok = all(d is not None for d in matched)
        res["position"].append(ok and relative_position(matched[0].box, matched[1].box)  # type: ignore[union-attr]
                               == relative_position(annotations[0]["box"], annotations[1]["box"]))
    return res


def detector_accuracy(judge: Judge, per_category: int | None = None, seed: int = 2024,
                      renders_per_entry: int = 1) -> dict[str, Any]:
    """Accuracy per task on ground-truth renders of the held-out entries (all, or a stratified subset)."""
    cats = GENEVAL_CATEGORIES + (COMIC_CATEGORY,)
    limit = None if per_category is None else per_category * len(cats)
    entries = list(prompt_set(cats, limit).entries)
    composer = Composer()
    scenes = [render_entry(e, seed, i * 100 + k, composer=composer)
              for i, e in enumerate(entries) for k in range(renders_per_entry)]
    dets = judge.detect([s.image for s in scenes])
    totals: dict[str, list] = {}
    for scene, d in zip(scenes, dets):
        for task, items in task_outcomes(scene.annotations, d).items():
            totals.setdefault(task, []).extend(items)
    out: dict[str, Any] = {t: round(sum(v) / len(v), 4) for t, v in totals.items() if v}
    out["images"] = len(scenes)
    out["seed"] = seed
    return out
