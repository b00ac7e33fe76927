"""Tokenising documents and packing them into fixed-length rows, then into the model's PackedBatch.

Each document becomes `BOS <kind> prompt <SEP> document EOS`; each image inside it is BOI, P patch
positions (P = patches per image, row-major), EOI. Documents are packed whole into rows of
`seq_len` positions (first fit over a small window of open rows); a document longer than a row, or
with more images than a row holds, is cut before the first image that does not fit (never through
an image) and loses its EOS.

Cost: tokenising is one batched call into `tokenizers` plus a few numpy operations per document;
placing documents is a Python loop over documents, each trying at most `window` open rows; filling
the rows is a handful of vectorised numpy scatters over all tokens at once. This all runs once per
epoch, outside the training step. `make_batch` then gathers rows by index with torch ops only
(no per-row or per-document Python), so it can run on the device every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import torch

from tfgen.errors import TfgenError
from tfgen.model.batch import PackedBatch
from tfgen.model.config import ModelConfig
from tfgen.model.tokenizer import TextTokenizer
from tfgen.train.dataset import ImageItem, TrainingDocument

TEXT_JOIN = "\n\n"  # between two text segments that follow each other


@dataclass(frozen=True)
class PackingConfig:
    """Sizes of the packed rows; `patches_per_image` must match the model's."""

    seq_len: int
    max_images: int  # M: image slots per row
    patches_per_image: int  # P
    window: int = 16  # open rows tried for each document (first fit)
    image_first_prob: float = 0.2  # share of caption pairs trained image-first (captioning, the paper's 20%)
    context_prob: float = 0.5  # in multi-image documents, chance an image is clean context rather than a target

    def __post_init__(self) -> None:
        for name in ("seq_len", "max_images", "patches_per_image", "window"):
            if getattr(self, name) < 1:
                raise TfgenError(f"must be positive, not {getattr(self, name)}", where=f"packing.{name}")
        if self.seq_len < self.patches_per_image + 6:
            raise TfgenError(f"seq_len {self.seq_len} cannot hold one image of {self.patches_per_image} patches", where="packing.seq_len")
        for name in ("image_first_prob", "context_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise TfgenError("must lie in [0, 1]", where=f"packing.{name}")


@dataclass
class DocTokens:
    """One tokenised document: `slot` is -1 on text (BOI/EOI included), k on the patches of image k."""

    tokens: np.ndarray  # (L,) int32
    slot: np.ndarray  # (L,) int32
    noise_limited: np.ndarray  # (n_images,) bool: a caption follows the image (image-first pair)


@dataclass
class PackedRows:
    """All packed rows of a dataset (R rows), as torch tensors ready to be gathered by `make_batch`.

    Stored as int32 (half the memory of a large dataset's rows); `make_batch` widens to the
    batch's int64.
    """

    tokens: torch.Tensor  # (R, T) int32, pad id at image and padding positions
    doc_id: torch.Tensor  # (R, T) int32, row-local document index, -1 for padding
    image_id: torch.Tensor  # (R, T) int32, -1 for text, row-local image slot on patches
    image_start: torch.Tensor  # (R, M) int32, position of each image's first patch, 0 if unused
    image_ref: torch.Tensor  # (R, M) int64, row of the latent cache, -1 if unused
    image_doc: torch.Tensor  # (R, M) int32, row-local document of each image, -1 if unused
    noise_limited: torch.Tensor  # (R, M) bool
    row_documents: list[list[int]]  # dataset indices of the documents in each row, in order
    truncated: int  # documents cut to fit a row

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def to(self, device: torch.device | str) -> "PackedRows":
        """The rows on `device`, so that `make_batch` gathers there with no host-to-device copy per step."""
        moved = {name: getattr(self, name).to(device) for name in TENSOR_FIELDS}
        return PackedRows(**moved, row_documents=self.row_documents, truncated=self.truncated)


TENSOR_FIELDS = ("tokens", "doc_id", "image_id", "image_start", "image_ref", "image_doc", "noise_limited")


def tokenize_documents(
    docs: Iterable[TrainingDocument], tokenizer: TextTokenizer, cfg: PackingConfig,
    generator: np.random.Generator | None = None, chunk: int = 1024,
) -> list[DocTokens]:
    """Token and image-slot arrays per document (one batched tokenizer call per `chunk` documents)."""
    rng = generator if generator is not None else np.random.default_rng(0)
    out: list[DocTokens] = []
    buffer: list[TrainingDocument] = []
    for doc in docs:
        buffer.append(doc)
        if len(buffer) == chunk:
            out.extend(_tokenize_chunk(buffer, tokenizer, cfg, rng))
            buffer = []
    out.extend(_tokenize_chunk(buffer, tokenizer, cfg, rng))
    return out


def _tokenize_chunk(docs: list[TrainingDocument], tokenizer: TextTokenizer, cfg: PackingConfig,
                    rng: np.random.Generator) -> list[DocTokens]:
    texts: list[str] = []
    for doc in docs:
        texts.append(doc.prompt)
        texts.extend(_text_runs(doc))
    encoded = iter(tokenizer.encode_batch(texts)) if texts else iter(())
    out = []
    for doc in docs:
        prompt = next(encoded)
        runs = [next(encoded) for _ in _text_runs(doc)]
        image_first = _is_caption_pair(doc) and cfg.image_first_prob > 0 and rng.random() < cfg.image_first_prob
        out.append(_document_tokens(doc, prompt, runs, tokenizer, cfg.patches_per_image, image_first))
    return out


def _text_runs(doc: TrainingDocument) -> list[str]:
    """The document's text, one string per maximal run of text segments between images."""
    runs: list[str] = []
    current: list[str] | None = None
    for seg in doc.segments:
        if isinstance(seg, str):
            current = [seg] if current is None else current + [seg]
        else:
            if current is not None:
                runs.append(TEXT_JOIN.join(current))
            current = None
    if current is not None:
        runs.append(TEXT_JOIN.join(current))
    return runs


def _is_caption_pair(doc: TrainingDocument) -> bool:
    """A captioned image: one image, no text in the document, the prompt describing it."""
    return len(doc.segments) == 1 and isinstance(doc.segments[0], ImageItem) and bool(doc.prompt.strip())


def _document_tokens(
    doc: TrainingDocument, prompt: list[int], runs: list[list[int]], tok: TextTokenizer, patches: int, image_first: bool
) -> DocTokens:
    head = [tok.bos_id, tok.kind_id(doc.kind)]
    if image_first:
        # BOS <kind> <SEP> image caption EOS: the model learns to caption a nearly clean image.
        parts = [np.array(head + [tok.sep_id]), *_image_parts(0, patches, tok), np.array(prompt + [tok.eos_id])]
        return _join(parts, np.array([True]))
    parts = [np.array(head + prompt + [tok.sep_id])]
    run_iter, k = iter(runs), 0
    previous_is_text = False
    for seg in doc.segments:
        if isinstance(seg, ImageItem):
            parts.extend(_image_parts(k, patches, tok))
            k += 1
            previous_is_text = False
        elif not previous_is_text:
            parts.append(np.array(next(run_iter)))
            previous_is_text = True
    parts.append(np.array([tok.eos_id]))
    return _join(parts, np.zeros(k, dtype=bool))


def _image_parts(k: int, patches: int, tok: TextTokenizer) -> list[np.ndarray]:
    return [np.array([tok.boi_id]), np.full(patches, -1 - k), np.array([tok.eoi_id])]


def _join(parts: list[np.ndarray], noise_limited: np.ndarray) -> DocTokens:
    # Image patches were written as -1 - k: split them into (pad token, slot k) here in one pass.
    raw = np.concatenate([p.astype(np.int32) for p in parts])
    slot = np.where(raw < 0, -1 - raw, -1).astype(np.int32)
    return DocTokens(tokens=raw, slot=slot, noise_limited=noise_limited)


def pack_rows(docs: Sequence[DocTokens], cfg: PackingConfig, pad_id: int, latent_offsets: torch.Tensor | np.ndarray,
              order: Sequence[int] | None = None) -> PackedRows:
    """Place the documents (in `order`, default dataset order) into rows and fill them, vectorised.

    `latent_offsets` (D + 1,) maps document d's image k to latent-cache row latent_offsets[d] + k.
    """
    order = list(range(len(docs))) if order is None else [int(i) for i in order]
    lengths, n_images, truncated = fitted_sizes(docs, order, cfg)
    placement = _place(order, lengths, n_images, cfg)
    row, pos, img0, local, row_documents = placement
    R = len(row_documents)
    flat_tokens = np.concatenate([docs[d].tokens[:n] for d, n in zip(order, lengths)] or [np.zeros(0, np.int32)])
    flat_slot = np.concatenate([docs[d].slot[:n] for d, n in zip(order, lengths)] or [np.zeros(0, np.int32)])
    # Destination of every token of every placed document at once: row * T + start + offset in doc.
    within = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(_starts(lengths), lengths)
    dest = np.repeat(row * cfg.seq_len + pos, lengths) + within
    tokens, doc_id, image_id = _fill_positions(R, cfg.seq_len, pad_id, dest, flat_tokens, flat_slot,
                                               np.repeat(local, lengths), np.repeat(img0, lengths))
    limits = np.concatenate([docs[d].noise_limited[:n] for d, n in zip(order, n_images)] or [np.zeros(0, bool)])
    patch_starts = dest[(flat_slot >= 0) & (np.concatenate([[-1], flat_slot[:-1]]) < 0)] % cfg.seq_len
    slots = _fill_images(R, cfg.max_images, n_images, placement,
                         np.asarray(latent_offsets, dtype=np.int64)[order], patch_starts, limits)
    as_t = torch.from_numpy
    return PackedRows(as_t(tokens), as_t(doc_id), as_t(image_id), *(as_t(a) for a in slots), row_documents, truncated)


def _starts(counts: np.ndarray) -> np.ndarray:
    """Exclusive prefix sums: where each run begins in the concatenation."""
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64) if len(counts) else np.zeros(0, np.int64)


