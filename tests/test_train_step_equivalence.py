"""The training step's speed restructurings compute the same maths: the hand-written RMSNorm and SwiGLU
passes, the split QKV projection, and the trainer's host-side `lm_index` (LM head on text positions only)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from tfgen.model import transformer as transformer_module  # noqa: E402
from tfgen.model.batch import random_packed_batch  # noqa: E402
from tfgen.model.config import preset  # noqa: E402
from tfgen.model.training_ops import RMSNormFunction, SwiGLUFunction  # noqa: E402
from tfgen.model.transformer import Attention, RMSNorm, rope_angles  # noqa: E402
from tfgen.model.transfusion import Transfusion  # noqa: E402
from tfgen.train.config import train_config_from_mapping  # noqa: E402
from tfgen.train.distributed import DistContext  # noqa: E402
from tfgen.train.trainer import Trainer, TransfusionLossModule  # noqa: E402

torch.set_num_threads(1)
CFG = preset("tiny").replace(latent_size=4, patch_size=2)


def test_rms_norm_backward_matches_torch():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 7, 16, generator=g, requires_grad=True)
    w = (1 + 0.3 * torch.randn(16, generator=g)).requires_grad_()
    upstream = torch.randn(3, 7, 16, generator=g)
    ours = RMSNormFunction.apply(x, w, 1e-5)
    ref = F.rms_norm(x, (16,), w, 1e-5)
    assert torch.allclose(ours, ref, atol=1e-6)
    got = torch.autograd.grad(ours, (x, w), upstream)
    want = torch.autograd.grad(ref, (x, w), upstream)
    for a, b in zip(got, want):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5)


def test_rms_norm_backward_passes_gradcheck_in_float64():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 8, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(8, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: RMSNormFunction.apply(a, b, 1e-6), (x, w))


def test_rms_norm_module_uses_torch_without_grad():
    norm = RMSNorm(16, 1e-5)
    x = torch.randn(2, 5, 16)
    with torch.no_grad():  # sampling: exactly F.rms_norm, bytes unchanged
        assert torch.equal(norm(x), F.rms_norm(x, (16,), norm.weight, 1e-5))


def _swiglu_reference(h: torch.Tensor) -> torch.Tensor:
    gate, up = h.chunk(2, dim=-1)
    return F.silu(gate) * up


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_swiglu_forward_and_backward_equal_autograd_bit_for_bit(dtype):
    g = torch.Generator().manual_seed(2)
    h = torch.randn(3, 7, 2 * 24, generator=g).to(dtype).requires_grad_()
    upstream = torch.randn(3, 7, 24, generator=g).to(dtype)
    ours, ref = SwiGLUFunction.apply(h), _swiglu_reference(h)
    assert ours.dtype == dtype and torch.equal(ours, ref)
    assert torch.equal(torch.autograd.grad(ours, h, upstream)[0], torch.autograd.grad(ref, h, upstream)[0])


def test_swiglu_backward_passes_gradcheck_in_float64():
    h = torch.randn(2, 3, 10, generator=torch.Generator().manual_seed(3), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(SwiGLUFunction.apply, (h,))


def test_split_attention_matches_sliced_reference():
    torch.manual_seed(0)
    attn = Attention(CFG)
    B, T, D = 2, 9, CFG.d_model
    x = torch.randn(B, T, D, requires_grad=True)
    rot = rope_angles(torch.arange(T), CFG.head_dim, CFG.rope_theta)
    mask = torch.ones(T, T, dtype=torch.bool).tril()[None, None]

    def reference(inp):  # the former slicing form
        qkv = attn.qkv(inp).view(B, T, 3, attn.n_heads, attn.head_dim)
        q, k = transformer_module.apply_rope(qkv[:, :, :2], rot).permute(2, 0, 3, 1, 4)
        v = qkv[:, :, 2].transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return attn.out(y.transpose(1, 2).reshape(B, T, D))

    upstream = torch.randn(B, T, D)
    ours, ref = attn(x, rot, mask), reference(x)
    assert torch.allclose(ours, ref, atol=1e-6)
    params = (x, attn.qkv.weight, attn.out.weight)
    for a, b in zip(torch.autograd.grad(ours, params, upstream), torch.autograd.grad(ref, params, upstream)):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)


class _TorchRMSNorm:
    """Stand-in for RMSNormFunction: torch's own op, its backward derived by autograd."""

    @staticmethod
    def apply(x, weight, eps):
        return F.rms_norm(x, (x.shape[-1],), weight, eps)


