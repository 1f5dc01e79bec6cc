"""Notebook 00, welcome: a point on the flow matching path, and Euler steps from noise to data."""
from __future__ import annotations

import torch

from ... import ode
from .inputs import F64, LIN, col, linear_field, pair
from .registry import exercise


@exercise("0.1", "point_on_path(x0, x1, t)  # x_t = t x1 + (1 - t) x0; x0 (B, D) noise, x1 (B, D) data, t (B,)",
          pair,
          {"At t = 0 the point must be the noise x0 and at t = 1 the data x1: you swapped them.":
               lambda x0, x1, t: col(t) * x0 + (1 - col(t)) * x1})
def point_on_path(x0, x1, t):
    return LIN.interpolate(x0, x1, t)


def _steps_inputs(g):
    f, x, _ = linear_field(g)
    return f, x, int(torch.randint(1, 9, (), generator=g))


def _euler_at_end(f, x, steps):
    h = 1.0 / steps
    for k in range(steps):
        x = x + h * f(x, torch.tensor((k + 1) * h, dtype=F64))
    return x


def _euler_unit(f, x, steps):
    for k in range(steps):
        x = x + f(x, torch.tensor(k / steps, dtype=F64))
    return x


@exercise("0.2", "euler_steps(velocity, x0, steps)  # velocity(x, t); x0 (B, D); `steps` equal steps from t=0 to 1",
          _steps_inputs,
          {"Evaluate the velocity at the start of each step (t_k = k / steps), not at its end.": _euler_at_end,
           "Each step moves by h * v with h = 1 / steps, not by v.": _euler_unit})
def euler_steps(f, x, steps):
    return ode.integrate(f, x, torch.linspace(0, 1, steps + 1, dtype=x.dtype), "euler")[0]
