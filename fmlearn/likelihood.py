r"""Exact log-likelihood of a flow by the instantaneous change of variables.

Along the probability-flow ODE ``dx/dt = v(x, t)`` (t=0 noise, t=1 data) the log-density of the
moving point changes as (Chen et al. 2018, Grathwohl et al. 2019)

.. math::  \frac{d}{dt} \log p_t(x_t) = -\nabla \cdot v(x_t, t),

so for a data point ``x`` at ``t_max``, integrating the ODE back to ``z = x_{t_min}``:

.. math::  \log p(x) = \log N(z; 0, I) - \int_{t_{min}}^{t_{max}} \nabla \cdot v(x_t, t)\, dt .

The divergence is computed exactly by autograd (one backward pass per dimension, O(D) cost) or
estimated without bias by Hutchinson's trick ``E[e^T J e] = tr J`` with Rademacher probes ``e``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch
from torch import Tensor

from ._checks import check_choice, check_positive_int, check_tensor, like_model
from .ode import CountedModel, odeint_bridged, singular_at

if TYPE_CHECKING:
    from .models import PathModel

__all__ = ["divergence_exact", "divergence_hutchinson", "LikelihoodResult", "log_likelihood", "DIVERGENCES"]

DIVERGENCES = ("exact", "hutchinson")
_ADAPTIVE = ("dopri5", "dopri8", "bosh3", "adaptive_heun", "fehlberg2")


def divergence_exact(f: Callable[[Tensor, Tensor], Tensor], x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    r"""The field and its exact divergence ``div f = sum_i d f_i / d x_i``, by autograd.

    Costs one forward and D backward passes (one per input dimension): fine for D = 2, too slow for
    images, where :func:`divergence_hutchinson` is the tool.

    Args:
        f: the field ``f(x (B, ...), t) -> (B, ...)``, each row depending only on its own input row.
        x: points, shape (B, ...), with D = the number of entries per row.
        t: time, passed to ``f`` unchanged (a 0-d tensor or shape (B,)).

    Returns:
        ``(value, div)``: ``f(x, t)`` (B, ...) and the divergence (B,), both detached.
    """
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        value = f(x, t)  # (B, ...)
        flat = value.reshape(x.shape[0], -1)  # (B, D)
        div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for i in range(flat.shape[1]):  # d f_i / d x_i for every row at once: rows are independent
            grad = torch.autograd.grad(flat[:, i].sum(), x, retain_graph=i < flat.shape[1] - 1)[0]
            div = div + grad.reshape(x.shape[0], -1)[:, i]
    return value.detach(), div.detach()


def divergence_hutchinson(f: Callable[[Tensor, Tensor], Tensor], x: Tensor, t: Tensor,
                          probes: Tensor) -> tuple[Tensor, Tensor]:
    r"""The field and Hutchinson's unbiased estimate of its divergence, ``mean_p e_p^T (df/dx) e_p``.

    Each probe costs one vector-Jacobian product (one backward pass), whatever D is.
    With Rademacher probes (entries +-1) the variance is ``2 sum_{i != j} ((J_ij + J_ji) / 2)^2 / P``.

    Args:
        f: the field ``f(x (B, ...), t) -> (B, ...)``.
        x: points, shape (B, ...).
        t: time, passed to ``f`` unchanged.
        probes: P probe vectors per point, shape (P, B, ...), e.g. Rademacher.

    Returns:
        ``(value, div)``: ``f(x, t)`` (B, ...) and the estimate averaged over the P probes (B,), detached.
    """
    if probes.ndim != x.ndim + 1 or probes.shape[1:] != x.shape:
        raise ValueError(f"probes must have shape (P, {', '.join(map(str, x.shape))}), got {tuple(probes.shape)}.")
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        value = f(x, t)  # (B, ...)
        div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for p, e in enumerate(probes):
            e = e.to(value)
            vjp = torch.autograd.grad(value, x, grad_outputs=e, retain_graph=p < len(probes) - 1)[0]  # e^T J
            div = div + (vjp * e).reshape(x.shape[0], -1).sum(1)  # (B,)
    return value.detach(), div.detach() / len(probes)


@dataclass
class LikelihoodResult:
    """What :func:`log_likelihood` returns.

    Attributes:
        log_prob: ``log p(x)``, shape (B,), in nats.
        prior_log_prob: ``log N(z; 0, I)``, shape (B,).
        delta_log_det: ``log p(x) - log N(z; 0, I) = -int div v dt``, shape (B,).
        nfe: network evaluations (forward passes, counted; the backward passes are not counted).
        z: the noise the data point flows back to at ``t_min``, shape (B, D).
    """

    log_prob: Tensor
    prior_log_prob: Tensor
    delta_log_det: Tensor
    nfe: int
    z: Tensor


def log_likelihood(model: PathModel, x: Tensor, *, divergence: str = "exact", n_probes: int = 1, rtol: float = 1e-5,
                   atol: float = 1e-5, method: str = "dopri5",
                   generator: torch.Generator | None = None) -> LikelihoodResult:
    r"""Log-density of data points under a model's probability-flow ODE.

    Integrates the augmented state ``[x, A]`` with ``dx/dt = v(x, t)`` and ``dA/dt = div v(x, t)``
    from ``(x, 0)`` at ``t_max`` back to ``(z, A_min)`` at ``t_min``; then
    ``A_min = -int_{t_min}^{t_max} div v dt`` and ``log p(x) = log N(z; 0, I) + A_min``.

    The prior ``N(0, I)`` is the model's distribution at ``t_min`` only approximately when
    ``t_min > 0`` or ``alpha_{t_min} != 0`` (cosine starts at ``t_min > 0``; linear-beta has ``alpha_0 = 0.0066``);
    at ``t_max < 1`` (linear-beta) the result is the density of slightly noised data.
    Where the model's velocity is singular (a data prediction at ``sigma = 0``, see
    :mod:`fmlearn.samplers`), the first ``1e-3`` of the span is bridged by
    one second-order step evaluated in the middle of the gap.

    Args:
        model: a :class:`~fmlearn.models.PathModel`.
        x: data points, shape (B, D), finite floating point.
        divergence: ``exact`` (autograd, O(D) backward passes) or ``hutchinson`` (unbiased, O(n_probes)).
        n_probes: Rademacher probes per point for ``hutchinson``, drawn once with ``generator`` and
            fixed for the whole integration (so the ODE stays smooth for the adaptive solver).
        rtol, atol: tolerances of the adaptive solver.
        method: a torchdiffeq adaptive method (``dopri5``, ``dopri8``, ``bosh3``, ``adaptive_heun``, ``fehlberg2``).
        generator: random generator for the probes.

    Returns:
        :class:`LikelihoodResult`.
    """
    x = like_model(model, check_tensor("x", x, ndim=2, min_len=1))  # e.g. float64 points for a float32 network
    check_choice("divergence", divergence, DIVERGENCES)
    check_choice("method", method, _ADAPTIVE)
    check_positive_int("n_probes", n_probes)
    counted = CountedModel(model)
    b, d = x.shape
    if divergence == "hutchinson":
        probes = torch.randint(0, 2, (n_probes, b, d), generator=generator, device=x.device).to(x.dtype) * 2 - 1
        div_fn = lambda y, t: divergence_hutchinson(counted.velocity, y, t, probes)  # noqa: E731
    else:
        div_fn = lambda y, t: divergence_exact(counted.velocity, y, t)  # noqa: E731

    def augmented(y: Tensor, t: Tensor) -> Tensor:  # y = [x, A], shape (B, D + 1)
        v, div = div_fn(y[:, :d], t)
        return torch.cat([v, div[:, None]], dim=1)

    schedule = model.schedule
    times = torch.tensor([schedule.t_max, schedule.t_min], dtype=x.dtype, device=x.device)  # data -> noise
    y0 = torch.cat([x, torch.zeros(b, 1, dtype=x.dtype, device=x.device)], dim=1)
    with torch.no_grad():
        y1 = odeint_bridged(augmented, y0, times, rtol=rtol, atol=atol, method=method,
                             open_start=singular_at(model, schedule.t_max, x.dtype),
                             open_end=singular_at(model, schedule.t_min, x.dtype))[-1]
    z, delta = y1[:, :d], y1[:, d]
    prior = -0.5 * z.square().sum(1) - 0.5 * d * math.log(2 * math.pi)
    return LikelihoodResult(log_prob=prior + delta, prior_log_prob=prior, delta_log_det=delta, nfe=counted.nfe, z=z)
