r"""Exercise checks, the notebooks' core equations, and the student version of a notebook.

Every function that a notebook writes out by hand (the interpolation ``x_t``, the two losses, an
Euler step, the conversions...) has an entry in :func:`specs`: the package's reference
implementation, a maker of random inputs, and common mistakes with a hint for each.

* In a notebook, ``check("3.1", flow_matching_loss)`` compares the learner's function with the
  reference on random inputs and says what is wrong (a known mistake is named).
* The test suite runs the same comparison on each notebook's *core* cells (cells whose first line
  is ``# core: NAME``), so the equations a learner reads are the package's, digit for digit.
* Solutions in the committed notebooks sit between ``### BEGIN SOLUTION`` and ``### END SOLUTION``;
  :func:`student_notebook` replaces them with ``raise NotImplementedError("Exercise N.M")``.
  Command line: ``python -m fmlearn student notebooks/ --out student/``.
"""
from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor

__all__ = ["Spec", "specs", "EXERCISES", "check", "compare", "student_notebook", "student_source"]


@dataclass
class Spec:
    """What a hand-written function must compute.

    Attributes:
        signature: how the notebook's function is called, e.g. ``"interpolate(x0, x1, t)"``.
        reference: the package's implementation, same signature.
        inputs: ``inputs(generator) -> tuple of arguments`` (random, float64).
        mistakes: ``{hint: wrong implementation}``: if the learner's output equals a wrong one, the hint is shown.
        atol: tolerance of the comparison.
    """

    signature: str
    reference: Callable[..., Any]
    inputs: Callable[[torch.Generator], tuple]
    mistakes: dict[str, Callable[..., Any]] = field(default_factory=dict)
    atol: float = 1e-6


def _pair(g, n=64, d=2):
    x0 = torch.randn(n, d, generator=g, dtype=torch.float64)
    x1 = 2 * torch.randn(n, d, generator=g, dtype=torch.float64) + 1
    t = 0.05 + 0.9 * torch.rand(n, generator=g, dtype=torch.float64)
    return x0, x1, t


def _net(g):
    from .models import MLP
    torch.manual_seed(int(torch.randint(0, 2 ** 31 - 1, (1,), generator=g)))
    return MLP(2, 32, 2).double()


def _cos(t):
    return torch.sin(0.5 * math.pi * t), torch.cos(0.5 * math.pi * t)


def _col(t):
    return t[:, None]


def _least_spread_time(s: Tensor) -> Tensor:
    """``argmin_t Var(x_t)`` on the linear path with ``sigma_min = s`` for unit-variance data and noise:
    ``d/dt [t^2 + (1 - (1 - s) t)^2] = 0`` gives ``t* = (1 - s) / (1 + (1 - s)^2)``."""
    return (1 - s) / (1 + (1 - s) ** 2)


def _irreducible_fm_loss(s: Tensor, t: Tensor) -> Tensor:
    """The flow matching loss's floor at time t for 1-D data ``N(0, s^2)`` on the linear path:
    ``Var(v | x_t) = Var(v) - Cov(v, x_t)^2 / Var(x_t) = s^2 / (t^2 s^2 + (1 - t)^2)`` with ``v = x1 - x0``."""
    return s ** 2 / (t ** 2 * s ** 2 + (1 - t) ** 2)


def _empirical_order(steps: Tensor, errors: Tensor) -> Tensor:
    """Least-squares slope of ``log(errors)`` against ``log(1 / steps)``: error ~ C steps^-p gives p."""
    x, y = -torch.log(steps), torch.log(errors)
    x, y = x - x.mean(), y - y.mean()
    return (x * y).sum() / (x * x).sum()


def _isotropic_frechet(mu_a: Tensor, s_a: Tensor, mu_b: Tensor, s_b: Tensor) -> float:
    """The Fréchet distance between ``N(mu_a, s_a^2 I_D)`` and ``N(mu_b, s_b^2 I_D)``: with ``S = s^2 I`` the root
    ``(S_a S_b)^(1/2)`` is ``s_a s_b I``, so ``tr(S_a + S_b - 2 (S_a S_b)^(1/2)) = D (s_a - s_b)^2``; computed here
    with the general formula (``mnist_metric.fid_from_stats``) as an independent check of the closed form."""
    from . import mnist_metric

    eye = torch.eye(mu_a.numel(), dtype=torch.float64)
    return mnist_metric.fid_from_stats(mu_a, s_a ** 2 * eye, mu_b, s_b ** 2 * eye)


