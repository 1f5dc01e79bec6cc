r"""ODE solvers for ``dx/dt = f(x, t)``: fixed-step Runge-Kutta steps, torchdiffeq with bridged singular ends,
and a model wrapper that counts network evaluations.

Used by :mod:`fmlearn.samplers` (sampling from noise to data) and :mod:`fmlearn.likelihood` (integrating
the change of variables from data back to noise). With ``h = t_{k+1} - t_k``:

* ``euler``:    ``x_{k+1} = x_k + h f(x_k, t_k)``  (order 1)
* ``heun``:     explicit trapezoid (order 2); ``midpoint``: explicit midpoint (order 2)
* ``ralston3``: Ralston's third-order method; ``rk4``: classic Runge-Kutta (order 4)

**Singular ends.** Some predictions cannot be turned into a velocity at an end of the path
(:func:`singular_at`); the solvers then never evaluate the network there (see :mod:`fmlearn.samplers`).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable

import torch
from torch import Tensor

from ._checks import check_choice
from .parametrizations import convert, to_data_and_noise

if TYPE_CHECKING:
    from .models import PathModel

__all__ = ["CountedModel", "singular_at", "integrate", "odeint_bridged", "INTEGRATORS", "BRIDGE"]

BRIDGE = 1e-3  # dopri5 / likelihood: fraction of the time span bridged by one step at a singular end


class CountedModel:
    """Wrap a PathModel so that every network evaluation increments ``self.nfe``."""

    def __init__(self, model: PathModel):
        self.model, self.schedule, self.parametrization = model, model.schedule, model.parametrization
        self.nfe = 0

    def __call__(self, x: Tensor, t: Tensor) -> Tensor:
        self.nfe += 1
        return self.model(x, t)

    def velocity(self, x: Tensor, t: Tensor) -> Tensor:
        """``v(x, t)``, shape (B, ...), from one counted call."""
        return convert(self(x, t), self.parametrization, "velocity", x, t, self.schedule, check=False)

    def data_and_noise(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """``(x1_hat, x0_hat)``, each (B, ...), from one counted call."""
        return to_data_and_noise(self(x, t), self.parametrization, x, t, self.schedule, check=False)


def singular_at(model, t: float, dtype: torch.dtype) -> bool:
    """Whether the model's prediction cannot be converted to (x1_hat, x0_hat) at time t (see :mod:`fmlearn.samplers`, singular ends)."""
    tt = torch.tensor(float(t), dtype=torch.float64)
    tol = math.sqrt(torch.finfo(dtype).eps)
    if model.parametrization == "data":
        return abs(float(model.schedule.sigma(tt))) <= tol
    if model.parametrization in ("noise", "score"):
        return abs(float(model.schedule.alpha(tt))) <= tol
    return False


# ---- fixed-step ODE solvers ---------------------------------------------------------------
def _euler(f, x, t, h):
    return x + h * f(x, t)


def _heun(f, x, t, h):
    k1 = f(x, t)
    k2 = f(x + h * k1, t + h)
    return x + 0.5 * h * (k1 + k2)


def _midpoint(f, x, t, h):
    k1 = f(x, t)
    return x + h * f(x + 0.5 * h * k1, t + 0.5 * h)


def _ralston3(f, x, t, h):
    k1 = f(x, t)
    k2 = f(x + 0.5 * h * k1, t + 0.5 * h)
    k3 = f(x + 0.75 * h * k2, t + 0.75 * h)
    return x + h * (2 * k1 + 3 * k2 + 4 * k3) / 9


def _open_midpoint(f, x, t, h):
    """A second-order step that evaluates ``f`` only at ``t + h/2``, never at either end of the step."""
    k1 = f(x, t + 0.5 * h)  # slope at the middle time, with the state not yet moved: O(h) off
    return x + h * f(x + 0.5 * h * k1, t + 0.5 * h)  # midpoint rule: local error O(h^3)


def _rk4(f, x, t, h):
    k1 = f(x, t)
    k2 = f(x + 0.5 * h * k1, t + 0.5 * h)
    k3 = f(x + 0.5 * h * k2, t + 0.5 * h)
    k4 = f(x + h * k3, t + h)
    return x + h * (k1 + 2 * k2 + 2 * k3 + k4) / 6


