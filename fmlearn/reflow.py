r"""Reflow (rectified flow, Liu et al. 2023) and one-step distillation: straighten a flow, then jump.

A trained flow ``v`` defines a deterministic coupling: each noise point ``x_0`` is paired with the
point its ODE carries it to, ``x_1 = ODE_v(x_0)``. **Reflow** trains flow matching on the linear path
with these FIXED pairs as the coupling (the "2-rectified flow")::

    x0 = randn(N, D);  x1 = ODE_v(x0)                      # pairs, (N, D) each, from an accurate solver
    L = E_{t, i} |u(t x1_i + (1 - t) x0_i, t) - (x1_i - x0_i)|^2

The pairs' straight lines cross far less than those of independent pairs, so the new flow ``u``
is straighter and one Euler step lands close to where its ODE ends.

**Distillation** (Liu et al. 2023, Sec. 2.3) keeps only ``t = 0`` of the same loss, on the pairs of
the rectified flow: ``L = E_i |u(x0_i, 0) - (x1_i - x0_i)|^2``. Then ``x0 + u(x0, 0)`` is a
one-step generator, sampled with ``sample(model, x0, "euler", nfe=1)``: one network call.

Both are :func:`fmlearn.training.train` with data that returns pairs ``(x0, x1)`` (:class:`Pairs`);
distillation adds :class:`OneStepObjective`, the flow-matching loss at ``t = 0``.
"""
from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass

import torch
from torch import Tensor

from ._checks import check_positive_int, check_tensor
from .losses import Objective
from .models import PathModel
from .samplers import sample
from .training import TrainResult, train

__all__ = ["Pairs", "make_pairs", "OneStepObjective", "rectify", "distill", "fingerprint"]


