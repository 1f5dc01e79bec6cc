"""Likelihood against closed forms: the exact log-density of Gaussian (mixture) data under the optimal flow."""
import math

import pytest
import torch

from fmlearn.gaussians import GaussianMixture, default_mixture, optimal_model
from fmlearn.likelihood import divergence_exact, divergence_hutchinson, log_likelihood
from fmlearn.models import MLP, PathModel

GAUSS = GaussianMixture(torch.tensor([[1.0, -0.5]]), torch.tensor([[[0.5, 0.2], [0.2, 0.3]]]))




@pytest.mark.parametrize("mixture", [GAUSS, default_mixture()], ids=["gaussian", "3-component"])
def test_log_likelihood_is_the_true_log_density(mixture):
    # On the linear path t_min = 0 and alpha_0 = 0, so the prior N(0, I) is exact and the flow of the
    # optimal model carries it exactly onto the mixture: only the solver's error (rtol = atol = 1e-5) remains.
    model = optimal_model(mixture, "linear")
    x = torch.cat([mixture.sample(6, torch.Generator().manual_seed(0)),
                   torch.tensor([[0.0, 0.0], [2.0, 1.5]], dtype=torch.float64)])
    res = log_likelihood(model, x)
    assert torch.allclose(res.log_prob, mixture.log_prob(x), atol=1e-3, rtol=0), (res.log_prob, mixture.log_prob(x))
    assert torch.allclose(res.log_prob, res.prior_log_prob + res.delta_log_det)
    assert res.z.shape == x.shape and res.nfe > 10
    # the noise the points flow to is where the forward ODE starts: map z back and recover x
    from fmlearn.samplers import sample
    back = sample(model, res.z, "dopri5", rtol=1e-8, atol=1e-8).samples
    assert torch.allclose(back, x, atol=1e-3)


def test_sign_of_the_log_determinant():
    # A Gaussian narrower than the prior is denser than N(0, I) at its mean: the flow contracts
    # (div v < 0 near the data), so delta_log_det = -int div v dt must be positive there.
    model = optimal_model(GAUSS, "linear")
    res = log_likelihood(model, GAUSS.means.clone())
    assert float(res.delta_log_det) > 0.5
    assert float(res.log_prob) == pytest.approx(float(GAUSS.log_prob(GAUSS.means)), abs=1e-3)


def test_hutchinson_is_unbiased():
    torch.manual_seed(0)
    net = MLP(dim=3, width=32, depth=2).double()
    scale = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    f = lambda x, t: net(x, t.expand(x.shape[0])) + scale * x  # noqa: E731  (divergence near 6)
    x = torch.randn(5, 3, dtype=torch.float64)
    t = torch.tensor(0.3, dtype=torch.float64)
    value, exact = divergence_exact(f, x, t)
    gen = torch.Generator().manual_seed(1)
    probes = torch.randint(0, 2, (400, 5, 3), generator=gen).double() * 2 - 1
    singles = torch.stack([divergence_hutchinson(f, x, t, p[None])[1] for p in probes])  # (P, B)
    value_h, mean = divergence_hutchinson(f, x, t, probes)
    assert torch.allclose(value_h, value) and torch.allclose(mean, singles.mean(0))
    se = singles.std(0) / math.sqrt(len(probes))
    assert bool((se > 0).all()), "the field's Jacobian is not diagonal, so single probes must vary"
    assert bool(((mean - exact).abs() < 4 * se).all()), (mean, exact, se)


def test_divergence_of_a_linear_field_is_the_trace():
    a = torch.tensor([[1.5, -2.0, 0.3], [0.7, -0.4, 1.1], [2.0, 0.0, 0.25]], dtype=torch.float64)
    f = lambda x, t: x @ a.T  # noqa: E731
    x = torch.randn(7, 3, dtype=torch.float64)
    value, div = divergence_exact(f, x, torch.tensor(0.0))
    assert torch.equal(value, x @ a.T)
    assert torch.allclose(div, torch.full((7,), float(torch.trace(a)), dtype=torch.float64), atol=1e-14, rtol=0)


