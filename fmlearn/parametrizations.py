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

from torch import Tensor

from ._checks import check_choice
from .schedules import Schedule

__all__ = ["PARAMETRIZATIONS", "canonical", "to_data_and_noise", "from_data_and_noise", "convert"]

PARAMETRIZATIONS = ("velocity", "noise", "data", "score")
_ALIASES = {"v": "velocity", "eps": "noise", "epsilon": "noise", "x1": "data", "x0-prediction": "data"}


def canonical(kind: str) -> str:
    """The canonical name of a parametrization (accepts the aliases ``v``, ``eps``, ``x1``)."""
    kind = _ALIASES.get(kind, kind) if isinstance(kind, str) else kind
    return check_choice("parametrization", kind, PARAMETRIZATIONS)


def to_data_and_noise(pred: Tensor, kind: str, x: Tensor, t: Tensor | float,
                      schedule: Schedule) -> tuple[Tensor, Tensor]:
    """Recover ``(x1_hat, x0_hat)`` from a prediction.

    Args:
        pred: the prediction, shape (B, ...).
        kind: what ``pred`` is: ``velocity``, ``noise``, ``data`` or ``score``.
        x: the current point x_t, shape (B, ...).
        t: time, a float or shape (B,).
        schedule: the path.

    Returns:
        ``(x1_hat, x0_hat)``, each shape (B, ...), with ``x = alpha x1_hat + sigma x0_hat`` exactly.
    """
    kind = canonical(kind)
    a, s, da, ds = schedule.coefficients(t, x)  # each (B, 1, ..., 1)
    if kind == "data":
        x1 = pred
        x0 = (x - a * x1) / s
    elif kind == "noise":
        x0 = pred
        x1 = (x - s * x0) / a
    elif kind == "score":
        x0 = -s * pred
        x1 = (x - s * x0) / a
    else:  # velocity: solve [a s; da ds] [x1; x0] = [x; v]
        det = a * ds - s * da
        x1 = (ds * x - s * pred) / det
        x0 = (a * pred - da * x) / det
    return x1, x0


def from_data_and_noise(x1: Tensor, x0: Tensor, kind: str, t: Tensor | float, schedule: Schedule) -> Tensor:
    """Express the pair ``(x1, x0)`` as the parametrization ``kind`` at time t.

    Args:
        x1: data (prediction), shape (B, ...).
        x0: noise (prediction), shape (B, ...).
        kind: ``velocity``, ``noise``, ``data`` or ``score``.
        t: time, a float or shape (B,).
        schedule: the path.

    Returns:
        The prediction, shape (B, ...).
    """
    kind = canonical(kind)
    if kind == "data":
        return x1
    if kind == "noise":
        return x0
    a, s, da, ds = schedule.coefficients(t, x1)
    if kind == "score":
        return -x0 / s
    return da * x1 + ds * x0  # velocity


def convert(pred: Tensor, src: str, dst: str, x: Tensor, t: Tensor | float, schedule: Schedule) -> Tensor:
    """Convert a prediction from parametrization ``src`` to ``dst`` at the point ``x`` (x_t) and time ``t``.

    Example: the velocity implied by a noise-predicting diffusion model is
    ``convert(eps_hat, "noise", "velocity", x, t, schedule)``.
    """
    src, dst = canonical(src), canonical(dst)
    if src == dst:
        return pred
    x1, x0 = to_data_and_noise(pred, src, x, t, schedule)
    return from_data_and_noise(x1, x0, dst, t, schedule)
