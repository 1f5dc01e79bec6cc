r"""How good are generated digits? A small MNIST classifier, its Fréchet distance, and references.

Images are tensors of shape (N, 1, 28, 28) in ``[-1, 1]`` (``x = pixels / 127.5 - 1``), as the
generative models produce them. A small CNN (:class:`Classifier`, > 99% test accuracy, shipped in
``fmlearn/checkpoints/mnist_classifier.pt``) gives three numbers (:func:`evaluate_images`):

* ``fd`` -- the **Fréchet distance** between Gaussians fitted to the classifier's 128 penultimate
  features of the samples and of the 10000 test digits (the "FID" recipe with an MNIST network):

  .. math::  FD = |\mu_a - \mu_b|^2 + \mathrm{tr}\big(S_a + S_b - 2 (S_a S_b)^{1/2}\big)

  It is the squared 2-Wasserstein distance between the two fitted Gaussians. Lower is better,
  but even real digits do not reach 0 with finite samples: compare with :func:`references`
  (``floor_fd``: real train digits; ``blur_fd``: blurred test digits, a clearly worse "model").
  The estimate falls with the number of samples N (real digits: about 9 at N = 1000, 3 at 2000,
  1.3 at 10000), so compare models, and references, at the same N.
* ``confident`` -- the share of samples whose top class probability is >= 0.9 (do they look like
  *some* digit?). Never read it alone: like most classifiers, this one is sure of itself on inputs
  unlike any digit (uniform noise is an "8" with probability about 1); ``fd`` and ``entropy`` catch that.
* ``entropy`` -- the entropy (nats) of the histogram of predicted labels: ``log 10 = 2.303`` when all
  ten digits are equally frequent, lower when the model drops digits (mode collapse).

::

    out = evaluate_images(samples)            # samples (N, 1, 28, 28) in [-1, 1]
    out["fd"], out["confident"], out["entropy"], out["label_counts"]
    references(n=len(samples))                # {"floor_fd": ..., "blur_fd": ...} at the same N

The classifier lives in :mod:`fmlearn.mnist.classifier`; the Fréchet distance itself, for any
features, in :mod:`fmlearn.frechet`.
"""
from __future__ import annotations

import math
import weakref

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..frechet import as_features, fd_infinity, feature_stats, fid_from_stats
from ..metrics import label_entropy
from .classifier import Classifier, batched, evaluating, load_classifier
from .data import check_images, load_mnist, locate, mnist_pixels, mnist_tensors, scale_pixels
from ..config import device_of

__all__ = ["check_samples", "evaluate_images", "gaussian_blur", "references", "test_stats"]


def check_samples(x, arg: str = "x", limit: float = 1.5) -> Tensor:
    """:func:`fmlearn.mnist.data.check_images`, plus: refuse empty batches and batches that look like pixels in
    [0, 1]; return the images as float32 clipped to [-1, 1] (as when samples are shown or saved)."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    check_images(x, arg, limit=limit)
    if x.shape[0] == 0:
        raise ValueError(f"{arg} must hold at least one image, got shape {tuple(x.shape)}.")
    lo, hi = float(x.min()), float(x.max())
    if lo >= 0 and x.shape[0] >= 10:  # MNIST backgrounds are -1: a batch that never goes below 0 is in [0, 1]
        raise ValueError(f"{arg} must have values in [-1, 1]; got values in [{lo:.4g}, {hi:.4g}], which look like "
                         f"pixels in [0, 1]; scale with {arg} * 2 - 1.")
    return x.detach().float().clamp(-1.0, 1.0)


_REFERENCE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {data folder: (mu, cov)}


def test_stats(model: Classifier, root=None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the 10000 test digits' features; computed once per model and data folder."""
    cache = _REFERENCE.setdefault(model, {})
    key = str(locate(root))
    if key not in cache:
        x, _ = mnist_tensors("test", root=root)
        with evaluating(model):
            cache[key] = feature_stats(batched(model.features, x, device=device_of(model)).double().numpy())
    return cache[key]


