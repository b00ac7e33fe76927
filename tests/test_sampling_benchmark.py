"""`tfgen bench`'s figures (tfgen.sampling.benchmark): the rows it produces, and the transfusion-pytorch
comparison reported, skipped or refused cleanly whether that package is missing, unknown or present."""

from __future__ import annotations

import functools
import sys
import types

import pytest
import torch

from tfgen.model.config import preset
from tfgen.model.transfusion import Transfusion
from tfgen.sampling.benchmark import BenchConfig, BenchReport, _reference_sampler, run_bench

torch.set_num_threads(1)

CFG = BenchConfig(prefix=20, steps=3, step_counts=(2,), text_tokens=4, guidance=3.0, repeats=1)


@pytest.fixture(scope="module")
def tiny_model() -> Transfusion:
    torch.manual_seed(0)
    return Transfusion(preset("tiny")).eval().requires_grad_(False)


def _ours_never_called(guidance: float):
    raise AssertionError("our side must not run when theirs cannot")


def _fake_odeint(fn, y0, times, method="euler"):
    """torchdiffeq's fixed-grid solvers, by their count of evaluations: euler 1, midpoint 2 per interval."""
    y = y0
    for t0, t1 in zip(times[:-1], times[1:]):
        dt = t1 - t0
        if method == "midpoint":
            y = y + dt * fn(t0 + dt / 2, y + dt / 2 * fn(t0, y))
        else:
            y = y + dt * fn(t0, y)
    return torch.stack([y0, y])


class _FakeTransfusion:
    """The slice of transfusion-pytorch's API the bench uses: the constructor and `sample_many`."""

    method_override: str | None = None

    def __init__(self, *, num_text_tokens, dim_latent, modality_default_shape, odeint_kwargs, transformer):
        self.dim_latent, self.shape = dim_latent, modality_default_shape
        kwargs = dict(odeint_kwargs, method=self.method_override or odeint_kwargs["method"])
        self.odeint_fn = functools.partial(_fake_odeint, **kwargs)
        self.transformer = transformer
        self.calls: list[dict] = []

    def eval(self):
        return self

    def requires_grad_(self, flag):
        return self

    def sample_many(self, prompts, **kwargs):
        self.calls.append(dict(kwargs, prompt_len=len(prompts[0])))
        noise = torch.randn(*kwargs["fixed_modality_shape"], self.dim_latent)
        times = torch.linspace(0, 1, kwargs["modality_steps"])
        return [self.odeint_fn(lambda t, y: -y, noise, times)[-1]]


def _install_fake(monkeypatch, transfusion_cls) -> types.ModuleType:
    package = types.ModuleType("transfusion_pytorch")
    package.Transfusion = transfusion_cls
    diffeq = types.ModuleType("torchdiffeq")
    diffeq.odeint = _fake_odeint
    monkeypatch.setitem(sys.modules, "transfusion_pytorch", package)
    monkeypatch.setitem(sys.modules, "torchdiffeq", diffeq)
    return package


def test_missing_package_gives_a_skipped_row(monkeypatch, tiny_model):
    monkeypatch.setitem(sys.modules, "transfusion_pytorch", None)  # import raises ImportError
    report = BenchReport("tiny")
    assert _reference_sampler(tiny_model, CFG, report, _ours_never_called, CFG.steps) == "not installed"
    assert report.rows == [{"name": "transfusion-pytorch sampler", "seconds": None,
                            "note": "skipped: package not installed"}]


def test_unknown_api_is_reported_not_raised(monkeypatch, tiny_model):
    class Incompatible:
        def __init__(self, **kwargs):
            raise TypeError("unexpected keyword 'transformer'")

    _install_fake(monkeypatch, Incompatible)
    report = BenchReport("tiny")
    outcome = _reference_sampler(tiny_model, CFG, report, _ours_never_called, CFG.steps)
    assert outcome.startswith("failed: TypeError")
    assert len(report.rows) == 1 and report.rows[0]["seconds"] is None
    assert "unexpected keyword" in report.rows[0]["note"]


