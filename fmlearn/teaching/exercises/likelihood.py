"""Notebook 07, likelihood: the standard normal's log-density, the divergence (exact and Hutchinson's), and
the log-likelihood by Euler steps of the change of variables."""
from __future__ import annotations

import math

import torch

from ... import likelihood, ode
from .inputs import F64, smooth_field
from .registry import exercise


@exercise("7.1", "standard_normal_log_prob(z)  # log N(z; 0, I) per row, z (B, D)",
          lambda g: (torch.randn(20, 3, generator=g, dtype=F64),),
          {"Sum over the D coordinates: the normalizing term is D/2 log(2 pi), not 1/2 log(2 pi).":
               lambda z: -0.5 * (z ** 2).sum(1) - 0.5 * math.log(2 * math.pi),
           "The exponent is -|z|^2 / 2: the factor 1/2 is missing.":
               lambda z: -(z ** 2).sum(1) - 0.5 * z.shape[1] * math.log(2 * math.pi)})
def standard_normal_log_prob(z):
    return -0.5 * (z ** 2).sum(1) - 0.5 * z.shape[1] * math.log(2 * math.pi)


def _jacobian_sum(f, x):
    jac = torch.func.vmap(torch.func.jacrev(lambda row: f(row[None])[0]))(x)  # (B, D, D)
    return jac.sum((1, 2))


@exercise(None, "exact_divergence(f, x)  # f maps (B, D) -> (B, D) row by row; returns div f, (B,)", smooth_field,
          {"The divergence is the trace of the Jacobian, sum_i d f_i / d x_i, not the sum of all its entries.":
               _jacobian_sum})
def exact_divergence(f, x):
    return likelihood.divergence_exact(lambda y, _t: f(y), x, None)[1]


def _ode_inputs(g):  # a linear time-dependent field, its divergence, data points and a step count
    a = torch.randn(2, 2, generator=g, dtype=F64)
    return (lambda x, t: (x @ a.T) * (1 + t)), \
        (lambda x, t: torch.trace(a) * (1 + t) * torch.ones(len(x), dtype=x.dtype)), \
        torch.randn(16, 2, generator=g, dtype=F64), 8


@exercise("7.2", "log_likelihood_euler(velocity, divergence, x, steps)  # Euler from t=1 back to t=0; (B,)",
          _ode_inputs,
          {"log p(x) = log N(z; 0, I) - integral of div v: subtract the accumulated divergence, do not add it.":
               lambda v, d, x, k: log_likelihood_euler(v, lambda y, t: -d(y, t), x, k)})
def log_likelihood_euler(velocity, divergence, x, steps):
    """Euler on the augmented state [x, A] with dA/dt = div v, from t = 1 back to t = 0 (package integrator)."""
    d = x.shape[1]

    def field(y, t):
        return torch.cat([velocity(y[:, :d], t), divergence(y[:, :d], t)[:, None]], dim=1)

    y = torch.cat([x, torch.zeros(len(x), 1, dtype=x.dtype)], dim=1)
    end = ode.integrate(field, y, torch.linspace(1, 0, steps + 1, dtype=x.dtype), "euler")[0]
    z, a_end = end[:, :d], end[:, d]  # a_end = -integral_0^1 div v dt
    return -0.5 * (z ** 2).sum(1) - 0.5 * d * math.log(2 * math.pi) + a_end


def _vjp(f, x, e):
    x = x.detach().requires_grad_(True)
    return torch.autograd.grad(f(x), x, grad_outputs=e)[0]


@exercise("7.3", "hutchinson_divergence(f, x, probe)  # probe (B, D) of +-1; returns probe^T J probe, (B,)",
          lambda g: (*smooth_field(g), torch.randint(0, 2, (16, 2), generator=g).double() * 2 - 1),
          {"Multiply the vector-Jacobian product by the probe again and sum: e^T J e, a number per row.":
               lambda f, x, e: _vjp(f, x, e).sum(1)})
def hutchinson_divergence(f, x, e):
    return likelihood.divergence_hutchinson(lambda y, _t: f(y), x, None, e[None])[1]
