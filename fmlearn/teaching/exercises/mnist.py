"""Notebook 08, MNIST: the label entropy, and the Fréchet distance of two isotropic Gaussians."""
from __future__ import annotations

import math

import torch

from ... import metrics
from ...frechet import fid_from_stats
from .inputs import F64
from .registry import exercise


def _probs(g):  # class probabilities (200, 10), unbalanced
    logits = 3 * torch.randn(200, 10, generator=g, dtype=F64) + torch.linspace(0, 2, 10, dtype=F64)
    return (torch.softmax(logits, 1),)


@exercise("8.1", "label_entropy(probs) -> float  # entropy (nats) of the histogram of predicted labels, probs (N, K)",
          _probs,
          {"Histogram the predicted labels (argmax) first; the mean of the per-sample entropies measures "
           "confidence, not how evenly the classes are covered.":
               lambda probs: float(-(probs * probs.clamp_min(1e-300).log()).sum(1).mean()),
           "Use the natural logarithm (nats): the maximum for 10 classes is log 10 = 2.303.":
               lambda probs: metrics.label_entropy(probs) / math.log(2)})
def label_entropy(probs):
    return metrics.label_entropy(probs)


def _isotropic(g):  # two isotropic Gaussians in R^D, D drawn in 3..40: means (D,), spreads (positive scalars)
    d = int(torch.randint(3, 41, (), generator=g))
    return (torch.randn(d, generator=g, dtype=F64), 0.2 + torch.rand((), generator=g, dtype=F64),
            torch.randn(d, generator=g, dtype=F64), 0.2 + torch.rand((), generator=g, dtype=F64))


@exercise("8.2", "isotropic_frechet(mu_a, s_a, mu_b, s_b) -> float  # FD between N(mu_a, s_a^2 I) and N(mu_b, s_b^2 I)",
          _isotropic,
          {"Each of the D dimensions adds its own (s_a - s_b)^2: multiply by D = mu_a.numel().":
               lambda ma, sa, mb, sb: float(((ma - mb) ** 2).sum() + (sa - sb) ** 2),
           "The root (S_a S_b)^(1/2) is s_a s_b I, so the trace terms are D (s_a^2 + s_b^2 - 2 s_a s_b): "
           "keep the cross term.":
               lambda ma, sa, mb, sb: float(((ma - mb) ** 2).sum() + ma.numel() * (sa ** 2 + sb ** 2)),
           "The spreads enter as standard deviations, (s_a - s_b)^2, not as variances (s_a^2 - s_b^2)^2.":
               lambda ma, sa, mb, sb: float(((ma - mb) ** 2).sum() + ma.numel() * (sa ** 2 - sb ** 2) ** 2),
           "Add the squared distance between the means, |mu_a - mu_b|^2.":
               lambda ma, sa, mb, sb: float(ma.numel() * (sa - sb) ** 2)}, atol=1e-8)
def isotropic_frechet(mu_a, s_a, mu_b, s_b):
    """The Fréchet distance between ``N(mu_a, s_a^2 I_D)`` and ``N(mu_b, s_b^2 I_D)``: with ``S = s^2 I`` the root
    ``(S_a S_b)^(1/2)`` is ``s_a s_b I``, so ``tr(S_a + S_b - 2 (S_a S_b)^(1/2)) = D (s_a - s_b)^2``; computed here
    with the general formula (:func:`fmlearn.frechet.fid_from_stats`) as an independent check of the closed form."""
    eye = torch.eye(mu_a.numel(), dtype=F64)
    return fid_from_stats(mu_a, s_a ** 2 * eye, mu_b, s_b ** 2 * eye)