def _order_inputs(g):
    steps = torch.tensor([4.0, 8.0, 16.0, 32.0, 64.0], dtype=torch.float64)
    p = 0.5 + 3 * torch.rand((), generator=g, dtype=torch.float64)
    wobble = torch.exp(0.2 * torch.randn(5, generator=g, dtype=torch.float64))  # not an exact power law
    return steps, 0.7 * steps ** -p * wobble


def _implicit_inputs(g):
    eps_c = torch.randn(32, 2, generator=g, dtype=torch.float64)
    eps_u = torch.randn(32, 2, generator=g, dtype=torch.float64)
    return eps_c, eps_u, 0.05 + 0.9 * torch.rand(32, generator=g, dtype=torch.float64)


def _specs() -> dict[str, Spec]:
    from . import couplings, guidance, likelihood, losses, metrics, mnist_metric, parametrizations, samplers
    from .gaussians import GaussianMixture
    from .schedules import CosineSchedule, LinearSchedule

    lin, cos = LinearSchedule(), CosineSchedule()

    def net_batch(g):
        return (_net(g), *_pair(g))

    def iso_inputs(g):  # two isotropic Gaussians in R^D, D drawn in 3..40: means (D,), spreads (positive scalars)
        d = int(torch.randint(3, 41, (), generator=g))
        return (torch.randn(d, generator=g, dtype=torch.float64), 0.2 + torch.rand((), generator=g, dtype=torch.float64),
                torch.randn(d, generator=g, dtype=torch.float64), 0.2 + torch.rand((), generator=g, dtype=torch.float64))

    def probs_inputs(g):  # class probabilities (200, 10), unbalanced
        logits = 3 * torch.randn(200, 10, generator=g, dtype=torch.float64) + torch.linspace(0, 2, 10,
                                                                                           dtype=torch.float64)
        return (torch.softmax(logits, 1),)

    def guidance_inputs(g):  # (conditional, unconditional, w)
        return (torch.randn(32, 2, generator=g, dtype=torch.float64), torch.randn(32, 2, generator=g, dtype=torch.float64),
                float(8 * torch.rand((), generator=g)))

    def guided_noise_inputs(g):  # (eps_cond, eps_uncond, x, t, w) on the cosine path
        c, u, w = guidance_inputs(g)
        x0, x1, t = _pair(g, n=32)
        return c, u, cos.interpolate(x0, x1, t), t, w

    def dropout_inputs(g):  # (y, u, p, null)
        return (torch.randint(0, 10, (64,), generator=g), torch.rand(64, generator=g, dtype=torch.float64),
                float(0.1 + 0.5 * torch.rand((), generator=g)), 10)

    def eps_batch(g):  # (eps_hat, x, t)
        x0, x1, t = _pair(g)
        return torch.randn(64, 2, generator=g, dtype=torch.float64), cos.interpolate(x0, x1, t), t

    def euler_inputs(g):
        a = torch.randn(2, 2, generator=g, dtype=torch.float64)
        return (lambda x, t: x @ a.T * torch.cos(t)), torch.randn(16, 2, generator=g, dtype=torch.float64), \
            torch.linspace(0, 1, 9, dtype=torch.float64)

    def ddim_inputs(g):  # (x, eps_hat, t, u)
        eps, x, _ = eps_batch(g)
        t = 0.3 + 0.4 * torch.rand((), generator=g, dtype=torch.float64)
        return x, eps, t, t + 0.1

    def field_inputs(g):  # a smooth nonlinear field R^2 -> R^2 and points
        a = torch.randn(2, 2, generator=g, dtype=torch.float64)
        return (lambda x: torch.tanh(x @ a.T) + 0.3 * x ** 2), torch.randn(16, 2, generator=g, dtype=torch.float64)

    def ode_inputs(g):  # a linear time-dependent field, its divergence, data points and a step count
        a = torch.randn(2, 2, generator=g, dtype=torch.float64)
        return (lambda x, t: (x @ a.T) * (1 + t)), (lambda x, t: torch.trace(a) * (1 + t) * torch.ones(len(x),
                dtype=x.dtype)), torch.randn(16, 2, generator=g, dtype=torch.float64), 8

    def step_inputs(g):  # a time-dependent nonlinear field, a state, a time and a step
        f, x = euler_inputs(g)[:2]
        return (lambda y, t: f(y, t) + torch.sin(y) * t), x, torch.tensor(0.3, dtype=torch.float64), \
            torch.tensor(0.2, dtype=torch.float64)

    def traj_inputs(g):  # curved random trajectories (9, 20, 2)
        s = torch.linspace(0, 1, 9, dtype=torch.float64)[:, None, None]
        a, b = torch.randn(1, 20, 2, generator=g, dtype=torch.float64), torch.randn(1, 20, 2, generator=g, dtype=torch.float64)
        return (a * (1 - s) + b * s + 0.5 * torch.sin(3 * s) * torch.randn(1, 20, 2, generator=g, dtype=torch.float64),)

    def cloud_inputs(g):
        pts = torch.randn(30, 2, generator=g, dtype=torch.float64)
        return torch.randn(40, 2, generator=g, dtype=torch.float64), \
            0.1 + 0.8 * torch.rand((), generator=g, dtype=torch.float64), pts

    def marginal_velocity(x, t, points):
        x1 = GaussianMixture.from_points(points).posterior_mean(x, float(t), lin)
        return parametrizations.convert(x1, "data", "velocity", x, float(t), lin)

    def ddim_step(x, eps, t, u):
        a_t, s_t = _cos(t)
        a_u, s_u = _cos(u)
        x1 = (x - s_t * eps) / a_t
        return a_u * x1 + s_u * eps

    return {
        "interpolate": Spec(
            "interpolate(x0, x1, t)  # linear path, x0 (B, D) noise, x1 (B, D) data, t (B,)",
            lambda x0, x1, t: lin.interpolate(x0, x1, t), _pair,
            {"At t=0 x_t must be the noise x0 and at t=1 the data x1: you swapped them.":
                 lambda x0, x1, t: _col(t) * x0 + (1 - _col(t)) * x1}),
        "cosine_schedule": Spec(
            "cosine_schedule(t) -> (alpha_t, sigma_t)  # t (B,)",
            lambda t: (cos.alpha(t), cos.sigma(t)), lambda g: (torch.rand(50, generator=g, dtype=torch.float64),),
            {"alpha_t must be 0 at t=0 (pure noise) and 1 at t=1: you swapped sin and cos.":
                 lambda t: (cos.sigma(t), cos.alpha(t)),
             "The angle is pi t / 2, not pi t.": lambda t: (torch.sin(math.pi * t), torch.cos(math.pi * t))}),
        "conditional_velocity": Spec(
            "conditional_velocity(x0, x1, t)  # d x_t / dt on the linear path",
            lambda x0, x1, t: lin.velocity(x0, x1, t), _pair,
            {"The velocity points from noise to data: x1 - x0, not x0 - x1.": lambda x0, x1, t: x0 - x1}),
        "least_spread_time": Spec(
            "least_spread_time(sigma_min) -> t*  # sigma_min (B,) in [0, 1): where Var(x_t) is smallest",
            _least_spread_time, lambda g: (0.9 * torch.rand(50, generator=g, dtype=torch.float64),),
            {"sigma_min changes the answer: with it sigma_t = 1 - (1 - sigma_min) t, not 1 - t.":
                 lambda s: torch.full_like(s, 0.5),
             "Differentiate (1 - (1 - s) t)^2 carefully: the chain rule brings out (1 - s) twice, so the "
             "denominator is 1 + (1 - s)^2.": lambda s: (1 - s) / (2 - s)}),
        "irreducible_fm_loss": Spec(
            "irreducible_fm_loss(s, t) -> Var(x1 - x0 | x_t)  # 1-D data N(0, s^2); s, t (B,)",
            _irreducible_fm_loss,
            lambda g: (0.2 + 2 * torch.rand(50, generator=g, dtype=torch.float64),
                       0.05 + 0.9 * torch.rand(50, generator=g, dtype=torch.float64)),
            {"That is Var(x1 - x0) = s^2 + 1, what the loss would be without looking at x_t; condition on x_t: "
             "subtract Cov(v, x_t)^2 / Var(x_t).": lambda s, t: s ** 2 + 1,
             "Cov(x1 - x0, x_t) = t s^2 - (1 - t): the noise enters x_t with +(1 - t) and v with -1.":
                 lambda s, t: s ** 2 + 1 - (t * s ** 2 + (1 - t)) ** 2 / (t ** 2 * s ** 2 + (1 - t) ** 2)}),
        "flow_matching_loss": Spec(
            "flow_matching_loss(net, x0, x1, t)",
            lambda net, x0, x1, t: losses.flow_matching_loss(net, x0, x1, t), net_batch,
            {"The target is the velocity x1 - x0, not the data x1.":
                 lambda net, x0, x1, t: ((net(lin.interpolate(x0, x1, t), t) - x1) ** 2).mean(),
             "The velocity points from noise to data: x1 - x0, not x0 - x1.":
                 lambda net, x0, x1, t: ((net(lin.interpolate(x0, x1, t), t) - (x0 - x1)) ** 2).mean(),
             "Use the mean of the squared error over batch and dimensions, not the sum.":
                 lambda net, x0, x1, t: ((net(lin.interpolate(x0, x1, t), t) - (x1 - x0)) ** 2).sum()}),
        "diffusion_loss": Spec(
            "diffusion_loss(net, x0, x1, t)  # cosine path, noise prediction",
            lambda net, x0, x1, t: losses.diffusion_loss(net, x0, x1, t, cos), net_batch,
            {"The network predicts the noise x0, not the data x1.":
                 lambda net, x0, x1, t: ((net(cos.interpolate(x0, x1, t), t) - x1) ** 2).mean(),
             "x_t is on the cosine path, alpha_t x1 + sigma_t x0, not the linear one.":
                 lambda net, x0, x1, t: ((net(lin.interpolate(x0, x1, t), t) - x0) ** 2).mean()}),
        "euler_sample": Spec(
            "euler_sample(velocity, x, times)  # velocity(x, t), x (B, D), times (K+1,)",
            lambda f, x, times: samplers.integrate(f, x, times, "euler")[0], euler_inputs,
            {"Evaluate the velocity at the start of each step (t_k), not at its end.": _euler_right}),
        "empirical_order": Spec(
            "empirical_order(steps, errors) -> p  # steps, errors (K,): least-squares slope of log error on log(1/steps)",
            _empirical_order, _order_inputs,
            {"Fit all the points by least squares, not only the first and the last.":
                 lambda k, e: (torch.log(e[0]) - torch.log(e[-1])) / (torch.log(k[-1]) - torch.log(k[0])),
             "The order is positive for a converging method: the slope against log(1/steps), not log(steps).":
                 lambda k, e: -_empirical_order(k, e)}),
        "score_from_noise": Spec(
            "score_from_noise(eps_hat, x, t)  # cosine path",
            lambda eps, x, t: parametrizations.convert(eps, "noise", "score", x, t, cos), eps_batch,
            {"The score points towards the data, against the noise: it is -eps / sigma_t.":
                 lambda eps, x, t: eps / _col(_cos(t)[1]),
             "Divide by sigma_t, not alpha_t.": lambda eps, x, t: -eps / _col(_cos(t)[0])}),
        "velocity_from_noise": Spec(
            "velocity_from_noise(eps_hat, x, t)  # cosine path",
            lambda eps, x, t: parametrizations.convert(eps, "noise", "velocity", x, t, cos), eps_batch,
            {"Recover x1_hat = (x - sigma_t eps) / alpha_t first, then v = d_alpha x1_hat + d_sigma eps.":
                 lambda eps, x, t: (_col(0.5 * math.pi * torch.cos(0.5 * math.pi * t)) * x
                                    - _col(0.5 * math.pi * torch.sin(0.5 * math.pi * t)) * eps)}),
        "ddim_step": Spec(
            "ddim_step(x, eps_hat, t, u)  # cosine path, from time t to u > t, eta = 0",
            ddim_step, ddim_inputs,
            {"Re-noise with the NEXT time's sigma_u and alpha_u, not the current ones.":
                 lambda x, eps, t, u: ddim_step(x, eps, t, t)}),
        "linear_path_time": Spec(
            "linear_path_time(t) -> (r, c)  # cosine path: x_t / c lies on the linear path at time r",
            lambda t: (cos.alpha(t) / (cos.alpha(t) + cos.sigma(t)), cos.alpha(t) + cos.sigma(t)),
            lambda g: (cos.t_min + (1 - cos.t_min) * torch.rand(50, generator=g, dtype=torch.float64),),
            {"r = alpha / (alpha + sigma), not sigma / (alpha + sigma): r must be 0 at the noise end.":
                 lambda t: (cos.sigma(t) / (cos.alpha(t) + cos.sigma(t)), cos.alpha(t) + cos.sigma(t)),
             "The scale is c = alpha + sigma, so that x / c = r x1 + (1 - r) x0.":
                 lambda t: (cos.alpha(t) / (cos.alpha(t) + cos.sigma(t)), torch.ones_like(t))}),
        "standard_normal_log_prob": Spec(
            "standard_normal_log_prob(z)  # log N(z; 0, I) per row, z (B, D)",
            lambda z: -0.5 * (z ** 2).sum(1) - 0.5 * z.shape[1] * math.log(2 * math.pi),
            lambda g: (torch.randn(20, 3, generator=g, dtype=torch.float64),),
            {"Sum over the D coordinates: the normalizing term is D/2 log(2 pi), not 1/2 log(2 pi).":
                 lambda z: -0.5 * (z ** 2).sum(1) - 0.5 * math.log(2 * math.pi),
             "The exponent is -|z|^2 / 2: the factor 1/2 is missing.":
                 lambda z: -(z ** 2).sum(1) - 0.5 * z.shape[1] * math.log(2 * math.pi)}),
        "exact_divergence": Spec(
            "exact_divergence(f, x)  # f maps (B, D) -> (B, D) row by row; returns div f, (B,)",
            lambda f, x: likelihood.divergence_exact(lambda y, _t: f(y), x, None)[1], field_inputs,
            {"The divergence is the trace of the Jacobian, sum_i d f_i / d x_i, not the sum of all its entries.":
                 lambda f, x: _jacobian_sum(f, x)}),
        "log_likelihood_euler": Spec(
            "log_likelihood_euler(velocity, divergence, x, steps)  # Euler from t=1 back to t=0; (B,)",
            _log_likelihood_euler_reference, ode_inputs,
            {"log p(x) = log N(z; 0, I) - integral of div v: subtract the accumulated divergence, do not add it.":
                 lambda v, d, x, k: _log_likelihood_euler_reference(v, lambda y, t: -d(y, t), x, k)}),
        "hutchinson_divergence": Spec(
            "hutchinson_divergence(f, x, probe)  # probe (B, D) of +-1; returns probe^T J probe, (B,)",
            lambda f, x, e: likelihood.divergence_hutchinson(lambda y, _t: f(y), x, None, e[None])[1],
            lambda g: (*field_inputs(g), torch.randint(0, 2, (16, 2), generator=g).double() * 2 - 1),
            {"Multiply the vector-Jacobian product by the probe again and sum: e^T J e, a number per row.":
                 lambda f, x, e: _vjp(f, x, e).sum(1)}),
        "heun_step": Spec(
            "heun_step(velocity, x, t, h)  # one step of Heun's method (explicit trapezoid), 2 evaluations",
            lambda f, x, t, h: samplers.INTEGRATORS["heun"](f, x, t, h), step_inputs,
            {"Heun averages the slope at the start and at the Euler-predicted end: (k1 + k2) / 2.":
                 lambda f, x, t, h: x + h * f(x + h * f(x, t), t + h)}),
        "midpoint_step": Spec(
            "midpoint_step(velocity, x, t, h)  # one step of the explicit midpoint method, 2 evaluations",
            lambda f, x, t, h: samplers.INTEGRATORS["midpoint"](f, x, t, h), step_inputs,
            {"Evaluate the second slope at time t + h/2 too, not at t.":
                 lambda f, x, t, h: x + h * f(x + 0.5 * h * f(x, t), t)}),
        "rk4_step": Spec(
            "rk4_step(velocity, x, t, h)  # one step of the classic fourth-order Runge-Kutta method",
            lambda f, x, t, h: samplers.INTEGRATORS["rk4"](f, x, t, h), step_inputs,
            {"The weights are (k1 + 2 k2 + 2 k3 + k4) / 6.":
                 lambda f, x, t, h: _rk4_equal_weights(f, x, t, h)}),
        "ot_pair": Spec(
            "ot_pair(x0, x1) -> x0 reordered so that x0[i] is paired with x1[i] at least total squared distance",
            lambda x0, x1: couplings.ot_coupling(x0, x1)[0], lambda g: _pair(g, n=12)[:2],
            {"Reorder the noise x0 to match the data, not the data to match the noise.":
                 lambda x0, x1: x1[_lsa_perm(x1, x0)],
             "The cost is the SQUARED distance, |x0_j - x1_i|^2.":
                 lambda x0, x1: x0[_lsa_perm(x0, x1, squared=False)]}),
        "straightness": Spec(
            "straightness(trajectory) -> float  # trajectory (K+1, N, D): mean of |x_K - x_0| / path length",
            lambda traj: metrics.straightness(traj), traj_inputs,
            {"Divide the straight distance by the path length, not the other way round (1 = straight, < 1 curved).":
                 lambda traj: _length_over_chord(traj)}),
        "path_energy": Spec(
            "path_energy(trajectory, times) -> float  # mean over samples of sum_k |dx_k|^2 / dt_k",
            lambda traj, times: metrics.path_energy(traj, times),
            lambda g: (traj_inputs(g)[0], torch.linspace(0, 1, 9, dtype=torch.float64) ** 1.5),
            {"Divide each squared step by its duration dt_k: energy = int |v|^2 dt with v = dx / dt.":
                 lambda traj, times: float(((traj[1:] - traj[:-1]) ** 2).sum(-1).sum(0).mean())}),
        "isotropic_frechet": Spec(
            "isotropic_frechet(mu_a, s_a, mu_b, s_b) -> float  # FD between N(mu_a, s_a^2 I) and N(mu_b, s_b^2 I)",
            lambda ma, sa, mb, sb: _isotropic_frechet(ma, sa, mb, sb), iso_inputs,
            {"Each of the D dimensions adds its own (s_a - s_b)^2: multiply by D = mu_a.numel().":
                 lambda ma, sa, mb, sb: float(((ma - mb) ** 2).sum() + (sa - sb) ** 2),
             "The root (S_a S_b)^(1/2) is s_a s_b I, so the trace terms are D (s_a^2 + s_b^2 - 2 s_a s_b): "
             "keep the cross term.":
                 lambda ma, sa, mb, sb: float(((ma - mb) ** 2).sum() + ma.numel() * (sa ** 2 + sb ** 2)),
             "The spreads enter as standard deviations, (s_a - s_b)^2, not as variances (s_a^2 - s_b^2)^2.":
                 lambda ma, sa, mb, sb: float(((ma - mb) ** 2).sum() + ma.numel() * (sa ** 2 - sb ** 2) ** 2),
             "Add the squared distance between the means, |mu_a - mu_b|^2.":
                 lambda ma, sa, mb, sb: float(ma.numel() * (sa - sb) ** 2)}, atol=1e-8),
        "label_entropy": Spec(
            "label_entropy(probs) -> float  # entropy (nats) of the histogram of predicted labels, probs (N, K)",
            lambda probs: mnist_metric.label_entropy(probs), probs_inputs,
            {"Histogram the predicted labels (argmax) first; the mean of the per-sample entropies measures "
             "confidence, not how evenly the classes are covered.":
                 lambda probs: float(-(probs * probs.clamp_min(1e-300).log()).sum(1).mean()),
             "Use the natural logarithm (nats): the maximum for 10 classes is log 10 = 2.303.":
                 lambda probs: mnist_metric.label_entropy(probs) / math.log(2)}),
        "guided_velocity": Spec(
            "guided_velocity(v_cond, v_uncond, w)  # classifier-free guidance with scale w (w = 0: conditional)",
            lambda c, u, w: guidance.guided_prediction(c, u, w), guidance_inputs,
            {"Guidance extrapolates beyond the conditional prediction: (1 + w) v_cond - w v_uncond, "
             "not an interpolation between the two.": lambda c, u, w: (1 - w) * c + w * u,
             "In this course w = 0 is the plain conditional model, so the weights are (1 + w) and -w "
             "(papers that write w v_cond + (1 - w) v_uncond use w' = 1 + w).": lambda c, u, w: w * c + (1 - w) * u}),
        "implicit_classifier_score": Spec(
            "implicit_classifier_score(eps_cond, eps_uncond, t)  # grad_x log p_t(y | x) on the cosine path; t (B,)",
            lambda c, u, t: -(c - u) / _col(_cos(t)[1]), _implicit_inputs,
            {"Bayes: grad log p(y | x) = grad log p(x | y) - grad log p(x); with score = -eps / sigma that is "
             "-(eps_cond - eps_uncond) / sigma: you have the sign the other way.":
                 lambda c, u, t: (c - u) / _col(_cos(t)[1]),
             "The score of a noise prediction divides by sigma_t, not alpha_t.":
                 lambda c, u, t: -(c - u) / _col(_cos(t)[0]),
             "A score is the noise prediction divided by -sigma_t: divide the difference by sigma_t.":
                 lambda c, u, t: -(c - u)}),
        "guided_velocity_from_noise": Spec(
            "guided_velocity_from_noise(eps_cond, eps_uncond, x, t, w)  # cosine path: guide, then convert",
            lambda c, u, x, t, w: parametrizations.convert(guidance.guided_prediction(c, u, w), "noise",
                                                           "velocity", x, t, cos), guided_noise_inputs,
            {"Convert the guided noise prediction to a velocity: "
             "v = (alpha'/alpha) x + (sigma' - alpha' sigma / alpha) eps.":
                 lambda c, u, x, t, w: guidance.guided_prediction(c, u, w),
             "Guide with both predictions, (1 + w) eps_cond - w eps_uncond, before converting.":
                 lambda c, u, x, t, w: parametrizations.convert(c, "noise", "velocity", x, t, cos)}),
        "drop_labels": Spec(
            "drop_labels(y, u, p, null)  # label dropout: y (B,) -> null where the uniform draw u < p",
            lambda y, u, p, null: torch.where(u < p, torch.full_like(y, null), y), dropout_inputs,
            {"Drop where u < p (probability p), keep the rest: u > p drops 1 - p of the labels.":
                 lambda y, u, p, null: torch.where(u > p, torch.full_like(y, null), y)}),
        "noise_weight_linear": Spec(
            "noise_weight_linear(t)  # w(t) with |v_hat - v|^2 = w(t) |eps_hat - eps|^2 on the linear path",
            lambda t: losses.equivalent_weight(t, lin, "noise", "velocity"),
            lambda g: (0.05 + 0.9 * torch.rand(50, generator=g, dtype=torch.float64),),
            {"v - v_hat = (eps_hat - eps) / t, so the weight is 1 / t^2 (squared).": lambda t: 1 / t,
             "It is 1 / t^2, not 1 / (1 - t)^2: v = (x - eps) / t.": lambda t: 1 / (1 - t) ** 2}),
        "marginal_velocity": Spec(
            "marginal_velocity(x, t, points)  # linear path, data = the point cloud `points` (N, 2)",
            marginal_velocity, cloud_inputs,
            {"The weights are a softmax of -|x - t y_i|^2 / (2 (1 - t)^2): scale the data point by t.":
                 lambda x, t, pts: _marginal_unscaled(x, t, pts)}),
    }