INTEGRATORS: dict[str, Callable] = {"euler": _euler, "heun": _heun, "midpoint": _midpoint, "rk4": _rk4,
                                    "ralston3": _ralston3}


def integrate(f: Callable[[Tensor, Tensor], Tensor], x: Tensor, times: Tensor, method: str = "euler", *,
              end_method: str | None = None) -> tuple[Tensor, Tensor]:
    r"""Solve ``dx/dt = f(x, t)`` on the grid ``times`` with a fixed-step Runge-Kutta method.

    With ``h = t_{k+1} - t_k`` and ``x_k`` the state at ``t_k``:

    * ``euler``:    ``x_{k+1} = x_k + h f(x_k, t_k)``  (order 1)
    * ``heun``:     ``k1 = f(x_k, t_k)``, ``k2 = f(x_k + h k1, t_k + h)``, ``x_{k+1} = x_k + h (k1 + k2) / 2`` (order 2)
    * ``midpoint``: ``x_{k+1} = x_k + h f(x_k + h f(x_k, t_k) / 2, t_k + h / 2)``  (order 2)
    * ``ralston3``: stages at ``t_k, t_k + h/2, t_k + 3h/4``, weights ``2/9, 1/3, 4/9``  (order 3)
    * ``rk4``:      classic Runge-Kutta, stages at ``t_k, t_k + h/2, t_k + h/2, t_k + h``  (order 4)

    Args:
        f: the vector field ``f(x (B, ...), t (0-d tensor)) -> (B, ...)``.
        x: initial state at ``times[0]``, shape (B, ...).
        times: the grid, shape (K+1,), monotone (either direction), converted to x's dtype.
        method: one of :data:`INTEGRATORS`.
        end_method: method for the last step (default: ``method``); e.g. ``"midpoint"`` never evaluates
            ``f`` at ``times[-1]``.

    Returns:
        ``(x_K, trajectory)``: the final state (B, ...) and the states at all times (K+1, B, ...).
    """
    step = INTEGRATORS[check_choice("method", method, INTEGRATORS)]
    last = INTEGRATORS[check_choice("end_method", end_method, INTEGRATORS)] if end_method else step
    times = times.to(dtype=x.dtype, device=x.device)
    traj = [x]
    for k in range(len(times) - 1):
        t, h = times[k], times[k + 1] - times[k]
        x = (last if k == len(times) - 2 else step)(f, x, t, h)
        traj.append(x)
    return x, torch.stack(traj)


def odeint_bridged(f: Callable[[Tensor, Tensor], Tensor], x: Tensor, times: Tensor, *, rtol: float, atol: float,
            method: str = "dopri5", open_start: bool = False, open_end: bool = False) -> Tensor:
    """``torchdiffeq.odeint`` of ``dx/dt = f(x, t)`` at ``times`` (K+1,), states (K+1, B, ...).

    Steps never overshoot ``times[-1]``. With ``open_start`` / ``open_end`` the field is never evaluated
    at ``times[0]`` / ``times[-1]``: the first / last ``1e-3`` of the span is bridged by one second-order step
    that evaluates ``f`` only in the middle of the gap (local error O(gap^3)).
    """
    from torchdiffeq import odeint

    times = times.to(dtype=x.dtype, device=x.device)
    span = float(times[-1] - times[0])
    delta = BRIDGE * span
    if len(times) > 2:  # keep the bridged gap inside the first / last interval
        delta = math.copysign(min(abs(delta), abs(float(times[1] - times[0])) / 2,
                                  abs(float(times[-1] - times[-2])) / 2), span)
    inner = times.clone()
    if open_start:
        inner[0] = times[0] + delta
        x = _open_midpoint(f, x, times[0], inner[0] - times[0])
    if open_end:
        inner[-1] = times[-1] - delta
    sol = odeint(lambda t, y: f(y, t), x, inner, rtol=rtol, atol=atol, method=method,
                 options={"step_t": inner[-1:]})  # (K+1, B, ...)
    if open_end:
        sol = torch.cat([sol[:-1], _open_midpoint(f, sol[-1], inner[-1], times[-1] - inner[-1])[None]])
    return sol
