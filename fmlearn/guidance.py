r"""Classifier-free guidance (Ho & Salimans 2022): one network, two predictions, one extrapolation.

A class-conditional network trained with label dropout (:func:`fmlearn.training.train` with
``label_dropout=0.1``) predicts both ``v(x, t | y)`` and ``v(x, t | null)``: the null label is
the unconditional model. Guidance with scale ``w >= 0`` samples with::

    v_w(x, t | y) = (1 + w) v(x, t | y) - w v(x, t | null)
                  = v(x, t | y) + w (v(x, t | y) - v(x, t | null))

``w = 0`` is the plain conditional model; a larger ``w`` pushes each step further in the direction
that separates digit ``y`` from "any digit", which makes digits more recognisable (fidelity) and
more alike (less diversity). The guided field is not the velocity of any probability path:
guidance trades the exactness of the flow for fidelity.

Every conversion between velocity, noise, data and score (:mod:`fmlearn.parametrizations`) is
affine in the prediction, ``a(t) x + b(t) out``, and the weights ``1 + w`` and ``-w`` sum to one,
so guiding a noise-predicting diffusion model in noise space and converting gives exactly the
guided velocity: guidance is the same for both families.

Each evaluation of a guided model costs two network passes (run as one batch of 2B).
"""
from __future__ import annotations

import weakref

import torch
from torch import Tensor, nn

from .models import PathModel

__all__ = ["guided_prediction", "GuidedNet", "guided_model", "fidelity_diversity"]


def guided_prediction(conditional: Tensor, unconditional: Tensor, scale: float) -> Tensor:
    r"""``(1 + w) * conditional - w * unconditional`` for guidance scale ``w = scale``; shapes (B, ...)."""
    return (1.0 + scale) * conditional - scale * unconditional


class GuidedNet(nn.Module):
    """``net(x, t) = (1 + w) net(x, t, y) - w net(x, t, null)``: a class-conditional network with its
    labels and guidance scale bound, usable wherever a network ``net(x, t)`` is (samplers, PathModel).

    Args:
        net: a class-conditional network ``net(x (B, ...), t (B,), y (B,) | None)`` with ``num_classes``.
        y: the label(s) to generate: an int (every sample) or an integer Tensor (B,) (one per sample).
        scale: guidance scale ``w >= 0``.
    """

    def __init__(self, net: nn.Module, y: int | Tensor, scale: float = 0.0):
        super().__init__()
        k = getattr(net, "num_classes", None)
        if k is None:
            raise ValueError("guidance needs a class-conditional network (num_classes set, trained with "
                             "label_dropout > 0); this one takes no labels.")
        if not (isinstance(scale, (int, float)) and scale >= 0 and scale == scale):
            raise ValueError(f"scale must be a number >= 0, got {scale!r}.")
        if isinstance(y, Tensor):
            if y.ndim != 1 or y.is_floating_point():
                raise ValueError(f"y must be an int or an integer Tensor of shape (B,), got {y.dtype} {tuple(y.shape)}.")
            bad = y[(y < 0) | (y >= k)]
        elif isinstance(y, int) and not isinstance(y, bool):
            bad = [y] if not 0 <= y < k else []
        else:
            raise TypeError(f"y must be an int or an integer Tensor (B,), got {type(y).__name__}.")
        if len(bad):
            raise ValueError(f"labels must lie in 0..{k - 1}, got {int(bad[0])}.")
        self.net, self.y, self.scale, self.num_classes = net, y, float(scale), k
        self.shape = getattr(net, "shape", None)

    def labels(self, batch: int, device) -> Tensor:
        """The labels of a batch of ``batch`` samples, shape (batch,)."""
        if isinstance(self.y, Tensor):
            if self.y.shape[0] != batch:
                raise ValueError(f"y holds {self.y.shape[0]} labels but the batch has {batch} samples.")
            return self.y.to(device=device, dtype=torch.long)
        return torch.full((batch,), self.y, dtype=torch.long, device=device)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        y = self.labels(x.shape[0], x.device)  # (B,)
        if self.scale == 0.0:
            return self.net(x, t, y)
        null = torch.full_like(y, self.num_classes)
        both = self.net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null]))  # (2B, ...)
        conditional, unconditional = both.chunk(2)
        return guided_prediction(conditional, unconditional, self.scale)


def guided_model(model: PathModel, y: int | Tensor, scale: float = 0.0) -> PathModel:
    """The class-conditional ``model`` guided towards label(s) ``y`` with scale ``w``, as a PathModel
    (same path and parametrization, shared weights) that every sampler accepts."""
    if not isinstance(model, PathModel):
        raise TypeError(f"model must be a PathModel, got {type(model).__name__}.")
    return PathModel(GuidedNet(model.net, y, scale), model.schedule, model.parametrization, shape=model.shape)


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
        classifier: default :func:`fmlearn.mnist_metric.load_classifier`.
        reference, reference_labels: real digits (M, 1, 28, 28) and labels (M,) whose diversity is the
            unit; default the first 2000 test digits.

    Returns:
        ``{"fidelity"``: share of samples the classifier gives their requested digit with probability
        >= threshold; ``"accuracy"``: share whose most likely digit is the requested one;
        ``"diversity"``: mean distance between two samples of the same requested digit in the
        classifier's feature space, averaged over digits and divided by the same for real digits
        (1.0: as varied as real digits; 0: all alike); ``"n"``}.
    """
    from .mnist_metric import _batched, _check_images, _device, _evaluating, _mnist, load_classifier

    if isinstance(images, torch.Tensor) and images.is_floating_point() and bool(images.isfinite().all()) \
            and float(images.abs().max()) <= 4.0:
        images = images.clamp(-1.0, 1.0)  # guided samples overshoot [-1, 1]; clip them, as when shown
    images = _check_images(images, "images")
    labels = torch.as_tensor(labels).long().cpu()
    if labels.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}.")
    model = load_classifier() if classifier is None else classifier

    def features(x: Tensor) -> Tensor:  # (N, 1, 28, 28) -> (N, F), eval mode, no_grad, in batches
        with _evaluating(model):
            return _batched(model.features, x.float().cpu(), device=_device(model))

    if reference is None:  # the first 2000 test digits: their spread is computed once per classifier
        if model not in _REAL_SPREAD:
            x, y = _mnist("test", None, 2000)
            _REAL_SPREAD[model] = _per_class_spread(features(x), y)
        real_spread = _REAL_SPREAD[model]
    else:
        real_spread = _per_class_spread(features(reference), torch.as_tensor(reference_labels).long().cpu())
    feats = features(images)  # (N, F)
    with _evaluating(model), torch.no_grad():
        probs = torch.softmax(model.head(feats), dim=1)  # (N, 10)
    spread = _per_class_spread(feats, labels)
    p_requested = probs.gather(1, labels[:, None])[:, 0]  # (N,)
    return {"fidelity": float((p_requested >= threshold).double().mean()),
            "accuracy": float((probs.argmax(1) == labels).double().mean()),
            "diversity": spread / real_spread, "n": int(images.shape[0])}