def test_density_integrates_to_one():
    # Riemann sum of exp(log p) over a 32 x 32 grid on [-3.6, 3.6]^2 (spacing 0.23, within a standard
    # deviation of the narrowest component): the exact mixture density sums to 1 within 1e-8 there,
    # so what is measured is the flow's own normalization.
    mixture, model = default_mixture(), optimal_model(default_mixture(), "linear")
    xs = torch.linspace(-3.6, 3.6, 32, dtype=torch.float64)
    grid = torch.cartesian_prod(xs, xs)  # (1024, 2)
    cell = float(xs[1] - xs[0]) ** 2
    assert float(mixture.log_prob(grid).exp().sum()) * cell == pytest.approx(1.0, abs=1e-6)
    res = log_likelihood(model, grid, rtol=1e-4, atol=1e-4)
    assert float(res.log_prob.exp().sum()) * cell == pytest.approx(1.0, abs=0.02)


def test_hutchinson_log_likelihood():
    model = optimal_model(GAUSS, "linear")
    x = GAUSS.sample(4, torch.Generator().manual_seed(2))
    runs = [log_likelihood(model, x, divergence="hutchinson", n_probes=8, generator=torch.Generator().manual_seed(s))
            for s in (0, 0, 1)]
    assert torch.equal(runs[0].log_prob, runs[1].log_prob)  # probes drawn from the generator only
    assert not torch.equal(runs[0].log_prob, runs[2].log_prob)
    # with 8 probes the 2D estimate is off by a few tenths of a nat at most, and both z agree
    assert torch.allclose(runs[0].log_prob, GAUSS.log_prob(x), atol=1.0)
    assert torch.allclose(runs[0].z, runs[2].z, atol=1e-4)


def test_errors():
    model = optimal_model(GAUSS, "linear")
    with pytest.raises(ValueError, match="x must have 2 dimensions"):
        log_likelihood(model, torch.zeros(3, 2, 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="x contains 1 NaN"):
        log_likelihood(model, torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(TypeError, match="floating-point"):
        log_likelihood(model, torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="unknown divergence 'hutch'.*'hutchinson'"):
        log_likelihood(model, torch.zeros(3, 2), divergence="hutch")
    with pytest.raises(ValueError, match="n_probes"):
        log_likelihood(model, torch.zeros(3, 2), divergence="hutchinson", n_probes=0)
    with pytest.raises(ValueError, match="probes must have shape"):
        divergence_hutchinson(lambda x, t: x, torch.zeros(3, 2), 0.0, torch.ones(4, 3, 3))


def test_reported_nfe_is_counted():
    class Counting(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.calls, self.dim = 0, 2

        def forward(self, x, t):
            self.calls += 1
            return torch.tanh(x) * (1 + t[:, None]) - 0.3 * x

    for divergence in ("exact", "hutchinson"):
        net = Counting()
        res = log_likelihood(PathModel(net, "linear", "velocity"), torch.randn(8, 2), divergence=divergence,
                             n_probes=3, generator=torch.Generator().manual_seed(0))
        assert res.nfe == net.calls > 0 and bool(torch.isfinite(res.log_prob).all())


def test_trained_flow_density_integrates_to_one_and_hutchinson_agrees():
    """A flow trained briefly on the known mixture: its density sums to ~1 over a grid, and the
    Hutchinson log-likelihood agrees with the exact one within its standard error."""
    from fmlearn.models import MLP, PathModel
    from fmlearn.training import train

    torch.manual_seed(0)
    model = train(PathModel(MLP(2), "linear", "velocity"), "gmm", "fm", steps=300, progress=False).ema
    g = torch.linspace(-4, 4, 41)
    xx, yy = torch.meshgrid(g, g, indexing="ij")
    grid = torch.stack([xx.ravel(), yy.ravel()], 1)
    mass = log_likelihood(model, grid, rtol=1e-4, atol=1e-4).log_prob.exp().sum().item() * (g[1] - g[0]).item() ** 2
    assert abs(mass - 1) < 0.05
    # Held-out data in float64 with a tight tolerance: then both runs follow the same trajectories and
    # only the probe noise separates them (far outside the data, with loose tolerances, the adaptive
    # solver's step choices differ between the two runs and add a bias of their own).
    from fmlearn.data import sample_data
    model, x = model.double(), sample_data("gmm", 200, seed=3, dtype=torch.float64)
    exact = log_likelihood(model, x, rtol=1e-7, atol=1e-7).log_prob
    hutch = log_likelihood(model, x, divergence="hutchinson", n_probes=1, rtol=1e-7, atol=1e-7,
                           generator=torch.Generator().manual_seed(1)).log_prob
    diff = hutch - exact
    assert abs(diff.mean().item()) < 4 * diff.std().item() / len(diff) ** 0.5 + 1e-3
    assert diff.std() > 0  # the estimate is really random
