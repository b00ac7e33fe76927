"""The document: the contract between the sampler and the renderers (format `tfgen.document/1`).

A document is an ordered list of segments, text and image, exactly as the model writes them.
Text segments use tfgen's markup (see `tfgen.markup`). Images are embedded as PNG, so a
document is one self-contained JSON value that can travel through a pipe.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from dataclasses import dataclass, field
from typing import Any, Union

from PIL import Image

from tfgen.errors import DocumentError

FORMAT = "tfgen.document/1"
KINDS = ("comic", "magazine", "deck", "none")


@dataclass(frozen=True)
class TextSegment:
    """A run of markup text."""

    text: str
    type: str = field(default="text", init=False)


@dataclass(frozen=True)
class ImageSegment:
    """One image, stored as PNG bytes; `alt` describes it for screen readers and captions."""

    png: bytes
    width: int
    height: int
    alt: str = ""
    type: str = field(default="image", init=False)

    @classmethod
    def from_pil(cls, image: Image.Image, alt: str = "") -> "ImageSegment":
        """Encode a Pillow image (converted to RGB) as a PNG segment, deterministically."""
        rgb = image.convert("RGB")
        buf = io.BytesIO()
        rgb.save(buf, format="PNG", optimize=False, compress_level=6)
        return cls(png=buf.getvalue(), width=rgb.width, height=rgb.height, alt=alt)

    def to_pil(self) -> Image.Image:
        """Decode to an RGB Pillow image."""
        return Image.open(io.BytesIO(self.png)).convert("RGB")


Segment = Union[TextSegment, ImageSegment]


@dataclass
class Document:
    """An interleaved document: text and images in the order they are read."""

    segments: list[Segment]
    kind: str = "none"
    prompt: str = ""
    title: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def images(self) -> list[ImageSegment]:
        return [s for s in self.segments if isinstance(s, ImageSegment)]

    @property
    def text(self) -> str:
        """All text segments joined, images left out."""
        return "\n\n".join(s.text for s in self.segments if isinstance(s, TextSegment))

    # --- JSON ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        segments: list[dict[str, Any]] = []
        for seg in self.segments:
            if isinstance(seg, TextSegment):
                segments.append({"type": "text", "text": seg.text})
            else:
                item = {
                    "type": "image",
                    "png_base64": base64.b64encode(seg.png).decode("ascii"),
                    "width": seg.width,
                    "height": seg.height,
                }
                if seg.alt:
                    item["alt"] = seg.alt
                segments.append(item)
        return {
            "format": FORMAT,
            "kind": self.kind,
            "prompt": self.prompt,
            "title": self.title,
            "meta": self.meta,
            "segments": segments,
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent, sort_keys=False)

    @classmethod
    def from_dict(cls, data: Any) -> "Document":
        """Validate and build a document; every problem is a DocumentError naming where it is."""
        if not isinstance(data, dict):
            raise DocumentError("a document must be a JSON object")
        fmt = data.get("format")
        if fmt != FORMAT:
            raise DocumentError(f"unknown format {fmt!r} (expected {FORMAT!r})", where="format")
        kind = data.get("kind", "none")
        if kind not in KINDS:
            raise DocumentError(f"unknown kind {kind!r} (one of {', '.join(KINDS)})", where="kind")
        meta = data.get("meta", {})
        if not isinstance(meta, dict):
            raise DocumentError("must be an object", where="meta")
        for key in ("prompt", "title"):
            if not isinstance(data.get(key, ""), str):
                raise DocumentError("must be a string", where=key)
        raw = data.get("segments")
        if not isinstance(raw, list):
            raise DocumentError("missing or not a list", where="segments")
        segments = [_segment_from_dict(item, i) for i, item in enumerate(raw)]
        doc = cls(segments, kind=kind, prompt=data.get("prompt", ""), title=data.get("title", ""), meta=meta)
        if doc.is_empty():
            raise DocumentError("the document is empty (no text and no images)", where="segments")
        return doc

    @classmethod
    def from_json(cls, text: str | bytes) -> "Document":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DocumentError(f"malformed JSON ({exc.msg})", where=f"line {exc.lineno}, column {exc.colno}") from None
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            # ValueError: json's limit on integer digits; RecursionError: absurdly deep nesting.
            raise DocumentError(f"malformed JSON ({type(exc).__name__})") from None
        return cls.from_dict(data)

    def is_empty(self) -> bool:
        return not self.images and not any(s.text.strip() for s in self.segments if isinstance(s, TextSegment))


def _segment_from_dict(item: Any, index: int) -> Segment:
    where = f"segment {index}"
    if not isinstance(item, dict):
        raise DocumentError("must be an object", where=where)
    kind = item.get("type")
    if kind == "text":
        text = item.get("text")
        if not isinstance(text, str):
            raise DocumentError("text segment without a 'text' string", where=where)
        return TextSegment(text)
    if kind == "image":
        return _image_from_dict(item, where)
    raise DocumentError(f"unknown segment type {kind!r} (expected 'text' or 'image')", where=where)


def _image_from_dict(item: dict[str, Any], where: str) -> ImageSegment:
    b64 = item.get("png_base64")
    if not isinstance(b64, str) or not b64:
        raise DocumentError("image segment without 'png_base64' data", where=where)
    try:
        png = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise DocumentError("image data is not valid base64", where=where) from None
    width, height = decode_png_size(png, where)
    for key, actual in (("width", width), ("height", height)):
        declared = item.get(key, actual)
        if not isinstance(declared, int) or isinstance(declared, bool) or declared != actual:
            raise DocumentError(f"{key} {declared!r} does not match the PNG ({actual})", where=where)
    alt = item.get("alt", "")
    if not isinstance(alt, str):
        raise DocumentError("'alt' must be a string", where=where)
    return ImageSegment(png=png, width=width, height=height, alt=alt)


def decode_png_size(png: bytes, where: str) -> tuple[int, int]:
    """Fully decode `png` (so corrupt data is caught now, not at render time) and return its size."""
    try:
        with Image.open(io.BytesIO(png)) as img:
            if img.format != "PNG":
                raise DocumentError(f"image data is {img.format}, not PNG", where=where)
            img.load()
            return img.size
    except DocumentError:
        raise
    except Exception as exc:  # Pillow raises many types for corrupt data
        raise DocumentError(f"corrupt image data ({type(exc).__name__})", where=where) from None
