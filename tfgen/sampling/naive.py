"""The reference backend: the whole sequence recomputed from scratch for every token and every
denoising step, through the training forward pass and the training attention mask.

Slow on purpose. Tests compare it with tfgen.sampling.backend.CachedBackend (same tokens and
latents for the same seed) and `tfgen bench` measures what the cache saves. Same contract as
CachedBackend (see there).
"""

from __future__ import annotations

import torch

from tfgen.model.batch import PackedBatch
from tfgen.model.transfusion import Transfusion

_PAD = 2  # any valid id: patch positions are replaced by patch embeddings


class NaiveBackend:
    """Keeps the sequence as token ids (-1 for patch positions) and the clean images so far."""

    def __init__(self, model: Transfusion, capacity: int, guided: bool = False, device: torch.device | str = "cpu"):
        self.model = model
        self.capacity = capacity
        self.device = torch.device(device)
        self.ids: list[int] = []
        self.images: list[torch.Tensor] = []  # clean latents (C, h, w), in order
        self.starts: list[int] = []  # first patch position of each image

    @property
    def length(self) -> int:
        return len(self.ids)

    @torch.inference_mode()
    def feed(self, ids: list[int]) -> torch.Tensor:
        self.ids.extend(ids)
        batch, latents, t = self._batch(1, None, None, None)
        hidden, _ = self.model(batch, latents, t)
        return self.model.lm_head(hidden[0, -1])

    @torch.no_grad()
    def denoise(self, latents: torch.Tensor, t: torch.Tensor, drop: torch.Tensor | None = None) -> torch.Tensor:
        batch, all_latents, all_t = self._batch(latents.shape[0], latents, t, drop)
        _, pred = self.model(batch, all_latents, all_t)
        return pred[:, -1]

    def commit_image(self, latents: torch.Tensor) -> None:
        self.starts.append(len(self.ids))
        self.ids.extend([-1] * self.model.cfg.patches_per_image)
        self.images.append(latents[0])

    def _batch(self, rows: int, current: torch.Tensor | None, t: torch.Tensor | None,
               drop: torch.Tensor | None) -> tuple[PackedBatch, torch.Tensor, torch.Tensor]:
        """The sequence so far (plus the image being drawn, if any) as a 1-document packed batch."""
        P = self.model.cfg.patches_per_image
        ids, starts = list(self.ids), list(self.starts)
        images = [img[None].expand(rows, *img.shape) for img in self.images]
        times = [torch.zeros(rows, device=self.device) for _ in self.images]
        if current is not None:
            starts.append(len(ids))
            ids.extend([-1] * P)
            images.append(current)
            times.append(t.float())
        dev = self.device
        raw = torch.tensor(ids, dtype=torch.long, device=dev)[None].expand(rows, -1)
        is_image = raw < 0
        image_id = torch.full_like(raw, -1)
        for m, s in enumerate(starts):
            image_id[:, s:s + P] = m
        M = len(images)
        drop_flags = torch.zeros((rows, M), dtype=torch.bool, device=dev)
        if current is not None and drop is not None:
            drop_flags[:, -1] = drop
        cfg = self.model.cfg
        latents = (torch.stack(images, dim=1) if M else
                   torch.zeros((rows, 0, cfg.latent_channels, cfg.latent_size, cfg.latent_size), device=dev))
        t_all = torch.stack(times, dim=1) if M else torch.zeros((rows, 0), device=dev)
        batch = PackedBatch(
            tokens=torch.where(is_image, torch.full_like(raw, _PAD), raw), is_image=is_image,
            doc_id=torch.zeros_like(raw), image_id=image_id,
            image_start=torch.tensor([starts], dtype=torch.long, device=dev).expand(rows, -1).reshape(rows, M),
            latents=latents, image_valid=torch.ones((rows, M), dtype=torch.bool, device=dev), image_t=t_all,
            image_is_target=torch.zeros((rows, M), dtype=torch.bool, device=dev),
            image_noise_limited=torch.zeros((rows, M), dtype=torch.bool, device=dev), image_drop_cond=drop_flags)
        return batch, latents, t_all
