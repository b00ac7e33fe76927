"""The cosine schedule, its time convention (t=0 clean, t=T-1 noise) and the noising objectives."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from tfgen.diffusion.objectives import add_noise, sample_times, training_target  # noqa: E402
from tfgen.diffusion.schedules import CosineSchedule, trailing_timesteps  # noqa: E402

torch.set_num_threads(1)
S = CosineSchedule()
AB = S.alpha_bar.float()


def test_schedule_has_1000_steps_by_default():
    assert S.betas.shape == S.alpha_bar.shape == (1000,)


def test_endpoints_t0_clean_and_last_pure_noise():
    assert S.alpha_bar[0] > 0.9999
    assert S.alpha_bar[-1] < 1e-6
    assert 0 < S.betas.min() and S.betas.max() <= 0.999


def test_alpha_bar_strictly_decreasing():
    assert (S.alpha_bar[1:] < S.alpha_bar[:-1]).all()


def test_alpha_bar_is_cumulative_product_of_alphas():
    assert torch.allclose(S.alpha_bar, torch.cumprod(1 - S.betas, 0))


def test_cosine_shape_midpoint():
    # cos^2 shape: about half the signal variance remains near the middle of the schedule
    assert 0.4 < float(S.alpha_bar[499]) < 0.6


def test_time_convention_ddpm_noising():
    x0, eps = torch.randn(4, 2, 3, 3), torch.randn(4, 2, 3, 3)
    clean = add_noise("ddpm", AB, x0, eps, torch.zeros(4))
    noisy = add_noise("ddpm", AB, x0, eps, torch.full((4,), 999.0))
    assert torch.allclose(clean, x0, atol=0.04)  # sqrt(1 - alpha_bar[0]) ~ 0.006
    assert torch.allclose(noisy, eps, atol=1e-2)
    # more time, less signal
    mid = add_noise("ddpm", AB, x0, torch.zeros_like(x0), torch.full((4,), 300.0))
    late = add_noise("ddpm", AB, x0, torch.zeros_like(x0), torch.full((4,), 700.0))
    assert mid.norm() > late.norm()


def test_time_convention_flow_noising_and_velocity():
    x0, eps = torch.randn(2, 2, 3, 3), torch.randn(2, 2, 3, 3)
    assert torch.equal(add_noise("flow", AB, x0, eps, torch.zeros(2)), x0)
    assert torch.allclose(add_noise("flow", AB, x0, eps, torch.full((2,), 999.0)), eps)
    v = training_target("flow", x0, eps)
    # the velocity is the derivative of x_t in sigma = t / 999
    a = add_noise("flow", AB, x0, eps, torch.full((2,), 400.0))
    b = add_noise("flow", AB, x0, eps, torch.full((2,), 401.0))
    assert torch.allclose((b - a) * 999, v, atol=1e-3)
    assert torch.equal(training_target("ddpm", x0, eps), eps)


def test_trailing_timesteps_descend_from_noise():
    ts = trailing_timesteps(1000, 4)
    assert ts.tolist() == [999, 749, 499, 249]
    full = trailing_timesteps(1000, 1000)
    assert full.tolist() == list(range(999, -1, -1))
    with pytest.raises(ValueError):
        trailing_timesteps(1000, 0)


@pytest.mark.parametrize("objective", ["ddpm", "flow"])
def test_sample_times_ranges_and_noise_limit(objective):
    g = torch.Generator().manual_seed(0)
    n = 4000
    target = torch.ones(2, n, dtype=torch.bool)
    target[1, ::2] = False
    limited = torch.zeros(2, n, dtype=torch.bool)
    limited[0, n // 2:] = True
    t = sample_times(objective, 1000, 500, target, limited, g)
    assert t.shape == (2, n) and t.dtype == torch.float32
    assert (t[1, ::2] == 0).all()  # clean context
    assert t[0, n // 2:].max() < 500  # noise limited
    assert t[0, : n // 2].max() > 900 and t.min() >= 0 and t.max() <= 999
    if objective == "ddpm":
        assert torch.equal(t, t.floor())
    else:
        assert not torch.equal(t[0], t[0].floor())


def test_time_shift_fixes_the_ends_and_moves_mass_toward_noise():
    from tfgen.diffusion.flow import shift_sigma
    sigma = torch.linspace(0, 1, 101, dtype=torch.float64)
    assert torch.equal(shift_sigma(sigma, 1.0), sigma)
    shifted = shift_sigma(sigma, 3.0)
    assert shifted[0] == 0 and shifted[-1] == 1
    assert (shifted[1:] > shifted[:-1]).all() and (shifted[1:-1] > sigma[1:-1]).all()
    assert abs(float(shift_sigma(torch.tensor(0.5), 3.0)) - 0.75) < 1e-6  # s*0.5 / (1 + (s-1)*0.5)
    with pytest.raises(ValueError):
        shift_sigma(sigma, 0.0)


def test_sample_times_with_shift_put_more_targets_at_high_noise():
    n = 20000
    target = torch.ones(1, n, dtype=torch.bool)
    limited = torch.zeros(1, n, dtype=torch.bool)
    plain = sample_times("flow", 1000, 500, target, limited, torch.Generator().manual_seed(0))
    shifted = sample_times("flow", 1000, 500, target, limited, torch.Generator().manual_seed(0), time_shift=3.0)
    assert (shifted >= plain).all()  # the same draws, moved toward noise
    share = lambda t: float((t > 900).float().mean())  # noqa: E731
    assert share(plain) < 0.11 and share(shifted) > 0.24  # 1 - 0.9/(3 - 2*0.9) = 0.25
    limited[:] = True
    capped = sample_times("flow", 1000, 500, target, limited, torch.Generator().manual_seed(0), time_shift=3.0)
    assert capped.max() < 500


def test_time_shift_is_a_flow_setting():
    from tfgen.model.config import ConfigError, ModelConfig
    ModelConfig(objective="flow", time_shift=3.0)
    with pytest.raises(ConfigError):
        ModelConfig(objective="ddpm", time_shift=3.0)
    with pytest.raises(ConfigError):
        ModelConfig(objective="flow", time_shift=0.0)
