"""The packed training batch: fixed-shape tensors, built outside the training step.

Contract (B rows of T positions, at most M images per row, every image (C, h, w) latents):
- tokens (B, T) int64: token ids; at image patch positions any id (ignored, `pad_id` by convention).
- is_image (B, T) bool: True at image patch positions (BOI and EOI are text tokens, False here).
- doc_id (B, T) int64: packed document index within the row (>= 0), -1 for padding.
- image_id (B, T) int64: -1 for text; m for the patches of the row's image m (0 <= m < M).
- image_start (B, M) int64: sequence position of image m's first patch; its P patches occupy
  image_start .. image_start + P - 1 (P = (h/p)^2), row-major. 0 for unused slots.
- latents (B, M, C, h, w) float: VAE latents (already scaled), zeros for unused slots.
- image_valid (B, M) bool: slot m holds an image.
- image_t (B, M) float: diffusion time per image on the axis of tfgen.diffusion.schedules
  (0 clean .. T-1 noise); 0 for clean context images.
- image_is_target (B, M) bool: noised target with a diffusion loss (else clean context, t = 0).
- image_noise_limited (B, M) bool: a caption follows this image, so its t is capped.
- image_drop_cond (B, M) bool: trained unconditionally (classifier-free guidance).
- lm_index (B, K) int64 or None: optional, the input positions that carry an LM loss (see
  `lm_loss_positions`), -1 for unused slots; with it the LM head runs on K positions per row
  instead of all T (images are most of a sequence). Build it outside the step with
  `with_lm_index`; K is a fixed capacity so shapes stay static.
Sequence layout per document: BOS <kind> prompt <SEP> document EOS, each image as BOI, P patch
positions, EOI. `pack_documents` below is a small reference packer for tests and benchmarks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence, Union

import torch

from tfgen.diffusion.objectives import sample_times
from tfgen.errors import TfgenError
from tfgen.model.config import ModelConfig


class BatchError(TfgenError):
    """A packed batch whose tensors do not fit the contract."""


@dataclass
class PackedBatch:
    """Fixed-shape tensors of one packed batch (see the module docstring)."""

    tokens: torch.Tensor
    is_image: torch.Tensor
    doc_id: torch.Tensor
    image_id: torch.Tensor
    image_start: torch.Tensor
    latents: torch.Tensor
    image_valid: torch.Tensor
    image_t: torch.Tensor
    image_is_target: torch.Tensor
    image_noise_limited: torch.Tensor
    image_drop_cond: torch.Tensor
    lm_index: torch.Tensor | None = None

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "PackedBatch":
        def move(value: torch.Tensor | None) -> torch.Tensor | None:
            return None if value is None else value.to(device, non_blocking=non_blocking)

        return PackedBatch(**{f.name: move(getattr(self, f.name)) for f in dataclasses.fields(self)})

    def replace(self, **changes: torch.Tensor) -> "PackedBatch":
        return dataclasses.replace(self, **changes)

    def with_sampled_times(self, cfg: ModelConfig, generator: torch.Generator | None = None) -> "PackedBatch":
        """A copy with fresh per-image times: targets over the full range (capped where a caption
        follows), clean context at t = 0."""
        t = sample_times(cfg.objective, cfg.num_train_timesteps, cfg.noise_limit_t,
                         self.image_is_target & self.image_valid, self.image_noise_limited, generator,
                         cfg.time_shift)
        return self.replace(image_t=t)

    def with_condition_drop(self, prob: float, generator: torch.Generator | None = None) -> "PackedBatch":
        """A copy where each valid image drops its condition with probability `prob`."""
        u = torch.rand(self.image_valid.shape, generator=generator, device=self.image_valid.device)
        return self.replace(image_drop_cond=(u < prob) & self.image_valid)

    def with_lm_index(self, capacity: int | None = None) -> "PackedBatch":
        """A copy with `lm_index` filled, vectorised; capacity None = the largest row's count
        (one host read: call outside the step, or pass a fixed capacity for static shapes)."""
        wanted = lm_loss_positions(self)  # (B, T-1)
        count = wanted.sum(dim=1)
        if capacity is None:
            capacity = max(int(count.max()), 1)
        elif bool((count > capacity).any()):
            raise BatchError(f"a row has {int(count.max())} LM positions, more than capacity {capacity}",
                             where="lm_index")
        order = torch.sort((~wanted).to(torch.int8), dim=1, stable=True).indices[:, :capacity]
        used = torch.gather(wanted, 1, order)
        return self.replace(lm_index=torch.where(used, order, torch.full_like(order, -1)))

    def check(self, cfg: ModelConfig) -> None:
        """Host-side shape/dtype check against the contract (call outside the step)."""
        B, T = self.tokens.shape
        M = self.image_valid.shape[1] if self.image_valid.dim() == 2 else -1
        expect = {"tokens": (B, T), "is_image": (B, T), "doc_id": (B, T), "image_id": (B, T),
                  "image_start": (B, M), "image_valid": (B, M), "image_t": (B, M),
                  "image_is_target": (B, M), "image_noise_limited": (B, M), "image_drop_cond": (B, M),
                  "latents": (B, M, cfg.latent_channels, cfg.latent_size, cfg.latent_size)}
        for name, shape in expect.items():
            if tuple(getattr(self, name).shape) != shape:
                raise BatchError(f"shape {tuple(getattr(self, name).shape)}, expected {shape}", where=name)
        if T > cfg.max_seq_len:
            raise BatchError(f"sequence length {T} exceeds max_seq_len {cfg.max_seq_len}", where="tokens")
        if bool((self.tokens < 0).any() | (self.tokens >= cfg.vocab_size).any()):
            raise BatchError(f"token ids must lie in 0..{cfg.vocab_size - 1}", where="tokens")
        if bool(((self.image_id >= 0) != self.is_image).any()):
            raise BatchError("image_id >= 0 exactly where is_image", where="image_id")
        P = cfg.patches_per_image
        if M > 0:
            pos = (self.image_start[..., None] + torch.arange(P, device=self.image_start.device)).clamp(0, T - 1)
            ids = torch.gather(self.image_id, 1, pos.reshape(B, M * P)).reshape(B, M, P)
            slot = torch.arange(M, device=ids.device)[None, :, None]
            placed = ((ids == slot).all(-1) & (self.image_start + P <= T)) | ~self.image_valid
            if not bool(placed.all()):
                raise BatchError("each valid image's P patches must sit at image_start.. with its image_id",
                                 where="image_start")
            per_row = torch.zeros((B, M + 1), dtype=torch.long, device=ids.device)
            per_row.scatter_add_(1, self.image_id.clamp(min=-1) + 1, torch.ones_like(self.image_id))
            if bool((per_row[:, 1:] != self.image_valid.long() * P).any()):
                raise BatchError(f"every valid image has exactly {P} patch positions, unused slots none",
                                 where="image_id")
        if self.lm_index is not None:
            expected = self.with_lm_index().lm_index
            got = self.lm_index[:, : expected.shape[1]]
            if self.lm_index.shape[0] != B or not torch.equal(torch.sort(got, dim=1).values,
                                                              torch.sort(expected, dim=1).values) \
                    or bool((self.lm_index[:, expected.shape[1]:] != -1).any()):
                raise BatchError("must list exactly the LM-loss positions (see lm_loss_positions)",
                                 where="lm_index")


def lm_loss_positions(batch: PackedBatch) -> torch.Tensor:
    """(B, T-1) bool: input position i carries an LM loss for predicting token i+1 (both text of
    the same document; see tfgen.model.transfusion for why)."""
    doc, img = batch.doc_id, batch.is_image
    return (doc[:, :-1] == doc[:, 1:]) & (doc[:, :-1] >= 0) & ~img[:, :-1] & ~img[:, 1:]


@dataclass(frozen=True)
class ImageItem:
    """One image inside a document for `pack_documents`."""

    latents: torch.Tensor  # (C, h, w)
    is_target: bool = True
    caption_follows: bool = False


DocItem = Union[int, ImageItem]


@dataclass(frozen=True)
class SpecialIds:
    """The token ids the packer writes itself."""

    pad: int
    boi: int
    eoi: int


def pack_documents(rows: Sequence[Sequence[Sequence[DocItem]]], cfg: ModelConfig, seq_len: int,
                   max_images: int, ids: SpecialIds) -> PackedBatch:
    """Reference packer: rows of documents (lists of token ids and ImageItems) -> a PackedBatch.

    Per-document Python is fine here: this runs outside the step (tests, benchmarks). Times are 0;
    call `with_sampled_times` to draw them.
    """
    B, M, P = len(rows), max_images, cfg.patches_per_image
    tokens = torch.full((B, seq_len), ids.pad, dtype=torch.long)
    doc_id = torch.full((B, seq_len), -1, dtype=torch.long)
    image_id = torch.full((B, seq_len), -1, dtype=torch.long)
    image_start = torch.zeros((B, M), dtype=torch.long)
    shape = (cfg.latent_channels, cfg.latent_size, cfg.latent_size)
    latents = torch.zeros((B, M) + shape)
    valid, target, limited = (torch.zeros((B, M), dtype=torch.bool) for _ in range(3))
    for b, docs in enumerate(rows):
        pos, m = 0, 0
        for d, doc in enumerate(docs):
            for item in doc:
                if isinstance(item, ImageItem):
                    if m >= M or pos + P + 2 > seq_len:
                        raise BatchError("too many images or positions for the row", where=f"row {b}")
                    tokens[b, pos] = ids.boi
                    doc_id[b, pos:pos + P + 2] = d
                    image_id[b, pos + 1:pos + 1 + P] = m
                    tokens[b, pos + P + 1] = ids.eoi
                    image_start[b, m] = pos + 1
                    latents[b, m] = item.latents
                    valid[b, m], target[b, m], limited[b, m] = True, item.is_target, item.caption_follows
                    pos, m = pos + P + 2, m + 1
                else:
                    if pos >= seq_len:
                        raise BatchError("the documents do not fit the sequence length", where=f"row {b}")
                    tokens[b, pos], doc_id[b, pos] = int(item), d
                    pos += 1
    return PackedBatch(tokens=tokens, is_image=image_id >= 0, doc_id=doc_id, image_id=image_id,
                       image_start=image_start, latents=latents, image_valid=valid,
                       image_t=torch.zeros((B, M)), image_is_target=target & valid,
                       image_noise_limited=limited & valid, image_drop_cond=torch.zeros((B, M), dtype=torch.bool))


def random_packed_batch(cfg: ModelConfig, batch_size: int, seq_len: int, generator: torch.Generator,
                        images_per_doc: int = 2, text_per_image: int = 8, ids: SpecialIds | None = None,
                        cond_drop_prob: float = 0.0) -> PackedBatch:
    """A batch of random documents packed to `seq_len` (tests, benchmarks): each document is
    text, then `images_per_doc` times (image, text); the first image of a document is noise-limited
    (a caption follows it) and later images are at random targets or clean context."""
    ids = ids or SpecialIds(pad=0, boi=1, eoi=2)
    P = cfg.patches_per_image
    doc_len = 1 + images_per_doc * (P + 2 + text_per_image) + text_per_image
    docs_per_row = max(1, seq_len // doc_len)
    shape = (cfg.latent_channels, cfg.latent_size, cfg.latent_size)

    def document() -> list[DocItem]:
        def text(n: int) -> list[DocItem]:
            return [int(x) for x in torch.randint(3, cfg.vocab_size, (n,), generator=generator)]

        items: list[DocItem] = text(text_per_image + 1)
        for j in range(images_per_doc):
            is_target = j == 0 or bool(torch.rand((), generator=generator) < 0.5)
            items.append(ImageItem(torch.randn(shape, generator=generator), is_target, caption_follows=j == 0))
            items += text(text_per_image)
        return items

    rows = [[document() for _ in range(docs_per_row)] for _ in range(batch_size)]
    batch = pack_documents(rows, cfg, seq_len, docs_per_row * images_per_doc, ids)
    batch = batch.with_sampled_times(cfg, generator)
    return batch.with_condition_drop(cond_drop_prob, generator) if cond_drop_prob > 0 else batch
