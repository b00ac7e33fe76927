"""The Transfusion attention mask for packed sequences, built once per batch, vectorised.

Inputs per position (B, T): `doc_id` (>= 0 for a packed document, -1 for padding) and
`image_id` (-1 for text, BOI and EOI included; m >= 0 for the patches of the row's image m).
Per image (B, M): `drop_condition` (classifier-free guidance training).

Query position i may attend to key position j (True in the (B, 1, T, T) boolean mask) when:
1. Same document: doc_id[i] == doc_id[j] and both >= 0. Packed documents never see each other.
2. Causal text: j <= i.
3. Bidirectional images: i and j are patches of the same image (any order). With
   image_attention "causal" (the paper's ablation) this rule is off: patches of an image see only
   earlier patches of it (j <= i), like text.
4. Cross-image switch, for i a patch of image m:
   - "allowed": rule 2 holds as is, so image m attends to the patches of earlier images of its
     document (this is the paper's plain causal+bidirectional mask).
   - "blocked": image m does NOT attend directly to the patches of any other image. It still
     attends to all text (BOI/EOI included) before it, and text positions after an earlier image
     still see that image, so what reaches image m about earlier images is only what flowed into
     the text tokens' hidden states. Text after an image always sees the image (both settings).
5. Dropped condition: the patches of an image with drop_condition attend only to the patches of
   the same image (no prefix, not even its BOI, whose hidden state carries the prefix), so the
   model learns the unconditional prediction used by classifier-free guidance (with
   image_attention "causal": only its earlier patches).
6. Every position attends to itself, so padding rows are never empty (an all-False row would make
   softmax NaN); padding is excluded from every loss.
"""

from __future__ import annotations

import torch

CROSS_IMAGE_MODES = ("blocked", "allowed")
IMAGE_ATTENTION_MODES = ("bidirectional", "causal")


def position_flags(image_id: torch.Tensor, per_image: torch.Tensor) -> torch.Tensor:
    """Spread a per-image flag (B, M) to positions (B, T): the image's flag on its patches, else False."""
    idx = image_id.clamp(min=0)
    return torch.gather(per_image, 1, idx) & (image_id >= 0)


def build_attention_mask(doc_id: torch.Tensor, image_id: torch.Tensor,
                         drop_condition: torch.Tensor | None = None,
                         cross_image: str = "blocked", image_attention: str = "bidirectional") -> torch.Tensor:
    """The boolean mask (B, 1, T, T), True = may attend; rules in the module docstring."""
    if cross_image not in CROSS_IMAGE_MODES:
        raise ValueError(f"cross_image must be one of {CROSS_IMAGE_MODES}, got {cross_image!r}")
    if image_attention not in IMAGE_ATTENTION_MODES:
        raise ValueError(f"image_attention must be one of {IMAGE_ATTENTION_MODES}, got {image_attention!r}")
    B, T = doc_id.shape
    ar = torch.arange(T, device=doc_id.device)
    causal = ar[None, :, None] >= ar[None, None, :]  # (1, T, T)
    q_doc, k_doc = doc_id[:, :, None], doc_id[:, None, :]
    same_doc = (q_doc == k_doc) & (q_doc >= 0)
    q_img, k_img = image_id[:, :, None], image_id[:, None, :]
    q_is_img, k_is_img = q_img >= 0, k_img >= 0
    same_image = (q_img == k_img) & q_is_img
    if image_attention == "causal":
        same_image = same_image & causal
    allowed = causal | same_image
    if cross_image == "blocked":
        allowed = allowed & ~(q_is_img & k_is_img & ~same_image)
    if drop_condition is not None and drop_condition.shape[1] > 0:
        dropped = position_flags(image_id, drop_condition)[:, :, None]
        allowed = torch.where(dropped, same_image, allowed)
    mask = (allowed & same_doc) | torch.eye(T, dtype=torch.bool, device=doc_id.device)
    return mask[:, None]
