r"""Gaussian probability paths, written in one affine frame.

Time runs from noise to data: ``t = 0`` is standard Gaussian noise ``x_0``, ``t = 1`` is
data ``x_1``. Every path in this course is affine in the pair ``(x_0, x_1)``:

.. math::  x_t = \alpha_t x_1 + \sigma_t x_0, \qquad
           \frac{dx_t}{dt} = \dot\alpha_t x_1 + \dot\sigma_t x_0 .

Flow matching's linear (rectified, conditional-OT) path and diffusion's variance-preserving
(VP) paths are three choices of ``(alpha_t, sigma_t)``:

=============  ===============================  ===================================  ==============
name           alpha_t                          sigma_t                              time domain
=============  ===============================  ===================================  ==============
``linear``     t                                1 - (1 - sigma_min) t                [0, 1]
``cosine``     sin(pi t / 2)                    cos(pi t / 2)                        [0.02, 1]
``linear-beta`` exp(-(1-t)^2 (b1-b0)/4            sqrt(1 - alpha_t^2)                  [0, 0.999]
               - (1-t) b0 / 2)
=============  ===============================  ===================================  ==============

Diffusion papers run time the other way (``s = 1 - t``, data at ``s = 0``); ``linear-beta`` is
the DDPM schedule (betas from 1e-4 to 0.02 over 1000 steps) in continuous time with
``b0 = 0.1, b1 = 20`` (Song et al., 2021), converted here, and only here, to our direction.

**Clipping.** Each schedule has a time domain ``[t_min, t_max]`` that training and sampling use.
``cosine`` starts at ``t_min = 0.02`` (``alpha = 0.031``, log-SNR = -6.9) because
``alpha_0 = 0`` makes a noise prediction useless for recovering data there: ``x_1 = (x - sigma eps) / alpha``
multiplies the network's error by ``1 / alpha``. Measured on moons with the 3x64 MLP (3000 steps),
DDIM with 100 steps reached W2 = 1.27 from ``t = 1e-3`` but 0.27 from ``t = 0.02`` (data floor 0.10);
starting there instead of at 0 shifts the initial distribution by only ``alpha x_1`` (about 0.03). ``linear-beta`` stops at
``t_max = 0.999`` because ``d sigma / dt`` is infinite at ``t = 1``. That is DDPM's first noise level in
time (diffusion time ``s = 1/1000``), but not its sigma: the continuous schedule integrates ``beta`` over
``[0, 0.001]`` to ``sigma^2 = 1 - exp(-(b0 s + (b1 - b0) s^2 / 2)) = 1.0994e-4``, so ``sigma = 0.01049``,
where DDPM's discrete first step has ``sigma = sqrt(beta_1) = 0.0100``. Its ``alpha_0 = 0.0066`` is not
exactly 0 either, so its ``t = 0`` marginal is Gaussian noise only approximately.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ._checks import check_choice, check_positive_int

__all__ = ["Schedule", "LinearSchedule", "CosineSchedule", "LinearBetaSchedule",
           "get_schedule", "SCHEDULES", "broadcast_time"]


def broadcast_time(t: Tensor | float, x: Tensor) -> Tensor:
    """Turn a scalar time or a (B,) time tensor into shape (B, 1, ..., 1) to broadcast against x (B, ...)."""
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
    if t.ndim == 0:
        t = t.expand(x.shape[0])
    return t.reshape(t.shape[0], *([1] * (x.ndim - 1)))


class Schedule:
    """A Gaussian path ``x_t = alpha_t x_1 + sigma_t x_0`` (t=0 noise, t=1 data).

    Subclasses define ``alpha``, ``sigma`` and their time derivatives ``d_alpha``, ``d_sigma``.
    All four take a tensor ``t`` of any shape and return a tensor of the same shape and dtype.

    Attributes:
        name: the schedule's registry name.
        t_min, t_max: the time domain used for training and sampling (see the module's note on clipping).
    """

    name: str = "schedule"
    t_min: float = 0.0
    t_max: float = 1.0

    def alpha(self, t: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def sigma(self, t: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def d_alpha(self, t: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def d_sigma(self, t: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    # ---- derived quantities -------------------------------------------------------------
    def log_snr(self, t: Tensor) -> Tensor:
        """Log signal-to-noise ratio ``log(alpha_t^2 / sigma_t^2)``; increases with t."""
        return 2 * (torch.log(self.alpha(t)) - torch.log(self.sigma(t)))

    def coefficients(self, t: Tensor | float, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(alpha_t, sigma_t, d_alpha_t, d_sigma_t)`` shaped (B, 1, ..., 1) to broadcast against x (B, ...)."""
        tb = broadcast_time(t, x)
        return self.alpha(tb), self.sigma(tb), self.d_alpha(tb), self.d_sigma(tb)

    def interpolate(self, x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
        """The point on the path: ``x_t = alpha_t x_1 + sigma_t x_0``.

        Args:
            x0: noise, shape (B, ...).
            x1: data, shape (B, ...).
            t: times, shape (B,).

        Returns:
            x_t, shape (B, ...).
        """
        a, s, _, _ = self.coefficients(t, x1)
        return a * x1 + s * x0  # (B, ...)

    def velocity(self, x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
        """The conditional velocity ``dx_t/dt = d_alpha_t x_1 + d_sigma_t x_0``, shape (B, ...)."""
        _, _, da, ds = self.coefficients(t, x1)
        return da * x1 + ds * x0  # (B, ...)

    def time_grid(self, steps: int, *, dtype=torch.float64, device=None) -> Tensor:
        """``steps + 1`` evenly spaced times from ``t_min`` to ``t_max`` (noise to data)."""
        return torch.linspace(self.t_min, self.t_max, steps + 1, dtype=dtype, device=device)

    def time_of_log_snr(self, log_snr: Tensor) -> Tensor:
        """Invert the increasing :meth:`log_snr` on ``[t_min, t_max]`` by bisection (float64, same shape)."""
        lam = torch.as_tensor(log_snr, dtype=torch.float64)
        lo, hi = torch.full_like(lam, self.t_min), torch.full_like(lam, self.t_max)
        for _ in range(60):  # 2^-60 of the interval: exact in float64
            mid = (lo + hi) / 2
            below = self.log_snr(mid) < lam
            lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
        return (lo + hi) / 2

    def logsnr_grid(self, steps: int) -> Tensor:
        r"""``steps + 1`` times spaced uniformly in log-SNR, from ``t_min`` to ``t_max``, float64, shape (steps+1,).

        The grid of DPM-Solver's authors (Lu et al. 2022, "time_uniform" vs "logSNR"): equal steps in
        ``lambda = log(alpha / sigma)``, where the solver's local error depends on the step size.

        * From ``lambda(t_min)`` to ``lambda(t_max)`` when that comes before the mirror of the start,
          ``-lambda(t_min)`` (``linear-beta``: from t = 0 to 0.999).
        * Otherwise, as on a path that ends at ``sigma = 0`` (cosine, ``lambda(t_max) = inf``), the grid runs
          to that mirror (cosine: t = 0.98), and its last time is then replaced by ``t_max``,
          so samples end on the data. For many
          steps the last finite time moves on towards the data, never before the uniform grid's last-but-one
          time ``t_max - (t_max - t_min) / steps`` (on the cosine path: from 42 steps on, and at 2 steps,
          which makes it the uniform grid there): the final jump to
          ``sigma = 0`` then shrinks as on the uniform grid. (Without that, the grid's error stalls: the
          exact Gaussian model with DPM-Solver++(2M) on the cosine path stays at ~1e-3 from 50 NFE on.)

        Raises:
            ValueError: ``alpha(t_min) = 0`` (the linear path): the log-SNR is -inf there.
        """
        check_positive_int("steps", steps)
        t0 = torch.tensor([self.t_min], dtype=torch.float64)
        lam0 = float(self.log_snr(t0))
        if not math.isfinite(lam0):
            raise ValueError(f"the {self.name!r} path has log-SNR -inf at t_min={self.t_min}; a log-SNR grid "
                             f"needs a path that starts with alpha > 0 (e.g. 'cosine').")
        lam_max = float(self.log_snr(torch.tensor([self.t_max], dtype=torch.float64)))
        lam_end = min(-lam0, lam_max)
        if lam_max > -lam0 and steps > 1:  # keep the last-but-one time at or after the uniform grid's
            t_u = torch.tensor([self.t_max - (self.t_max - self.t_min) / steps], dtype=torch.float64)
            lam_end = min(lam_max, max(lam_end, lam0 + steps / (steps - 1) * (float(self.log_snr(t_u)) - lam0)))
        times = self.time_of_log_snr(torch.linspace(lam0, lam_end, steps + 1, dtype=torch.float64))
        times[0], times[-1] = self.t_min, self.t_max
        return times

    def config(self) -> dict:
        """A dict that rebuilds this schedule with :func:`get_schedule`."""
        return {"name": self.name}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Schedule) and self.config() == other.config()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.config().items())))


