r"""Classifier-free guidance (Ho & Salimans 2022): one network, two predictions, one extrapolation.

A class-conditional network trained with label dropout (:func:`fmlearn.training.train` with
``label_dropout=0.1``) predicts both ``v(x, t | y)`` and ``v(x, t | null)``: the null label is
the unconditional model. Guidance with scale ``w >= 0`` samples with::

    v_w(x, t | y) = (1 + w) v(x, t | y) - w v(x, t | null)
                  = v(x, t | y) + w (v(x, t | y) - v(x, t | null))

``w = 0`` is the plain conditional model; a larger ``w`` pushes each step further in the direction
that separates digit ``y`` from "any digit", which makes digits more recognisable (fidelity) and
more alike (less diversity). Every smooth field generates some probability path, and so does the
guided one; but it is not the marginal velocity of the noised "tilted" target
``p(x) p(y | x)^(1 + w)`` (Bradley & Nakkiran 2024): guidance trades sampling any fixed distribution
exactly for fidelity. In score terms it adds ``(1 + w)`` times the implicit classifier's gradient,
``grad log p_t(x) + (1 + w) grad log p_t(y | x)`` (Ho & Salimans 2022). How recognisable and how
varied guided digits are is measured by :func:`fmlearn.mnist.fidelity.fidelity_diversity`.

Every conversion between velocity, noise, data and score (:mod:`fmlearn.parametrizations`) is
affine in the prediction, ``a(t) x + b(t) out``, and the weights ``1 + w`` and ``-w`` sum to one,
so guiding a noise-predicting diffusion model in noise space and converting gives exactly the
guided velocity: guidance is the same for both families.

Each evaluation of a guided model costs two network passes (run as one batch of 2B).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .models import PathModel

__all__ = ["guided_prediction", "GuidedNet", "guided_model"]


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