def _log_likelihood_euler_reference(velocity, divergence, x, steps):
    """Euler on the augmented state [x, A] with dA/dt = div v, from t = 1 back to t = 0 (package integrator)."""
    from .samplers import integrate
    d = x.shape[1]

    def field(y, t):
        return torch.cat([velocity(y[:, :d], t), divergence(y[:, :d], t)[:, None]], dim=1)

    y = torch.cat([x, torch.zeros(len(x), 1, dtype=x.dtype)], dim=1)
    end = integrate(field, y, torch.linspace(1, 0, steps + 1, dtype=x.dtype), "euler")[0]
    z, a_end = end[:, :d], end[:, d]  # a_end = -integral_0^1 div v dt
    return -0.5 * (z ** 2).sum(1) - 0.5 * d * math.log(2 * math.pi) + a_end


def _rk4_equal_weights(f, x, t, h):
    k1 = f(x, t)
    k2 = f(x + 0.5 * h * k1, t + 0.5 * h)
    k3 = f(x + 0.5 * h * k2, t + 0.5 * h)
    k4 = f(x + h * k3, t + h)
    return x + h * (k1 + k2 + k3 + k4) / 4


def _lsa_perm(a, b, squared=True):
    from scipy.optimize import linear_sum_assignment
    cost = torch.cdist(b, a)
    rows, cols = linear_sum_assignment((cost ** 2 if squared else cost).numpy())
    perm = torch.empty(len(cols), dtype=torch.long)
    perm[torch.as_tensor(rows)] = torch.as_tensor(cols)
    return perm


