"""The consistency suite: does each comic panel show the prompt's character, same species and accessory?

A panel passes when a detection has the character's species and its accessory kind and colour.
When a prompt names no character, the identity is whichever accessory-wearing character the
detector finds (most confidently) in panel 1, and later panels must show that one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from tfgen.eval.detector import NO_ACCESSORY, Detection, Judge

Identity = tuple[str, str, str]  # (species, accessory kind, accessory colour)


@dataclass
class ConsistencyResult:
    score: float  # share of panels that pass
    panels: int
    documents: int
    records: list[dict[str, Any]] = field(default_factory=list)
    images: list[list[Any]] = field(default_factory=list)


def entry_identity(entry: dict[str, Any]) -> Identity | None:
    """The character a held-out comic prompt names: (species, kind, colour)."""
    char = entry.get("composition", {}).get("character")
    if not char:
        return None
    colour, kind = char[1].rsplit(" ", 1)
    return (char[0], kind, colour)


def identity_of(d: Detection) -> Identity | None:
    return None if d.accessory == NO_ACCESSORY else (d.cls, d.accessory, d.accessory_colour)


def panel_passes(dets: Sequence[Detection], identity: Identity) -> bool:
    return any(identity_of(d) == identity for d in dets)


def score_panels(panel_dets: Sequence[Sequence[Detection]], identity: Identity | None) -> tuple[list[bool], Identity | None]:
    """Pass/fail per panel; with no named identity, panel 1's character defines it (and panel 1 passes if found)."""
    if identity is None:
        first = sorted((d for d in panel_dets[0] if identity_of(d)), key=lambda d: -d.score) if panel_dets else []
        if not first:
            return [False] * len(panel_dets), None
        identity = identity_of(first[0])
    return [panel_passes(d, identity) for d in panel_dets], identity  # type: ignore[arg-type]


def score_comics(judge: Judge, entries: Sequence[dict[str, Any]], panels: Sequence[Sequence[Any]],
                 named: bool = True) -> ConsistencyResult:
    """panels[i] are the panel images of the comic made for entries[i]."""
    flat = [img for per in panels for img in per]
    dets = judge.detect(flat)
    pos, flags, records = 0, [], []
    for entry, per in zip(entries, panels):
        panel_dets = dets[pos : pos + len(per)]
        pos += len(per)
        ok, ident = score_panels(panel_dets, entry_identity(entry) if named else None)
        flags += ok
        records.append({"prompt": entry["prompt"], "identity": list(ident) if ident else None, "panels": ok})
    score = sum(flags) / len(flags) if flags else float("nan")
    return ConsistencyResult(score, len(flags), len(entries), records, [list(p) for p in panels])


def run_consistency(generator: Any, judge: Judge, entries: Sequence[dict[str, Any]], seed: int) -> ConsistencyResult:
    """One comic per held-out comic prompt (structure forcing on), panels judged for the character."""
    from tfgen.eval.generation import panel_images, requested_panels

    panels = []
    for i, e in enumerate(entries):
        doc = generator.document(e["prompt"], "comic", requested_panels(e["prompt"]), seed + i, True).document
        panels.append(panel_images(doc))
    return score_comics(judge, entries, panels)
