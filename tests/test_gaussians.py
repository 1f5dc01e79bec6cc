"""Gaussian mixtures: sampling, exact density, the exact optimal prediction on any path."""
import math

import pytest
import torch

from fmlearn.gaussians import GaussianMixture, default_mixture, optimal_model
from fmlearn.schedules import CosineSchedule, LinearSchedule, get_schedule


def test_log_prob_matches_torch_distributions():
    mix = default_mixture()
    x = torch.randn(50, 2, dtype=torch.float64)
    comps = torch.distributions.MultivariateNormal(mix.means, mix.covs)
    ref = torch.logsumexp(comps.log_prob(x[:, None, :]) + mix.weights.log(), dim=1)
    torch.testing.assert_close(mix.log_prob(x), ref)


def test_density_integrates_to_one():
    mix = default_mixture()
    g = torch.linspace(-6, 6, 601, dtype=torch.float64)
    xx, yy = torch.meshgrid(g, g, indexing="ij")
    p = mix.log_prob(torch.stack([xx.ravel(), yy.ravel()], 1)).exp()
    assert p.sum().item() * (g[1] - g[0]).item() ** 2 == pytest.approx(1.0, abs=1e-6)


def test_sample_moments_and_seed():
    mix = default_mixture()
    x = mix.sample(200000, torch.Generator().manual_seed(0))
    torch.testing.assert_close(x.mean(0), mix.mean(), atol=0.01, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), mix.covariance(), atol=0.01, rtol=0)
    assert torch.equal(mix.sample(10, torch.Generator().manual_seed(4)), mix.sample(10, torch.Generator().manual_seed(4)))


@pytest.mark.parametrize("schedule", [LinearSchedule(), CosineSchedule()], ids=repr)
def test_posterior_mean_single_gaussian_closed_form(schedule):
    """One component: E[x1 | x] = mu + a Sigma (a^2 Sigma + s^2 I)^{-1} (x - a mu), by plain linear algebra."""
    mu = torch.tensor([1.0, -2.0], dtype=torch.float64)
    cov = torch.tensor([[0.5, 0.2], [0.2, 0.3]], dtype=torch.float64)
    mix = GaussianMixture(mu[None], cov[None])
    x = torch.randn(10, 2, dtype=torch.float64)
    t = torch.tensor(0.37, dtype=torch.float64)
    a, s = schedule.alpha(t), schedule.sigma(t)
    c = a ** 2 * cov + s ** 2 * torch.eye(2, dtype=torch.float64)
    ref = mu + (a * cov @ torch.linalg.solve(c, (x - a * mu).T)).T
    torch.testing.assert_close(mix.posterior_mean(x, t.item(), schedule), ref)


def test_posterior_mean_monte_carlo():
    """Against an independent estimate: average x1 over pairs whose x_t falls near a query point."""
    mix = default_mixture()
    g = torch.Generator().manual_seed(0)
    n, t = 2_000_000, 0.6
    x1 = mix.sample(n, g)
    xt = t * x1 + (1 - t) * torch.randn(n, 2, generator=g, dtype=torch.float64)
    q = torch.tensor([[0.2, -0.3]], dtype=torch.float64)
    near = ((xt - q) ** 2).sum(1) < 0.03 ** 2
    assert near.sum() > 500
    torch.testing.assert_close(x1[near].mean(0), mix.posterior_mean(q, t)[0], atol=0.03, rtol=0)


def test_point_cloud_limit_and_ends():
    pts = torch.tensor([[0.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
    mix = GaussianMixture.from_points(pts)
    # at t=0 the prediction is the data mean; near t=1 it snaps to the nearest data point
    torch.testing.assert_close(mix.posterior_mean(torch.randn(3, 2, dtype=torch.float64), 0.0), pts.mean(0).expand(3, 2))
    near = mix.posterior_mean(torch.tensor([[1.9, 0.1]], dtype=torch.float64), 0.99)
    torch.testing.assert_close(near, pts[1:], atol=1e-6, rtol=0)


def test_optimal_model_is_a_path_model():
    model = optimal_model(default_mixture(), "cosine")
    assert model.parametrization == "data" and model.shape == (2,)
    x = model.noise(5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert model.velocity(x, 0.5).shape == (5, 2)


def test_bad_input():
    with pytest.raises(ValueError, match="covs must have shape"):
        GaussianMixture(torch.zeros(2, 2), torch.eye(2)[None])
    with pytest.raises(ValueError, match="weights"):
        GaussianMixture(torch.zeros(2, 2), torch.eye(2).expand(2, 2, 2), torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixture(torch.tensor([[math.nan, 0.0]]), torch.eye(2)[None])
    with pytest.raises(ValueError, match="x must have last dimension 2"):
        default_mixture().posterior_mean(torch.zeros(3, 3, dtype=torch.float64), 0.5)


def test_gaussian_flow_map_is_the_exact_probability_flow():
    from fmlearn.gaussians import gaussian_flow_map
    from fmlearn.samplers import integrate
    mu = torch.tensor([1.0, -0.5], dtype=torch.float64)
    cov = torch.tensor([[0.5, 0.2], [0.2, 0.3]], dtype=torch.float64)
    for name, (t0, t1, t2) in {"linear": (0.0, 0.4, 0.9), "cosine": (0.02, 0.5, 0.97),
                               "linear-beta": (0.0, 0.6, 0.999)}.items():
        sch = get_schedule(name)
        a01, b01 = gaussian_flow_map(mu, cov, sch, t0, t1)
        # it carries the marginal N(a mu, a^2 Sigma + s^2 I) at t0 onto the marginal at t1
        def m(t):
            return float(sch.alpha(torch.tensor(t, dtype=torch.float64))) * mu

        def c(t):
            tt = torch.tensor(t, dtype=torch.float64)
            return float(sch.alpha(tt)) ** 2 * cov + float(sch.sigma(tt)) ** 2 * torch.eye(2, dtype=torch.float64)

        torch.testing.assert_close(a01 @ m(t0) + b01, m(t1), atol=1e-12, rtol=0)
        torch.testing.assert_close(a01 @ c(t0) @ a01.T, c(t1), atol=1e-12, rtol=0)
        # maps compose: t0 -> t1 -> t2 is t0 -> t2
        a12, b12 = gaussian_flow_map(mu, cov, sch, t1, t2)
        a02, b02 = gaussian_flow_map(mu, cov, sch, t0, t2)
        torch.testing.assert_close(a12 @ a01, a02, atol=1e-12, rtol=0)
        torch.testing.assert_close(a12 @ b01 + b12, b02, atol=1e-12, rtol=0)
        # and it is what RK4 on the optimal model's velocity computes
        model = optimal_model(GaussianMixture(mu[None], cov[None]), name)
        x = torch.randn(16, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        f = lambda y, t: model.velocity(y, t.expand(y.shape[0]))  # noqa: E731
        rk4, _ = integrate(f, x, torch.linspace(t1, t2, 401, dtype=torch.float64), "rk4")
        torch.testing.assert_close(rk4, x @ a12.T + b12, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="cov must have shape"):
        gaussian_flow_map(mu, torch.eye(3), "linear", 0.0, 1.0)
