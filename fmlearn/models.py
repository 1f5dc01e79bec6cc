r"""Networks ``model(x, t)`` and the :class:`PathModel` that ties a network to a path.

Network signature everywhere: ``net(x, t)`` with ``x`` of shape (B, ...) and ``t`` of shape (B,),
returning a tensor shaped like ``x``. A :class:`PathModel` adds what the samplers need to
interpret the output: the schedule and the parametrization (what the network predicts).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ._checks import check_positive_int
from .parametrizations import canonical, convert
from .schedules import Schedule, broadcast_time, get_schedule

__all__ = ["SinusoidalTimeEmbedding", "MLP", "PathModel"]


class SinusoidalTimeEmbedding(nn.Module):
    r"""Map times t (B,) to ``[sin(2 pi f_k t), cos(2 pi f_k t)]_k``, shape (B, dim).

    Frequencies ``f_k`` are spaced geometrically from 1 to ``max_freq`` (Vaswani et al. 2017;
    Ho et al. 2020 use the same embedding on integer steps).
    """

    def __init__(self, dim: int = 16, max_freq: float = 100.0):
        super().__init__()
        if dim % 2:
            raise ValueError(f"dim must be even, got {dim}.")
        freqs = torch.exp(torch.linspace(0.0, math.log(max_freq), dim // 2))
        self.register_buffer("freqs", 2 * math.pi * freqs, persistent=False)
        self.dim = dim

    def forward(self, t: Tensor) -> Tensor:
        angles = t[:, None].to(self.freqs.dtype) * self.freqs  # (B, dim/2)
        return torch.cat([angles.sin(), angles.cos()], dim=-1)  # (B, dim)


class MLP(nn.Module):
    """A time-conditioned multilayer perceptron for points in R^D: ``net(x (B, D), t (B,)) -> (B, D)``.

    ``[x, embed(t)] -> Linear -> SiLU -> ... -> Linear``, with ``depth`` hidden layers of ``width`` units.

    Args:
        dim: data dimension D.
        width: hidden units per layer.
        depth: number of hidden layers.
        time_dim: size of the sinusoidal time embedding.
    """

    def __init__(self, dim: int = 2, width: int = 64, depth: int = 3, time_dim: int = 16):
        super().__init__()
        for arg, value in (("dim", dim), ("width", width), ("depth", depth), ("time_dim", time_dim)):
            check_positive_int(arg, value)
        self.dim, self.width, self.depth, self.time_dim = dim, width, depth, time_dim
        self.embed = SinusoidalTimeEmbedding(time_dim)
        layers: list[nn.Module] = []
        sizes = [dim + time_dim] + [width] * depth
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.SiLU()]
        layers.append(nn.Linear(width, dim))
        self.net = nn.Sequential(*layers)

    def config(self) -> dict:
        return {"kind": "mlp", "dim": self.dim, "width": self.width, "depth": self.depth, "time_dim": self.time_dim}

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (B, {self.dim}), got {tuple(x.shape)}.")
        if t.ndim != 1 or t.shape[0] != x.shape[0]:
            raise ValueError(f"t must have shape ({x.shape[0]},), got {tuple(t.shape)}.")
        return self.net(torch.cat([x, self.embed(t).to(x.dtype)], dim=1))  # (B, D)


class PathModel(nn.Module):
    """A network together with the path it was trained on and what it predicts.

    Any sampler can use any PathModel, because :meth:`predict` converts the network's output
    to whatever the sampler needs (see :mod:`fmlearn.parametrizations`).

    Args:
        net: a module ``net(x (B, ...), t (B,)) -> (B, ...)``.
        schedule: the path (name, config dict or :class:`~fmlearn.schedules.Schedule`).
        parametrization: what ``net`` predicts: ``velocity``, ``noise``, ``data`` or ``score``.
        shape: shape of one sample, e.g. (2,) for 2D points; taken from ``net.dim`` when it has one.
    """

    def __init__(self, net: nn.Module, schedule: str | dict | Schedule = "linear",
                 parametrization: str = "velocity", shape: tuple[int, ...] | None = None):
        super().__init__()
        self.net = net
        self.schedule = get_schedule(schedule)
        self.parametrization = canonical(parametrization)
        if shape is None:
            shape = getattr(net, "shape", None) or ((net.dim,) if hasattr(net, "dim") else None)
        self.shape = tuple(shape) if shape is not None else None

    def forward(self, x: Tensor, t: Tensor | float) -> Tensor:
        """The raw network output at (x (B, ...), t scalar or (B,))."""
        t = broadcast_time(t, x).reshape(x.shape[0])  # (B,)
        return self.net(x, t)

    def predict(self, x: Tensor, t: Tensor | float, kind: str = "velocity") -> Tensor:
        """The network's prediction converted to ``kind`` (velocity, noise, data or score), shape (B, ...)."""
        out = self(x, t)
        return convert(out, self.parametrization, kind, x, t, self.schedule, check=False)

    def velocity(self, x: Tensor, t: Tensor | float) -> Tensor:
        """The velocity field ``v(x, t)`` of the model's probability-flow ODE, shape (B, ...)."""
        return self.predict(x, t, "velocity")

    def noise(self, n: int, *, generator: torch.Generator | None = None, device=None,
              dtype=torch.float32) -> Tensor:
        """``n`` draws of standard Gaussian noise x_0 of this model's sample shape, shape (n, ...)."""
        if self.shape is None:
            raise ValueError("this PathModel has no sample shape; pass shape=... when building it.")
        check_positive_int("n", n)
        if device is None:
            tensors = [*self.parameters(), *self.buffers()]
            device = tensors[0].device if tensors else torch.device("cpu")
        return torch.randn((n, *self.shape), generator=generator, device=device, dtype=dtype)

    def describe(self) -> dict:
        """What a checkpoint stores to rebuild this model (except the weights)."""
        net_cfg = self.net.config() if hasattr(self.net, "config") else {"kind": type(self.net).__name__}
        return {"net": net_cfg, "schedule": self.schedule.config(), "parametrization": self.parametrization,
                "shape": list(self.shape) if self.shape else None}

    def extra_repr(self) -> str:
        return f"schedule={self.schedule!r}, parametrization={self.parametrization!r}"

