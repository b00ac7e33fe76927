"""Markdown in and out: a `.md` file with `![alt](image.png)` links is the other way into tfgen.

In: image links (on a line of their own or inside a paragraph) split the text into segments;
paths are relative to the Markdown file. Out: a folder with `doc.md` and `image-NNN.png`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from PIL import Image

from tfgen.atomic import write_folder_atomic
from tfgen.document import Document, ImageSegment, TextSegment, decode_png_size
from tfgen.errors import DocumentError

_IMAGE_LINK = re.compile(r"!\[(?P<alt>[^\]]*)\]\((?P<path>[^)\s]+)(?:\s+\"[^\"]*\")?\)")


def read_markdown(path: str | os.PathLike, kind: str = "none") -> Document:
    """Read a Markdown file into a Document; the first '# ' line becomes the title."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DocumentError("file not found", where=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DocumentError(f"cannot read ({exc})", where=str(path)) from None
    return markdown_to_document(text, base_dir=path.parent, kind=kind, source=str(path))


def markdown_to_document(text: str, base_dir: Path, kind: str = "none", source: str = "<markdown>") -> Document:
    segments: list[TextSegment | ImageSegment] = []
    pos = 0
    for match in _IMAGE_LINK.finditer(text):
        before = text[pos : match.start()]
        if before.strip():
            segments.append(TextSegment(before.strip("\n")))
        lineno = text.count("\n", 0, match.start()) + 1
        segments.append(_load_image(base_dir / match.group("path"), match.group("alt"), f"{source}:{lineno}"))
        pos = match.end()
    tail = text[pos:]
    if tail.strip():
        segments.append(TextSegment(tail.strip("\n")))
    title = next((ln[2:].strip() for ln in text.splitlines() if ln.startswith("# ")), "")
    doc = Document(segments, kind=kind, title=title, meta={"source": Path(source).name})
    if doc.is_empty():
        raise DocumentError("the document is empty (no text and no images)", where=source)
    return doc


def _load_image(path: Path, alt: str, where: str) -> ImageSegment:
    if not path.is_file():
        raise DocumentError(f"image not found: {path}", where=where)
    try:
        data = path.read_bytes()
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            width, height = decode_png_size(data, where)
            return ImageSegment(png=data, width=width, height=height, alt=alt)
        with Image.open(path) as img:
            img.load()
            return ImageSegment.from_pil(img, alt=alt)
    except DocumentError:
        raise
    except Exception as exc:  # any unreadable image
        raise DocumentError(f"cannot read image {path} ({type(exc).__name__})", where=where) from None


def document_to_markdown(doc: Document) -> tuple[str, dict[str, bytes]]:
    """The document as Markdown text plus the image files it links to (name -> PNG bytes)."""
    parts: list[str] = []
    files: dict[str, bytes] = {}
    for seg in doc.segments:
        if isinstance(seg, TextSegment):
            parts.append(seg.text.strip("\n"))
        else:
            name = f"image-{len(files) + 1:03d}.png"
            files[name] = seg.png
            alt = seg.alt.replace("]", ")").replace("\n", " ")
            parts.append(f"![{alt}]({name})")
    return "\n\n".join(parts) + "\n", files


def write_markdown_folder(doc: Document, folder: str | os.PathLike) -> Path:
    """Write `folder/doc.md` and its images; the folder is replaced whole or left as it was."""
    text, files = document_to_markdown(doc)
    return write_folder_atomic(folder, {"doc.md": text.encode("utf-8"), **files}) / "doc.md"
