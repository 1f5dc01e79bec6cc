r"""Gaussian mixtures with known density, and the exact optimal model for them on any path.

For data ``x_1 ~ sum_k w_k N(mu_k, Sigma_k)`` and noise ``x_0 ~ N(0, I)``, every point of the
path ``x_t = alpha_t x_1 + sigma_t x_0`` is again a Gaussian mixture:

.. math::  p_t = \sum_k w_k \, N(\alpha_t \mu_k,\; C_k), \qquad C_k = \alpha_t^2 \Sigma_k + \sigma_t^2 I,

and the best possible prediction of the data (what a perfectly trained network outputs) is

.. math::  E[x_1 \mid x_t = x] = \sum_k r_k(x) \big(\mu_k + \alpha_t \Sigma_k C_k^{-1} (x - \alpha_t \mu_k)\big),

with responsibilities ``r_k(x) ∝ w_k N(x; alpha_t mu_k, C_k)``. Converted with
:mod:`fmlearn.parametrizations`, this gives the exact marginal velocity, noise and score.
A point cloud is the special case ``Sigma_k = 0`` (one component per point): see
:meth:`GaussianMixture.from_points`. With a single component this is the Gaussian case used
by the tests to check every sampler and the likelihood against closed forms.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ._checks import check_tensor
from .schedules import Schedule, broadcast_time, get_schedule

__all__ = ["GaussianMixture", "default_mixture", "OptimalModel", "optimal_model", "gaussian_flow_map"]


class GaussianMixture:
    """A mixture ``sum_k w_k N(mu_k, Sigma_k)`` in R^D.

    Args:
        means: component means, shape (K, D).
        covs: component covariances, shape (K, D, D), symmetric positive semi-definite.
        weights: mixture weights, shape (K,), positive (normalized here).
    """

    def __init__(self, means: Tensor, covs: Tensor, weights: Tensor | None = None):
        means = check_tensor("means", torch.as_tensor(means, dtype=torch.float64), ndim=2)
        k, d = means.shape
        covs = check_tensor("covs", torch.as_tensor(covs, dtype=torch.float64), ndim=3)
        if covs.shape != (k, d, d):
            raise ValueError(f"covs must have shape ({k}, {d}, {d}) to match means {tuple(means.shape)}, "
                             f"got {tuple(covs.shape)}.")
        if not torch.allclose(covs, covs.transpose(1, 2), atol=1e-10):
            raise ValueError("covs must be symmetric.")
        weights = torch.full((k,), 1.0 / k, dtype=torch.float64) if weights is None else \
            check_tensor("weights", torch.as_tensor(weights, dtype=torch.float64), ndim=1)
        if weights.shape != (k,) or bool((weights <= 0).any()):
            raise ValueError(f"weights must be {k} positive numbers, got {weights.tolist()}.")
        self.means, self.covs, self.weights = means, covs, weights / weights.sum()
        # Sigma_k = U_k diag(lam_k) U_k^T: in each component's eigenbasis everything is diagonal.
        self.eigvals, self.eigvecs = torch.linalg.eigh(covs)  # (K, D), (K, D, D)
        if bool((self.eigvals < -1e-10).any()):
            raise ValueError("covs must be positive semi-definite.")
        self.eigvals = self.eigvals.clamp_min(0.0)
        self._chol = self.eigvecs * self.eigvals.sqrt()[:, None, :]  # (K, D, D): L L^T = Sigma

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @classmethod
    def from_points(cls, points: Tensor, std: float = 0.0) -> "GaussianMixture":
        """One isotropic component of standard deviation ``std`` per point (std=0: the point cloud itself)."""
        points = check_tensor("points", torch.as_tensor(points, dtype=torch.float64), ndim=2)
        n, d = points.shape
        covs = (std ** 2) * torch.eye(d, dtype=torch.float64).expand(n, d, d).clone()
        return cls(points, covs)

    def mean(self) -> Tensor:
        """Mixture mean, shape (D,)."""
        return self.weights @ self.means

    def covariance(self) -> Tensor:
        """Mixture covariance, shape (D, D)."""
        m = self.mean()
        centred = self.means - m  # (K, D)
        return torch.einsum("k,kij->ij", self.weights, self.covs) + \
            torch.einsum("k,ki,kj->ij", self.weights, centred, centred)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw n points, shape (n, D), float64, reproducible with ``generator``."""
        comp = torch.multinomial(self.weights, n, replacement=True, generator=generator)  # (n,)
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)  # (n, D)
        return self.means[comp] + torch.einsum("nij,nj->ni", self._chol[comp], z)

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log-density log p(x), shape (B,), for x of shape (B, D). Needs positive-definite covs."""
        return self._component_log_probs(x.to(torch.float64), 1.0, 0.0)[0].logsumexp(dim=1).to(x.dtype)

    def at_time(self, t: float, schedule: Schedule | str = "linear") -> "GaussianMixture":
        """The marginal p_t of the path: means alpha_t mu_k, covariances alpha_t^2 Sigma_k + sigma_t^2 I."""
        schedule = get_schedule(schedule)
        tt = torch.tensor(float(t), dtype=torch.float64)
        a, s = schedule.alpha(tt), schedule.sigma(tt)
        eye = torch.eye(self.dim, dtype=torch.float64)
        return GaussianMixture(a * self.means, a ** 2 * self.covs + s ** 2 * eye, self.weights)

    # ---- the optimal prediction ---------------------------------------------------------
    def _component_log_probs(self, x: Tensor, a: Tensor | float, s: Tensor | float):
        """log(w_k N(x; a mu_k, a^2 Sigma_k + s^2 I)) (B, K), the rotated residual z (B, K, D) and variances (B, K, D)."""
        diff = x[:, None, :] - a * self.means.to(x)[None]  # (B, K, D) when a is (B, 1, 1)
        z = torch.einsum("kji,bkj->bki", self.eigvecs.to(x), diff)  # U_k^T (x - a mu_k)
        var = a ** 2 * self.eigvals.to(x)[None] + s ** 2  # (B, K, D): eigenvalues of C_k
        var = var.clamp_min(torch.finfo(x.dtype).tiny)
        logp = -0.5 * ((z ** 2 / var).sum(-1) + var.log().sum(-1) + self.dim * math.log(2 * math.pi))
        return logp + self.weights.to(x).log(), z, var

    def posterior_mean(self, x: Tensor, t: Tensor | float, schedule: Schedule | str = "linear",
                       chunk: int = 4096) -> Tensor:
        """``E[x_1 | x_t = x]`` under this mixture as data, shape (B, D), for x (B, D) and t float or (B,)."""
        schedule = get_schedule(schedule)
        x = check_tensor("x", x, ndim=2, dim=self.dim)
        tb = broadcast_time(t, x).to(torch.float64)[:, :, None]  # (B, 1, 1)
        out = []
        for i in range(0, x.shape[0], chunk):  # bounded memory: (chunk, K, D) intermediates
            xi, ti = x[i:i + chunk].to(torch.float64), tb[i:i + chunk]
            a, s = schedule.alpha(ti), schedule.sigma(ti)
            logp, z, var = self._component_log_probs(xi, a, s)
            r = torch.softmax(logp, dim=1)  # (B, K) responsibilities
            shrunk = a * self.eigvals[None] * z / var  # (B, K, D): a Lambda C^{-1} z, rotated
            cond = self.means[None] + torch.einsum("kij,bkj->bki", self.eigvecs, shrunk)  # (B, K, D)
            out.append(torch.einsum("bk,bkd->bd", r, cond))
        return torch.cat(out).to(x.dtype)

    def __repr__(self) -> str:
        return f"GaussianMixture(K={self.means.shape[0]}, D={self.dim})"


def default_mixture() -> GaussianMixture:
    """The course's 2D mixture with known density: three anisotropic components, overall std near 1."""
    means = torch.tensor([[-1.0, -0.6], [1.0, -0.6], [0.0, 1.0]])
    covs = torch.tensor([[[0.20, 0.10], [0.10, 0.15]],
                         [[0.20, -0.10], [-0.10, 0.15]],
                         [[0.30, 0.00], [0.00, 0.05]]])
    return GaussianMixture(means, covs, torch.tensor([0.35, 0.35, 0.30]))


