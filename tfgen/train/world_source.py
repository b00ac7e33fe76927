"""The storyworld's documents as a training batch source, in memory, with no files at all.

Batch k holds the next documents of `tfgen.world.documents` (document j of a seed is always the
same document), tokenised and packed into exactly `batch_size` rows of `seq_len`: documents are
taken while they still fit (next fit, never more rows than that), the first one that does not is
the first of the next batch, and rows left over are padding. The stream's state is the index of
the next document, so a resume is exact. Images are VAE-encoded here, on the training device,
outside the step; each batch's random draws come from a generator seeded by (seed, batch index).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from tfgen.document import Document, ImageSegment
from tfgen.errors import TfgenError
from tfgen.model.batch import PackedBatch
from tfgen.model.config import ModelConfig
from tfgen.model.tokenizer import TextTokenizer
from tfgen.train.checkpoint import VAEBundle
from tfgen.train.dataset import ImageItem, TrainingDocument
from tfgen.train.latents import encode_documents
from tfgen.train.packing import DocTokens, PackedRows, PackingConfig, make_batch, pack_rows, tokenize_documents


def training_document(doc: Document, where: str) -> TrainingDocument:
    """A Document (tfgen.document) as the packer reads it."""
    segments = tuple(ImageItem(png=s.png, alt=s.alt) if isinstance(s, ImageSegment) else s.text
                     for s in doc.segments)
    return TrainingDocument(doc.kind, doc.prompt, segments, where)


class WorldSource:
    """Global PackedBatches of storyworld documents (see the module docstring)."""

    def __init__(self, tokenizer: TextTokenizer, vae: VAEBundle, model_cfg: ModelConfig, packing: PackingConfig,
                 batch_size: int, seed: int = 0, kinds: tuple[str, ...] | None = None,
                 device: torch.device = torch.device("cpu"), context_prob: float = 0.5):
        from tfgen.world.documents import WORLD_KINDS, check_kinds
        from tfgen.world.sampling import SceneSampler

        self.tokenizer, self.vae, self.model_cfg, self.packing = tokenizer, vae, model_cfg, packing
        self.batch_size, self.seed, self.device, self.context_prob = batch_size, seed, device, context_prob
        self.kinds = check_kinds(kinds or WORLD_KINDS)
        self.sampler = SceneSampler()
        self.next_document = 0
        self.batches = 0

    def __iter__(self) -> "WorldSource":
        return self

    def __next__(self) -> PackedBatch:
        docs, tokens = self._documents_for_one_batch()
        latents, offsets = encode_documents(docs, self.vae, self.vae.image_size, device=str(self.device))
        rows = pack_rows(tokens, self.packing, self.tokenizer.pad_id, offsets)
        rows = _pad_rows(rows, self.batch_size, self.tokenizer.pad_id)
        generator = torch.Generator(device=self.device)
        generator.manual_seed(self.seed * 1_000_003 + self.batches)
        self.batches += 1
        return make_batch(rows, torch.arange(self.batch_size), latents.to(self.device), self.model_cfg,
                          self.context_prob, generator)

    def _documents_for_one_batch(self) -> tuple[list[TrainingDocument], list[DocTokens]]:
        """Next-fit the following documents into batch_size rows; stop before the first that does not fit."""
        from tfgen.world.documents import make_document

        cfg, docs, tokens = self.packing, [], []
        row, used_len, used_img = 0, 0, 0
        while True:
            index = self.next_document
            doc = training_document(make_document(self.seed, index, self.kinds, self.sampler, self.vae.image_size),
                                    where=f"storyworld seed {self.seed} document {index}")
            rng = np.random.default_rng([self.seed, index])  # image-first choice for caption pairs
            tok = tokenize_documents([doc], self.tokenizer, cfg, rng)[0]
            length, count = _fitted_size(tok, cfg)
            if used_len + length > cfg.seq_len or used_img + count > cfg.max_images:
                row, used_len, used_img = row + 1, 0, 0
                if row == self.batch_size:
                    if not docs:
                        raise TfgenError("a storyworld document does not fit one row", where="seq_len")
                    return docs, tokens
            docs.append(doc)
            tokens.append(tok)
            used_len, used_img = used_len + length, used_img + count
            self.next_document += 1

    def state_dict(self) -> dict[str, Any]:
        return {"next_document": self.next_document, "batches": self.batches}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.next_document, self.batches = int(state["next_document"]), int(state["batches"])


def _fitted_size(tok: DocTokens, cfg: PackingConfig) -> tuple[int, int]:
    """Length and image count of a document once cut to one row (as pack_rows cuts it)."""
    from tfgen.train.packing import fitted_sizes

    lengths, counts, _ = fitted_sizes([tok], [0], cfg)
    return int(lengths[0]), int(counts[0])


def _pad_rows(rows: PackedRows, batch_size: int, pad_id: int) -> PackedRows:
    """Append empty rows (all padding, no images) up to batch_size."""
    missing = batch_size - len(rows)
    if missing < 0:
        raise TfgenError(f"packed {len(rows)} rows for a batch of {batch_size}", where="batch_size")

    def grow(t: torch.Tensor, fill) -> torch.Tensor:
        return torch.cat([t, torch.full((missing,) + tuple(t.shape[1:]), fill, dtype=t.dtype)])

    return PackedRows(tokens=grow(rows.tokens, pad_id), doc_id=grow(rows.doc_id, -1),
                      image_id=grow(rows.image_id, -1), image_start=grow(rows.image_start, 0),
                      image_ref=grow(rows.image_ref, -1), image_doc=grow(rows.image_doc, -1),
                      noise_limited=grow(rows.noise_limited, False),
                      row_documents=rows.row_documents + [[] for _ in range(missing)], truncated=rows.truncated)