def test_same_work_pairs_give_a_ratio_per_guidance(monkeypatch, tiny_model):
    _install_fake(monkeypatch, _FakeTransfusion)
    asked: list[float] = []

    def ours(guidance: float):
        asked.append(guidance)
        return lambda: 0.5

    report = BenchReport("tiny")
    figures = _reference_sampler(tiny_model, CFG, report, ours, CFG.steps)
    assert asked == [1.0, 3.0]
    for key in ("unguided", "guidance_3"):
        assert figures[key]["their_evaluations"] == CFG.steps  # steps + 1 times, Euler: one per step
        assert figures[key]["ours"] == 0.5
        assert figures[key]["ratio"] == pytest.approx(figures[key]["theirs"] / 0.5)
    names = [row["name"] for row in report.rows]
    assert len(names) == 4 and all(f"{CFG.prefix}-position cached prefix, denoising loop only" in n for n in names)
    assert "faster than transfusion-pytorch" in report.rows[1]["note"]


def test_their_call_starts_the_image_after_the_prefix_and_stops_after_it(monkeypatch, tiny_model):
    package = _install_fake(monkeypatch, _FakeTransfusion)
    made: list[_FakeTransfusion] = []
    monkeypatch.setattr(package, "Transfusion", lambda **kw: made.append(_FakeTransfusion(**kw)) or made[-1])
    _reference_sampler(tiny_model, CFG, BenchReport("tiny"), lambda g: (lambda: 1.0), CFG.steps)
    mc = tiny_model.cfg
    assert made[0].transformer == dict(dim=mc.d_model, depth=mc.n_layers, heads=mc.n_heads, dim_head=mc.head_dim)
    call = made[0].calls[0]
    # [sos] + prompt + [som] = the prefix; no text after the image; steps + 1 times = steps evaluations
    assert call["prompt_len"] + 2 == CFG.prefix
    assert call["force_modality_at_start"] == 0 and call["max_length"] == mc.patches_per_image - 1
    assert call["modality_steps"] == CFG.steps + 1
    assert {c["cfg_scale"] for c in made[0].calls} == {1.0, CFG.guidance}


def test_a_count_of_evaluations_that_differs_gives_no_ratio(monkeypatch, tiny_model):
    class Midpoint(_FakeTransfusion):
        method_override = "midpoint"

    _install_fake(monkeypatch, Midpoint)
    report = BenchReport("tiny")
    figures = _reference_sampler(tiny_model, CFG, report, lambda g: (lambda: 1.0), CFG.steps)
    assert figures["unguided"]["their_evaluations"] == 2 * CFG.steps
    assert figures["unguided"]["ratio"] is None
    assert "NFE mismatch" in report.rows[1]["note"] and "faster" not in report.rows[1]["note"]


def test_run_bench_produces_every_row_without_the_package(monkeypatch, tiny_model):
    monkeypatch.setitem(sys.modules, "transfusion_pytorch", None)
    report = run_bench(tiny_model, "tiny", CFG)
    names = [row["name"] for row in report.rows]
    assert names[0].startswith("naive loop") and names[1].startswith("prefix-cached")
    assert any(n.startswith("one image, 2 steps") for n in names)
    assert names[-1] == "transfusion-pytorch sampler" and report.rows[-1]["seconds"] is None
    assert all(row["seconds"] > 0 for row in report.rows[:-1])
    assert report.figures["transfusion_pytorch"] == "not installed"


def test_against_the_real_package_when_installed(tiny_model):
    pytest.importorskip("transfusion_pytorch")
    report = BenchReport("tiny")
    ours = lambda guidance: (lambda: 1.0)  # noqa: E731 - their side is what is under test here
    figures = _reference_sampler(tiny_model, CFG, report, ours, CFG.steps)
    assert isinstance(figures, dict), figures
    for key in ("unguided", "guidance_3"):
        assert figures[key]["their_evaluations"] == CFG.steps
        assert figures[key]["theirs"] > 0 and figures[key]["their_gflop"] > 0
    # guided, they run two transformer passes per evaluation: about twice the operations
    assert figures["guidance_3"]["their_gflop"] == pytest.approx(2 * figures["unguided"]["their_gflop"], rel=0.05)
