"""The dataset directory (format `tfgen.dataset/1`): the contract between data makers and the trainer.

    manifest.json     {"format": "tfgen.dataset/1", "shards": ["docs-00000.jsonl", ...], "image_size": 64,
                       "image_shards": ["images-00000.npy", ...],            (optional)
                       "counts": {...}, "seed": ..., "licence": ..., ...}     (optional, free-form)
    docs-NNNNN.jsonl  one tfgen.document/1 JSON object per line
    images-NNNNN.npy  (optional) uint8 arrays (N, H, W, 3), RGB, read without pickle

An image segment carries either "png_base64" (as in any tfgen document) or a reference into an
image shard, `{"type": "image", "npy": {"shard": "images-00000.npy", "index": 12}, "width": W,
"height": H}`; either may add "alt" and "annotations" (free JSON, kept for evaluation).
`convert_folder` turns a folder of Markdown / document JSON files, or of images with a
`captions.jsonl` ({"image": "a.png", "caption": "...", "kind": "comic"?} per line), into this format.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image

from tfgen.atomic import write_text_atomic
from tfgen.document import FORMAT as DOCUMENT_FORMAT
from tfgen.document import KINDS, Document, ImageSegment, decode_png_size
from tfgen.errors import DocumentError, OutputError, TfgenError

DATASET_FORMAT = "tfgen.dataset/1"
MANIFEST_FILE = "manifest.json"
CAPTIONS_FILE = "captions.jsonl"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")


class DatasetError(TfgenError):
    """A dataset directory, shard or line that cannot be used for training."""


@dataclass(frozen=True)
class ImageItem:
    """One image of a training document; pixels are decoded only when asked for."""

    png: bytes | None = None
    array: np.ndarray | None = field(default=None, repr=False)  # (H, W, 3) uint8, maybe a memory map
    alt: str = ""
    annotations: Any = None

    def pixels(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB."""
        if self.array is not None:
            return np.asarray(self.array)
        with Image.open(io.BytesIO(self.png or b"")) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8)


@dataclass(frozen=True)
class TrainingDocument:
    """A document as the trainer reads it: text segments as strings, images as ImageItem."""

    kind: str
    prompt: str
    segments: tuple[str | ImageItem, ...]
    where: str  # shard and line, for messages

    @property
    def images(self) -> list[ImageItem]:
        return [s for s in self.segments if isinstance(s, ImageItem)]


@dataclass
class Dataset:
    """An opened, checked dataset directory."""

    directory: Path
    manifest: dict[str, Any]
    shards: list[Path]
    image_size: int

    def __iter__(self) -> Iterator[TrainingDocument]:
        """Every document in shard order; a bad line is a DatasetError naming shard and line."""
        arrays: dict[str, np.ndarray] = {}
        for shard in self.shards:
            with shard.open("r", encoding="utf-8") as fh:
                for lineno, line in enumerate(fh, start=1):
                    if line.strip():
                        yield self._parse_line(line, f"{shard}:{lineno}", arrays)

    def count(self) -> int:
        """Number of documents (counts lines, decodes nothing)."""
        total = 0
        for shard in self.shards:
            with shard.open("rb") as fh:
                total += sum(1 for line in fh if line.strip())
        return total

    def has_documents(self) -> bool:
        """True as soon as one shard holds a non-blank line (reads no further)."""
        for shard in self.shards:
            with shard.open("rb") as fh:
                if any(line.strip() for line in fh):
                    return True
        return False

    def _parse_line(self, line: str, where: str, arrays: dict[str, np.ndarray]) -> TrainingDocument:
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"malformed JSON ({exc.msg})", where=where) from None
        if not isinstance(data, dict) or data.get("format") != DOCUMENT_FORMAT:
            raise DatasetError(f"not a {DOCUMENT_FORMAT} document", where=where)
        kind, prompt = data.get("kind", "none"), data.get("prompt", "")
        if kind not in KINDS:
            raise DatasetError(f"unknown kind {kind!r} (one of {', '.join(KINDS)})", where=where)
        if not isinstance(prompt, str):
            raise DatasetError("prompt must be a string", where=where)
        raw = data.get("segments")
        if not isinstance(raw, list) or not raw:
            raise DatasetError("segments missing, empty or not a list", where=where)
        segments = tuple(self._segment(item, f"{where}, segment {i}", arrays) for i, item in enumerate(raw))
        return TrainingDocument(kind, prompt, segments, where)

    def _segment(self, item: Any, where: str, arrays: dict[str, np.ndarray]) -> str | ImageItem:
        if not isinstance(item, dict):
            raise DatasetError("must be an object", where=where)
        if item.get("type") == "text":
            if not isinstance(item.get("text"), str):
                raise DatasetError("text segment without a 'text' string", where=where)
            return item["text"]
        if item.get("type") != "image":
            raise DatasetError(f"unknown segment type {item.get('type')!r}", where=where)
        alt, notes = item.get("alt", ""), item.get("annotations")
        if not isinstance(alt, str):
            raise DatasetError("'alt' must be a string", where=where)
        if "npy" in item:
            array = self._npy_image(item["npy"], where, arrays)
            size = (array.shape[1], array.shape[0])
            image = ImageItem(array=array, alt=alt, annotations=notes)
        else:
            png = _decode_png_base64(item.get("png_base64"), where)
            size = decode_png_size(png, where)
            image = ImageItem(png=png, alt=alt, annotations=notes)
        for key, actual in zip(("width", "height"), size):
            if item.get(key, actual) != actual:
                raise DatasetError(f"{key} {item.get(key)!r} does not match the image ({actual})", where=where)
        return image

    def _npy_image(self, ref: Any, where: str, arrays: dict[str, np.ndarray]) -> np.ndarray:
        if not isinstance(ref, dict) or not isinstance(ref.get("shard"), str) or not _is_int(ref.get("index")):
            raise DatasetError("'npy' must be {\"shard\": NAME, \"index\": INT}", where=where)
        name = ref["shard"]
        if name not in arrays:
            arrays[name] = _open_image_shard(self.directory, name, where)
        array, index = arrays[name], ref["index"]
        if not 0 <= index < len(array):
            raise DatasetError(f"missing image: index {index} is outside {name} ({len(array)} images)", where=where)
        return array[index]


