"""The Transfusion model: one transformer over text tokens and diffusion image patches.

Training (`loss`): a PackedBatch (tfgen.model.batch) in, L = L_LM + lambda * L_image out, all
vectorised with fixed shapes: no per-sample Python and no host synchronisation in the step.

Which positions carry which loss:
- LM loss at input position i predicts token i+1 and counts only when positions i and i+1 are
  text of the same document (not padding). So there is no LM loss predicting an image patch (the
  BOI input position predicts the first patch: excluded), none from an image patch (the last patch
  would predict EOI: excluded; the sampler writes EOI itself after the last denoising step), and
  none across packed documents (EOS -> next BOS excluded). Predicting BOI from text and the token
  after EOI from EOI both count: the model learns when to start an image and to resume text.
- Image loss: MSE between the image head and the objective's target (epsilon for "ddpm",
  velocity eps - x0 for "flow"), averaged per image over (C, h, w), then over the images that are
  valid noised targets. Clean context images (t = 0) and text carry no image loss. Images with a
  dropped condition keep their loss (that is the unconditional model).

Sampling (KV cache): `prefill` runs text causally and appends it to the cache; `denoise` runs only
one image's patches (bidirectional among themselves, or causal with image_attention "causal")
against the cached prefix, with `commit=False` for each denoising step and `commit=True` once with
the clean latents at t = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tfgen.diffusion.objectives import add_noise, training_target
from tfgen.diffusion.schedules import CosineSchedule
from tfgen.model.batch import PackedBatch, lm_loss_positions
from tfgen.model.config import ModelConfig
from tfgen.model.mask import build_attention_mask
from tfgen.model.patches import TimestepEmbedding, build_patch_codec
from tfgen.model.transformer import KVCache, Transformer


@dataclass
class LossOutput:
    """The combined loss and its parts (0-dim tensors, still on the device)."""

    total: torch.Tensor
    lm: torch.Tensor
    image: torch.Tensor


class Transfusion(nn.Module):
    """Token embedding + patch encoder in, shared transformer, LM head + patch decoder out."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.schedule = CosineSchedule(cfg.num_train_timesteps)
        # The table lives with the model so the step never copies it to the device.
        self.register_buffer("alpha_bar", self.schedule.alpha_bar.float(), persistent=False)
        self.tok_embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.time_embed = TimestepEmbedding(cfg.d_model)
        # A learned embedding per patch slot gives the 1D sequence the image's 2D layout.
        self.patch_pos = nn.Parameter(torch.zeros(cfg.patches_per_image, cfg.d_model))
        self.patch_in, self.patch_out = build_patch_codec(cfg)
        self.transformer = Transformer(cfg)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.apply(_init_weights)
        nn.init.normal_(self.patch_pos, std=0.02)

    # --- images -------------------------------------------------------------------------------
    def embed_images(self, latents: torch.Tensor, t: torch.Tensor):
        """(N, C, h, w), (N,) -> patch embeddings (N, P, D), U-Net skips, time embedding (N, D)."""
        temb = self.time_embed(t)
        emb, skips = self.patch_in(latents, temb)
        return emb + temb[:, None, :] + self.patch_pos, skips, temb

    def decode_images(self, hidden: torch.Tensor, skips: list[torch.Tensor], temb: torch.Tensor) -> torch.Tensor:
        """(N, P, D) final hidden states of the patches -> (N, C, h, w) prediction."""
        return self.patch_out(hidden, skips, temb)

    # --- training -----------------------------------------------------------------------------
    def forward(self, batch: PackedBatch, latents: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run a packed batch whose images are `latents` (B, M, C, h, w) at times `t` (B, M).

        Returns hidden states (B, T, D) and the image head's output (B, M, C, h, w).
        """
        cfg = self.cfg
        B, T = batch.tokens.shape
        M, P = latents.shape[1], cfg.patches_per_image
        x = self.tok_embed(batch.tokens)  # (B, T, D)
        mask = build_attention_mask(batch.doc_id, batch.image_id, batch.image_drop_cond, cfg.cross_image,
                                    cfg.image_attention)
        positions = torch.arange(T, device=x.device)
        if M == 0:  # a text-only batch (a static shape, not a data-dependent branch)
            return self.transformer(x, positions, mask), latents
        emb, skips, temb = self.embed_images(latents.flatten(0, 1), t.flatten())  # (B*M, P, D)
        # Scatter patches into the sequence as a gather: position -> (image m, patch k).
        m = batch.image_id.clamp(min=0)
        k = (positions - torch.gather(batch.image_start, 1, m)).clamp(0, P - 1)
        src = (m * P + k)[..., None].expand(B, T, x.shape[-1])
        patches = torch.gather(emb.reshape(B, M * P, -1).to(x.dtype), 1, src)
        x = torch.where(batch.is_image[..., None], patches, x)
        hidden = self.transformer(x, positions, mask)
        # Gather each image's patch outputs back: (B, M, P) positions.
        pos = (batch.image_start[..., None] + torch.arange(P, device=x.device)).clamp(max=T - 1)
        idx = pos.reshape(B, M * P)[..., None].expand(B, M * P, hidden.shape[-1])
        img_hidden = torch.gather(hidden, 1, idx).reshape(B * M, P, -1)
        pred = self.decode_images(img_hidden, skips, temb)
        return hidden, pred.reshape(latents.shape)

    def loss(self, batch: PackedBatch, generator: torch.Generator | None = None) -> LossOutput:
        """L = L_LM + lambda * L_image for a batch whose `image_t` is already drawn."""
        cfg = self.cfg
        x0 = batch.latents
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        target = batch.image_is_target & batch.image_valid  # (B, M)
        x_t = add_noise(cfg.objective, self.alpha_bar, x0, noise, batch.image_t)
        x_in = torch.where(target[..., None, None, None], x_t, x0)
        t_in = torch.where(target, batch.image_t, torch.zeros_like(batch.image_t))
        hidden, pred = self(batch, x_in, t_in)
        lm = self.lm_loss(hidden, batch)
        err = (pred.float() - training_target(cfg.objective, x0, noise).float()).pow(2).mean(dim=(2, 3, 4))
        w = target.float()
        image = (err * w).sum() / w.sum().clamp(min=1.0)
        return LossOutput(total=lm + cfg.image_loss_weight * image, lm=lm, image=image)

    def lm_loss(self, hidden: torch.Tensor, batch: PackedBatch) -> torch.Tensor:
        """Mean next-token cross-entropy over the positions named in the module docstring.

        With `batch.lm_index` the head runs only on those K positions per row (same value).
        """
        if batch.lm_index is None:
            weights = lm_loss_positions(batch).float()  # (B, T-1)
            inputs, targets = hidden[:, :-1], batch.tokens[:, 1:]
        else:
            index = batch.lm_index.clamp(min=0)  # (B, K)
            weights = (batch.lm_index >= 0).float()
            inputs = torch.gather(hidden, 1, index[..., None].expand(-1, -1, hidden.shape[-1]))
            targets = torch.gather(batch.tokens, 1, index + 1)
        logits = self.lm_head(inputs).float()  # (B, K or T-1, V)
        ce = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none")
        return (ce * weights.flatten()).sum() / weights.sum().clamp(min=1.0)

    # --- sampling with a KV cache ---------------------------------------------------------------
    def new_cache(self, batch: int, capacity: int, device: torch.device | str = "cpu",
                  dtype: torch.dtype = torch.float32) -> KVCache:
        return KVCache.empty(self.cfg, batch, capacity, device, dtype)

    def forward_block(self, x: torch.Tensor, cache: KVCache, attend_mask: torch.Tensor | None = None,
                      causal: bool = False, commit: bool = False, is_image: bool = False,
                      positions: torch.Tensor | None = None) -> torch.Tensor:
        """Run new positions `x` (B, Tn, D) after the cached prefix; returns hidden (B, Tn, D).

        attend_mask: which keys each row may see, (B, L + Tn) or (B, Tn, L + Tn) over [prefix,
        block]; None = all. `causal` additionally makes the block causal within itself.
        positions: (Tn,) or (B, Tn) RoPE positions; default L .. L + Tn - 1 (only differences
        matter, RoPE being relative).
        """
        B, Tn, _ = x.shape
        L = cache.length
        rotations = None
        if positions is None:
            rotations = cache.block_rotations(Tn, self.cfg.head_dim, self.cfg.rope_theta)
        if attend_mask is None and (not causal or Tn == 1):
            # Every key visible: no mask at all, the cheapest attention call (a denoising step of
            # an unguided image with cross-image attention allowed; one decoded text token).
            return self.transformer(x, positions, None, cache, commit, is_image, rotations)
        mask = torch.ones((B, Tn, L + Tn), dtype=torch.bool, device=x.device)
        if attend_mask is not None:
            mask = mask & (attend_mask[:, None, :] if attend_mask.dim() == 2 else attend_mask)
        if causal:
            mask[:, :, L:] &= torch.ones((Tn, Tn), dtype=torch.bool, device=x.device).tril()
        return self.transformer(x, positions, mask[:, None], cache, commit, is_image, rotations)

    def prefill(self, tokens: torch.Tensor, cache: KVCache, attend_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Append text tokens (B, Tn) causally to the cache; returns their logits (B, Tn, V)."""
        hidden = self.forward_block(self.tok_embed(tokens), cache, attend_mask, causal=True, commit=True)
        return self.lm_head(hidden)

    def denoise(self, latents: torch.Tensor, t: torch.Tensor, cache: KVCache,
                drop_condition: torch.Tensor | None = None, commit: bool = False) -> torch.Tensor:
        """One image's patches (B, C, h, w) at times t (B,) against the cached prefix -> (B, C, h, w).

        Follows the training mask: with cross_image "blocked" earlier image patches in the cache
        are hidden; rows with `drop_condition` (B,) see no prefix at all (the unconditional branch
        of classifier-free guidance, runnable in the same batch).
        """
        B, P, L = latents.shape[0], self.cfg.patches_per_image, cache.length
        visible = None  # all of [prefix, image]
        if self.cfg.cross_image == "blocked" or drop_condition is not None:
            visible = torch.ones((B, L + P), dtype=torch.bool, device=latents.device)
        if self.cfg.cross_image == "blocked":
            visible[:, :L] &= ~cache.is_image[:, :L]
        if drop_condition is not None:
            visible[:, :L] &= ~drop_condition[:, None]
        emb, skips, temb = self.embed_images(latents, t)
        causal = self.cfg.image_attention == "causal"
        hidden = self.forward_block(emb, cache, visible, causal=causal, commit=commit, is_image=True)
        return self.decode_images(hidden, skips, temb)


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (works on the meta device)."""
    return sum(p.numel() for p in model.parameters())
