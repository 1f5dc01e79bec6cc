"""How recognisable and how varied generated digits are: fidelity and diversity of guided MNIST samples.

Judged by the shipped classifier (:mod:`fmlearn.mnist.classifier`): *fidelity* is the share of samples
it gives their requested digit with high probability; *diversity* is the mean distance between two
samples of the same requested digit in its feature space, relative to the same for real digits.
Notebook 09 reads them along the guidance scale (:mod:`fmlearn.guidance`).
"""
from __future__ import annotations

import weakref

import torch
from torch import Tensor

from ..config import device_of
from .classifier import batched, evaluating, load_classifier
from .data import mnist_tensors
from .metric import check_samples

__all__ = ["fidelity_diversity"]


def _mean_pairwise_distance(features: Tensor) -> float:
    """Mean Euclidean distance between the distinct pairs of rows of ``features`` (N, F)."""
    n = features.shape[0]
    if n < 2:
        return float("nan")
    d = torch.cdist(features.double(), features.double())  # (N, N)
    return float(d.sum() / (n * (n - 1)))


def _per_class_spread(features: Tensor, labels: Tensor) -> float:
    """Mean over labels (with >= 2 rows) of the mean pairwise distance of their rows of ``features`` (N, F)."""
    spreads = [_mean_pairwise_distance(features[labels == c]) for c in labels.unique().tolist()
               if int((labels == c).sum()) > 1]
    return sum(spreads) / len(spreads) if spreads else float("nan")


_REAL_SPREAD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # classifier -> spread of real test digits


def fidelity_diversity(images: Tensor, labels: Tensor, *, threshold: float = 0.9, classifier=None,
                       reference: Tensor | None = None, reference_labels: Tensor | None = None) -> dict:
    """How recognisable and how varied generated digits are, judged by the shipped MNIST classifier.

    Args:
        images: generated digits (N, 1, 28, 28) in about [-1, 1] (clipped to it; strong guidance overshoots).
        labels: the digit each was asked to be, integers (N,).
        threshold: probability of the requested digit above which a sample counts as a hit.
        classifier: default :func:`fmlearn.mnist.classifier.load_classifier`.
        reference, reference_labels: real digits (M, 1, 28, 28) and labels (M,) whose diversity is the
            unit; default the first 2000 test digits.

    Returns:
        ``{"fidelity"``: share of samples the classifier gives their requested digit with probability
        >= threshold; ``"accuracy"``: share whose most likely digit is the requested one;
        ``"diversity"``: mean distance between two samples of the same requested digit in the
        classifier's feature space, averaged over digits and divided by the same for real digits
        (1.0: as varied as real digits; 0: all alike); ``"n"``}.
    """
    if isinstance(images, torch.Tensor) and images.is_floating_point() and bool(images.isfinite().all()) \
            and float(images.abs().max()) <= 4.0:
        images = images.clamp(-1.0, 1.0)  # guided samples overshoot [-1, 1]; clip them, as when shown
    images = check_samples(images, "images")
    labels = torch.as_tensor(labels).long().cpu()
    if labels.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}.")
    model = load_classifier() if classifier is None else classifier

    def features(x: Tensor) -> Tensor:  # (N, 1, 28, 28) -> (N, F), eval mode, no_grad, in batches
        with evaluating(model):
            return batched(model.features, x.float().cpu(), device=device_of(model))

    if reference is None:  # the first 2000 test digits: their spread is computed once per classifier
        if model not in _REAL_SPREAD:
            x, y = mnist_tensors("test", 2000)
            _REAL_SPREAD[model] = _per_class_spread(features(x), y)
        real_spread = _REAL_SPREAD[model]
    else:
        real_spread = _per_class_spread(features(reference), torch.as_tensor(reference_labels).long().cpu())
    feats = features(images)  # (N, F)
    with evaluating(model), torch.no_grad():
        probs = torch.softmax(model.head(feats), dim=1)  # (N, 10)
    spread = _per_class_spread(feats, labels)
    p_requested = probs.gather(1, labels[:, None])[:, 0]  # (N,)
    return {"fidelity": float((p_requested >= threshold).double().mean()),
            "accuracy": float((probs.argmax(1) == labels).double().mean()),
            "diversity": spread / real_spread, "n": int(images.shape[0])}
