"""Notebook 10, the verdict: k-NN precision of a point cloud, and the memorized share."""
from __future__ import annotations

import torch

from ... import neighbours
from .inputs import F64
from .registry import exercise


def _clouds(g):  # samples (300, 2), data (200, 2): overlapping but not equal, so precision is strictly between 0 and 1
    data = torch.randn(200, 2, generator=g, dtype=F64)
    samples = 1.3 * torch.randn(300, 2, generator=g, dtype=F64) + 0.4
    return samples, data, int(torch.randint(2, 8, (), generator=g))


def _precision_with_self(samples, data, k):
    radii = torch.cdist(data, data).kthvalue(k, dim=1).values  # the k-th value counts the point itself
    return float((torch.cdist(samples, data) <= radii[None]).any(1).double().mean())


@exercise("10.1", "knn_precision(samples, data, k) -> float  # share of samples inside some data point's k-NN ball",
          _clouds,
          {"The k-th nearest neighbour of a data point must be another point: the point itself is its own 0-th "
           "neighbour (take the (k+1)-th smallest distance, or drop the diagonal).": _precision_with_self,
           "That is recall: balls around the data points, samples inside them, not the other way round.":
               lambda x, y, k: neighbours.precision_recall(x, y, k)[1]})
def knn_precision(samples, data, k):
    return neighbours.precision_recall(samples, data, k)[0]


def _memo(g):  # a training set (40, 2) and samples: half near-copies of training points, half fresh
    train = torch.randn(40, 2, generator=g, dtype=F64)
    copies = train[torch.randint(0, 40, (50,), generator=g)] + 0.02 * torch.randn(50, 2, generator=g, dtype=F64)
    return torch.cat([copies, torch.randn(50, 2, generator=g, dtype=F64)]), train, 1 / 3


def _squared(samples, train, ratio):
    two = (torch.cdist(samples, train) ** 2).topk(2, dim=1, largest=False).values
    return float((two[:, 0] < ratio * two[:, 1]).double().mean())


@exercise("10.2", "memorized_share(samples, train, ratio) -> float  # share with d_1 < ratio * d_2 (nearest, second)",
          _memo,
          {"Compare distances, not squared distances: d_1^2 < ratio d_2^2 is a looser test (d_1 < sqrt(ratio) d_2).":
               _squared,
           "d_1 is the distance to the NEAREST training point and d_2 to the second nearest; the test is "
           "d_1 < ratio * d_2, not d_2 < ratio * d_1.":
               lambda x, y, c: float((1 / neighbours.nearest_ratio(x, y) < c).double().mean())})
def memorized_share(samples, train, ratio):
    return neighbours.memorized_share(samples, train, ratio)


@exercise(None, "knn_recall(samples, data, k) -> float  # share of data points inside some sample's k-NN ball",
          _clouds, {"That is precision: balls around the samples, data points inside them.":
                    lambda x, y, k: neighbours.precision_recall(x, y, k)[0]})
def knn_recall(samples, data, k):
    return neighbours.precision_recall(samples, data, k)[1]
