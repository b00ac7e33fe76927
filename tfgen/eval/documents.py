"""The documents suite: with structure forcing off, do generated documents parse as what was asked?

A document passes when tfgen.structure.check_kind finds no problem: the strict markup parser
accepts it (every error in tfgen.markup.STRICT_ERRORS fails it), it has a title, and it is the
requested kind with the requested number of panels (comics) or slides (decks). With forcing on,
the suite reports how many tokens the sampler had to force per document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from tfgen.document import Document
from tfgen.structure import check_kind

DOCUMENT_KINDS = ("comic", "magazine", "deck")
DOC_PROMPT_SEED = 31_337  # magazine and deck prompts come from world documents of this seed (fixed set)
_MAX_PER_KIND = 200


@dataclass(frozen=True)
class DocumentRequest:
    prompt: str
    kind: str
    parts: int  # panels, pages or slides asked for


@dataclass
class DocumentsResult:
    pass_rate: dict[str, float]  # per kind, forcing off (empty when the sampler cannot switch it off)
    overall: float | None
    forced_tokens: dict[str, float]  # mean per document, forcing on
    pass_rate_forced: dict[str, float] = field(default_factory=dict)  # per kind, forcing on
    records: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


def document_problems(doc: Document, request: DocumentRequest) -> list[str]:
    """Why `doc` is not the requested document (empty: it passes)."""
    problems = [] if doc.kind == request.kind else [f"kind {doc.kind!r} (requested {request.kind!r})"]
    count = request.parts if request.kind in ("comic", "deck") else None
    return problems + check_kind(doc, request.kind, count)


def reference_document(kind: str, index: int, sampler: Any) -> Document:
    """World document `index` of `kind` in the fixed evaluation set (its prompt is the request)."""
    from tfgen.world.documents import make_document

    return make_document(DOC_PROMPT_SEED + 7919 * index, index, (kind,), sampler)


def find_reference_document(kind: str, prompt: str, sampler: Any) -> Document | None:
    for i in range(_MAX_PER_KIND):
        doc = reference_document(kind, i, sampler)
        if doc.prompt == prompt:
            return doc
    return None


def document_requests(comic_entries: Sequence[dict[str, Any]], per_kind: int) -> list[DocumentRequest]:
    """Comics from the held-out comic prompts; magazines and decks from the fixed world-document set.

    The part count asked of a magazine or deck is its reference document's number of '##' sections.
    """
    from tfgen.eval.generation import requested_panels
    from tfgen.structure import outline
    from tfgen.world.sampling import SceneSampler

    per_kind = min(per_kind, _MAX_PER_KIND)
    out = [DocumentRequest(e["prompt"], "comic", requested_panels(e["prompt"])) for e in comic_entries[:per_kind]]
    sampler = SceneSampler()
    for kind in ("magazine", "deck"):
        for i in range(per_kind):
            doc = reference_document(kind, i, sampler)
            out.append(DocumentRequest(doc.prompt, kind, max(1, len(outline(doc).sections))))
    return out


def _rates(requests: Sequence[DocumentRequest], docs: Sequence[Document]) -> tuple[dict[str, float], float, list]:
    by_kind: dict[str, list[bool]] = {}
    records = []
    for req, doc in zip(requests, docs):
        problems = document_problems(doc, req)
        by_kind.setdefault(req.kind, []).append(not problems)
        records.append({"prompt": req.prompt, "kind": req.kind, "parts": req.parts, "ok": not problems,
                        "problems": problems[:5]})
    overall = sum(ok for v in by_kind.values() for ok in v) / max(1, sum(len(v) for v in by_kind.values()))
    return {k: sum(v) / len(v) for k, v in by_kind.items()}, overall, records


def score_documents(requests: Sequence[DocumentRequest], free: Sequence[Document] | None,
                    forced: Sequence[Document], forced_tokens: Sequence[int], note: str = "") -> DocumentsResult:
    """Pass rates per kind (forcing off, and on); mean forced tokens per kind (forcing on)."""
    per_kind: dict[str, list[int]] = {}
    for req, n in zip(requests, forced_tokens):
        per_kind.setdefault(req.kind, []).append(n)
    forced_rates, _, forced_records = _rates(requests, forced)
    rates, overall, records = _rates(requests, free) if free is not None else ({}, None, forced_records)
    return DocumentsResult(rates, overall, {k: sum(v) / len(v) for k, v in per_kind.items()}, forced_rates,
                           records, note)


def run_documents(generator: Any, requests: Sequence[DocumentRequest], seed: int) -> DocumentsResult:
    from tfgen.eval.sampling_adapter import Unsupported

    forced = [generator.document(r.prompt, r.kind, r.parts, seed + i, True) for i, r in enumerate(requests)]
    try:
        free = [generator.document(r.prompt, r.kind, r.parts, seed + i, False).document for i, r in enumerate(requests)]
        note = ""
    except Unsupported as exc:
        free, note = None, f"forcing off not measured: {exc}"
    return score_documents(requests, free, [g.document for g in forced], [g.forced_tokens for g in forced], note)
