r"""Training objectives: regress a network onto a target built from a pair ``(x_0, x_1)``.

Flow matching (Lipman et al. 2023; Liu et al. 2023) on the linear path:

.. math::  L_{FM} = E_{t, x_0, x_1} \| v_\theta(x_t, t) - (x_1 - x_0) \|^2, \quad x_t = t x_1 + (1 - t) x_0.

Diffusion (Ho et al. 2020) on a variance-preserving path:

.. math::  L_{DM} = E_{t, x_0, x_1} \| \epsilon_\theta(x_t, t) - x_0 \|^2, \quad x_t = \alpha_t x_1 + \sigma_t x_0.

Both are the same recipe (:func:`path_loss`): a path, a parametrization (what the network
predicts), a time distribution and a time weighting. Because conversions between
parametrizations are affine in the prediction, regressing one target equals regressing another
with a time weighting: :func:`equivalent_weight` gives it. E.g. on the linear path the noise
loss is the velocity loss weighted by ``t^2`` (``v - v_hat = (eps_hat - eps) / t``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor

from ._checks import check_choice, check_tensor, check_time, like_model
from .couplings import get_coupling
from .parametrizations import canonical, convert, from_data_and_noise
from .schedules import CosineSchedule, LinearSchedule, Schedule, get_schedule

__all__ = ["flow_matching_loss", "diffusion_loss", "path_loss", "equivalent_weight", "time_weight",
           "sample_time", "Objective", "WEIGHTINGS", "TIME_DISTRIBUTIONS"]


def flow_matching_loss(net, x0: Tensor, x1: Tensor, t: Tensor, schedule: Schedule | None = None) -> Tensor:
    """Flow matching loss: mean squared error between ``net(x_t, t)`` and the conditional velocity.

    Args:
        net: network ``net(x (B, ...), t (B,))``.
        x0: noise, shape (B, ...).
        x1: data, shape (B, ...).
        t: times, shape (B,).
        schedule: the path (default: the linear path, where the target is ``x1 - x0``).

    Returns:
        scalar loss.
    """
    schedule = schedule or LinearSchedule()
    xt = schedule.interpolate(x0, x1, t)  # (B, ...)
    target = schedule.velocity(x0, x1, t)  # (B, ...)
    return (net(xt, t) - target).square().mean()


def diffusion_loss(net, x0: Tensor, x1: Tensor, t: Tensor, schedule: Schedule | None = None) -> Tensor:
    """Diffusion (DDPM) loss: mean squared error between ``net(x_t, t)`` and the noise ``x0``.

    Args as :func:`flow_matching_loss`; default schedule: variance-preserving cosine.
    """
    schedule = schedule or CosineSchedule()
    xt = schedule.interpolate(x0, x1, t)  # (B, ...)
    return (net(xt, t) - x0).square().mean()


def equivalent_weight(t: Tensor, schedule: Schedule, src: str, dst: str) -> Tensor:
    """``w(t)`` with ``|dst_hat - dst|^2 = w(t) |src_hat - src|^2`` at the same ``(x_t, t)``, shape like t.

    Conversions are affine in the prediction, ``dst = c(t) src + b(t) x``, so ``w = c(t)^2``.
    """
    ones = torch.ones_like(t)[:, None]  # (B, 1): a unit prediction
    c = convert(ones, src, dst, torch.zeros_like(ones), t, schedule, check=False)  # (B, 1): c(t) * 1 + b(t) * 0
    return c[:, 0].square()


WEIGHTINGS = ("none", "snr", "min-snr", "velocity", "noise")


def time_weight(weighting: str | Callable[[Tensor], Tensor] | None, t: Tensor, schedule: Schedule,
                parametrization: str) -> Tensor:
    """Per-sample loss weights, shape (B,), for times t (B,).

    ``none``: 1. ``snr``: alpha_t^2 / sigma_t^2. ``min-snr``: min(SNR, 5) (Hang et al. 2023).
    ``velocity`` / ``noise``: the weight that makes the loss equal to the velocity / noise loss
    (see :func:`equivalent_weight`). A callable ``w(t) -> (B,)`` is used as is.
    """
    if weighting is None:
        return torch.ones_like(t)
    if callable(weighting):
        return weighting(t)
    check_choice("weighting", weighting, WEIGHTINGS)
    if weighting == "none":
        return torch.ones_like(t)
    if weighting in ("velocity", "noise"):
        return equivalent_weight(t, schedule, parametrization, weighting)
    snr = (schedule.alpha(t) / schedule.sigma(t)).square()
    return snr if weighting == "snr" else snr.clamp(max=5.0)


TIME_DISTRIBUTIONS = ("uniform", "logit-normal")


def sample_time(n: int, schedule: Schedule, distribution: str = "uniform", *,
                generator: torch.Generator | None = None, device=None) -> Tensor:
    """n training times in the schedule's domain [t_min, t_max], shape (n,).

    ``uniform``: u ~ U(0, 1). ``logit-normal``: u = sigmoid(z), z ~ N(0, 1) (Esser et al. 2024),
    which spends more training on the middle of the path. Then t = t_min + (t_max - t_min) u.
    """
    check_choice("time distribution", distribution, TIME_DISTRIBUTIONS)
    if distribution == "uniform":
        u = torch.rand(n, generator=generator, device=device)
    else:
        u = torch.sigmoid(torch.randn(n, generator=generator, device=device))
    return schedule.t_min + (schedule.t_max - schedule.t_min) * u


def path_loss(net, x0: Tensor, x1: Tensor, t: Tensor, schedule: Schedule, parametrization: str = "velocity",
              weighting: str | Callable | None = None) -> Tensor:
    """The general objective: ``E[w(t) |net(x_t, t) - target|^2]`` for any path and parametrization.

    Args:
        net: network ``net(x (B, ...), t (B,))``.
        x0: noise, shape (B, ...).
        x1: data, shape (B, ...).
        t: times, shape (B,).
        schedule: the path.
        parametrization: what net predicts (its regression target): velocity, noise, data or score.
        weighting: time weighting (see :func:`time_weight`).

    Returns:
        scalar loss (squared error averaged over dimensions, weighted, averaged over the batch).
    """
    xt = schedule.interpolate(x0, x1, t)  # (B, ...)
    target = from_data_and_noise(x1, x0, parametrization, t, schedule, check=False)  # (B, ...)
    err = (net(xt, t) - target).square().flatten(1).mean(1)  # (B,)
    if weighting is None or weighting == "none":
        return err.mean()
    return (time_weight(weighting, t, schedule, parametrization) * err).mean()


@dataclass
class Objective:
    """Everything that defines a training objective, in one object that a training loop calls.

    Args:
        schedule: the path (name, dict or Schedule).
        parametrization: the network's target: velocity, noise, data or score.
        coupling: ``independent`` or ``ot`` (minibatch optimal transport), or a callable.
        weighting: time weighting, see :func:`time_weight`.
        time_distribution: ``uniform`` or ``logit-normal``.
    """

    schedule: Schedule | str | dict = "linear"
    parametrization: str = "velocity"
    coupling: str | Callable = "independent"
    weighting: str | Callable | None = None
    time_distribution: str = "uniform"
    _coupling_fn: Callable = field(init=False, repr=False)

    def __post_init__(self):
        self.schedule = get_schedule(self.schedule)
        self.parametrization = canonical(self.parametrization)
        self._coupling_fn = get_coupling(self.coupling)
        check_choice("time distribution", self.time_distribution, TIME_DISTRIBUTIONS)
        if isinstance(self.weighting, str):
            check_choice("weighting", self.weighting, WEIGHTINGS)

    @classmethod
    def preset(cls, name: str) -> "Objective":
        """``fm`` (linear, velocity), ``fm-ot`` (plus minibatch OT), ``diffusion`` (cosine VP, noise)."""
        presets = {"fm": dict(schedule="linear", parametrization="velocity"),
                   "fm-ot": dict(schedule="linear", parametrization="velocity", coupling="ot"),
                   "diffusion": dict(schedule="cosine", parametrization="noise"),
                   "ddpm": dict(schedule="linear-beta", parametrization="noise")}
        return cls(**presets[check_choice("objective", name, presets)])

    def loss(self, net, x0: Tensor, x1: Tensor, t: Tensor | None = None, *,
             generator: torch.Generator | None = None, check: bool = True) -> Tensor:
        """Couple the batch, draw times (unless given) and return the scalar loss.

        Args:
            net: network ``net(x (B, ...), t (B,))``.
            x0: noise, shape (B, ...).
            x1: data, shape (B, ...).
            t: optional times (B,); drawn from ``time_distribution`` with ``generator`` if None.
            check: check x0, x1 and t (finite floats, matching shapes; converted to the network's dtype);
                the :class:`~fmlearn.training.Trainer` skips it, having checked its batches itself.
        """
        if check:
            x0, x1 = self._checked(net, x0, x1, t)
        x0, x1 = self._coupling_fn(x0, x1)
        if t is None:
            t = sample_time(x1.shape[0], self.schedule, self.time_distribution, generator=generator,
                            device=x1.device).to(x1.dtype)
        return path_loss(net, x0, x1, t, self.schedule, self.parametrization, self.weighting)

    @staticmethod
    def _checked(net, x0, x1, t) -> tuple[Tensor, Tensor]:
        check_tensor("x0", x0, min_ndim=2, min_len=1)
        check_tensor("x1", x1, min_ndim=2, min_len=1)
        if x0.shape != x1.shape:
            raise ValueError(f"x0 and x1 must have the same shape (B, ...), got {tuple(x0.shape)} and {tuple(x1.shape)}.")
        want = getattr(net, "shape", None) or ((net.dim,) if isinstance(getattr(net, "dim", None), int) else None)
        if want is not None and tuple(x1.shape[1:]) != tuple(want):
            raise ValueError(f"x0 and x1 must have shape (B, {', '.join(map(str, want))}) for this network, got "
                             f"{tuple(x1.shape)}.")
        if t is not None:
            check_time("t", check_tensor("t", t), batch=x1.shape[0])
        return like_model(net, x0), like_model(net, x1)  # e.g. float64 data for a float32 network

    def config(self) -> dict:
        if callable(self.coupling) or callable(self.weighting):
            raise ValueError("an Objective with a custom callable cannot be stored in a checkpoint config.")
        return {"schedule": self.schedule.config(), "parametrization": self.parametrization,
                "coupling": self.coupling, "weighting": self.weighting or "none",
                "time_distribution": self.time_distribution}