def _length_over_chord(traj):
    length = (traj[1:] - traj[:-1]).norm(dim=-1).sum(0)
    return float((length / (traj[-1] - traj[0]).norm(dim=-1)).mean())


def _jacobian_sum(f, x):
    jac = torch.func.vmap(torch.func.jacrev(lambda row: f(row[None])[0]))(x)  # (B, D, D)
    return jac.sum((1, 2))


def _vjp(f, x, e):
    x = x.detach().requires_grad_(True)
    return torch.autograd.grad(f(x), x, grad_outputs=e)[0]


def _euler_right(f, x, times):
    for t, u in zip(times[:-1], times[1:]):
        x = x + (u - t) * f(x, u)
    return x


def _marginal_unscaled(x, t, pts):
    logw = -((x[:, None, :] - pts[None]) ** 2).sum(-1) / (2 * (1 - t) ** 2)
    x1 = torch.softmax(logw, 1) @ pts
    return (x1 - x) / (1 - t)


@functools.lru_cache(maxsize=None)
def specs() -> dict[str, Spec]:
    """Name -> :class:`Spec` of every function a notebook writes out (built on first use)."""
    return _specs()


EXERCISES: dict[str, str] = {
    "1.1": "least_spread_time", "1.2": "cosine_schedule", "1.3": "conditional_velocity",
    "2.1": "diffusion_loss", "2.2": "score_from_noise", "2.3": "ddim_step",
    "3.1": "irreducible_fm_loss", "3.2": "empirical_order", "3.3": "marginal_velocity",
    "4.1": "velocity_from_noise", "4.2": "noise_weight_linear", "4.3": "linear_path_time",
    "5.1": "midpoint_step", "5.2": "rk4_step",
    "6.1": "ot_pair", "6.2": "path_energy",
    "7.1": "standard_normal_log_prob", "7.2": "log_likelihood_euler", "7.3": "hutchinson_divergence",
    "8.1": "label_entropy", "8.2": "isotropic_frechet",
    "9.1": "implicit_classifier_score", "9.2": "guided_velocity_from_noise",
}
"""Exercise number -> name of the :func:`specs` entry it checks."""