def open_dataset(directory: str | os.PathLike) -> Dataset:
    """Open and check a dataset directory (its manifest and that every shard it lists exists)."""
    directory = Path(directory)
    path = directory / MANIFEST_FILE
    if not directory.is_dir():
        raise DatasetError("dataset directory not found", where=str(directory))
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError("no manifest.json here: not a dataset directory", where=str(directory)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"malformed JSON ({exc})", where=str(path)) from None
    if not isinstance(manifest, dict):
        raise DatasetError("must hold a JSON object", where=str(path))
    if manifest.get("format") != DATASET_FORMAT:
        raise DatasetError(f"format is {manifest.get('format')!r}, expected {DATASET_FORMAT!r}", where=f"{path}: format")
    size = manifest.get("image_size")
    if not _is_int(size) or size < 1:
        raise DatasetError(f"image_size must be a positive integer, not {size!r}", where=f"{path}: image_size")
    names = manifest.get("shards")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DatasetError("shards must be a list of file names", where=f"{path}: shards")
    if not names:
        raise DatasetError("the dataset is empty (no shards)", where=f"{path}: shards")
    shards = [_shard_path(directory, name, f"{path}: shards") for name in names]
    dataset = Dataset(directory, manifest, shards, size)
    if not dataset.has_documents():
        raise DatasetError("the dataset is empty (its shards hold no documents)", where=str(directory))
    return dataset


def convert_folder(
    source: str | os.PathLike, target: str | os.PathLike, kind: str = "none", image_size: int = 64, docs_per_shard: int = 1000
) -> Dataset:
    """Convert a folder of .md/.json documents, or of images with captions.jsonl, to a dataset directory."""
    source, target = Path(source), Path(target)
    # Document JSON files keep their own kind; `kind` applies to Markdown files and captioned images.
    if (source / MANIFEST_FILE).is_file():
        return open_dataset(source)
    if not source.is_dir():
        raise DatasetError("folder not found", where=str(source))
    if kind not in KINDS:
        raise DatasetError(f"unknown kind {kind!r} (one of {', '.join(KINDS)})", where="kind")
    docs = _caption_documents(source, kind) if (source / CAPTIONS_FILE).is_file() else _folder_documents(source, kind)
    return write_dataset(target, docs, image_size=image_size, docs_per_shard=docs_per_shard, extra={"source": str(source)})


