"""Batches of prompts: reading a prompt file, stable output names, per-item seeds, resume, summary.

A prompt file is either plain text (one prompt a line; blank lines and lines starting with '#'
skipped) or JSON Lines (one object a line: "prompt" plus per-item options, see ITEM_OPTIONS). A
file is JSON Lines when its name ends in .jsonl or its first non-blank line starts with '{'.

Each item's output is `<out-dir>/<line:04d>-<slug of the prompt>.<ext>`, so a rerun finds what
an earlier run finished and skips it (outputs are written atomically, so an interrupted item
leaves nothing behind and is redone). Each item's seed is derived from the batch seed, its prompt
and its options only, so an item's output does not depend on the items before it.
Torch-free: the generation itself is the caller's `produce` function.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tfgen.errors import TfgenError

# Per-item options a JSON Lines item may carry, with their types.
ITEM_OPTIONS: dict[str, type | tuple[type, ...]] = {
    "kind": str, "seed": int, "steps": int, "sampler": str, "cfg": (int, float), "temperature": (int, float),
    "top_k": int, "top_p": (int, float), "count": int, "panels": int, "slides": int, "pages": int,
    "template": str, "max_tokens": int, "structure": bool,
}
SLUG_CHARS = 40


@dataclass(frozen=True)
class BatchItem:
    """One line of a prompt file; `error` is set when the line itself is bad (it then fails alone)."""

    line: int
    prompt: str
    options: dict[str, Any] = field(default_factory=dict)
    error: str = ""


@dataclass
class ItemResult:
    item: BatchItem
    status: str  # "done", "skipped", "failed"
    output: str
    seed: int
    seconds: float = 0.0
    error: str = ""

    def to_json(self) -> str:
        data = {"line": self.item.line, "prompt": self.item.prompt, "status": self.status, "output": self.output,
                "seed": self.seed, "seconds": round(self.seconds, 3)}
        if self.error:
            data["error"] = self.error
        return json.dumps(data, ensure_ascii=False)


@dataclass
class BatchSummary:
    results: list[ItemResult] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    def line(self) -> str:
        text = (f"{self.count('done')} done, {self.count('skipped')} skipped, {self.count('failed')} failed "
                f"in {self.seconds:.1f} s")
        return text + (" (interrupted: rerun the same command to resume)" if self.interrupted else "")


def read_prompt_file(path: str | Path) -> list[BatchItem]:
    """The items of a prompt file (see the module docstring); an unreadable file is an error."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TfgenError("prompt file not found", where=str(path)) from None
    except IsADirectoryError:
        raise TfgenError("is a folder, not a prompt file", where=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TfgenError(f"cannot read the prompt file ({exc})", where=str(path)) from None
    lines = text.splitlines()
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    as_jsonl = path.suffix.lower() == ".jsonl" or first.startswith("{")
    items = []
    for number, raw in enumerate(lines, 1):
        stripped = raw.strip()
        if not stripped or (not as_jsonl and stripped.startswith("#")):
            continue
        items.append(_json_item(number, stripped) if as_jsonl else BatchItem(number, stripped))
    if not items:
        raise TfgenError("the prompt file holds no prompts", where=str(path))
    return items


def _json_item(number: int, text: str) -> BatchItem:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return BatchItem(number, text[:60], error=f"malformed JSON ({exc.msg})")
    if not isinstance(data, dict):
        return BatchItem(number, text[:60], error="must be a JSON object with a 'prompt'")
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return BatchItem(number, str(prompt)[:60] if prompt else "", error="needs a non-empty 'prompt' string")
    options = {k: v for k, v in data.items() if k != "prompt"}
    for key, value in options.items():
        expected = ITEM_OPTIONS.get(key)
        if expected is None:
            return BatchItem(number, prompt, error=f"unknown option {key!r} (known: {', '.join(ITEM_OPTIONS)})")
        if (isinstance(value, bool) and expected is not bool) or not isinstance(value, expected):
            return BatchItem(number, prompt, error=f"option {key!r} has the wrong type ({type(value).__name__})")
    return BatchItem(number, prompt.strip(), options)


def slug(prompt: str) -> str:
    """Lower-case words of the prompt joined by '-', at most SLUG_CHARS characters ('prompt' if none)."""
    words = re.findall(r"[a-z0-9]+", prompt.lower())
    text = ""
    for word in words:
        candidate = f"{text}-{word}" if text else word
        if len(candidate) > SLUG_CHARS:
            break
        text = candidate
    return text or (words[0][:SLUG_CHARS] if words else "prompt")


def item_name(item: BatchItem, ext: str) -> str:
    return f"{item.line:04d}-{slug(item.prompt)}.{ext}"


def item_seed(batch_seed: int, prompt: str, options: dict[str, Any]) -> int:
    """A seed from the batch seed, the prompt and the item's options only (an explicit 'seed' wins)."""
    if "seed" in options:
        return int(options["seed"])
    key = json.dumps({"seed": batch_seed, "prompt": prompt, "options": options}, sort_keys=True, ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:4], "big") & 0x7FFFFFFF


def check_out_dir(out_dir: str | Path) -> Path:
    """The output folder, created if missing; an error when it cannot be."""
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise TfgenError("exists and is not a folder", where=str(path))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TfgenError(f"cannot create the output folder ({exc.strerror})", where=str(path)) from None
    return path


def output_exists(target: Path) -> bool:
    """The item's output is there (a multi-page PNG output is `<stem>-001.png`, ...)."""
    return target.exists() or target.with_name(f"{target.stem}-001{target.suffix}").exists()


Produce = Callable[[BatchItem, Path, int], None]


def run_batch(items: list[BatchItem], out_dir: Path, ext: str, batch_seed: int, produce: Produce, force: bool = False,
              on_result: Callable[[ItemResult], None] | None = None,
              on_start: Callable[[int, BatchItem], None] | None = None) -> BatchSummary:
    """Make every item's output with `produce(item, path, seed)`; skip existing outputs unless `force`.

    A TfgenError fails that item only; Ctrl-C stops after the items already finished (they are
    on disk) and marks the summary interrupted.
    """
    summary = BatchSummary()
    started = time.perf_counter()
    for index, item in enumerate(items):
        target = out_dir / item_name(item, ext)
        seed = item_seed(batch_seed, item.prompt, item.options)
        if on_start is not None:
            on_start(index, item)
        t0 = time.perf_counter()
        if item.error:
            result = ItemResult(item, "failed", str(target), seed, error=f"line {item.line}: {item.error}")
        elif output_exists(target) and not force:
            result = ItemResult(item, "skipped", str(target), seed)
        else:
            try:
                produce(item, target, seed)
                result = ItemResult(item, "done", str(target), seed, time.perf_counter() - t0)
            except TfgenError as exc:
                result = ItemResult(item, "failed", str(target), seed, time.perf_counter() - t0,
                                    error=f"line {item.line}: {exc}")
            except KeyboardInterrupt:
                summary.interrupted = True
                break
        summary.results.append(result)
        if on_result is not None:
            on_result(result)
    summary.seconds = time.perf_counter() - started
    return summary
