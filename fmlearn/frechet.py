r"""The Fréchet distance between Gaussians, fitted to features, and extrapolated to infinitely many samples.

For two Gaussians ``N(mu_a, S_a)`` and ``N(mu_b, S_b)`` the squared 2-Wasserstein distance is

.. math::  FD = |\mu_a - \mu_b|^2 + \mathrm{tr}\big(S_a + S_b - 2 (S_a S_b)^{1/2}\big)

(Dowson & Landau 1982). The "FID" recipe fits a Gaussian to a network's features of generated and of
real images and reports this distance; :mod:`fmlearn.mnist.metric` does so with an MNIST classifier.
With finite samples the estimate is biased upwards by about ``k / N`` (:func:`fd_infinity` removes
that part by extrapolation, Chong & Forsyth 2020). Everything here is float64 numpy.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg
from torch import Tensor

__all__ = ["as_features", "feature_stats", "fid_from_stats", "fid", "fd_infinity"]


def as_features(arg: str, a) -> np.ndarray:
    """``a`` (N, F), Tensor or array, as a finite float64 array with N >= 2; ``arg`` names it in the messages."""
    a = a.detach().cpu().numpy() if isinstance(a, Tensor) else np.asarray(a)
    if a.ndim != 2 or a.shape[0] < 2:
        raise ValueError(f"{arg} must have shape (N, F) with N >= 2, got {a.shape}.")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{arg} contains NaN or infinite values.")
    return a


def feature_stats(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (F,) and unbiased covariance (F, F) of the rows of a (N, F), float64."""
    return a.mean(axis=0), np.atleast_2d(np.cov(a, rowvar=False))


def fid_from_stats(mu_a, cov_a, mu_b, cov_b) -> float:
    r"""Fréchet distance between ``N(mu_a, S_a)`` and ``N(mu_b, S_b)``, in float64.

    .. math::  |\mu_a - \mu_b|^2 + \mathrm{tr}\big(S_a + S_b - 2 (S_a S_b)^{1/2}\big)

    ``(S_a S_b)^{1/2}`` comes from ``scipy.linalg.sqrtm``; its tiny imaginary parts (round-off) are
    dropped. If round-off makes it non-finite (nearly singular covariances), ``1e-6 I`` is added to
    both covariances, as the reference FID code does.

    Args:
        mu_a, mu_b: means, shape (F,).
        cov_a, cov_b: covariances, shape (F, F).
    """
    mu_a, mu_b = np.asarray(mu_a, np.float64), np.asarray(mu_b, np.float64)
    cov_a, cov_b = np.atleast_2d(np.asarray(cov_a, np.float64)), np.atleast_2d(np.asarray(cov_b, np.float64))
    if mu_a.shape != mu_b.shape or cov_a.shape != cov_b.shape or cov_a.shape != mu_a.shape * 2:
        raise ValueError(f"shapes do not match: means {mu_a.shape}, {mu_b.shape}; covariances {cov_a.shape}, "
                         f"{cov_b.shape}.")
    root = scipy.linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(root).all():
        eps = 1e-6 * np.eye(cov_a.shape[0])
        root = scipy.linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(np.real(root)))


def fid(features_a, features_b) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (float64).

    Args:
        features_a: shape (N, F), Tensor or array.
        features_b: shape (M, F).

    Returns:
        The distance (a squared W2, in squared feature units) as a float; 0 for identical sets.
    """
    a, b = as_features("features_a", features_a), as_features("features_b", features_b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"features_a and features_b must have the same F, got {a.shape} and {b.shape}.")
    return fid_from_stats(*feature_stats(a), *feature_stats(b))


def fd_infinity(features: np.ndarray, mu_b, cov_b, *, draws: int = 5, seed: int = 0) -> dict:
    r"""The Fréchet distance extrapolated to infinitely many samples (Chong & Forsyth 2020).

    FD of N samples is biased upwards by about ``k / N`` (real digits score 12.2 at N = 500 and 1.3 at
    N = 10,000). Measure it on random subsets of sizes ``N, 4N/5, 3N/5, 2N/5`` (``draws`` subsets each,
    averaged), fit ``FD(n) = FD_inf + k / n`` by least squares, and return the intercept. The sizes stay
    well above the 128 feature dimensions for the N = 500 rows of the MNIST race.

    Args:
        features: the samples' features, shape (N, F), N >= 2.5 F is advisable.
        mu_b, cov_b: the reference statistics (the 10000 test digits).

    Returns:
        ``{"fd_inf", "slope", "sizes", "fds"}``.
    """
    a = as_features("features", features)
    n = a.shape[0]
    sizes = sorted({max(2, round(n * f)) for f in (0.4, 0.6, 0.8, 1.0)})
    rng = np.random.default_rng(seed)
    fds = []
    for m in sizes:
        reps = 1 if m == n else draws
        fds.append(float(np.mean([fid_from_stats(*feature_stats(a[rng.choice(n, m, replace=False)]), mu_b, cov_b)
                                  for _ in range(reps)])))
    inv = 1.0 / np.asarray(sizes, dtype=np.float64)
    slope, intercept = np.polyfit(inv, np.asarray(fds), 1)
    return {"fd_inf": float(intercept), "slope": float(slope), "sizes": sizes, "fds": fds}
