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

`calibrate_threshold` picks the detector's score threshold, `calibrate_suppression` the box overlap above
which one of two detections is dropped, `calibrate_colour_classes` the classes whose colour the head
reads better than the pixels, and `calibrate_colour_split` how split a pixel vote must be for the head
to break it, on fresh training-distribution renders (the SceneSampler's, held-out compositions
excluded), never on the held-out renders they are judged on.
"""

from __future__ import annotations

from typing import Any

from tfgen.eval.detector import Detection, Judge, box_iou, suppress
from tfgen.eval.prompts import GENEVAL_CATEGORIES, COMIC_CATEGORY, prompt_set, render_entry
from tfgen.eval.scoring import relative_position
from tfgen.world.scene import RELATIONS, Composer

TASKS = ("presence", "count", "colour", "position", "accessory")
POSITION_TOLERANCE = 2.0  # px of box error under which a relation counts as settled (position_settled)
CALIBRATION_CATEGORIES = ("single_object", "two_object", "counting", "counting", "colors", "position", "color_attr",
                          "free")


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
    res: dict[str, list[bool]] = {t: [] for t in TASKS + ("position_settled",)}
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
        found = relative_position(matched[0].box, matched[1].box) if ok else set()  # type: ignore[union-attr]
        res["position"].append(ok and found == relative_position(annotations[0]["box"], annotations[1]["box"]))
        settled = settled_relations(annotations[0]["box"], annotations[1]["box"])
        res["position_settled"].append(ok and all((r in found) == holds for r, holds in settled.items()))
    return res


def settled_relations(box_a: list[float], box_b: list[float], tolerance: float = POSITION_TOLERANCE) -> dict[str, bool]:
    """The relations whose truth for A and B stays the same when A moves by up to `tolerance` px.

    GenEval's relation set flips at sharp boundaries (a direction component of exactly 0.5, an
    offset of exactly 0.1 of the summed sizes); near one, a pixel of box error flips it for any
    detector. These are the relations a box-level judge can be held to.
    """
    moved = [relative_position([box_a[0] + dx, box_a[1] + dy, box_a[2] + dx, box_a[3] + dy], box_b)
             for dx in (-tolerance, 0.0, tolerance) for dy in (-tolerance, 0.0, tolerance)]
    truth = relative_position(box_a, box_b)
    return {r: r in truth for r in RELATIONS if all((r in m) == (r in truth) for m in moved)}


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


def calibrate_threshold(judge: Judge, n_images: int = 800, seed: int = 0,
                        candidates: tuple[float, ...] = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4)) -> dict[str, Any]:
    """The score threshold that maximises the mean of presence and count on training-distribution renders.

    Renders come from the storyworld's SceneSampler (held-out compositions excluded) with their own
    seed, counting scenes drawn twice as often (counting is where thresholds matter most).
    """
    scenes = training_renders(judge.cfg.image_size, n_images, seed, "tfgen-detector-calibration")
    dets = judge.detect([s.image for s in scenes], threshold=min(candidates))
    table = {t: _presence_and_count(scenes, [[x for x in d if x.score > t] for d in dets]) for t in candidates}
    best = max(candidates, key=lambda t: (table[t]["presence"] + table[t]["count"], -abs(t - 0.3)))
    return {"threshold": best, "images": len(scenes), "seed": seed, "table": {str(t): v for t, v in table.items()}}


def calibrate_suppression(judge: Judge, n_images: int = 800, seed: int = 1,
                          candidates: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.01),
                          ) -> dict[str, Any]:
    """The suppression IoUs (other classes, same class) that maximise the mean of presence and count on
    training-distribution renders, each from `candidates`.

    Same kind of renders as calibrate_threshold (its own seed), at the judge's score threshold. Across
    classes, overlap means two guesses for one object; within a class it may also be a crowd (two forks
    side by side), which a too-low IoU merges. Ties go to the pair nearest (0.7, 0.7), the old default.
    """
    scenes = training_renders(judge.cfg.image_size, n_images, seed, "tfgen-detector-suppression")
    dets = judge.detect([s.image for s in scenes], suppress_iou=(2.0, 2.0))  # once, nothing suppressed
    table = {pair: _presence_and_count(scenes, [suppress(d, *pair)[: judge.cfg.max_detections] for d in dets])
             for pair in ((a, b) for a in candidates for b in candidates)}
    best = max(table, key=lambda p: (table[p]["presence"] + table[p]["count"], -abs(p[0] - 0.7) - abs(p[1] - 0.7)))
    return {"suppress_iou": best[0], "suppress_iou_same_class": best[1], "images": len(scenes), "seed": seed,
            "table": {f"{a} {b}": v for (a, b), v in table.items()}}


def _presence_and_count(scenes: list, dets: list[list[Detection]]) -> dict[str, float]:
    """The presence and count shares of detections `dets` (one list per scene) on the scenes' truth."""
    totals: dict[str, list] = {}
    for scene, d in zip(scenes, dets):
        for task, items in task_outcomes(scene.annotations, d).items():
            totals.setdefault(task, []).extend(items)
    return {k: round(sum(totals[k]) / len(totals[k]), 4) for k in ("presence", "count") if totals.get(k)}


