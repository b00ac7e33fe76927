"""Samplers: the diffusers-shaped set_timesteps/step API, and exactness against known answers."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from tfgen.diffusion import (CosineSchedule, DDIMSampler, DDPMSampler, FlowEulerSampler,  # noqa: E402
                             FlowHeunSampler)

torch.set_num_threads(1)
S = CosineSchedule()
X0 = torch.tensor([[0.5, -1.0], [1.5, 0.25]]).reshape(1, 1, 2, 2)


def oracle_eps(x: torch.Tensor, t: int) -> torch.Tensor:
    """The exact epsilon when the data is the single point X0."""
    ab = float(S.alpha_bar[int(t)])
    return (x - ab**0.5 * X0) / (1 - ab) ** 0.5


def oracle_velocity(x: torch.Tensor, t: float) -> torch.Tensor:
    sigma = float(t) / 999
    return (x - X0) / sigma  # x = (1 - s) x0 + s eps  =>  eps - x0 = (x - x0) / s


@pytest.mark.parametrize("cls", [DDPMSampler, DDIMSampler])
@pytest.mark.parametrize("steps", [1000, 50, 7])
def test_epsilon_samplers_recover_the_single_data_point(cls, steps):
    sampler = cls(S, generator=torch.Generator().manual_seed(0))
    sampler.set_timesteps(steps)
    assert len(sampler.timesteps) == steps and int(sampler.timesteps[0]) == 999
    x = torch.randn(X0.shape, generator=torch.Generator().manual_seed(1))
    for t in sampler.timesteps:
        x = sampler.step(oracle_eps(x, t), t, x)
    assert torch.allclose(x, X0, atol=1e-4)


def test_ddim_eta1_full_steps_matches_ddpm_path():
    ddpm, ddim = DDPMSampler(S), DDIMSampler(S, eta=1.0)
    ddpm.set_timesteps(1000)
    ddim.set_timesteps(1000)
    g = torch.Generator().manual_seed(3)
    x_a = x_b = torch.randn(2, 3, 4, 4, generator=g)
    eps_model = lambda x, t: torch.tanh(x) * (t / 999)  # any deterministic stand-in model
    for t in ddpm.timesteps:
        z = torch.randn(x_a.shape, generator=g)
        x_a = ddpm.step(eps_model(x_a, int(t)), t, x_a, noise=z)
        x_b = ddim.step(eps_model(x_b, int(t)), t, x_b, noise=z)
        assert torch.allclose(x_a, x_b, atol=1e-4, rtol=1e-4), int(t)


def test_ddim_eta0_is_deterministic_and_ddpm_is_not():
    x = torch.randn(1, 1, 2, 2)
    eps = torch.randn(1, 1, 2, 2)
    ddim = DDIMSampler(S)
    ddim.set_timesteps(10)
    t = ddim.timesteps[3]
    assert torch.equal(ddim.step(eps, t, x), ddim.step(eps, t, x))
    ddpm = DDPMSampler(S, generator=torch.Generator().manual_seed(0))
    ddpm.set_timesteps(10)
    assert not torch.equal(ddpm.step(eps, t, x), ddpm.step(eps, t, x))


@pytest.mark.parametrize("shift", [1.0, 3.0])
@pytest.mark.parametrize("cls,steps,calls", [(FlowEulerSampler, 20, 20), (FlowHeunSampler, 5, 9)])
def test_flow_samplers_follow_the_straight_path(cls, steps, calls, shift):
    sampler = cls(1000, shift)
    sampler.set_timesteps(steps)
    assert len(sampler.timesteps) == calls
    assert float(sampler.timesteps[0]) == pytest.approx(999.0)
    x = torch.randn(X0.shape, generator=torch.Generator().manual_seed(2))
    for t in sampler.timesteps:
        x = sampler.step(oracle_velocity(x, t), t, x)
    assert torch.allclose(x, X0, atol=1e-5)


def test_heun_beats_euler_on_a_curved_field():
    # dx/dsigma = x integrated from sigma=1 to 0: x(0) = x(1) * exp(-1)
    x1 = torch.ones(1)
    results = {}
    for cls in (FlowEulerSampler, FlowHeunSampler):
        sampler = cls(1000)
        sampler.set_timesteps(4)
        x = x1.clone()
        for t in sampler.timesteps:
            x = sampler.step(x, t, x)
        results[cls.__name__] = abs(float(x) - float(torch.exp(torch.tensor(-1.0))))
    assert results["FlowHeunSampler"] < results["FlowEulerSampler"] / 3


def test_shifted_euler_spends_its_steps_at_high_noise():
    plain, shifted = FlowEulerSampler(1000), FlowEulerSampler(1000, 3.0)
    plain.set_timesteps(10)
    shifted.set_timesteps(10)
    assert float(shifted.timesteps[0]) == pytest.approx(999.0)
    assert (shifted.timesteps[1:] > plain.timesteps[1:]).all()
    assert int((shifted.timesteps > 500).sum()) > int((plain.timesteps > 500).sum())