def _fill_positions(R: int, T: int, pad_id: int, dest: np.ndarray, flat_tokens: np.ndarray, flat_slot: np.ndarray,
                    doc_of_token: np.ndarray, first_slot_of_token: np.ndarray) -> tuple[np.ndarray, ...]:
    """(tokens, doc_id, image_id), each (R, T), scattered from the concatenated documents in one pass each."""
    tokens = np.full((R, T), pad_id, dtype=np.int32)
    doc_id = np.full((R, T), -1, dtype=np.int32)
    image_id = np.full((R, T), -1, dtype=np.int32)
    is_patch = flat_slot >= 0
    tokens.flat[dest] = np.where(is_patch, pad_id, flat_tokens)
    doc_id.flat[dest] = doc_of_token
    image_id.flat[dest] = np.where(is_patch, flat_slot + first_slot_of_token, -1)
    return tokens, doc_id, image_id


def _fill_images(R: int, M: int, n_images: np.ndarray, placement: tuple, first_latent: np.ndarray,
                 patch_starts: np.ndarray, limits: np.ndarray) -> tuple[np.ndarray, ...]:
    """(image_start, image_ref, image_doc, noise_limited), each (R, M): image k of a document goes to
    slot (its row, the document's first slot + k)."""
    row, _, img0, local, _ = placement
    k = np.arange(int(n_images.sum()), dtype=np.int64) - np.repeat(_starts(n_images), n_images)
    at = (np.repeat(row, n_images), np.repeat(img0, n_images) + k)
    image_start = np.zeros((R, M), dtype=np.int32)
    image_ref = np.full((R, M), -1, dtype=np.int64)
    image_doc = np.full((R, M), -1, dtype=np.int32)
    noise_limited = np.zeros((R, M), dtype=bool)
    image_start[at] = patch_starts
    image_ref[at] = np.repeat(first_latent, n_images) + k
    image_doc[at] = np.repeat(local, n_images)
    noise_limited[at] = limits
    return image_start, image_ref, image_doc, noise_limited