def training_renders(image_size: int, n_images: int, seed: int, stream: str,
                     categories: tuple[str, ...] = CALIBRATION_CATEGORIES) -> list:
    """SceneSampler renders (held-out compositions excluded) cycling through `categories`."""
    import random

    from tfgen.world.sampling import SamplingError, SceneSampler

    sampler = SceneSampler()
    scenes = []
    for i in range(n_images):
        try:
            scenes.append(sampler.scene(random.Random(f"{stream}:{seed}:{i}"), image_size,
                                        categories[i % len(categories)]))
        except SamplingError:
            continue
    return scenes


def calibrate_colour_classes(judge: Judge, n_images: int = 1500, seed: int = 0, min_objects: int = 20,
                             floor: float = 0.8) -> dict[str, Any]:
    """Recolourable classes whose pixel-read colour is right less than `floor` of the time on training
    renders while the colour head does better: their colour is then taken from the head.

    A head trained with the held-out compositions excluded has seen every pair these renders show but
    not the held-out ones, so here it looks better than it is there; for such a detector a floor below 1
    keeps the reader on every class it reads reasonably. A head trained on the whole world has seen
    every pair, and a floor of 1 gives it each class it reads better.
    """
    scenes = training_renders(judge.cfg.image_size, n_images, seed, "tfgen-colour-calibration",
                               ("colors", "color_attr", "free", "counting", "two_object"))
    tally: dict[str, list[int]] = {}
    for scene, dets in zip(scenes, judge.detect([s.image for s in scenes])):
        for a, d in zip(scene.annotations, match(scene.annotations, dets)):
            if d is None or judge.colour_reader is None or judge.colour_reader.template(a["class"]) is None:
                continue
            head = max(d.colour_probs, key=lambda c: d.colour_probs[c])
            t = tally.setdefault(a["class"], [0, 0, 0])  # objects, reader right, head right
            t[0], t[1], t[2] = t[0] + 1, t[1] + (d.colour == a["colour"]), t[2] + (head == a["colour"])
    chosen = sorted(c for c, (n, r, h) in tally.items() if n >= min_objects and r < floor * n and h > r)
    return {"classes": chosen, "floor": floor, "images": len(scenes), "seed": seed,
            "table": {c: {"objects": n, "reader": round(r / n, 3), "head": round(h / n, 3)}
                      for c, (n, r, h) in sorted(tally.items()) if r < n or h < n}}


def calibrate_colour_split(judge: Judge, n_images: int = 800, seed: int = 0,
                           candidates: tuple[float, ...] = (1.01, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4)) -> dict[str, Any]:
    """The `colour_split` (see DetectorConfig) that reads the most recolourable objects' colours right on
    training renders, each drawn clean and washed (tfgen.eval.detector_train.wash: the paler, bled fills a
    VAE decoder gives). Ties go to the largest split: the head breaks as few votes as it can.
    """
    import copy
    import random

    from tfgen.eval.detector_train import random_wash

    if judge.colour_reader is None:
        raise ValueError("calibrate_colour_split needs a judge with a colour reader")
    scenes = training_renders(judge.cfg.image_size, n_images, seed, "tfgen-colour-split",
                               ("colors", "color_attr", "free", "counting", "two_object"))
    rng = random.Random(f"tfgen-colour-split-wash:{seed}")
    images = [s.image for s in scenes] + [random_wash(s.image, rng) for s in scenes]
    reader, judge.colour_reader = judge.colour_reader, None  # boxes once; the pixels are read per candidate
    try:
        found = judge.detect(images)
    finally:
        judge.colour_reader = reader
    truth = [s.annotations for s in scenes] * 2
    table: dict[str, dict[str, float]] = {}
    for split in candidates:
        right = [0, 0]  # clean, washed
        objects = [0, 0]
        for i, (image, anns, dets) in enumerate(zip(images, truth, found)):
            dets = copy.deepcopy(dets)
            judge._read_colours(image, dets, split)
            for a, d in zip(anns, match(anns, dets)):
                if (d is None or "accessory" in a or a["class"] in judge.cfg.head_colour_classes
                        or reader.template(a["class"]) is None):
                    continue
                part = int(i >= len(scenes))
                objects[part] += 1
                right[part] += d.colour == a["colour"]
        table[str(split)] = {"clean": round(right[0] / max(1, objects[0]), 4),
                             "washed": round(right[1] / max(1, objects[1]), 4), "objects": sum(objects)}
    best = max(candidates, key=lambda c: (table[str(c)]["clean"] + table[str(c)]["washed"], c))
    return {"colour_split": best, "images": len(images), "seed": seed, "table": table}