class Pairs:
    """A fixed coupling: ``N`` pairs ``(x0_i, x1_i)``, drawn with replacement as training data.

    Passed as ``data`` to :func:`~fmlearn.training.train`, each step gets ``(x0[idx], x1[idx])`` for
    ``B`` random indices, so the noise comes with its partner instead of being drawn fresh.

    Args:
        x0: noise, shape (N, D).
        x1: the points they are paired with, shape (N, D).

    Attributes:
        x0, x1: the pairs, shape (N, D) each, on the CPU.
        nfe: network evaluations spent making them (0 when given directly).
    """

    def __init__(self, x0: Tensor, x1: Tensor, *, nfe: int = 0):
        x0 = check_tensor("x0", x0, min_ndim=2).detach().cpu()
        x1 = check_tensor("x1", x1, min_ndim=2).detach().cpu()
        if x0.shape != x1.shape:
            raise ValueError(f"x0 and x1 must have the same shape, got {tuple(x0.shape)} and {tuple(x1.shape)}.")
        if x0.shape[0] < 2:
            raise ValueError(f"Pairs needs at least 2 pairs, got {x0.shape[0]}.")
        self.x0, self.x1, self.nfe = x0, x1, int(nfe)

    def __len__(self) -> int:
        return self.x0.shape[0]

    def __call__(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``n`` pairs drawn uniformly with replacement: ``(x0, x1)``, shape (n, D) each, on the CPU."""
        dev = generator.device if generator is not None else torch.device("cpu")
        idx = torch.randint(len(self), (n,), generator=generator, device=dev).cpu()  # (n,)
        return self.x0[idx], self.x1[idx]

    def __repr__(self) -> str:
        return f"Pairs(N={len(self)}, D={tuple(self.x0.shape[1:])}, nfe={self.nfe})"


def make_pairs(model: PathModel, n: int, *, sampler: str = "rk4", nfe: int | None = 100,
               generator: torch.Generator | None = None, device=None) -> Pairs:
    """Pair fresh noise with the end of ``model``'s ODE: ``x1 = ODE(x0)``, solved accurately.

    Args:
        model: the flow whose coupling to take (any :class:`~fmlearn.models.PathModel`).
        n: number of pairs.
        sampler: a deterministic ODE sampler of :func:`~fmlearn.samplers.sample` (default ``rk4``;
            ``dopri5`` with ``nfe=None`` for an adaptive solve).
        nfe: its budget (rk4 with 100 evaluations takes 25 steps).
        generator: draws the noise (on ``device``).
        device: where to integrate (default: where the model is).

    Returns:
        :class:`Pairs` with ``x0`` (n, D) and ``x1`` (n, D); ``pairs.nfe`` counts the network calls.
    """
    check_positive_int("n", n)
    if sampler in ("ddpm", "em"):
        raise ValueError(f"sampler {sampler!r} is stochastic; pairs need a deterministic ODE solver "
                         f"(rk4, dopri5, heun, euler, ddim, dpm++2m).")
    if device is None:
        device = generator.device if generator is not None else next(model.parameters()).device
    x0 = model.noise(n, generator=generator, device=device)  # (n, D)
    out = sample(model, x0, sampler, nfe)
    return Pairs(x0, out.samples, nfe=out.nfe)


@dataclass
class OneStepObjective(Objective):
    r"""The flow-matching loss at ``t = t_min`` only (``t = 0`` on the linear path):

    .. math::  L = E_i \| u_\theta(x_{0,i}, 0) - (x_{1,i} - x_{0,i}) \|^2,

    so that one Euler step ``x0 + u(x0, 0)`` lands on ``x1``. Train it on :class:`Pairs`.
    """

    def loss(self, net, x0: Tensor, x1: Tensor, t: Tensor | None = None, *,
             generator: torch.Generator | None = None, check: bool = True) -> Tensor:
        if t is None:
            t = torch.full((x1.shape[0],), float(self.schedule.t_min), dtype=x1.dtype, device=x1.device)  # (B,)
        return super().loss(net, x0, x1, t, generator=generator, check=check)

    def config(self) -> dict:
        return {**super().config(), "time_distribution": "t_min"}


def _student(teacher: PathModel, init_from_teacher: bool) -> PathModel:
    """A linear-path velocity model with the teacher's network (its weights, or freshly initialized)."""
    net = copy.deepcopy(teacher.net)
    if not init_from_teacher:
        for module in net.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()  # draws from torch's global generator: seed it for reproducibility
    return PathModel(net, "linear", "velocity", shape=teacher.shape).requires_grad_(True)


def rectify(teacher: PathModel, pairs: Pairs | None = None, *, n_pairs: int = 20000, steps: int | None = None,
            seed: int = 0, pair_sampler: str = "rk4", pair_nfe: int | None = 100, init_from_teacher: bool = True,
            device=None, progress: bool = True, **train_kwargs) -> tuple[TrainResult, Pairs]:
    """Reflow: train a linear-path velocity model on the teacher's ODE coupling (2-rectified flow).

    Args:
        teacher: the flow to straighten (e.g. a flow matching model's EMA).
        pairs: the coupling to train on; default :func:`make_pairs` of the teacher with ``n_pairs``
            pairs, ``pair_sampler`` and ``pair_nfe``, noise drawn from a generator seeded with ``seed``.
        steps: training steps (default as :func:`~fmlearn.training.train`).
        seed: seeds the pairs' noise and the training.
        init_from_teacher: start from the teacher's weights, as Liu et al. (2023) do (the network
            must then be a velocity network on the linear path for the start to make sense).
        train_kwargs: passed on to :func:`~fmlearn.training.train` (batch_size, lr, ...).

    Returns:
        ``(result, pairs)``: the :class:`~fmlearn.training.TrainResult` and the pairs used.
    """
    if pairs is None:
        g = torch.Generator(device=_device(teacher, device)).manual_seed(seed)
        pairs = make_pairs(teacher, n_pairs, sampler=pair_sampler, nfe=pair_nfe, generator=g)
    student = _student(teacher, init_from_teacher)
    result = train(student, pairs, "fm", steps=steps, seed=seed, device=device, progress=progress, **train_kwargs)
    return result, pairs


def distill(teacher: PathModel, pairs: Pairs | None = None, *, n_pairs: int = 20000, steps: int | None = None,
            seed: int = 0, pair_sampler: str = "rk4", pair_nfe: int | None = 100, init_from_teacher: bool = True,
            device=None, progress: bool = True, **train_kwargs) -> tuple[TrainResult, Pairs]:
    """One-step distillation: train ``u(x0, 0)`` so that ``x0 + u(x0, 0) = ODE_teacher(x0)``.

    Args: as :func:`rectify` (the teacher is usually the rectified flow, whose ODE is nearly straight).

    Returns:
        ``(result, pairs)``; sample the result with ``sample(result.ema, x0, "euler", nfe=1)``.
    """
    if pairs is None:
        g = torch.Generator(device=_device(teacher, device)).manual_seed(seed)
        pairs = make_pairs(teacher, n_pairs, sampler=pair_sampler, nfe=pair_nfe, generator=g)
    student = _student(teacher, init_from_teacher)
    result = train(student, pairs, OneStepObjective(), steps=steps, seed=seed, device=device, progress=progress,
                   **train_kwargs)
    return result, pairs


def _device(model: PathModel, device) -> torch.device:
    from .config import get_device
    return get_device(device) if device is not None else next(model.parameters()).device


def fingerprint(model: torch.nn.Module) -> str:
    """A short hash of a model's weights (hex, 16 characters): same weights, same fingerprint.

    Stored in the configuration of models made from a teacher, so that a cached student of another
    teacher is recognised and refused.
    """
    h = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]
