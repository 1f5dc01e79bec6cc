"""Notebook 01, probability paths: the linear and cosine paths, their velocity, where the spread is least."""
from __future__ import annotations

import math

import torch

from .inputs import COS, F64, LIN, col, pair
from .registry import exercise


@exercise(None, "interpolate(x0, x1, t)  # linear path, x0 (B, D) noise, x1 (B, D) data, t (B,)", pair,
          {"At t=0 x_t must be the noise x0 and at t=1 the data x1: you swapped them.":
               lambda x0, x1, t: col(t) * x0 + (1 - col(t)) * x1})
def interpolate(x0, x1, t):
    return LIN.interpolate(x0, x1, t)


@exercise("1.2", "cosine_schedule(t) -> (alpha_t, sigma_t)  # t (B,)",
          lambda g: (torch.rand(50, generator=g, dtype=F64),),
          {"alpha_t must be 0 at t=0 (pure noise) and 1 at t=1: you swapped sin and cos.":
               lambda t: (COS.sigma(t), COS.alpha(t)),
           "The angle is pi t / 2, not pi t.": lambda t: (torch.sin(math.pi * t), torch.cos(math.pi * t))})
def cosine_schedule(t):
    return COS.alpha(t), COS.sigma(t)


@exercise("1.3", "conditional_velocity(x0, x1, t)  # d x_t / dt on the linear path", pair,
          {"The velocity points from noise to data: x1 - x0, not x0 - x1.": lambda x0, x1, t: x0 - x1})
def conditional_velocity(x0, x1, t):
    return LIN.velocity(x0, x1, t)


@exercise("1.1", "least_spread_time(sigma_min) -> t*  # sigma_min (B,) in [0, 1): where Var(x_t) is smallest",
          lambda g: (0.9 * torch.rand(50, generator=g, dtype=F64),),
          {"sigma_min changes the answer: with it sigma_t = 1 - (1 - sigma_min) t, not 1 - t.":
               lambda s: torch.full_like(s, 0.5),
           "Differentiate (1 - (1 - s) t)^2 carefully: the chain rule brings out (1 - s) twice, so the "
           "denominator is 1 + (1 - s)^2.": lambda s: (1 - s) / (2 - s)})
def least_spread_time(s):
    """``argmin_t Var(x_t)`` on the linear path with ``sigma_min = s`` for unit-variance data and noise:
    ``d/dt [t^2 + (1 - (1 - s) t)^2] = 0`` gives ``t* = (1 - s) / (1 + (1 - s)^2)``."""
    return (1 - s) / (1 + (1 - s) ** 2)