class OptimalModel(nn.Module):
    """The exact minimizer of every path loss for mixture data: ``net(x, t) = E[x_1 | x_t = x]``.

    Use it like a trained network with the ``data`` parametrization (see :func:`optimal_model`).

    Args:
        mixture: the data distribution.
        schedule: the path.
    """

    def __init__(self, mixture: GaussianMixture, schedule: Schedule | str = "linear"):
        super().__init__()
        self.mixture, self.schedule, self.dim = mixture, get_schedule(schedule), mixture.dim

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return self.mixture.posterior_mean(x, t, self.schedule)  # (B, D)


def optimal_model(mixture: GaussianMixture, schedule: Schedule | str = "linear"):
    """A :class:`~fmlearn.models.PathModel` whose network is the exact optimum for ``mixture`` data."""
    from .models import PathModel
    return PathModel(OptimalModel(mixture, schedule), schedule, "data", shape=(mixture.dim,))


def gaussian_flow_map(mean: Tensor, cov: Tensor, schedule: str | Schedule, t0: float, t1: float
                      ) -> tuple[Tensor, Tensor]:
    r"""The exact probability-flow map from time ``t0`` to ``t1`` for Gaussian data ``N(mean, cov)``.

    On the path ``x_t = alpha_t x_1 + sigma_t x_0`` the marginal is ``N(m_t, C_t)`` with ``m_t = alpha_t mu``
    and ``C_t = alpha_t^2 Sigma + sigma_t^2 I``. The marginal velocity is affine,
    ``v(x, t) = m_t' + (1/2) C_t' C_t^{-1} (x - m_t)``, and all ``C_t`` share ``Sigma``'s eigenbasis, so the
    ODE moves each eigen-coordinate by ``sqrt(c_{t1} / c_{t0})``:

    .. math::  \Phi(x) = m_{t_1} + A (x - m_{t_0}), \qquad A = C_{t_1}^{1/2} C_{t_0}^{-1/2}.

    A sampler that starts from ``N(0, I)`` at ``t0`` ends, if exact, at ``N(m_{t1} - A m_{t0}, A A^T)``.

    Args:
        mean: the data mean mu, shape (D,).
        cov: the data covariance Sigma, shape (D, D), symmetric positive semi-definite.
        schedule: the path.
        t0, t1: start and end times.

    Returns:
        ``(A, b)`` with ``Phi(x) = x A^T + b`` for rows x: A of shape (D, D), b of shape (D,), float64.
    """
    mean = check_tensor("mean", torch.as_tensor(mean, dtype=torch.float64), ndim=1)
    cov = check_tensor("cov", torch.as_tensor(cov, dtype=torch.float64), ndim=2)
    if cov.shape != (mean.shape[0],) * 2:
        raise ValueError(f"cov must have shape ({mean.shape[0]}, {mean.shape[0]}) to match mean, got {tuple(cov.shape)}.")
    schedule = get_schedule(schedule)
    lam, u = torch.linalg.eigh(cov)
    lam = lam.clamp_min(0.0)

    def coef(t):
        tt = torch.tensor(float(t), dtype=torch.float64)
        return schedule.alpha(tt), schedule.sigma(tt)

    (a0, s0), (a1, s1) = coef(t0), coef(t1)
    c0, c1 = a0 ** 2 * lam + s0 ** 2, a1 ** 2 * lam + s1 ** 2  # (D,): C_t's eigenvalues
    if bool((c0 <= 0).any()):
        raise ValueError(f"the marginal at t0={t0} is degenerate (C_t0 singular); start where sigma > 0.")
    a = u @ torch.diag((c1 / c0).sqrt()) @ u.T  # (D, D)
    return a, a1 * mean - a @ (a0 * mean)