class _TorchSwiGLU:
    apply = staticmethod(_swiglu_reference)


def _loss_and_grads(model: Transfusion, batch) -> tuple[torch.Tensor, list[torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    loss = model.loss(batch, torch.Generator().manual_seed(5)).total
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


def test_model_loss_and_gradients_match_torch_ops_and_full_lm_head(monkeypatch):
    torch.manual_seed(0)
    model = Transfusion(CFG)
    batch = random_packed_batch(CFG, 3, 40, torch.Generator().manual_seed(2))
    prepared = TransfusionLossModule(model).prepare_batch(batch)
    assert prepared.lm_index is not None and prepared.lm_index.shape[1] < 39  # fewer LM positions than T - 1
    loss, grads = _loss_and_grads(model, prepared)
    with monkeypatch.context() as patch:  # the reference: torch's ops, every LM position
        patch.setattr(transformer_module, "RMSNormFunction", _TorchRMSNorm)
        patch.setattr(transformer_module, "SwiGLUFunction", _TorchSwiGLU)
        ref_loss, ref_grads = _loss_and_grads(model, batch)
    assert torch.allclose(loss, ref_loss, rtol=1e-5)
    for a, b in zip(grads, ref_grads):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)


def test_trainer_prepares_host_batches_with_lm_index(tmp_path):
    batch = random_packed_batch(CFG, 2, 40, torch.Generator().manual_seed(3))
    cfg = train_config_from_mapping(dict(steps=2, batch_size=2, seq_len=40, warmup_steps=1, dtype="fp32",
                                         device="cpu", log_every=1, checkpoint_every=10**9, state_every=10**9))
    ctx = DistContext(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"), owns_group=False)
    trainer = Trainer(cfg, TransfusionLossModule(Transfusion(CFG)), iter([batch, batch]), tmp_path, ctx=ctx,
                      show_progress=False)
    prepared = trainer.prepare_batch(batch)
    assert batch.lm_index is None and torch.equal(prepared.lm_index, batch.with_lm_index().lm_index)
    assert trainer.prepare_batch(prepared) is prepared  # already indexed: left alone
    other = {"x": torch.zeros(2)}
    assert trainer.prepare_batch(other) is other  # not a PackedBatch: left alone


class RecordingLossModule(TransfusionLossModule):
    """Records whether each batch reaching the step carries an lm_index."""

    def __init__(self, net):
        super().__init__(net)
        self.seen: list[bool] = []

    def forward(self, batch, generator=None):
        self.seen.append(batch.lm_index is not None)
        return super().forward(batch, generator)


def test_fit_runs_the_step_on_prepared_batches(tmp_path):
    batch = random_packed_batch(CFG, 2, 40, torch.Generator().manual_seed(4))
    cfg = train_config_from_mapping(dict(steps=2, batch_size=2, seq_len=40, warmup_steps=1, dtype="fp32",
                                         device="cpu", log_every=1, checkpoint_every=10**9, state_every=10**9))
    ctx = DistContext(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"), owns_group=False)
    module = RecordingLossModule(Transfusion(CFG))

    class Source:
        def __iter__(self):
            return self

        def __next__(self):
            return batch

        def state_dict(self):
            return {}

        def load_state_dict(self, state):
            pass

    Trainer(cfg, module, Source(), tmp_path, ctx=ctx, show_progress=False).fit()
    assert module.seen == [True, True]


def test_cpu_training_attention_runs_in_float32_under_bf16_autocast():
    g = torch.Generator().manual_seed(6)
    q, k, v = (torch.randn(2, 3, 11, 8, generator=g).bfloat16().requires_grad_() for _ in range(3))
    mask = torch.ones(11, 11, dtype=torch.bool).tril()[None, None]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = transformer_module.attention(q, k, v, mask)
        with torch.no_grad():  # inference: the input dtype, exactly torch's call
            assert torch.equal(transformer_module.attention(q, k, v, mask),
                               F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    want = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask)
    assert got.dtype == torch.bfloat16 and torch.equal(got, want.bfloat16())
    got.float().sum().backward()
    assert q.grad is not None and q.grad.dtype == torch.bfloat16 and bool(q.grad.abs().sum() > 0)
