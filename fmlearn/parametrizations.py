r"""What a network predicts, and exact conversions between the four choices.

On the path ``x_t = alpha_t x_1 + sigma_t x_0`` a network can predict

============  =====================================  ==========================================
name          target                                 typical use
============  =====================================  ==========================================
``velocity``  ``v = d_alpha x_1 + d_sigma x_0``       flow matching
``noise``     ``eps = x_0``                          diffusion (DDPM); alias ``eps``
``data``      ``x_1``                                "x0-prediction" in diffusion papers; alias ``x1``
``score``     ``grad log p_t(x) = -x_0 / sigma_t``   score-based models
============  =====================================  ==========================================

Given ``x_t`` and any one of them, the pair ``(x_1, x_0)`` follows by solving the 2x2 linear
system ``x_t = alpha x_1 + sigma x_0``, ``pred = c_1 x_1 + c_0 x_0``; so every parametrization
converts into every other exactly. The conversions are singular where the system is:
``noise -> data`` needs ``alpha_t > 0``; ``data -> noise`` and anything ``-> score`` need
``sigma_t > 0``; ``velocity`` is regular wherever ``alpha d_sigma - sigma d_alpha != 0``
(everywhere for the schedules of this package). So a noise or score model cannot start at
``t = 0`` on the linear path (``alpha_0 = 0``; :func:`fmlearn.samplers.sample` refuses and asks for a
later start), and a data model has no velocity at ``t = 1`` (``sigma_1 = 0``; the ODE samplers never
evaluate it there). The VP schedules' time domains avoid their singular ends (see :mod:`fmlearn.schedules`).
"""
from __future__ import annotations

import torch
from torch import Tensor

from ._checks import check_choice, check_tensor
from .schedules import Schedule

__all__ = ["PARAMETRIZATIONS", "canonical", "to_data_and_noise", "from_data_and_noise", "convert"]

PARAMETRIZATIONS = ("velocity", "noise", "data", "score")
_ALIASES = {"v": "velocity", "eps": "noise", "epsilon": "noise", "x1": "data", "x0-prediction": "data"}


def canonical(parametrization: str) -> str:
    """The canonical name of a parametrization (accepts the aliases ``v``, ``eps``, ``x1``)."""
    if isinstance(parametrization, str):
        parametrization = _ALIASES.get(parametrization, parametrization)
    return check_choice("parametrization", parametrization, PARAMETRIZATIONS)


def _check_time(t, batch: int) -> None:
    """``t``: a finite number or a floating tensor of shape () or (B,), in [0, 1]."""
    if isinstance(t, Tensor):
        check_tensor("t", t)
        if t.ndim > 0 and (t.shape[0] != batch or t.numel() != batch):  # (), (B,) or (B, 1, ..., 1)
            raise ValueError(f"t must be a number or have shape () or ({batch},), got shape {tuple(t.shape)}.")
        lo, hi = (float(t.min()), float(t.max())) if t.numel() else (0.0, 0.0)
    elif isinstance(t, (int, float)) and not isinstance(t, bool):
        lo = hi = float(t)
    else:
        raise TypeError(f"t must be a number or a torch.Tensor of shape (B,), got {type(t).__name__}.")
    if not (0.0 <= lo and hi <= 1.0):  # also refuses NaN
        raise ValueError(f"t must lie in [0, 1] (t=0 noise, t=1 data), got values from {lo:.4g} to {hi:.4g}.")


def _check_pair(a_name: str, a, b_name: str, b) -> None:
    """Two finite floating tensors of one shape (B, ...), B >= 1."""
    check_tensor(a_name, a, min_ndim=1)
    check_tensor(b_name, b, min_ndim=1)
    if a.shape != b.shape:
        raise ValueError(f"{a_name} and {b_name} must have the same shape (B, ...), got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}.")


def _check_finite_result(out: Tensor, parametrization: str, t) -> Tensor:
    """Finite inputs, non-finite output: the conversion is singular at t (see the module's note)."""
    if not bool(torch.isfinite(out).all()):
        raise ValueError(f"t: the {parametrization!r} conversion is singular at this time (alpha_t = 0 for noise and score "
                         f"predictions, sigma_t = 0 for data predictions and scores); use a time inside the "
                         f"path, e.g. t in [schedule.t_min, schedule.t_max] away from the singular end.")
    return out