@dataclass(eq=False, repr=False)
class LinearSchedule(Schedule):
    """Flow matching's linear path (rectified flow, conditional OT; Lipman et al. 2023, Liu et al. 2023).

    ``alpha_t = t``, ``sigma_t = 1 - (1 - sigma_min) t``; the conditional velocity is
    ``x_1 - (1 - sigma_min) x_0``, constant in time: each conditional path is a straight line.

    Args:
        sigma_min: noise left at t=1 (0 gives exact data; Lipman et al. use 1e-4 or so).
    """

    sigma_min: float = 0.0
    name = "linear"

    def __post_init__(self):
        if not 0.0 <= float(self.sigma_min) < 1.0:
            raise ValueError(f"sigma_min must lie in [0, 1), got {self.sigma_min}.")

    def alpha(self, t):
        return t

    def sigma(self, t):
        return 1 - (1 - self.sigma_min) * t

    def d_alpha(self, t):
        return torch.ones_like(t)

    def d_sigma(self, t):
        return torch.full_like(t, -(1 - self.sigma_min))

    def config(self):
        return {"name": self.name, "sigma_min": float(self.sigma_min)}


class CosineSchedule(Schedule):
    """Variance-preserving cosine path: ``alpha_t = sin(pi t/2)``, ``sigma_t = cos(pi t/2)``.

    ``alpha_t^2 + sigma_t^2 = 1`` for every t. In diffusion time ``s = 1 - t`` this is
    ``alpha = cos(pi s / 2)``, the cosine schedule of Nichol & Dhariwal (2021) without their
    small offset. Training and sampling start at ``t_min = 0.02`` (see the module's note on clipping).
    """

    name = "cosine"
    t_min = 0.02

    def alpha(self, t):
        return torch.sin(0.5 * math.pi * t)

    def sigma(self, t):
        return torch.cos(0.5 * math.pi * t)

    def d_alpha(self, t):
        return 0.5 * math.pi * torch.cos(0.5 * math.pi * t)

    def d_sigma(self, t):
        return -0.5 * math.pi * torch.sin(0.5 * math.pi * t)


