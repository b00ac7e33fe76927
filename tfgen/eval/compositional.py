"""The compositional suite: GenEval's six categories on the held-out prompts, judged by the detector."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from tfgen.eval.detector import Judge
from tfgen.eval.prompts import GENEVAL_CATEGORIES, geneval_metadata
from tfgen.eval.scoring import category_scores, judge_image


@dataclass
class CompositionalResult:
    scores: dict[str, Any]  # {"categories": {tag: share}, "images": {tag: n}, "overall": mean}
    records: list[dict[str, Any]] = field(default_factory=list)  # one per image: prompt, k, correct, reason
    images: list[list[Any]] = field(default_factory=list)  # per entry, as generated (for the grid and FD)


def score_images(judge: Judge, entries: Sequence[dict[str, Any]], images: Sequence[Sequence[Any]],
                 threshold: float | None = None) -> CompositionalResult:
    """Judge images[i][k] against entries[i] with GenEval's rules; per-category shares and overall."""
    if len(images) != len(entries):
        raise ValueError(f"{len(images)} image lists for {len(entries)} prompts")
    flat = [img for per in images for img in per]
    base = judge.cfg.score_threshold
    threshold = base if threshold is None else threshold
    dets = iter(judge.detect(flat, threshold=min(threshold, base)))
    results: list[tuple[str, bool]] = []
    records = []
    for entry, per in zip(entries, images):
        meta = geneval_metadata(entry)
        for k in range(len(per)):
            d = next(dets)
            verdict = judge_image(d, meta, threshold=threshold)
            results.append((meta["tag"], verdict.correct))
            records.append({"prompt": entry["prompt"], "tag": meta["tag"], "k": k, "correct": verdict.correct,
                            "reason": verdict.reason, "detections": [x.to_dict() for x in d]})
    return CompositionalResult(category_scores(results, GENEVAL_CATEGORIES), records, [list(p) for p in images])


def run_compositional(generator: Any, judge: Judge, entries: Sequence[dict[str, Any]], n_per_prompt: int,
                      seed: int) -> CompositionalResult:
    """Generate n_per_prompt images per held-out prompt and score them."""
    images = generator.images([e["prompt"] for e in entries], n_per_prompt, seed)
    return score_images(judge, entries, images)
