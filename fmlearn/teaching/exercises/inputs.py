"""The random inputs the checks draw (float64, from a ``torch.Generator``), and the paths they use."""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ...config import seeded
from ...models import MLP
from ...schedules import CosineSchedule, LinearSchedule

LIN, COS = LinearSchedule(), CosineSchedule()
F64 = torch.float64


def pair(g, n=64, d=2):
    """Noise x0 (n, d), data x1 (n, d) and times t (n,) in (0.05, 0.95)."""
    x0 = torch.randn(n, d, generator=g, dtype=F64)
    x1 = 2 * torch.randn(n, d, generator=g, dtype=F64) + 1
    return x0, x1, 0.05 + 0.9 * torch.rand(n, generator=g, dtype=F64)


def net(g):
    """A small random float64 network ``net(x (B, 2), t (B,))``, initialized from ``g`` (torch's global
    generator is left as it was)."""
    with seeded(int(torch.randint(0, 2**31 - 1, (1,), generator=g))):
        return MLP(2, 32, 2).double()


def net_batch(g):
    return (net(g), *pair(g))


def cos_ab(t):
    """``(alpha_t, sigma_t)`` of the cosine path, written out."""
    return torch.sin(0.5 * math.pi * t), torch.cos(0.5 * math.pi * t)


def col(t: Tensor) -> Tensor:
    """t (B,) -> (B, 1), to broadcast against (B, D)."""
    return t[:, None]


def times(g, n=50, lo=0.05, hi=0.95):
    """Times (n,) uniform in (lo, hi)."""
    return (lo + (hi - lo) * torch.rand(n, generator=g, dtype=F64),)


def eps_batch(g):
    """(eps_hat, x, t) on the cosine path."""
    x0, x1, t = pair(g)
    return torch.randn(64, 2, generator=g, dtype=F64), COS.interpolate(x0, x1, t), t


def linear_field(g):
    """A time-dependent linear field ``f(x (B, 2), t) = A x cos t``, 16 states and a grid of 9 times."""
    a = torch.randn(2, 2, generator=g, dtype=F64)
    return (lambda x, t: x @ a.T * torch.cos(t)), torch.randn(16, 2, generator=g, dtype=F64), \
        torch.linspace(0, 1, 9, dtype=F64)


def step_inputs(g):
    """A time-dependent nonlinear field, a state (16, 2), a time and a step."""
    f, x = linear_field(g)[:2]
    return (lambda y, t: f(y, t) + torch.sin(y) * t), x, torch.tensor(0.3, dtype=F64), torch.tensor(0.2, dtype=F64)


def smooth_field(g):
    """A smooth nonlinear field R^2 -> R^2 (no time) and 16 points."""
    a = torch.randn(2, 2, generator=g, dtype=F64)
    return (lambda x: torch.tanh(x @ a.T) + 0.3 * x ** 2), torch.randn(16, 2, generator=g, dtype=F64)


def trajectories(g):
    """Curved random trajectories (9, 20, 2)."""
    s = torch.linspace(0, 1, 9, dtype=F64)[:, None, None]
    a, b = torch.randn(1, 20, 2, generator=g, dtype=F64), torch.randn(1, 20, 2, generator=g, dtype=F64)
    return (a * (1 - s) + b * s + 0.5 * torch.sin(3 * s) * torch.randn(1, 20, 2, generator=g, dtype=F64),)