def fitted_sizes(docs: Sequence[DocTokens], order: list[int], cfg: PackingConfig) -> tuple[np.ndarray, np.ndarray, int]:
    """Length and image count of each document after cutting it to fit one row."""
    lengths = np.zeros(len(order), dtype=np.int64)
    n_images = np.zeros(len(order), dtype=np.int64)
    truncated = 0
    P = cfg.patches_per_image
    for i, d in enumerate(order):
        doc = docs[d]
        length, count = len(doc.tokens), len(doc.noise_limited)
        if length > cfg.seq_len or count > cfg.max_images:
            # BOI of image k sits one position before its first patch.
            boi = np.flatnonzero((doc.slot >= 0) & (np.concatenate([[-1], doc.slot[:-1]]) < 0)) - 1
            fits = (boi + P + 2 <= cfg.seq_len) & (np.arange(count) < cfg.max_images)
            count = int(np.argmin(fits)) if not fits.all() else count
            length = min(cfg.seq_len, int(boi[count]) if count < len(boi) else length)
            truncated += 1
        lengths[i], n_images[i] = length, count
    return lengths, n_images, truncated


def _place(order: list[int], lengths: np.ndarray, n_images: np.ndarray, cfg: PackingConfig):
    """First fit over the last `window` open rows: (row, start, first image slot, row-local doc index) per doc."""
    row = np.zeros(len(order), dtype=np.int64)
    pos = np.zeros(len(order), dtype=np.int64)
    img0 = np.zeros(len(order), dtype=np.int64)
    local = np.zeros(len(order), dtype=np.int64)
    used_len: list[int] = []
    used_img: list[int] = []
    row_documents: list[list[int]] = []
    first_open = 0
    for i, d in enumerate(order):
        length, count = int(lengths[i]), int(n_images[i])
        r = next((r for r in range(first_open, len(used_len))
                  if used_len[r] + length <= cfg.seq_len and used_img[r] + count <= cfg.max_images), None)
        if r is None:
            r = len(used_len)
            used_len.append(0)
            used_img.append(0)
            row_documents.append([])
            first_open = max(first_open, len(used_len) - cfg.window)
        row[i], pos[i], img0[i], local[i] = r, used_len[r], used_img[r], len(row_documents[r])
        used_len[r] += length
        used_img[r] += count
        row_documents[r].append(d)
    return row, pos, img0, local, row_documents


