"""Schedules against closed forms: boundary values, derivatives vs autograd, VP identity."""
import math

import pytest
import torch

from fmlearn.schedules import SCHEDULES, CosineSchedule, LinearBetaSchedule, LinearSchedule, get_schedule

ALL = [LinearSchedule(), LinearSchedule(sigma_min=1e-2), CosineSchedule(), LinearBetaSchedule()]


@pytest.mark.parametrize("schedule", ALL, ids=repr)
def test_derivatives_match_autograd(schedule):
    t = torch.linspace(schedule.t_min, schedule.t_max, 101, dtype=torch.float64).requires_grad_(True)
    for value, deriv in ((schedule.alpha, schedule.d_alpha), (schedule.sigma, schedule.d_sigma)):
        (grad,) = torch.autograd.grad(value(t).sum(), t)
        torch.testing.assert_close(deriv(t.detach()), grad, rtol=1e-10, atol=1e-10)


def test_linear_boundaries_and_values():
    s = LinearSchedule()
    t = torch.tensor([0.0, 0.25, 1.0], dtype=torch.float64)
    assert s.alpha(t).tolist() == [0.0, 0.25, 1.0]
    assert s.sigma(t).tolist() == [1.0, 0.75, 0.0]
    s = LinearSchedule(sigma_min=0.1)
    assert s.sigma(torch.tensor(1.0, dtype=torch.float64)).item() == pytest.approx(0.1, abs=1e-15)
    # the conditional velocity is constant: x1 - (1 - sigma_min) x0
    x0, x1 = torch.randn(4, 2, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    v = s.velocity(x0, x1, torch.rand(4, dtype=torch.float64))
    torch.testing.assert_close(v, x1 - 0.9 * x0)


@pytest.mark.parametrize("schedule", [CosineSchedule(), LinearBetaSchedule()], ids=repr)
def test_variance_preserving(schedule):
    t = torch.linspace(0, 1, 201, dtype=torch.float64)
    torch.testing.assert_close(schedule.alpha(t) ** 2 + schedule.sigma(t) ** 2, torch.ones_like(t))


def test_cosine_boundaries():
    s = CosineSchedule()
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    torch.testing.assert_close(s.alpha(t), torch.tensor([0.0, math.sqrt(0.5), 1.0], dtype=torch.float64))
    torch.testing.assert_close(s.sigma(t), torch.tensor([1.0, math.sqrt(0.5), 0.0], dtype=torch.float64))


def test_linear_beta_is_ddpm():
    """DDPM (Ho et al. 2020): betas linear from 1e-4 to 0.02 over T=1000 steps, alpha_bar_n = prod(1 - beta_i).

    The continuous schedule with b0=0.1, b1=20 reproduces log alpha_bar at s = n / T to 1% (the gap is
    the discretization: log(1 - beta) = -beta - beta^2/2 - ..., and a half-step offset)."""
    T = 1000
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    alpha_bar = torch.cumprod(1 - betas, 0)  # alpha_bar_n, n = 1..T
    s = LinearBetaSchedule()
    t = 1 - torch.arange(1, T + 1, dtype=torch.float64) / T  # our time runs the other way
    torch.testing.assert_close(2 * s.alpha(t).log(), alpha_bar.log(), rtol=0.01, atol=1e-3)
    # its time domain stops at DDPM's first step, sigma ~ 0.01
    assert s.sigma(torch.tensor(s.t_max, dtype=torch.float64)).item() == pytest.approx(0.01, rel=0.06)


@pytest.mark.parametrize("schedule", ALL, ids=repr)
def test_log_snr_increases(schedule):
    t = torch.linspace(schedule.t_min, schedule.t_max, 200, dtype=torch.float64)[1:-1]
    snr = schedule.log_snr(t)
    assert bool((snr[1:] > snr[:-1]).all())
    torch.testing.assert_close(snr, 2 * torch.log(schedule.alpha(t) / schedule.sigma(t)))


def test_interpolate_shapes_images():
    s = CosineSchedule()
    x0, x1 = torch.randn(3, 1, 4, 4), torch.randn(3, 1, 4, 4)
    t = torch.tensor([0.0, 0.5, 1.0])
    xt = s.interpolate(x0, x1, t)
    assert xt.shape == (3, 1, 4, 4)
    torch.testing.assert_close(xt[0], x0[0])
    torch.testing.assert_close(xt[2], x1[2], atol=1e-6, rtol=0)


def test_get_schedule_and_errors():
    assert get_schedule("linear", sigma_min=0.1) == get_schedule({"name": "linear", "sigma_min": 0.1})
    assert get_schedule("cosine") == CosineSchedule()
    assert get_schedule("linear") != get_schedule("cosine")
    assert set(SCHEDULES) == {"linear", "cosine", "linear-beta"}
    with pytest.raises(ValueError, match="unknown schedule 'cosin'.*Did you mean 'cosine'"):
        get_schedule("cosin")
    with pytest.raises(ValueError, match="sigma_min"):
        LinearSchedule(sigma_min=1.5)
    with pytest.raises(ValueError, match="does not take"):
        get_schedule("cosine", sigma_min=0.1)
    with pytest.raises(ValueError, match="beta_min"):
        LinearBetaSchedule(beta_min=5, beta_max=1)


def test_logsnr_grid():
    cos = get_schedule("cosine")
    t = cos.logsnr_grid(8)
    assert t.dtype == torch.float64 and t[0] == cos.t_min and t[-1] == cos.t_max
    lam = cos.log_snr(t[:-1])  # uniform in log-SNR up to the mirror of the start, then the data
    torch.testing.assert_close(lam.diff(), torch.full((7,), float(-2 * lam[0] / 8), dtype=torch.float64))
    torch.testing.assert_close(cos.logsnr_grid(2), cos.time_grid(2))  # two steps: the uniform grid
    # many steps: the last finite time is never before the uniform grid's last-but-one (the final jump
    # to sigma = 0 must shrink, or the samplers' error stalls), and the spacing stays uniform in log-SNR
    for k in (41, 42, 100, 400):
        t = cos.logsnr_grid(k)
        assert float(t[-2]) >= float(cos.time_grid(k)[-2]) - 1e-12 and bool((t.diff() > 0).all())
        lam = cos.log_snr(t[:-1])
        torch.testing.assert_close(lam.diff(), lam.diff().mean().expand(k - 1), atol=1e-9, rtol=0)
    with pytest.raises(ValueError, match="log-SNR"):
        get_schedule("linear").logsnr_grid(4)
    beta = get_schedule("linear-beta")  # its end (t_max = 0.999) comes before the mirrored start
    t = beta.logsnr_grid(16)
    assert t[0] == beta.t_min and t[-1] == beta.t_max and bool((t.diff() > 0).all())
    lam = beta.log_snr(t)
    torch.testing.assert_close(lam.diff(), lam.diff().mean().expand(16), atol=1e-9, rtol=0)
    # time_of_log_snr inverts log_snr
    s = torch.linspace(0.05, 0.95, 7, dtype=torch.float64)
    torch.testing.assert_close(cos.time_of_log_snr(cos.log_snr(s)), s, atol=1e-12, rtol=0)
