"""Reading a DOC argument: a document JSON file, a Markdown file, or '-' for stdin.

A `.md`/`.markdown` file is Markdown (image paths relative to the file); a `.json` file is a
`tfgen.document/1` document. Stdin and other extensions are sniffed: text that starts with '{'
is JSON, anything else Markdown (image paths relative to the current folder).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import BinaryIO, Optional

from tfgen.document import KINDS, Document
from tfgen.errors import DocumentError
from tfgen.markdown_io import markdown_to_document, read_markdown

STDIN = "-"
MARKDOWN_SUFFIXES = (".md", ".markdown")


def read_document(source: str, kind: Optional[str] = None, stdin: Optional[BinaryIO] = None) -> Document:
    """The document named by `source`; `kind` (from --as) overrides the document's own kind."""
    if kind is not None and kind not in KINDS:
        raise DocumentError(f"unknown kind {kind!r} (one of {', '.join(KINDS)})", where="--as")
    try:
        doc = _read(source, kind, stdin)
    except DocumentError:
        raise
    except (ValueError, RecursionError) as exc:
        # Readers below raise DocumentError for what they foresee; this keeps the rest one line too
        # (e.g. json's limit on integer digits, or nesting deeper than the recursion limit).
        name = "stdin" if source == STDIN else source
        raise DocumentError(f"cannot read the document ({type(exc).__name__}: {exc})", where=name) from None
    if kind is not None:
        doc.kind = kind
    return doc


def _read(source: str, kind: Optional[str], stdin: Optional[BinaryIO]) -> Document:
    if source == STDIN:
        data = (stdin or sys.stdin.buffer).read()
        return _from_bytes(data, "stdin", Path.cwd(), kind)
    path = Path(source)
    if not path.exists():
        raise DocumentError("file not found", where=source)
    if path.is_dir():
        raise DocumentError("is a folder, not a document file", where=source)
    if path.suffix.lower() in MARKDOWN_SUFFIXES:
        return read_markdown(path, kind=kind or "none")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"cannot read ({exc.strerror})", where=source) from None
    if path.suffix.lower() == ".json":
        return _from_json(data, source)
    return _from_bytes(data, source, path.parent, kind)


def _from_bytes(data: bytes, name: str, base_dir: Path, kind: Optional[str]) -> Document:
    if data.lstrip()[:1] == b"{":
        return _from_json(data, name)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DocumentError("neither a JSON document nor UTF-8 Markdown", where=name) from None
    return markdown_to_document(text, base_dir=base_dir, kind=kind or "none", source=name)


def _from_json(data: bytes, name: str) -> Document:
    """Parse a document, naming the file in front of the place inside it."""
    try:
        return Document.from_json(data)
    except DocumentError as exc:
        where = f"{name}: {exc.where}" if exc.where else name
        raise type(exc)(exc.message, where=where) from None
