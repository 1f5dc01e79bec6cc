"""Samplers against closed forms: orders of convergence, Gaussian data, exact identities, honest NFE."""
import math

import pytest
import torch
from torch import nn

from fmlearn.gaussians import GaussianMixture, gaussian_flow_map, optimal_model
from fmlearn.models import MLP, PathModel
from fmlearn.samplers import (EVALS_PER_STEP, SAMPLERS, ddim_as_euler, integrate, sample, steps_for)
from fmlearn.schedules import get_schedule

MU = torch.tensor([1.0, -0.5], dtype=torch.float64)
COV = torch.tensor([[0.5, 0.2], [0.2, 0.3]], dtype=torch.float64)  # non-isotropic, correlated
GAUSS = GaussianMixture(MU[None], COV[None])
N = 20000


class GaussianDenoiser(nn.Module):
    """Closed-form ``E[x1 | x_t]`` for one Gaussian, ``mu + a Sigma (a^2 Sigma + s^2 I)^{-1} (x - a mu)``.

    The same function as ``gaussians.optimal_model`` (checked in ``test_fast_denoiser_is_the_optimal_model``)
    but about 10x cheaper per call on 20000 points, which keeps this file within its time budget.
    """

    def __init__(self, schedule):
        super().__init__()
        self.schedule, self.dim = schedule, 2
        self.lam, self.u = torch.linalg.eigh(COV)

    def forward(self, x, t):
        t = t.to(torch.float64)[:, None]
        a, s = self.schedule.alpha(t), self.schedule.sigma(t)  # (B, 1)
        z = (x.to(torch.float64) - a * MU) @ self.u  # eigenbasis of Sigma
        return (MU + (z * (a * self.lam / (a ** 2 * self.lam + s ** 2))) @ self.u.T).to(x.dtype)


def gaussian_model(schedule):
    schedule = get_schedule(schedule)
    return PathModel(GaussianDenoiser(schedule), schedule, "data", shape=(2,))


def white_noise(n, seed=0):
    """n draws of N(0, I) with sample mean exactly 0 and sample covariance exactly I.

    Every deterministic sampler is an affine map on Gaussian data (the exact velocity is affine in x),
    so with this noise its output mean and covariance carry no Monte-Carlo error: what remains is
    the discretization error and the start from N(0, I) at t_min (see `exact_flow_of_noise`).
    """
    x = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x = x - x.mean(0)
    return x @ torch.linalg.inv(torch.linalg.cholesky(torch.cov(x.T))).T


def exact_flow_of_noise(schedule):
    """Mean and covariance of the exact probability-flow map from t_min to 1 applied to N(0, I).

    The map is ``x -> MU + M (x - a MU)`` with ``M = (Sigma / (a^2 Sigma + s^2 I))^{1/2}`` at t_min:
    it carries the true marginal N(a MU, a^2 Sigma + s^2 I) onto the data. Where t_min > 0 the
    samplers start from N(0, I) instead, so even a perfect ODE solver ends at this slightly
    shrunk Gaussian (cosine path, t_min = 0.02: the mean is off by alpha_{t_min} |M MU|, about 0.02).
    """
    t = torch.tensor(schedule.t_min, dtype=torch.float64)
    a, s = schedule.alpha(t), schedule.sigma(t)
    lam, u = torch.linalg.eigh(COV)
    m = u @ torch.diag((lam / (a ** 2 * lam + s ** 2)).sqrt()) @ u.T
    return MU - a * m @ MU, m @ m.T