def make_batch(rows: PackedRows, indices: torch.Tensor | Sequence[int], latents: torch.Tensor, model: ModelConfig,
               context_prob: float = 0.5, generator: torch.Generator | None = None) -> PackedBatch:
    """Gather rows into a PackedBatch with fresh per-image roles, times and condition drops.

    `latents` (N, C, h, w) is the latent cache (on the device the batch should live on). In a
    document with several images each image is clean context with probability `context_prob`,
    except that every document keeps at least one target (its image with the largest draw).
    Torch ops only, no per-row Python, so this is cheap enough to run every step.
    """
    device = latents.device
    idx = torch.as_tensor(indices, dtype=torch.long, device=rows.tokens.device)
    take = lambda t: t[idx].to(device=device, dtype=torch.long)  # noqa: E731 - shorthand for the gathers below
    tokens, doc_id, image_id, image_start = take(rows.tokens), take(rows.doc_id), take(rows.image_id), take(rows.image_start)
    ref, image_doc, limited = take(rows.image_ref), take(rows.image_doc), rows.noise_limited[idx].to(device)
    valid = ref >= 0
    batch_latents = latents[ref.clamp(min=0)] * valid[:, :, None, None, None].to(latents.dtype)
    is_target = _draw_targets(image_doc, valid, context_prob, generator)
    B, M = valid.shape
    batch = PackedBatch(
        tokens=tokens, is_image=image_id >= 0, doc_id=doc_id, image_id=image_id, image_start=image_start,
        latents=batch_latents, image_valid=valid, image_t=torch.zeros((B, M), device=device),
        image_is_target=is_target, image_noise_limited=limited & valid,
        image_drop_cond=torch.zeros((B, M), dtype=torch.bool, device=device),
    )
    return batch.with_sampled_times(model, generator).with_condition_drop(model.cond_drop_prob, generator)


def _draw_targets(image_doc: torch.Tensor, valid: torch.Tensor, context_prob: float,
                  generator: torch.Generator | None) -> torch.Tensor:
    """(B, M) target flags: context with probability `context_prob`, but never a document without a target."""
    B, M = valid.shape
    u = torch.rand((B, M), generator=generator, device=valid.device)
    u = torch.where(valid, u, torch.full_like(u, -1.0))
    # Group images by (row, document); each group's largest draw is always a target.
    group = torch.arange(B, device=valid.device)[:, None] * (M + 1) + image_doc.clamp(min=-1) + 1
    best = torch.full((B * (M + 1),), -1.0, device=valid.device).scatter_reduce(0, group.flatten(), u.flatten(), "amax")
    is_best = u == best[group]
    return valid & ((u >= context_prob) | is_best)
