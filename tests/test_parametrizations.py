"""Conversions between velocity, noise, data and score: float64 round trips and closed forms."""
import itertools

import pytest
import torch

from fmlearn.gaussians import GaussianMixture
from fmlearn.parametrizations import PARAMETRIZATIONS, canonical, convert, from_data_and_noise, to_data_and_noise
from fmlearn.schedules import CosineSchedule, LinearBetaSchedule, LinearSchedule

SCHEDULES = [LinearSchedule(), LinearSchedule(sigma_min=0.05), CosineSchedule(), LinearBetaSchedule()]


def _batch(schedule, n=64, shape=(3,)):
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(n, *shape, generator=g, dtype=torch.float64)
    x1 = torch.randn(n, *shape, generator=g, dtype=torch.float64)
    # stay inside the domain, away from the singular ends where some conversions divide by ~0
    t = 0.02 + 0.96 * torch.rand(n, generator=g, dtype=torch.float64)
    t = t.clamp(schedule.t_min, schedule.t_max)
    return x0, x1, t, schedule.interpolate(x0, x1, t)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
@pytest.mark.parametrize("src,dst", list(itertools.permutations(PARAMETRIZATIONS, 2)))
def test_round_trip_float64(schedule, src, dst):
    x0, x1, t, xt = _batch(schedule)
    pred = from_data_and_noise(x1, x0, src, t, schedule)
    there = convert(pred, src, dst, xt, t, schedule)
    torch.testing.assert_close(there, from_data_and_noise(x1, x0, dst, t, schedule), rtol=1e-9, atol=1e-9)
    back = convert(there, dst, src, xt, t, schedule)
    torch.testing.assert_close(back, pred, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
@pytest.mark.parametrize("kind", PARAMETRIZATIONS)
def test_recovers_data_and_noise(schedule, kind):
    x0, x1, t, xt = _batch(schedule, shape=(1, 2, 2))  # image-shaped batches broadcast too
    pred = from_data_and_noise(x1, x0, kind, t, schedule)
    x1_hat, x0_hat = to_data_and_noise(pred, kind, xt, t, schedule)
    torch.testing.assert_close(x1_hat, x1, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(x0_hat, x0, rtol=1e-9, atol=1e-9)


def test_velocity_closed_form_linear():
    x0, x1, t, xt = _batch(LinearSchedule())
    v = convert(x0, "noise", "velocity", xt, t, LinearSchedule())
    torch.testing.assert_close(v, x1 - x0)
    # noise -> velocity on the linear path: v = (x - eps) / t
    torch.testing.assert_close(v, (xt - x0) / t[:, None])


def test_score_is_gradient_of_log_density():
    """Tweedie: the score of p_t equals -E[x0 | x_t] / sigma_t; checked against autograd of the exact log p_t."""
    mix = GaussianMixture(torch.tensor([[1.0, -0.5], [-1.0, 0.5]]),
                          torch.tensor([[[0.3, 0.1], [0.1, 0.2]], [[0.2, 0.0], [0.0, 0.4]]]))
    for schedule in (LinearSchedule(), CosineSchedule()):
        t = 0.6
        x = torch.randn(8, 2, dtype=torch.float64, requires_grad=True)
        (grad,) = torch.autograd.grad(mix.at_time(t, schedule).log_prob(x).sum(), x)
        x1_hat = mix.posterior_mean(x.detach(), t, schedule)
        torch.testing.assert_close(convert(x1_hat, "data", "score", x.detach(), t, schedule), grad)


def test_aliases_and_errors():
    assert canonical("eps") == "noise" and canonical("v") == "velocity" and canonical("x1") == "data"
    with pytest.raises(ValueError, match="unknown parametrization 'velocty'.*'velocity'"):
        canonical("velocty")