def test_fast_denoiser_is_the_optimal_model():
    for name in ("linear", "cosine"):
        x = torch.randn(64, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2
        t = torch.rand(64, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
        ref = optimal_model(GAUSS, name)
        assert torch.allclose(gaussian_model(name)(x, t), ref(x, t), atol=1e-12, rtol=0)


# ---- (1) orders of convergence ------------------------------------------------------------
@pytest.mark.parametrize("method,order", [("euler", 1), ("heun", 2), ("midpoint", 2), ("ralston3", 3), ("rk4", 4)])
def test_order_of_convergence(method, order):
    # dx/dt = x cos t has the solution x(t) = x0 exp(sin t).
    x0 = torch.tensor([[0.5], [1.0], [-2.0]], dtype=torch.float64)
    f = lambda x, t: x * torch.cos(t)  # noqa: E731
    exact = x0 * math.exp(math.sin(2.0))
    steps = torch.tensor([10, 20, 40, 80])
    errors = []
    for k in steps.tolist():
        x, traj = integrate(f, x0, torch.linspace(0.0, 2.0, k + 1, dtype=torch.float64), method)
        assert traj.shape == (k + 1, 3, 1) and torch.equal(traj[-1], x)
        errors.append(float((x - exact).abs().max()))
    logh, loge = -torch.log(steps.double()), torch.log(torch.tensor(errors))
    fitted = float(((logh - logh.mean()) * (loge - loge.mean())).sum() / ((logh - logh.mean()) ** 2).sum())
    assert abs(fitted - order) < 0.3, (method, fitted, errors)


def test_last_step_without_end_evaluation_keeps_the_order():
    # heun and rk4 end with midpoint / ralston3 steps where the network has no velocity at the end.
    x0 = torch.ones(1, 1, dtype=torch.float64)
    f = lambda x, t: x * torch.cos(t)  # noqa: E731
    for method, end, order in (("heun", "midpoint", 2), ("rk4", "ralston3", 4)):
        errs = [float((integrate(f, x0, torch.linspace(0, 2.0, k + 1, dtype=torch.float64), method,
                                 end_method=end)[0] - math.exp(math.sin(2.0))).abs()) for k in (20, 40, 80)]
        assert math.log2(errs[1] / errs[2]) > order - 0.3, (method, errs)  # at least the method's order


# ---- (2) every sampler on Gaussian data ---------------------------------------------------
# (sampler, kwargs, discretization allowance). Deterministic samplers with white_noise have no
# Monte-Carlo error and are compared with the exact flow of their N(0, I) start (`exact_flow_of_noise`);
# the allowance bounds the discretization error measured at these budgets with a margin of 2-5x
# (e.g. euler at 500 NFE: 2.6e-3 in the covariance; ddim is euler on the linear path).
# Stochastic samplers add fresh noise: they are compared with the data, allowing 5 standard errors
# of N i.i.d. draws (`mc_tolerance`; their own Monte-Carlo error is at most that), their first-order
# bias (ddpm and em at 500 steps: about 7e-3 in the covariance) and the start bias at t_min.
CASES = [
    ("euler", dict(nfe=500), 8e-3), ("heun", dict(nfe=100), 2e-3), ("midpoint", dict(nfe=100), 2e-3),
    ("rk4", dict(nfe=100), 2e-3), ("dopri5", dict(), 2e-3), ("ddim", dict(nfe=500), 8e-3),
    ("dpm++2m", dict(nfe=100), 4e-3),
    ("ddpm", dict(nfe=500), 1.5e-2), ("ddim", dict(nfe=500, eta=1.0), 1.5e-2), ("em", dict(nfe=500), 1.5e-2),
]
STOCHASTIC = {"ddpm", "em"}


def mc_tolerance(n):
    """5 standard errors of the sample mean and covariance of n i.i.d. N(MU, COV) draws."""
    var = torch.diagonal(COV)
    se_mean = (var / n).sqrt()  # (D,)
    se_cov = ((var[:, None] * var[None, :] + COV ** 2) / n).sqrt()  # (D, D): Var(S_ij) = (S_ii S_jj + S_ij^2)/n
    return 5 * se_mean, 5 * se_cov


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("name,kwargs,allowance", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_gaussian_data_mean_and_covariance(schedule, name, kwargs, allowance):
    model = gaussian_model(schedule)
    out = sample(model, white_noise(N), name, generator=torch.Generator().manual_seed(3), **kwargs)
    x = out.samples
    assert x.shape == (N, 2) and x.dtype == torch.float64 and bool(torch.isfinite(x).all())
    mean, cov = exact_flow_of_noise(model.schedule)
    if name in STOCHASTIC or kwargs.get("eta", 0) > 0:
        tol_mean, tol_cov = mc_tolerance(N)
        tol_mean, tol_cov = tol_mean + (mean - MU).abs(), tol_cov + (cov - COV).abs()
        mean, cov = MU, COV
    else:
        tol_mean, tol_cov = torch.zeros(2), torch.zeros(2, 2)
    assert ((x.mean(0) - mean).abs() <= tol_mean + allowance).all(), (x.mean(0), mean)
    assert ((torch.cov(x.T) - cov).abs() <= tol_cov + allowance).all(), (torch.cov(x.T), cov)


def test_gaussian_data_with_the_optimal_model_in_float32():
    # The package's own optimal model, float32 noise drawn by sample(): the data parametrization is
    # singular at t = 1 on the linear path, so this also checks that no sampler evaluates it there.
    model = optimal_model(GAUSS, "linear")
    tol_mean, tol_cov = mc_tolerance(4000)
    for name in ("heun", "rk4", "dopri5"):
        out = sample(model, 4000, name, nfe=None if name == "dopri5" else 40,
                     generator=torch.Generator().manual_seed(4))
        x = out.samples.double()
        assert out.samples.dtype == torch.float32 and bool(torch.isfinite(x).all())
        assert ((x.mean(0) - MU).abs() <= tol_mean).all() and ((torch.cov(x.T) - COV).abs() <= tol_cov).all()


# ---- (3), (4) exact identities ------------------------------------------------------------
@pytest.mark.parametrize("schedule", ["cosine", "linear-beta", "linear"])
def test_ddim_is_euler_on_a_linear_path_in_disguise(schedule):
    torch.manual_seed(0)
    model = PathModel(MLP(dim=2, width=32, depth=2), schedule, "noise").double()
    x0 = torch.randn(256, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    times = None if schedule != "linear" else torch.linspace(0.05, 1.0, 21, dtype=torch.float64)
    if times is None:
        ddim = sample(model, x0, "ddim", nfe=20).samples
        assert torch.allclose(ddim_as_euler(model, x0, 20), ddim, atol=1e-5, rtol=0)
    else:  # on the linear path (alpha + sigma = 1) DDIM *is* Euler: r = t and y = x
        ddim = sample(model, x0, "ddim", times=times).samples
        euler = sample(model, x0, "euler", times=times).samples
        assert torch.allclose(ddim, euler, atol=1e-10, rtol=0)


@pytest.mark.parametrize("schedule", ["linear", "cosine", "linear-beta"])
def test_ddim_with_eta_one_is_ddpm(schedule):
    model = PathModel(MLP(dim=2, width=16, depth=1), schedule, "noise").double()
    x0 = torch.randn(128, 2, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    times = torch.linspace(0.01, get_schedule(schedule).t_max, 31, dtype=torch.float64)
    ddpm = sample(model, x0, "ddpm", times=times, generator=torch.Generator().manual_seed(7)).samples
    ddim = sample(model, x0, "ddim", times=times, eta=1.0, generator=torch.Generator().manual_seed(7)).samples
    assert torch.allclose(ddpm, ddim, atol=1e-10, rtol=1e-10)
    half = sample(model, x0, "ddim", times=times, eta=0.5, generator=torch.Generator().manual_seed(7)).samples
    assert not torch.allclose(half, ddpm, atol=1e-3)


# ---- (5) DPM-Solver++(2M) at a small budget -----------------------------------------------
def test_dpmpp_2m_beats_euler_at_equal_small_nfe():
    # Linear path, 10 NFE: covariance error 8e-3 against 1.5e-1 for euler (measured); deterministic,
    # so white_noise makes the comparison free of Monte-Carlo error.
    model, x0 = gaussian_model("linear"), white_noise(4000)
    err = {n: float((torch.cov(sample(model, x0, n, nfe=10).samples.T) - COV).norm()) for n in ("euler", "dpm++2m")}
    assert err["dpm++2m"] < err["euler"] / 10, err
    # Cosine path, 20 NFE: distance to the exact flow map (rk4 with 2000 NFE from the same noise):
    # 1.9e-3 against 3.3e-2 (measured). At 10 NFE its advantage shrinks to 3x: the last step, from
    # t = 0.9 to sigma = 0, is first order (x_K = D_{K-1}) and dominates.
    model = gaussian_model("cosine")
    ref = sample(model, x0, "rk4", nfe=2000).samples
    dist = {n: float((sample(model, x0, n, nfe=20).samples - ref).norm(dim=1).mean()) for n in ("euler", "dpm++2m")}
    assert dist["dpm++2m"] < dist["euler"] / 10, dist


# ---- (5b) DPM-Solver++(2M) to the last step, against the exact flow -------------------------
def flow_error(samples, times, schedule):
    """|mean - exact| + |cov - exact|_F of samples from white noise, against the exact flow map
    from times[0] to times[-1] (free of Monte-Carlo error: deterministic samplers are affine here)."""
    a, b = gaussian_flow_map(MU, COV, schedule, float(times[0]), float(times[-1]))
    return float((samples.mean(0) - b).norm() + (torch.cov(samples.T) - a @ a.T).norm())


def dpmpp_2m_second_order_last_step(model, x, times):
    """An independent DPM-Solver++(2M) (Lu et al. 2022, Alg. 2) written from the paper, with the
    second-order update also on the last step: the package's choice before it followed the reference
    code's lower-order final step. First order only on the first step and where a lambda is infinite."""
    a, s = model.schedule.alpha(times), model.schedule.sigma(times)
    s = torch.where(s <= 1e-8, torch.zeros_like(s), s)
    lam = torch.log(a) - torch.log(s)  # inf where sigma = 0
    d_prev = None
    with torch.no_grad():
        for i in range(1, len(times)):
            d = model(x, times[i - 1].expand(x.shape[0]))  # a data prediction: D_{i-1}
            h = lam[i] - lam[i - 1]
            if d_prev is not None and bool(torch.isfinite(lam[i - 2:i + 1]).all()):
                r = (lam[i - 1] - lam[i - 2]) / h
                d_mix = (1 + 1 / (2 * r)) * d - d_prev / (2 * r)
            else:
                d_mix = d
            x = (s[i] / s[i - 1]) * x - a[i] * torch.expm1(-h) * d_mix
            d_prev = d
    return x


NFE_LADDER = (4, 6, 8, 10, 12, 16, 20, 32, 50, 64, 100)


def test_dpmpp_2m_last_step_is_first_order_and_that_helps():
    # linear-beta ends at sigma = 0.0105 (lambda finite): the only path where the last step changed.
    model, x0 = gaussian_model("linear-beta"), white_noise(64)
    new, old = {}, {}
    for nfe in NFE_LADDER:
        times = model.schedule.time_grid(nfe)
        new[nfe] = flow_error(sample(model, x0, "dpm++2m", times=times).samples, times, "linear-beta")
        old[nfe] = flow_error(dpmpp_2m_second_order_last_step(model, x0, times), times, "linear-beta")
    errs = [new[n] for n in NFE_LADDER]
    assert all(b < a for a, b in zip(errs, errs[1:])), new  # falls steadily from NFE 4 to 100
    # measured: NFE 10: 0.124 vs 0.518; NFE 20: 0.023 vs 0.214; NFE 100: 0.0021 vs 0.0103
    assert new[10] < old[10] / 3 and new[20] < old[20] / 5 and new[100] < old[100] / 3, (new, old)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_dpmpp_2m_unchanged_where_the_last_step_reaches_sigma_zero(schedule):
    # There lambda_K = inf: the last step was first order already (x_K = D_{K-1}, the exact limit),
    # and the independent second-order implementation must agree with the package to rounding.
    model, x0 = gaussian_model(schedule), white_noise(64)
    for nfe in (4, 10, 20):
        times = model.schedule.time_grid(nfe)
        ref = dpmpp_2m_second_order_last_step(model, x0, times)
        torch.testing.assert_close(sample(model, x0, "dpm++2m", times=times).samples, ref, atol=1e-12, rtol=0)


def fitted_order(model, schedule, sampler, nfes, grid):
    x0 = white_noise(64)
    errs = []
    for nfe in nfes:
        times = model.schedule.time_grid(nfe) if grid == "uniform" else model.schedule.logsnr_grid(nfe)
        errs.append(flow_error(sample(model, x0, sampler, times=times).samples, times, schedule))
    logn, loge = torch.log(torch.tensor(nfes, dtype=torch.float64)), torch.log(torch.tensor(errs))
    return -float(((logn - logn.mean()) * (loge - loge.mean())).sum() / ((logn - logn.mean()) ** 2).sum())


@pytest.mark.parametrize("schedule,grid,low,high", [
    # measured orders (NFE 100-400 uniform, 100-800 log-SNR): linear 1.8, cosine 1.6, linear-beta 1.7 on
    # the uniform grid (still rising: there the steps in lambda near the ends do not shrink);
    # 2.00 on linear-beta's log-SNR grid; 1.7 on cosine's (its last finite lambda grows like log K).
    ("linear", "uniform", 1.5, 2.2), ("cosine", "uniform", 1.4, 2.2), ("linear-beta", "uniform", 1.5, 2.2),
    ("linear-beta", "logsnr", 1.9, 2.1), ("cosine", "logsnr", 1.5, 2.1)])
def test_dpmpp_2m_order_of_convergence(schedule, grid, low, high):
    model = gaussian_model(schedule)
    nfes = [100, 200, 400] if grid == "uniform" else [100, 200, 400, 800]
    order = fitted_order(model, schedule, "dpm++2m", nfes, grid)
    assert low < order < high, order
    euler = fitted_order(model, schedule, "euler", nfes, grid)  # the first-order reference on the same grid
    assert 0.85 < euler < 1.15, euler


# ---- (5c) DDPM ends on the posterior mean -------------------------------------------------
@pytest.mark.parametrize("name,kwargs", [("ddpm", {}), ("ddim", {"eta": 1.0}), ("ddim", {"eta": 0.5})])
def test_last_stochastic_step_returns_the_mean(name, kwargs):
    # Ho et al. 2020, Alg. 2: z = 0 on the last step. linear-beta ends at t_max = 0.999, sigma = 0.0105,
    # where the posterior still has variance: the last step must not add it.
    model = gaussian_model("linear-beta")
    x0 = torch.randn(256, 2, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    times = torch.linspace(0.0, 0.999, 11, dtype=torch.float64)
    runs = [sample(model, x0, name, times=times, generator=torch.Generator().manual_seed(k), return_trajectory=True,
                   **kwargs) for k in (0, 1)]
    a, s = model.schedule.alpha(times[-2:]).tolist(), model.schedule.sigma(times[-2:]).tolist()
    s2 = s[0] ** 2 - (a[0] / a[1]) ** 2 * s[1] ** 2
    var = s2 * s[1] ** 2 / s[0] ** 2
    assert var > 1e-5  # the last step has a posterior variance to drop
    c = kwargs.get("eta", 1.0) * math.sqrt(var)
    for out in runs:
        x = out.trajectory[-2]
        x1 = model(x, times[-2].expand(x.shape[0]))
        x0_hat = (x - a[0] * x1) / s[0]
        mean = a[1] * x1 + math.sqrt(s[1] ** 2 - c ** 2) * x0_hat  # = c_x x + c_1 x1_hat for eta = 1
        torch.testing.assert_close(out.samples, mean, atol=1e-12, rtol=0)
    assert not torch.allclose(runs[0].trajectory[-2], runs[1].trajectory[-2])  # earlier steps stay stochastic


# ---- (6) seeds ----------------------------------------------------------------------------
@pytest.mark.parametrize("name,kwargs", [("ddpm", {}), ("ddim", {"eta": 0.7}), ("em", {}), ("euler", {})])
def test_seed_controls_everything(name, kwargs):
    model = gaussian_model("cosine")
    run = lambda seed: sample(model, 64, name, nfe=20, generator=torch.Generator().manual_seed(seed),  # noqa: E731
                              **kwargs).samples
    assert torch.equal(run(0), run(0))
    assert not torch.allclose(run(0), run(1))
    # with a fixed x0 only the sampler's own noise differs between seeds
    x0 = torch.randn(64, 2)
    a, b = (sample(model, x0, name, nfe=20, generator=torch.Generator().manual_seed(s), **kwargs).samples
            for s in (0, 1))
    assert torch.allclose(a, b) == (name == "euler")


# ---- (7) honest NFE -----------------------------------------------------------------------
class CountingNet(nn.Module):
    """A smooth toy network that counts its own forward calls."""

    def __init__(self):
        super().__init__()
        self.calls, self.dim, self.latest = 0, 2, 0.0

    def forward(self, x, t):
        self.calls += 1
        self.latest = max(self.latest, float(t.max()))
        return torch.tanh(x) * (1 + t[:, None]) - 0.3 * x


@pytest.mark.parametrize("name", list(SAMPLERS))
@pytest.mark.parametrize("parametrization", ["velocity", "data"])
def test_reported_nfe_is_counted(name, parametrization):
    net = CountingNet()
    model = PathModel(net, "linear", parametrization)
    out = sample(model, 32, name, nfe=None if name == "dopri5" else 24, generator=torch.Generator().manual_seed(0))
    assert out.nfe == net.calls > 0
    if parametrization == "data":  # a data prediction has no velocity at sigma = 0 (t = 1): never evaluated there
        assert net.latest < 1 - 1e-4
    if name != "dopri5":
        steps = steps_for(name, 24)
        expected = steps * EVALS_PER_STEP[name]
        if name == "rk4" and parametrization == "data":
            expected -= 1  # a data prediction has no velocity at sigma = 0: the last step is ralston3
        assert out.nfe == expected


def test_trajectory_and_times():
    model = gaussian_model("cosine")
    out = sample(model, 8, "heun", nfe=20, return_trajectory=True)
    assert out.trajectory.shape == (11, 8, 2) and out.times.shape == (11,)
    assert torch.equal(out.trajectory[-1], out.samples)
    assert float(out.times[0]) == pytest.approx(model.schedule.t_min) and float(out.times[-1]) == 1.0
    times = torch.tensor([0.1, 0.4, 0.8, 1.0])
    out = sample(model, 8, "dopri5", times=times, return_trajectory=True)
    assert out.trajectory.shape == (4, 8, 2) and torch.equal(out.trajectory[-1], out.samples)


# ---- (8) errors ---------------------------------------------------------------------------
def test_errors():
    model = gaussian_model("linear")
    with pytest.raises(ValueError, match="nfe"):
        sample(model, 4, "euler", nfe=0)
    with pytest.raises(ValueError, match="nfe=1"):
        sample(model, 4, "rk4", nfe=1)
    with pytest.raises(TypeError, match="nfe"):
        sample(model, 4, "euler", nfe=2.5)
    with pytest.raises(ValueError, match="'euler', 'heun'.*Did you mean 'heun'"):
        sample(model, 4, "huen")
    with pytest.raises(ValueError, match="nfe must be None"):
        sample(model, 4, "dopri5", nfe=50)
    with pytest.raises(ValueError, match="increasing"):
        sample(model, 4, "euler", times=torch.tensor([0.0, 0.5, 0.4, 1.0]))
    with pytest.raises(ValueError, match="times"):
        sample(model, 4, "euler", times=torch.tensor([0.0, 0.5, 1.2]))
    with pytest.raises(ValueError, match="x0 contains 1 NaN"):
        sample(model, torch.tensor([[0.0, float("nan")], [0.0, 0.0]]), "euler")
    with pytest.raises(ValueError, match="x0 must have shape"):
        sample(model, torch.zeros(4, 3), "euler")
    with pytest.raises(ValueError, match="unknown sampler"):
        steps_for("dpm", 10)
    # a noise prediction at alpha = 0 (the linear path at t = 0) says nothing about the data
    noise_model = PathModel(CountingNet(), "linear", "noise")
    with pytest.raises(ValueError, match="start later"):
        sample(noise_model, 4, "ddim")
    assert torch.isfinite(sample(noise_model, 4, "ddim", times=torch.linspace(0.01, 1, 11)).samples).all()
