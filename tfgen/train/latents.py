"""The latent cache: every image of a dataset encoded once by the VAE and kept as safetensors.

The cache holds the posterior means multiplied by the VAE's scale factor (what the transformer
diffuses), in document order: `latents` (N, C, h, w); `doc_offsets` (D + 1,) so that document d's
images are rows doc_offsets[d] : doc_offsets[d + 1], in reading order. Its metadata names the VAE
and the dataset it came from, so a stale cache is re-encoded rather than silently reused.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import safetensors.torch
import torch

from tfgen.atomic import write_bytes_atomic
from tfgen.errors import TfgenError
from tfgen.model.vae import to_pixels
from tfgen.train.checkpoint import VAEBundle
from tfgen.train.dataset import Dataset, TrainingDocument

CACHE_FORMAT = "tfgen.latents/1"


@dataclass
class LatentCache:
    """Scaled VAE latents of a dataset's images, in document order."""

    latents: torch.Tensor  # (N, C, h, w) float32, already multiplied by scale_factor
    doc_offsets: torch.Tensor  # (D + 1,) int64
    scale_factor: float
    fingerprint: str  # VAE + dataset identity

    @property
    def num_documents(self) -> int:
        return len(self.doc_offsets) - 1

    def document_latents(self, doc: int) -> torch.Tensor:
        """(n_images, C, h, w) of document `doc`."""
        return self.latents[self.doc_offsets[doc] : self.doc_offsets[doc + 1]]


def cache_fingerprint(dataset: Dataset, bundle: VAEBundle) -> str:
    """A hash of the VAE weights and config, the image size and the dataset's shard contents."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"vae": bundle.vae.cfg.to_dict(), "scale": bundle.scale_factor,
                              "size": dataset.image_size}, sort_keys=True).encode())
    for name, tensor in sorted(bundle.vae.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    for shard in dataset.shards:
        digest.update(shard.name.encode())
        digest.update(hashlib.sha256(shard.read_bytes()).digest())
    return digest.hexdigest()


@torch.no_grad()
def encode_documents(
    documents: Iterable[TrainingDocument], bundle: VAEBundle, image_size: int, batch_size: int = 32, device: str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(latents (N, C, h, w) scaled, doc_offsets (D + 1,)) for the images of `documents`, in order."""
    vae = bundle.vae.to(device).eval()
    chunks: list[torch.Tensor] = []
    pending: list[np.ndarray] = []
    counts: list[int] = []

    def flush() -> None:
        pixels = to_pixels(pending, image_size).to(device)
        mean, _ = vae.encode(pixels)
        chunks.append((mean * bundle.scale_factor).float().cpu())
        pending.clear()

    for doc in documents:
        images = doc.images
        counts.append(len(images))
        for image in images:
            try:
                pending.append(image.pixels())
            except Exception as exc:  # Pillow raises many types for corrupt images
                raise TfgenError(f"cannot decode image ({type(exc).__name__})", where=doc.where) from None
            if len(pending) == batch_size:
                flush()
    if pending:
        flush()
    c, h, w = bundle.vae.cfg.latent_shape(image_size)
    latents = torch.cat(chunks) if chunks else torch.zeros((0, c, h, w))
    offsets = torch.zeros(len(counts) + 1, dtype=torch.int64)
    offsets[1:] = torch.cumsum(torch.tensor(counts, dtype=torch.int64), 0)
    return latents, offsets


def build_latent_cache(
    dataset: Dataset, bundle: VAEBundle, path: str | os.PathLike, batch_size: int = 32, device: str = "cpu"
) -> LatentCache:
    """Return the cache at `path` if it matches this VAE and dataset; otherwise encode and write it."""
    path = Path(path)
    fingerprint = cache_fingerprint(dataset, bundle)
    if path.is_file():
        try:
            cache = load_latent_cache(path)
            if cache.fingerprint == fingerprint:
                return cache
        except TfgenError:
            pass  # a damaged cache is simply rebuilt
    latents, offsets = encode_documents(dataset, bundle, dataset.image_size, batch_size=batch_size, device=device)
    meta = {"format": CACHE_FORMAT, "scale_factor": repr(float(bundle.scale_factor)), "fingerprint": fingerprint}
    data = safetensors.torch.save({"latents": latents.contiguous(), "doc_offsets": offsets}, metadata=meta)
    write_bytes_atomic(path, data)
    return LatentCache(latents, offsets, float(bundle.scale_factor), fingerprint)


def load_latent_cache(path: str | os.PathLike) -> LatentCache:
    """Read a cache file; a damaged or foreign file is a TfgenError naming it."""
    path = Path(path)
    try:
        data = path.read_bytes()
        tensors = safetensors.torch.load(data)
        meta = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")]).get("__metadata__") or {}
    except FileNotFoundError:
        raise TfgenError("latent cache not found", where=str(path)) from None
    except Exception as exc:  # SafetensorError, JSON or OS errors for a damaged file
        raise TfgenError(f"damaged latent cache ({exc})", where=str(path)) from None
    if meta.get("format") != CACHE_FORMAT or set(tensors) != {"latents", "doc_offsets"}:
        raise TfgenError(f"not a {CACHE_FORMAT} file", where=str(path))
    latents, offsets = tensors["latents"], tensors["doc_offsets"]
    if latents.dim() != 4 or offsets.dim() != 1 or int(offsets[-1]) != len(latents) or bool((offsets.diff() < 0).any()):
        raise TfgenError("inconsistent latent cache (offsets do not match the latents)", where=str(path))
    return LatentCache(latents, offsets, float(meta["scale_factor"]), meta.get("fingerprint", ""))
