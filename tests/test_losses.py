"""Losses: the two textbook losses are special cases of one recipe; weightings have closed forms."""
import math

import pytest
import torch

from fmlearn.gaussians import GaussianMixture, OptimalModel
from fmlearn.losses import (Objective, diffusion_loss, equivalent_weight, flow_matching_loss, path_loss,
                            sample_time, time_weight)
from fmlearn.models import MLP
from fmlearn.parametrizations import convert
from fmlearn.schedules import CosineSchedule, LinearBetaSchedule, LinearSchedule


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(128, 2, generator=g, dtype=torch.float64)
    x1 = torch.randn(128, 2, generator=g, dtype=torch.float64) + 2
    t = torch.rand(128, generator=g, dtype=torch.float64).clamp(0.01, 0.99)
    net = MLP().double()
    return net, x0, x1, t


def test_textbook_losses_are_path_losses(batch):
    net, x0, x1, t = batch
    xt = t[:, None] * x1 + (1 - t[:, None]) * x0
    by_hand = ((net(xt, t) - (x1 - x0)) ** 2).mean()
    torch.testing.assert_close(flow_matching_loss(net, x0, x1, t), by_hand)
    torch.testing.assert_close(path_loss(net, x0, x1, t, LinearSchedule(), "velocity"), by_hand)
    a, s = torch.sin(math.pi * t / 2)[:, None], torch.cos(math.pi * t / 2)[:, None]
    by_hand = ((net(a * x1 + s * x0, t) - x0) ** 2).mean()
    torch.testing.assert_close(diffusion_loss(net, x0, x1, t), by_hand)
    torch.testing.assert_close(path_loss(net, x0, x1, t, CosineSchedule(), "noise"), by_hand)


def test_equivalent_weight_closed_forms():
    t = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)
    # linear path: v - v_hat = (eps_hat - eps) / t
    torch.testing.assert_close(equivalent_weight(t, LinearSchedule(), "noise", "velocity"), 1 / t ** 2)
    # cosine path: v = (a'/a) x - (pi / (2 sin(pi t/2))) eps
    torch.testing.assert_close(equivalent_weight(t, CosineSchedule(), "noise", "velocity"),
                               math.pi ** 2 / (4 * torch.sin(math.pi * t / 2) ** 2))
    # data <-> noise: x1 = (x - sigma eps) / alpha, so the weight is SNR^-1 = sigma^2 / alpha^2
    s = LinearBetaSchedule()
    torch.testing.assert_close(equivalent_weight(t, s, "noise", "data"), (s.sigma(t) / s.alpha(t)) ** 2)


@pytest.mark.parametrize("schedule", [LinearSchedule(), CosineSchedule()], ids=repr)
def test_weighted_noise_loss_is_velocity_loss(batch, schedule):
    """A noise loss weighted by equivalent_weight IS the velocity loss of the converted prediction."""
    net, x0, x1, t = batch
    weighted = path_loss(net, x0, x1, t, schedule, "noise", weighting="velocity")
    xt = schedule.interpolate(x0, x1, t)
    v_hat = convert(net(xt, t), "noise", "velocity", xt, t, schedule)
    torch.testing.assert_close(weighted, ((v_hat - schedule.velocity(x0, x1, t)) ** 2).mean())


def test_optimal_model_minimizes_the_loss():
    """E[x1 | x_t] is the minimizer: perturbing it raises the (data-parametrized) loss; the minimum is not 0."""
    mix = GaussianMixture(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]), 0.1 * torch.eye(2).expand(2, 2, 2))
    g = torch.Generator().manual_seed(0)
    x1 = mix.sample(20000, g)
    x0 = torch.randn(20000, 2, generator=g, dtype=torch.float64)
    t = torch.rand(20000, generator=g, dtype=torch.float64)
    schedule = LinearSchedule()
    opt = OptimalModel(mix, schedule)
    best = path_loss(opt, x0, x1, t, schedule, "data").item()
    for shift in ([0.3, 0.0], [0.0, -0.3]):  # raises the loss by 0.3^2 / 2 = 0.045
        worse = path_loss(lambda x, tt: opt(x, tt) + torch.tensor(shift, dtype=torch.float64),
                          x0, x1, t, schedule, "data").item()
        assert worse > best + 0.03
    assert best > 0.05  # the regression target is noisy: the loss converges, but not to zero


def test_time_weights_and_sampling():
    s = CosineSchedule()
    t = torch.tensor([0.25, 0.5, 0.9], dtype=torch.float64)
    snr = torch.tan(math.pi * t / 2) ** 2
    torch.testing.assert_close(time_weight("snr", t, s, "noise"), snr)
    torch.testing.assert_close(time_weight("min-snr", t, s, "noise"), snr.clamp(max=5))
    torch.testing.assert_close(time_weight(None, t, s, "noise"), torch.ones_like(t))
    g = torch.Generator().manual_seed(0)
    for dist in ("uniform", "logit-normal"):
        ts = sample_time(10000, LinearBetaSchedule(), dist, generator=g)
        assert ts.min() >= 0 and ts.max() <= 0.999
        assert abs(ts.mean().item() - 0.4995) < 0.02
    u = sample_time(10000, LinearSchedule(), "logit-normal", generator=g)
    assert u.std() < sample_time(10000, LinearSchedule(), "uniform", generator=g).std()  # concentrated mid-path
    with pytest.raises(ValueError, match="unknown time distribution"):
        sample_time(4, s, "gamma")
    with pytest.raises(ValueError, match="unknown weighting"):
        time_weight("snrr", t, s, "noise")


def test_objective_presets_and_determinism(batch):
    net, x0, x1, _ = batch
    net = net.float()
    x0, x1 = x0.float(), x1.float()
    for name in ("fm", "fm-ot", "diffusion", "ddpm"):
        obj = Objective.preset(name)
        l1 = obj.loss(net, x0, x1, generator=torch.Generator().manual_seed(3))
        l2 = obj.loss(net, x0, x1, generator=torch.Generator().manual_seed(3))
        assert torch.equal(l1, l2) and torch.isfinite(l1)
    assert Objective.preset("fm-ot").config()["coupling"] == "ot"
    with pytest.raises(ValueError, match="unknown objective 'flow'"):
        Objective.preset("flow")
    with pytest.raises(ValueError, match="unknown coupling"):
        Objective(coupling="sinkhorn")