def _as_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _f64(x) -> Tensor:
    return torch.as_tensor(x.detach() if isinstance(x, Tensor) else x, dtype=torch.float64)


def _close(a, b, atol) -> bool:
    a, b = _as_tuple(a), _as_tuple(b)
    if len(a) != len(b):
        return False
    for u, v in zip(a, b):
        u, v = _f64(u), _f64(v)
        if u.shape != v.shape or not torch.allclose(u, v, atol=atol, rtol=1e-6):
            return False
    return True


def compare(name: str, fn: Callable, trials: int = 3, seed: int = 0) -> str | None:
    """Compare ``fn`` with the reference of ``specs()[name]`` on random inputs.

    Returns:
        None when they agree, else a message that says what differs (a named mistake when recognized).
    """
    spec = specs()[name]
    g = torch.Generator().manual_seed(seed)
    return _compare(spec, fn, g, trials)


def _compare(spec: Spec, fn: Callable, g: torch.Generator, trials: int) -> str | None:
    for _ in range(trials):
        args = spec.inputs(g)
        want = spec.reference(*args)
        try:
            got = fn(*args)
        except NotImplementedError:
            raise
        except Exception as err:  # the learner's code failed: say how it was called
            hint = " (t has shape (B,): write t[:, None] to broadcast it against (B, D))" \
                if "must match the size" in str(err) else ""
            return f"calling {spec.signature} raised {type(err).__name__}: {err}{hint}"
        if _close(got, want, spec.atol):
            continue
        for hint, wrong in spec.mistakes.items():
            if _close(got, wrong(*args), spec.atol):
                return hint
        got_t, want_t = _as_tuple(got), _as_tuple(want)
        if len(got_t) != len(want_t):
            return f"expected {len(want_t)} output(s), got {len(got_t)}."
        for i, (u, v) in enumerate(zip(got_t, want_t)):
            u = _f64(u)
            if u.shape != v.shape:
                return f"output {i} has shape {tuple(u.shape)}, expected {tuple(v.shape)} (check broadcasting of t: use t[:, None])."
        err = max(float((_f64(u) - _f64(v)).abs().max()) for u, v in zip(got_t, want_t))
        return f"the values differ from the reference by up to {err:.3g} (signature: {spec.signature})."
    return None


