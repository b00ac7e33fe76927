"""Hand-written forward and backward passes of the trunk's element-wise layers, for training.

On the CPU every element-wise op is one pass over memory, so what autograd derives from a formula
costs passes a hand-written backward does not need (measured at 32 rows x 91 positions, width 384,
one thread):
- RMSNorm: torch's forward (`F.rms_norm`) is composite on the CPU (pow, mean, rsqrt, two products,
  ~4.6 ms); one fused reduction (`vector_norm`) and two products take ~0.8 ms. Its derived backward
  takes ~12 passes; the one below takes 5.
- SwiGLU: the gate/up projection is one matrix product whose output is split in two, so autograd's
  backward concatenates the two halves' gradients (a full copy of the widest activation); the
  backward below writes each half's gradient in place into one buffer.
Sampling keeps torch's own ops (`no_grad`), so its outputs do not depend on this module; so do GPUs for
RMSNorm, where torch's rms_norm is one fused kernel each way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class RMSNormFunction(torch.autograd.Function):
    """y = x * rstd * w with rstd = 1 / sqrt(mean(x^2) + eps) over the last dim; x (..., D), w (D,)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        D = x.shape[-1]
        rstd = torch.linalg.vector_norm(x, dim=-1, keepdim=True).square_().div_(D).add_(eps).rsqrt_()  # (..., 1)
        x_hat = x * rstd  # kept instead of x (same size): the backward needs no pass to rebuild it
        ctx.save_for_backward(x_hat, weight, rstd)
        return x_hat * weight

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x_hat, weight, rstd = ctx.saved_tensors
        grad_x_hat = grad * weight
        grad_weight = (grad * x_hat).flatten(0, -2).sum(0) if ctx.needs_input_grad[1] else None
        # d/dx of x * rstd: rstd * (g - x_hat * mean(g * x_hat)), g the gradient w.r.t. x_hat.
        dot = (grad_x_hat * x_hat).mean(-1, keepdim=True)
        grad_x = torch.addcmul(grad_x_hat, x_hat, dot, value=-1.0).mul_(rstd)
        return grad_x, grad_weight, None


class SwiGLUFunction(torch.autograd.Function):
    """silu(gate) * up of the fused projection h = [gate | up] (..., 2F) -> (..., F)."""

    @staticmethod
    def forward(ctx, h: torch.Tensor) -> torch.Tensor:
        gate, up = h.chunk(2, dim=-1)
        act = F.silu(gate)
        ctx.save_for_backward(h, act)
        return act * up

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        h, act = ctx.saved_tensors
        gate, up = h.chunk(2, dim=-1)
        grad_h = torch.empty_like(h)
        grad_gate, grad_up = grad_h.chunk(2, dim=-1)  # views: each half written in place
        torch.mul(grad, act, out=grad_up)
        torch.mul(grad, up, out=grad_gate)  # the gradient w.r.t. silu(gate) ...
        torch.ops.aten.silu_backward.grad_input(grad_gate, gate, grad_input=grad_gate)  # ... then through silu
        return grad_h
