"""Notebook 03, flow matching: the loss and its floor, the marginal velocity of a point cloud, solver orders."""
from __future__ import annotations

import torch

from ... import losses, ode, parametrizations
from ...gaussians import GaussianMixture
from .inputs import F64, LIN, linear_field, net_batch
from .registry import exercise


@exercise(None, "flow_matching_loss(net, x0, x1, t)", net_batch,
          {"The target is the velocity x1 - x0, not the data x1.":
               lambda net, x0, x1, t: ((net(LIN.interpolate(x0, x1, t), t) - x1) ** 2).mean(),
           "The velocity points from noise to data: x1 - x0, not x0 - x1.":
               lambda net, x0, x1, t: ((net(LIN.interpolate(x0, x1, t), t) - (x0 - x1)) ** 2).mean(),
           "Use the mean of the squared error over batch and dimensions, not the sum.":
               lambda net, x0, x1, t: ((net(LIN.interpolate(x0, x1, t), t) - (x1 - x0)) ** 2).sum()})
def flow_matching_loss(net, x0, x1, t):
    return losses.flow_matching_loss(net, x0, x1, t)


@exercise("3.1", "irreducible_fm_loss(s, t) -> Var(x1 - x0 | x_t)  # 1-D data N(0, s^2); s, t (B,)",
          lambda g: (0.2 + 2 * torch.rand(50, generator=g, dtype=F64), 0.05 + 0.9 * torch.rand(50, generator=g, dtype=F64)),
          {"That is Var(x1 - x0) = s^2 + 1, what the loss would be without looking at x_t; condition on x_t: "
           "subtract Cov(v, x_t)^2 / Var(x_t).": lambda s, t: s ** 2 + 1,
           "Cov(x1 - x0, x_t) = t s^2 - (1 - t): the noise enters x_t with +(1 - t) and v with -1.":
               lambda s, t: s ** 2 + 1 - (t * s ** 2 + (1 - t)) ** 2 / (t ** 2 * s ** 2 + (1 - t) ** 2)})
def irreducible_fm_loss(s, t):
    """The flow matching loss's floor at time t for 1-D data ``N(0, s^2)`` on the linear path:
    ``Var(v | x_t) = Var(v) - Cov(v, x_t)^2 / Var(x_t) = s^2 / (t^2 s^2 + (1 - t)^2)`` with ``v = x1 - x0``."""
    return s ** 2 / (t ** 2 * s ** 2 + (1 - t) ** 2)


def _euler_right(f, x, times):
    for t, u in zip(times[:-1], times[1:]):
        x = x + (u - t) * f(x, u)
    return x


@exercise(None, "euler_sample(velocity, x, times)  # velocity(x, t), x (B, D), times (K+1,)", linear_field,
          {"Evaluate the velocity at the start of each step (t_k), not at its end.": _euler_right})
def euler_sample(f, x, times):
    return ode.integrate(f, x, times, "euler")[0]


def _order_inputs(g):
    steps = torch.tensor([4.0, 8.0, 16.0, 32.0, 64.0], dtype=F64)
    p = 0.5 + 3 * torch.rand((), generator=g, dtype=F64)
    wobble = torch.exp(0.2 * torch.randn(5, generator=g, dtype=F64))  # not an exact power law
    return steps, 0.7 * steps ** -p * wobble


@exercise("3.2", "empirical_order(steps, errors) -> p  # steps, errors (K,): least-squares slope of log error "
                 "on log(1/steps)", _order_inputs,
          {"Fit all the points by least squares, not only the first and the last.":
               lambda k, e: (torch.log(e[0]) - torch.log(e[-1])) / (torch.log(k[-1]) - torch.log(k[0])),
           "The order is positive for a converging method: the slope against log(1/steps), not log(steps).":
               lambda k, e: -empirical_order(k, e)})
def empirical_order(steps, errors):
    """Least-squares slope of ``log(errors)`` against ``log(1 / steps)``: error ~ C steps^-p gives p."""
    x, y = -torch.log(steps), torch.log(errors)
    x, y = x - x.mean(), y - y.mean()
    return (x * y).sum() / (x * x).sum()


def _cloud_inputs(g):
    pts = torch.randn(30, 2, generator=g, dtype=F64)
    return torch.randn(40, 2, generator=g, dtype=F64), 0.1 + 0.8 * torch.rand((), generator=g, dtype=F64), pts


def _marginal_unscaled(x, t, pts):
    logw = -((x[:, None, :] - pts[None]) ** 2).sum(-1) / (2 * (1 - t) ** 2)
    x1 = torch.softmax(logw, 1) @ pts
    return (x1 - x) / (1 - t)


@exercise("3.3", "marginal_velocity(x, t, points)  # linear path, data = the point cloud `points` (N, 2)",
          _cloud_inputs,
          {"The weights are a softmax of -|x - t y_i|^2 / (2 (1 - t)^2): scale the data point by t.": _marginal_unscaled})
def marginal_velocity(x, t, points):
    x1 = GaussianMixture.from_points(points).posterior_mean(x, float(t), LIN)
    return parametrizations.convert(x1, "data", "velocity", x, float(t), LIN)