def write_dataset(
    target: str | os.PathLike, documents: Any, image_size: int, docs_per_shard: int = 1000, extra: dict[str, Any] | None = None
) -> Dataset:
    """Write Documents (an iterable) as a dataset directory; the manifest is written last."""
    target = Path(target)
    if docs_per_shard < 1:
        raise DatasetError(f"must be positive, not {docs_per_shard}", where="docs_per_shard")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create ({exc.strerror})", where=str(target)) from None
    shards: list[str] = []
    lines: list[str] = []
    n_docs = n_images = 0
    for doc in documents:
        lines.append(doc.to_json())
        n_docs += 1
        n_images += len(doc.images)
        if len(lines) == docs_per_shard:
            shards.append(_write_shard(target, len(shards), lines))
            lines = []
    if lines:
        shards.append(_write_shard(target, len(shards), lines))
    if not shards:
        raise DatasetError("nothing to train on: no documents found", where=str((extra or {}).get("source", target)))
    manifest = {"format": DATASET_FORMAT, "shards": shards, "image_size": image_size,
                "counts": {"documents": n_docs, "images": n_images}, **(extra or {})}
    write_text_atomic(target / MANIFEST_FILE, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return open_dataset(target)


def _write_shard(target: Path, index: int, lines: list[str]) -> str:
    name = f"docs-{index:05d}.jsonl"
    write_text_atomic(target / name, "\n".join(lines) + "\n")
    return name


def _folder_documents(source: Path, kind: str) -> Iterator[Document]:
    from tfgen.markdown_io import read_markdown

    for path in sorted(p for p in source.rglob("*") if p.is_file() and not _hidden(p, source)):
        if path.suffix.lower() == ".md":
            doc = read_markdown(path, kind=kind)
            doc.prompt = doc.prompt or doc.title  # the request a Markdown file answers is its title
            yield doc
        elif path.suffix.lower() == ".json":
            try:
                yield Document.from_json(path.read_bytes())
            except DocumentError as exc:
                raise DocumentError(exc.message, where=f"{path}: {exc.where}" if exc.where else str(path)) from None


def _caption_documents(source: Path, kind: str) -> Iterator[Document]:
    """One document per captions.jsonl line: the caption is the prompt, the image the document."""
    path = source / CAPTIONS_FILE
    with path.open("r", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"malformed JSON ({exc.msg})", where=where) from None
            if not isinstance(item, dict) or not isinstance(item.get("image"), str) or not isinstance(item.get("caption"), str):
                raise DatasetError('each line must be {"image": FILE, "caption": TEXT}', where=where)
            doc_kind = item.get("kind", kind)
            if doc_kind not in KINDS:
                raise DatasetError(f"unknown kind {doc_kind!r}", where=where)
            image_path = source / item["image"]
            if not image_path.is_file():
                raise DatasetError(f"missing image {item['image']!r}", where=where)
            try:
                with Image.open(image_path) as img:
                    img.load()
                    segment = ImageSegment.from_pil(img, alt=item["caption"])
            except Exception as exc:  # Pillow raises many types for unreadable files
                raise DatasetError(f"cannot read image {item['image']!r} ({type(exc).__name__})", where=where) from None
            yield Document([segment], kind=doc_kind, prompt=item["caption"], meta={"source": item["image"]})


def _open_image_shard(directory: Path, name: str, where: str) -> np.ndarray:
    path = _shard_path(directory, name, where)
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DatasetError(f"not a readable .npy image shard ({exc})", where=str(path)) from None
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] != 3:
        raise DatasetError(f"image shard must be uint8 (N, H, W, 3), not {array.dtype} {array.shape}", where=str(path))
    return array


def _shard_path(directory: Path, name: str, where: str) -> Path:
    # Shards are plain names inside the dataset directory: no paths that leave it.
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise DatasetError(f"shard name {name!r} must be a plain file name", where=where)
    path = directory / name
    if not path.is_file():
        raise DatasetError(f"shard {name!r} is missing", where=where)
    return path


def _decode_png_base64(b64: Any, where: str) -> bytes:
    if not isinstance(b64, str) or not b64:
        raise DatasetError("image segment without 'png_base64' data or an 'npy' reference", where=where)
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise DatasetError("image data is not valid base64", where=where) from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def text_corpus(dataset: Dataset) -> Iterator[str]:
    """All prompts and text segments, for training the tokenizer."""
    for doc in dataset:
        if doc.prompt:
            yield doc.prompt
        yield from (s for s in doc.segments if isinstance(s, str))
