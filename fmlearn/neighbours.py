r"""Nearest-neighbour measures of a point cloud against data: precision and recall, and memorization.

**Precision and recall** (Kynkäänniemi et al. 2019, "Improved precision and recall metric for assessing
generative models"). Around every data point ``y_j`` put a ball whose radius is the distance to its k-th
nearest neighbour among the other data points; their union estimates the data's support. Then

.. math::  \mathrm{precision} = \frac{1}{N}\sum_i \mathbb 1\big[\exists j: |x_i - y_j| \le r_k(y_j)\big],
           \qquad
           \mathrm{recall} = \frac{1}{M}\sum_j \mathbb 1\big[\exists i: |y_j - x_i| \le r_k(x_i)\big]

(recall swaps the roles: balls around the samples, data points inside them). Precision is the share of
samples that look like data (fidelity); recall the share of data that the samples cover (diversity).

**Memorization** (Gu et al. 2023, "On memorization in diffusion models"). A sample ``x`` whose nearest
training point is much closer than the second nearest, ``d_1(x) < c\, d_2(x)`` with ``c = 1/3``, is counted
as a copy. In 2D this is a weak test: fresh data points already pass it now and then (a new moons point
lands near one of 16 training points often enough); always read a memorized share beside the share of
fresh data points (:func:`memorized_share` of fresh data) and beside a perfect memorizer.
:func:`copy_share` is a stricter test that scales with the training set: a sample is a copy when it lies
within ``c`` times its nearest training point's own nearest-neighbour distance (``c = 0.1``); fresh data then
passes only with probability about ``c^2`` times a constant of order one in 2D.

All in float64; distances are Euclidean. Costs O(N M) memory for clouds of N and M points.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ._checks import check_positive_int, check_tensor

__all__ = ["knn_radii", "precision_recall", "nearest_ratio", "memorized_share", "copy_share"]


def _cloud(arg: str, x, min_len: int = 1) -> Tensor:
    return check_tensor(arg, x, ndim=2, min_len=min_len).detach().double()


def _dists(x: Tensor, y: Tensor) -> Tensor:
    """Euclidean distances (N, M) between the rows of x (N, D) and y (M, D)."""
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"the clouds must have the same dimension D, got shapes {tuple(x.shape)} and "
                         f"{tuple(y.shape)}.")
    return torch.cdist(x, y.to(x.device))


def knn_radii(x: Tensor, k: int = 5) -> Tensor:
    """Distance from each point of ``x`` (N, D) to its k-th nearest *other* point of ``x``: shape (N,)."""
    x = _cloud("x", x, min_len=2)
    k = check_positive_int("k", k)
    if k >= x.shape[0]:
        raise ValueError(f"k must be smaller than the number of points ({x.shape[0]}), got {k}.")
    d = _dists(x, x)  # (N, N); the diagonal (0, each point itself) is the first of each row
    return d.kthvalue(k + 1, dim=1).values


def _inside_some_ball(points: Tensor, centres: Tensor, radii: Tensor) -> Tensor:
    """For each of ``points`` (P, D): whether it lies in a ball ``|p - c_j| <= r_j`` around some centre; (P,)."""
    return (_dists(points, centres) <= radii[None, :]).any(dim=1)


def precision_recall(samples: Tensor, data: Tensor, k: int = 5) -> tuple[float, float]:
    """``(precision, recall)`` of ``samples`` (N, D) against ``data`` (M, D) with k-NN balls (see the module).

    Identical clouds give (1, 1); clouds far apart give (0, 0).
    """
    x, y = _cloud("samples", samples, 2), _cloud("data", data, 2)
    precision = _inside_some_ball(x, y, knn_radii(y, k)).double().mean()
    recall = _inside_some_ball(y, x, knn_radii(x, k)).double().mean()
    return float(precision), float(recall)


def nearest_ratio(samples: Tensor, train: Tensor) -> Tensor:
    """``d_1 / d_2`` for each sample (N,): its distance to the nearest training point over that to the second
    nearest (0 for an exact copy of a training point, near 1 far from all of them). ``train``: (M, D), M >= 2."""
    x, y = _cloud("samples", samples), _cloud("train", train, 2)
    two = _dists(x, y).topk(2, dim=1, largest=False).values  # (N, 2), ascending
    return two[:, 0] / two[:, 1].clamp_min(torch.finfo(torch.float64).tiny)


def memorized_share(samples: Tensor, train: Tensor, ratio: float = 1 / 3) -> float:
    """Share of samples counted as copies of a training point: ``d_1 < ratio * d_2`` (Gu et al. 2023)."""
    if not 0 < ratio <= 1:
        raise ValueError(f"ratio must lie in (0, 1], got {ratio!r}; Gu et al. use 1/3.")
    return float((nearest_ratio(samples, train) < ratio).double().mean())


def copy_share(samples: Tensor, train: Tensor, c: float = 0.1) -> float:
    """Share of samples within ``c`` times the spacing of the training set at their nearest training point:
    ``d_1(x) < c * r_1(y*)`` with ``y*`` the nearest training point and ``r_1(y*)`` its distance to the nearest
    other training point. ``train``: (M, D), M >= 2."""
    if not 0 < c <= 1:
        raise ValueError(f"c must lie in (0, 1], got {c!r}.")
    x, y = _cloud("samples", samples), _cloud("train", train, 2)
    d1, nearest = _dists(x, y).min(dim=1)  # (N,), (N,)
    return float((d1 < c * knn_radii(y, 1)[nearest]).double().mean())

