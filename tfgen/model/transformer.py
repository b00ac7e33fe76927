"""The Llama-style transformer trunk (RMSNorm, SwiGLU, RoPE) shared by text and image positions.

Shapes: hidden states are (B, T, D); per-head tensors (B, H, T, Dh). An attention mask is a
boolean tensor broadcastable to (B, 1, T_query, T_key), True = may attend (exact: passed to
torch's scaled_dot_product_attention). Positions are integer sequence positions used only by RoPE,
which is relative, so any constant offset gives the same attention.

KV cache (for the sampler): `KVCache` holds each layer's keys/values for a prefix. A forward pass
with a cache writes the new block's keys/values after the prefix and attends to [prefix, block];
`commit=True` then makes the block part of the prefix (text decoding, prefill, the final clean
image), `commit=False` leaves the prefix as it was (each denoising step runs only the image's
patches against the cached prefix; the next step overwrites the scratch block). The cache also
memoises the RoPE rotations of the block it runs (the same positions at every denoising step).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from tfgen.model.config import ModelConfig
from tfgen.model.training_ops import RMSNormFunction, SwiGLUFunction


class RMSNorm(nn.Module):
    """Root-mean-square norm with a learned gain (no bias, no mean subtraction)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The hand-written passes pay on the CPU; on GPUs torch's own rms_norm is one fused kernel each way.
        if torch.is_grad_enabled() and x.device.type == "cpu" and x.dtype == self.weight.dtype:
            return RMSNormFunction.apply(x, self.weight, self.eps)
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


def rope_angles(positions: torch.Tensor, head_dim: int, theta: float) -> torch.Tensor:
    """Unit complex rotations (B or 1, T, 1, 1, Dh/2) for integer positions (B, T) or (T,), laid
    out to broadcast over q and k together in the (B, T, 2, H, Dh) view of the fused projection."""
    inv_freq = theta ** (-torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float32) / head_dim)
    pos = positions.float()
    if pos.dim() == 1:
        pos = pos[None]
    angles = pos[:, :, None, None, None] * inv_freq  # (B, T, 1, 1, Dh/2)
    return torch.polar(torch.ones_like(angles), angles)


