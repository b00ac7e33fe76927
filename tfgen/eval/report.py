"""The evaluation report: one JSON object (format tfgen.eval/1), a rich table, a PNG grid of samples.

JSON holds everything needed to compare two reports: the prompt set (version, SHA-256, counts,
--limit), --n-per-prompt and the seed, the model's config and the detector's identity and
held-out accuracy, then one section per suite that ran and the reason for each that did not.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

REPORT_FORMAT = "tfgen.eval/1"
_CELL = 96  # grid thumbnail side, px
_LABEL_W = 120


def new_report(model: dict[str, Any], detector: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    return {"format": REPORT_FORMAT, "model": model, "detector": detector, "settings": settings,
            "prompts": {}, "suites": {}, "skipped": {}}


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf become null, tuples lists, numpy scalars Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return None if math.isnan(f) or math.isinf(f) else round(f, 6)
    if isinstance(value, np.integer):
        return int(value)
    return value


def report_json(report: dict[str, Any]) -> str:
    return json.dumps(_clean(report), indent=1, sort_keys=False, ensure_ascii=False) + "\n"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:.3f}"
    return str(v)


def summary_rows(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(suite, measure, value) rows for the table, in a fixed order."""
    rows: list[tuple[str, str, str]] = []
    s = report["suites"]
    if "compositional" in s:
        c = s["compositional"]
        for cat, v in c["categories"].items():
            rows.append(("compositional", f"{cat} ({c['images'][cat]} images)", _fmt(v)))
        rows.append(("compositional", "overall (GenEval mean)", _fmt(c["overall"])))
    if "consistency" in s:
        c = s["consistency"]
        rows.append(("consistency", f"panels with the character ({c['panels']} panels)", _fmt(c["score"])))
    if "documents" in s:
        d = s["documents"]
        for kind, v in d["pass_rate"].items():
            rows.append(("documents", f"{kind}: parses as asked (forcing off)", _fmt(v)))
        for kind, v in d.get("pass_rate_forced", {}).items():
            rows.append(("documents", f"{kind}: parses as asked (forcing on)", _fmt(v)))
        if d.get("note"):
            rows.append(("documents", "note", d["note"]))
        for kind, v in d["forced_tokens"].items():
            rows.append(("documents", f"{kind}: forced tokens/doc (forcing on)", _fmt(float(v))))
    if "text" in s:
        rows.append(("text", f"perplexity ({s['text']['tokens']} tokens)", _fmt(s["text"]["perplexity"])))
    if "vae" in s:
        v = s["vae"]
        rows.append(("vae", f"PSNR dB ({v['images']} images at {v['image_size']} px)", _fmt(v["psnr"])))
        if v.get("colour_kept") is not None:
            rows.append(("vae", f"painted colours kept ({v['colour_objects']} objects)", _fmt(v["colour_kept"])))
    if "frechet" in s:
        rows.append(("frechet", f"FD on detector features ({s['frechet']['generated']} images)", _fmt(s["frechet"]["distance"])))
    for suite, why in report["skipped"].items():
        rows.append((suite, "skipped", why))
    return rows


def print_table(report: dict[str, Any]) -> None:
    """The summary as a rich table on stderr."""
    from rich.table import Table

    from tfgen.cli.console import stderr

    model = report["model"].get("name", "?")
    table = Table(title=f"tfgen eval: {model}  (prompts {report['prompts'].get('version', '?')}, "
                        f"n/prompt {report['settings'].get('n_per_prompt')}, seed {report['settings'].get('seed')})")
    table.add_column("suite")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for row in summary_rows(report):
        table.add_row(*row)
    stderr().print(table)


def _thumb(img: Any, ok: bool | None) -> Any:
    from PIL import Image, ImageOps

    pil = img if isinstance(img, Image.Image) else Image.fromarray(np.asarray(img, dtype=np.uint8))
    pil = pil.convert("RGB").resize((_CELL - 6, _CELL - 6), Image.BILINEAR)
    colour = (128, 128, 128) if ok is None else ((40, 170, 60) if ok else (210, 40, 40))
    return ImageOps.expand(pil, border=3, fill=colour)


def grid_image(rows: Sequence[tuple[str, Sequence[tuple[Any, bool | None]]]], per_row: int = 8) -> Any:
    """A labelled grid: one row per category of (image, judged correct or None) cells, framed green/red."""
    from PIL import Image, ImageDraw

    width = _LABEL_W + per_row * _CELL
    sheet = Image.new("RGB", (width, max(1, len(rows)) * _CELL), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for r, (label, cells) in enumerate(rows):
        draw.text((6, r * _CELL + _CELL // 2 - 6), label[:18], fill=(0, 0, 0))
        for c, (img, ok) in enumerate(list(cells)[:per_row]):
            sheet.paste(_thumb(img, ok), (_LABEL_W + c * _CELL, r * _CELL))
    return sheet


def write_grid(path: Path, rows: Sequence[tuple[str, Sequence[tuple[Any, bool | None]]]]) -> None:
    import io

    from tfgen.atomic import write_bytes_atomic

    buf = io.BytesIO()
    grid_image(rows).save(buf, format="PNG")
    write_bytes_atomic(path, buf.getvalue())