def to_data_and_noise(pred: Tensor, parametrization: str, x: Tensor, t: Tensor | float,
                      schedule: Schedule, *, check: bool = True) -> tuple[Tensor, Tensor]:
    """Recover ``(x1_hat, x0_hat)`` from a prediction.

    Args:
        pred: the prediction, shape (B, ...).
        parametrization: what ``pred`` is: ``velocity``, ``noise``, ``data`` or ``score``.
        x: the current point x_t, shape (B, ...).
        t: time, a float or shape (B,).
        schedule: the path.
        check: check the arguments (shapes, dtypes, finite values, t in [0, 1]) and refuse a singular
            conversion; the samplers, which call this at every step with their own checked inputs, skip it.

    Returns:
        ``(x1_hat, x0_hat)``, each shape (B, ...), with ``x = alpha x1_hat + sigma x0_hat`` exactly.
    """
    parametrization = canonical(parametrization)
    if check:
        _check_pair("pred", pred, "x", x)
        _check_time(t, x.shape[0])
        x1, x0 = to_data_and_noise(pred, parametrization, x, t, schedule, check=False)
        return _check_finite_result(x1, parametrization, t), _check_finite_result(x0, parametrization, t)
    a, s, da, ds = schedule.coefficients(t, x)  # each (B, 1, ..., 1)
    if parametrization == "data":
        x1 = pred
        x0 = (x - a * x1) / s
    elif parametrization == "noise":
        x0 = pred
        x1 = (x - s * x0) / a
    elif parametrization == "score":
        x0 = -s * pred
        x1 = (x - s * x0) / a
    else:  # velocity: solve [a s; da ds] [x1; x0] = [x; v]
        det = a * ds - s * da
        x1 = (ds * x - s * pred) / det
        x0 = (a * pred - da * x) / det
    return x1, x0


def from_data_and_noise(x1: Tensor, x0: Tensor, parametrization: str, t: Tensor | float, schedule: Schedule, *,
                        check: bool = True) -> Tensor:
    """Express the pair ``(x1, x0)`` as the parametrization ``parametrization`` at time t.

    Args:
        x1: data (prediction), shape (B, ...).
        x0: noise (prediction), shape (B, ...).
        parametrization: ``velocity``, ``noise``, ``data`` or ``score``.
        t: time, a float or shape (B,).
        schedule: the path.
        check: check the arguments and refuse a singular conversion (see :func:`to_data_and_noise`).

    Returns:
        The prediction, shape (B, ...).
    """
    parametrization = canonical(parametrization)
    if check:
        _check_pair("x1", x1, "x0", x0)
        _check_time(t, x1.shape[0])
        return _check_finite_result(from_data_and_noise(x1, x0, parametrization, t, schedule, check=False), parametrization, t)
    if parametrization == "data":
        return x1
    if parametrization == "noise":
        return x0
    a, s, da, ds = schedule.coefficients(t, x1)
    if parametrization == "score":
        return -x0 / s
    return da * x1 + ds * x0  # velocity


def convert(pred: Tensor, src: str, dst: str, x: Tensor, t: Tensor | float, schedule: Schedule, *,
            check: bool = True) -> Tensor:
    """Convert a prediction from parametrization ``src`` to ``dst`` at the point ``x`` (x_t) and time ``t``.

    Example: the velocity implied by a noise-predicting diffusion model is
    ``convert(eps_hat, "noise", "velocity", x, t, schedule)``. Shapes: pred and x (B, ...), t a float or (B,).
    ``check`` as in :func:`to_data_and_noise`.
    """
    src, dst = canonical(src), canonical(dst)
    if check:
        _check_pair("pred", pred, "x", x)
        _check_time(t, x.shape[0])
        if src == dst:
            return pred
        return _check_finite_result(convert(pred, src, dst, x, t, schedule, check=False), f"{src} -> {dst}", t)
    if src == dst:
        return pred
    x1, x0 = to_data_and_noise(pred, src, x, t, schedule, check=False)
    return from_data_and_noise(x1, x0, dst, t, schedule, check=False)