def check(exercise: str, fn: Callable) -> None:
    """Check a learner's function: ``check("3.1", flow_matching_loss)``.

    Prints a line saying it is right; raises AssertionError with a hint when it is wrong; prints a
    reminder when the function still raises NotImplementedError (so "Run all" goes on).
    """
    name = EXERCISES.get(exercise, exercise)
    if name not in specs():
        from ._checks import check_choice
        check_choice("exercise", exercise, list(EXERCISES) + list(specs()))
    try:
        problem = compare(name, fn)
    except NotImplementedError:
        print(f"Exercise {exercise} is not done yet: fill in {specs()[name].signature} and run this cell again.")
        return None
    if problem:
        raise AssertionError(f"Exercise {exercise} ({name}): {problem}")
    print(f"Exercise {exercise} ({name}): correct, it matches fmlearn on random inputs.")
    return None


_SOLUTION = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION(?P<id>[^\n]*)\n.*?^[ \t]*### END SOLUTION[^\n]*(\n|$)",
                       re.S | re.M)


def student_source(source: str, default_id: str = "") -> str:
    """Replace every solution block in a cell's source by ``raise NotImplementedError("Exercise N.M")``."""
    def stub(m: re.Match) -> str:
        ex = m.group("id").strip() or default_id
        return f'{m.group("indent")}raise NotImplementedError("Exercise {ex}")  # your code here\n'
    return _SOLUTION.sub(stub, source)


def student_notebook(path: str | Path, out: str | Path) -> int:
    """Write the student version of notebook ``path`` to ``out``; returns the number of exercises stubbed.

    Outputs are cleared too. Unbalanced markers raise a ValueError naming the cell.
    """
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    count = 0
    for i, cell in enumerate(nb.get("cells", [])):
        src = "".join(cell.get("source", []))
        begins, ends = src.count("### BEGIN SOLUTION"), src.count("### END SOLUTION")
        if begins != ends:
            raise ValueError(f"{path}: cell {i} has {begins} BEGIN SOLUTION and {ends} END SOLUTION markers.")
        if begins and cell.get("cell_type") == "code":
            new = student_source(src)
            count += begins
            cell["source"] = new.splitlines(keepends=True)
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return count