@dataclass(eq=False, repr=False)
class LinearBetaSchedule(Schedule):
    """Variance-preserving path of DDPM (Ho et al. 2020) in continuous time (Song et al. 2021).

    In diffusion time ``s = 1 - t`` the noise rate is ``beta(s) = b0 + s (b1 - b0)`` and
    ``alpha = exp(-s^2 (b1 - b0)/4 - s b0/2)``, ``sigma = sqrt(1 - alpha^2)``.

    Args:
        beta_min: b0 (0.1 matches DDPM's beta_1 = 1e-4 with 1000 steps).
        beta_max: b1 (20 matches DDPM's beta_T = 0.02 with 1000 steps).
    """

    beta_min: float = 0.1
    beta_max: float = 20.0
    name = "linear-beta"
    t_max = 0.999

    def __post_init__(self):
        if not 0 <= self.beta_min < self.beta_max:
            raise ValueError(f"need 0 <= beta_min < beta_max, got beta_min={self.beta_min}, beta_max={self.beta_max}.")

    def _log_alpha(self, t):
        s = 1 - t
        return -0.25 * s ** 2 * (self.beta_max - self.beta_min) - 0.5 * s * self.beta_min

    def alpha(self, t):
        return torch.exp(self._log_alpha(t))

    def sigma(self, t):
        # sqrt(1 - alpha^2) with -expm1(2 log alpha) keeps precision near t = 1.
        return torch.sqrt(-torch.expm1(2 * self._log_alpha(t)))

    def d_alpha(self, t):
        s = 1 - t
        return self.alpha(t) * (0.5 * s * (self.beta_max - self.beta_min) + 0.5 * self.beta_min)

    def d_sigma(self, t):
        return -self.alpha(t) * self.d_alpha(t) / self.sigma(t)

    def log_snr(self, t):
        la = self._log_alpha(t)
        return 2 * la - torch.log(-torch.expm1(2 * la))

    def config(self):
        return {"name": self.name, "beta_min": float(self.beta_min), "beta_max": float(self.beta_max)}


SCHEDULES = {"linear": LinearSchedule, "cosine": CosineSchedule, "linear-beta": LinearBetaSchedule}


def get_schedule(schedule: str | dict | Schedule = "linear", **kwargs) -> Schedule:
    """Build a schedule from its name (``linear``, ``cosine``, ``linear-beta``), a config dict, or return it.

    Extra keyword arguments go to the schedule's constructor, e.g. ``get_schedule("linear", sigma_min=1e-4)``.
    """
    if isinstance(schedule, Schedule):
        if kwargs:
            raise ValueError("keyword arguments can only be given with a schedule name, not a Schedule object.")
        return schedule
    if isinstance(schedule, dict):
        kwargs = {**{k: v for k, v in schedule.items() if k != "name"}, **kwargs}
        schedule = schedule.get("name")
    check_choice("schedule", schedule, SCHEDULES)
    try:
        return SCHEDULES[schedule](**kwargs)
    except TypeError as err:
        raise ValueError(f"schedule {schedule!r} does not take {sorted(kwargs)}: {err}") from err