def evaluate_images(x: Tensor, reference_features=None, *, model: Classifier | None = None,
                    threshold: float = 0.9, root=None) -> dict:
    """Score generated digits against the MNIST test set.

    Args:
        x (Tensor): images, shape (N, 1, 28, 28), float, values in about [-1, 1] (clipped to it;
            up to +-1.5 is accepted since samplers overshoot a little).
        reference_features: features (M, F) to compare with instead of the 10000 test digits.
        model: the classifier; default :func:`load_classifier`.
        threshold: the top probability above which a sample counts as confident.
        root: folder of the MNIST files.

    Returns:
        dict with ``fd`` (Fréchet distance of the features), ``confident`` (share with top
        softmax probability >= threshold), ``entropy`` (nats, of the histogram of predicted labels;
        ``log 10 = 2.303`` is perfectly balanced), ``label_counts`` (10 ints) and ``n``.
    """
    x = check_samples(x)
    model = load_classifier() if model is None else model
    with evaluating(model):
        feats = batched(model.features, x, device=device_of(model)).double()  # (N, F)
        probs = batched(lambda f: torch.softmax(model.head(f), dim=1), feats.float(),
                         device=device_of(model))  # (N, 10)
    counts = torch.bincount(probs.argmax(1), minlength=10)  # (10,)
    entropy = label_entropy(probs)
    if reference_features is None:
        mu_b, cov_b = test_stats(model, root)
    else:
        mu_b, cov_b = feature_stats(as_features("reference_features", reference_features))
    fd = fid_from_stats(*feature_stats(as_features("features", feats.numpy())), mu_b, cov_b) if x.shape[0] >= 2 \
        else float("nan")
    fd_inf = fd_infinity(feats.numpy(), mu_b, cov_b)["fd_inf"] if x.shape[0] >= 2.5 * feats.shape[1] else None
    return {"fd": fd, "fd_inf": fd_inf, "confident": float((probs.max(1).values >= threshold).double().mean()),
            "entropy": entropy, "label_counts": [int(c) for c in counts], "n": int(x.shape[0])}


def gaussian_blur(x: Tensor, sigma: float = 1.5) -> Tensor:
    """Blur images x (N, 1, H, W) with a fixed Gaussian kernel of std ``sigma`` pixels (background -1 around)."""
    r = max(1, math.ceil(3 * sigma))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float64) / sigma) ** 2)
    k = (k / k.sum()).to(x.dtype)  # (2r + 1,), separable
    xp = F.pad(x, (r, r, r, r), value=-1.0)  # (N, 1, H + 2r, W + 2r)
    xp = F.conv2d(xp, k.view(1, 1, 1, -1))  # rows
    return F.conv2d(xp, k.view(1, 1, -1, 1))  # columns: (N, 1, H, W)


def references(n: int = 10000, *, sigma: float = 1.5, seed: int = 0, model: Classifier | None = None,
               root=None) -> dict:
    """Reference values of the Fréchet distance, measured like a model's ``n`` samples against the test set.

    * ``floor_fd``: ``n`` real *training* digits (a random subset drawn with ``seed``). A perfect
      generator scores about this: finite samples never reach 0.
    * ``blur_fd``: the first ``n`` *test* digits blurred with a Gaussian of ``sigma`` pixels: a
      visibly worse "generator" (blurry digits are a typical failure).

    Returns:
        dict with ``floor_fd``, ``blur_fd``, ``n`` and ``sigma``.
    """
    model = load_classifier() if model is None else model
    train_pixels, _ = mnist_pixels("train", root=root)
    n_test = len(load_mnist("test", root)[1])  # the cached arrays: no copy for a count
    if not 2 <= n <= n_test:
        raise ValueError(f"n must be in 2..{n_test}, got {n}.")
    idx = torch.randperm(train_pixels.shape[0], generator=torch.Generator().manual_seed(seed))[:n]
    ref = test_stats(model, root)
    with evaluating(model):
        real = batched(model.features, scale_pixels(train_pixels[idx]), device=device_of(model))  # (n, F)
        blurred = batched(lambda b: model.features(gaussian_blur(b, sigma)), mnist_tensors("test", n, root=root)[0],
                           device=device_of(model))  # (n, F)
    floor = fid_from_stats(*feature_stats(real.double().numpy()), *ref)
    blur = fid_from_stats(*feature_stats(blurred.double().numpy()), *ref)
    out = {"floor_fd": floor, "blur_fd": blur, "n": n, "sigma": sigma, "floor_fd_inf": None, "blur_fd_inf": None}
    if n >= 2.5 * real.shape[1]:
        out["floor_fd_inf"] = fd_infinity(real.double().numpy(), *ref)["fd_inf"]
        out["blur_fd_inf"] = fd_infinity(blurred.double().numpy(), *ref)["fd_inf"]
    return out
