r"""Couplings: which noise sample ``x_0`` is paired with which data sample ``x_1`` in a minibatch.

* ``independent``: pairs as drawn, ``(x_0, x_1) ~ p_0 x p_1``: the standard choice for both families.
* ``ot``: minibatch exact optimal transport (Pooladian et al. 2023; Tong et al. 2024). Within a
  batch of B pairs, the noise is permuted to minimize ``sum_i |x_0[perm[i]] - x_1[i]|^2``, a linear
  assignment problem solved exactly by ``scipy.optimize.linear_sum_assignment``. Every sample is
  used exactly once (a permutation, no sampling with replacement), so both marginals stay exact,
  and paths cross less: the learned flow is straighter.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from ._checks import check_choice, check_tensor

__all__ = ["independent_coupling", "ot_coupling", "ot_permutation", "COUPLINGS", "get_coupling"]


def independent_coupling(x0: Tensor, x1: Tensor) -> tuple[Tensor, Tensor]:
    """Keep the pairs as drawn: returns ``(x0, x1)`` unchanged, each shape (B, ...)."""
    return x0, x1


def ot_permutation(x0: Tensor, x1: Tensor) -> Tensor:
    """The permutation ``perm`` (B,) minimizing ``sum_i |x0[perm[i]] - x1[i]|^2`` (exact, Hungarian-type).

    Args:
        x0: noise, shape (B, ...).
        x1: data, shape (B, ...), same shape as x0.
    """
    if x0.shape != x1.shape:
        raise ValueError(f"x0 and x1 must have the same shape, got {tuple(x0.shape)} and {tuple(x1.shape)}.")
    cost = torch.cdist(x1.flatten(1).double(), x0.flatten(1).double()).square_()  # (B, B): cost[i, j] = |x1_i - x0_j|^2
    # Subtracting a constant from a row or a column changes every assignment's cost by the same amount,
    # so the optimum is unchanged; the reduced matrix (zeros in every row and column) solves faster.
    cost -= cost.min(0, keepdim=True).values
    cost -= cost.min(1, keepdim=True).values
    rows, cols = linear_sum_assignment(cost.cpu().numpy())
    perm = np.empty_like(cols)
    perm[rows] = cols
    return torch.as_tensor(perm, device=x0.device)


def ot_coupling(x0: Tensor, x1: Tensor) -> tuple[Tensor, Tensor]:
    """Minibatch exact OT: returns ``(x0[perm], x1)`` so that row i of the noise is paired with row i of the data."""
    check_tensor("x0", x0, min_ndim=2, min_len=1)
    check_tensor("x1", x1, min_ndim=2, min_len=1)
    return x0[ot_permutation(x0, x1)], x1


COUPLINGS: dict[str, Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]] = {
    "independent": independent_coupling, "ot": ot_coupling}


def get_coupling(name: str | Callable) -> Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """A coupling function ``(x0, x1) -> (x0', x1')`` by name (``independent``, ``ot``) or the callable itself."""
    if callable(name):
        return name
    return COUPLINGS[check_choice("coupling", name, COUPLINGS)]