def apply_rope(x: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
    """Rotate adjacent pairs (x[2i], x[2i+1]) of the last dim of (B, T, ..., Dh) by the angles.

    One complex multiply (fewer kernels than the cos/sin form), in float32 (bf16 angles would
    blur positions); returned in x's dtype.
    """
    pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(pairs * rotations).flatten(-2).to(x.dtype)


@dataclass
class KVCache:
    """Per-layer keys/values (B, H, capacity, Dh), filled up to `length`; preallocated."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    is_image: torch.Tensor  # (B, capacity) bool: cached position holds an image patch
    length: int = 0
    # RoPE rotations of blocks already run, keyed by (start, length): every denoising step of an
    # image runs the same positions, so its rotations are computed once per image, not per step.
    rope_memo: dict[tuple[int, int], torch.Tensor] = field(default_factory=dict)

    @classmethod
    def empty(cls, cfg: ModelConfig, batch: int, capacity: int, device: torch.device | str = "cpu",
              dtype: torch.dtype = torch.float32) -> "KVCache":
        shape = (batch, cfg.n_heads, capacity, cfg.head_dim)
        keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.n_layers)]
        values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.n_layers)]
        return cls(keys, values, torch.zeros((batch, capacity), dtype=torch.bool, device=device))

    @property
    def capacity(self) -> int:
        return self.keys[0].shape[2]

    def write(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write a block's k/v (B, H, Tn, Dh) right after the prefix and return views of
        [prefix, block] (B, H, length + Tn, Dh). The block joins the prefix only on `advance`, so
        an uncommitted block (a denoising step) is overwritten by the next one, with no copy of
        the prefix."""
        n = k.shape[2]
        end = self.length + n
        if end > self.capacity:
            raise ValueError(f"KV cache full: {self.length} + {n} > {self.capacity}")
        keys, values = self.keys[layer], self.values[layer]
        keys.narrow(2, self.length, n).copy_(k)  # copy_ also casts to the cache's dtype
        values.narrow(2, self.length, n).copy_(v)
        return keys.narrow(2, 0, end), values.narrow(2, 0, end)

    def block_rotations(self, n: int, head_dim: int, theta: float) -> torch.Tensor:
        """RoPE rotations (1, n, 1, 1, Dh/2) of the positions length .. length + n - 1 (memoised)."""
        key = (self.length, n)
        if key not in self.rope_memo:
            if len(self.rope_memo) > 64:  # text decoding walks through positions: keep the memo small
                self.rope_memo.clear()
            positions = torch.arange(self.length, self.length + n, device=self.keys[0].device)
            self.rope_memo[key] = rope_angles(positions, head_dim, theta)
        return self.rope_memo[key]

    def advance(self, n: int, is_image: bool = False) -> None:
        """Make the last written `n` positions part of the prefix."""
        self.is_image[:, self.length:self.length + n] = is_image
        self.length += n


class Attention(nn.Module):
    """Multi-head self-attention with a fused QKV projection and RoPE."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads, self.head_dim = cfg.n_heads, cfg.head_dim
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.out = nn.Linear(cfg.d_model, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor, rotations: torch.Tensor, mask: torch.Tensor | None,
                cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        B, T, D = x.shape
        # split, not slicing: its backward is one cat, where two slices each zero-fill a (B, T, 3, H, Dh) grad.
        qk, v = self.qkv(x).view(B, T, 3, self.n_heads, self.head_dim).split((2, 1), dim=2)
        qk = apply_rope(qk, rotations)  # q and k rotated in one pass: (B, T, 2, H, Dh)
        q, k = qk.permute(2, 0, 3, 1, 4)  # (B, H, T, Dh) each
        v = v.squeeze(2).transpose(1, 2)
        if cache is not None:
            k, v = cache.write(layer, k, v)
        y = attention(q, k, v, mask)
        return self.out(y.transpose(1, 2).reshape(B, T, D))


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """scaled_dot_product_attention of (B, H, T, Dh) q/k/v; float32 when training in bf16/fp16 on the CPU.

    torch's CPU flash attention is ~3x slower in bf16 than in float32 at our sizes, forward +
    backward (32 rows x 6 heads x 91 positions x 64, one thread: 106-113 ms vs 31-35 ms), so the
    training step runs it in float32 (more precise, not less), with autocast off, which would
    cast the inputs back down. Inference keeps the input dtype (sampling bytes unchanged).
    """
    low = q.dtype in (torch.bfloat16, torch.float16)
    if low and q.device.type == "cpu" and torch.is_grad_enabled():
        with torch.autocast("cpu", enabled=False):
            y = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask)
        return y.to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


class SwiGLU(nn.Module):
    """Gated feed-forward: W_down(silu(W_gate x) * W_up x), gate and up fused."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.gate_up = nn.Linear(cfg.d_model, 2 * cfg.ffn_dim, bias=False)
        self.down = nn.Linear(cfg.ffn_dim, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.gate_up(x)  # (B, T, 2F): [gate | up]
        if torch.is_grad_enabled():
            return self.down(SwiGLUFunction.apply(h))
        gate, up = h.chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)


class Block(nn.Module):
    """Pre-norm residual block: x + attn(norm(x)), then x + ffn(norm(x))."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.ffn = SwiGLU(cfg)

    def forward(self, x, rotations, mask, cache=None, layer=0):
        x = x + self.attn(self.attn_norm(x), rotations, mask, cache, layer)
        return x + self.ffn(self.ffn_norm(x))


class Transformer(nn.Module):
    """The stack of blocks and the final norm: embeddings in (B, T, D), hidden states out (B, T, D)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)

    def forward(self, x: torch.Tensor, positions: torch.Tensor | None, mask: torch.Tensor | None,
                cache: KVCache | None = None, commit: bool = False, is_image: bool = False,
                rotations: torch.Tensor | None = None) -> torch.Tensor:
        """Run `x` at `positions`; with a cache, `mask` covers keys [prefix, block] (B, 1, Tn, L + Tn).

        `commit` appends the block to the cache, flagged as image positions when `is_image`.
        `rotations` (from `rope_angles` or `KVCache.block_rotations`) replace `positions` when given.
        """
        if rotations is None:
            rotations = rope_angles(positions, self.cfg.head_dim, self.cfg.rope_theta)
        for i, block in enumerate(self.blocks):
            x = block(x, rotations, mask, cache, i)
        if cache is not None and commit:
            cache.advance(x.shape[1], is_image)
        return self.norm(x)
