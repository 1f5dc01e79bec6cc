r"""Two-dimensional toy data sets, and points from your own array, word or picture.

Every data set is the data distribution ``p_1`` at ``t = 1`` (``t = 0`` is standard Gaussian
noise). All of them share one scale so that one set of training settings works for all:
each is **centred** (mean 0) and **scaled isotropically** so that
``E|x|^2 = 2``, i.e. the per-coordinate variance is 1 on average, like the noise ``x_0``.
Scaling is isotropic (one factor for both coordinates) so shapes are not distorted; the two
coordinates' standard deviations therefore differ a little for the asymmetric sets
(moons: about 1.23 and 0.70). Every point lies inside about ``[-3.5, 3.5]^2``.

Sampling is fully vectorized and draws all randomness from one ``torch.Generator``::

    x1 = sample_data("moons", 256, seed=0)          # (256, 2) float32
    g = torch.Generator().manual_seed(0)
    x1 = sample_data("checkerboard", 256, generator=g)

Each entry of :data:`DATASETS` is a function ``f(n, generator=None, dtype=torch.float32)``
returning a tensor of shape ``(n, 2)`` on the generator's device (CPU without one).
Your own data: :func:`from_text` and :func:`from_image` (from :mod:`fmlearn.drawn_data`) return such points.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import Tensor

from ._checks import check_choice, check_positive_int
from .drawn_data import from_image, from_text

__all__ = ["DATASETS", "sample_data", "dataset_names", "ArrayData", "from_text", "from_image"]


def _device(generator: torch.Generator | None) -> torch.device:
    """Random numbers are drawn where the generator lives (CPU when there is none)."""
    return generator.device if generator is not None else torch.device("cpu")


# ---- 8 Gaussians ------------------------------------------------------------------------------
_G8_STD = 0.1
_G8_RADIUS = math.sqrt(2 * (1 - _G8_STD**2))  # per-coordinate variance R^2/2 + s^2 = 1
_G8_CENTERS = _G8_RADIUS * torch.tensor(
    [[math.cos(k * math.pi / 4), math.sin(k * math.pi / 4)] for k in range(8)], dtype=torch.float64)


def eight_gaussians(n: int, generator: torch.Generator | None = None, dtype=torch.float32) -> Tensor:
    r"""Eight Gaussian blobs on a circle.

    ``x = R (cos(k pi/4), sin(k pi/4)) + s eps`` with ``k`` uniform in ``{0, ..., 7}``,
    ``eps ~ N(0, I)``, ``s = 0.1`` and ``R = sqrt(2 (1 - s^2)) ~ 1.41``, so each coordinate has
    variance ``R^2/2 + s^2 = 1`` exactly.

    Returns:
        Tensor of shape (n, 2).
    """
    dev = _device(generator)
    k = torch.randint(8, (n,), generator=generator, device=dev)  # (n,)
    eps = torch.randn(n, 2, generator=generator, device=dev, dtype=dtype)  # (n, 2)
    return eps.mul_(_G8_STD).add_(_G8_CENTERS.to(dev, dtype)[k])


# ---- two moons --------------------------------------------------------------------------------
_MOONS_NOISE = 0.05
# E|(cos th - 1/2, sin th - 1/4)|^2 over th ~ U[0, pi] is 21/16 - 1/pi; add the noise's 2 s^2.
_MOONS_SCALE = math.sqrt(2 / (21 / 16 - 1 / math.pi + 2 * _MOONS_NOISE**2))


def moons(n: int, generator: torch.Generator | None = None, dtype=torch.float32) -> Tensor:
    r"""Two interleaved half circles (scikit-learn's ``make_moons``), centred and rescaled.

    The upper moon is ``(cos th, sin th)``, the lower one ``(1 - cos th, 1/2 - sin th)``, with
    ``th ~ U[0, pi]``, each moon with probability 1/2. Their mean is ``(1/2, 1/4)``; centred, both
    moons are one formula with a random sign ``s = +-1``:
    ``x = c (s (cos th - 1/2, sin th - 1/4) + 0.05 eps)`` with ``c ~ 1.42`` chosen so that
    ``E|x|^2 = 2``. Coordinate standard deviations are about 1.23 (horizontal) and 0.70.
    The moons are about 0.7 apart, ten times the noise, so they stay two separate pieces.

    Returns:
        Tensor of shape (n, 2).
    """
    dev = _device(generator)
    u = torch.rand(n, generator=generator, device=dev, dtype=dtype)  # (n,)
    sign = torch.randint(2, (n, 1), generator=generator, device=dev).to(dtype).mul_(2 * _MOONS_SCALE).sub_(_MOONS_SCALE)
    th = u.mul_(math.pi)
    pts = torch.stack((th.cos().sub_(0.5), th.sin().sub_(0.25)), dim=1).mul_(sign)  # (n, 2)
    eps = torch.randn(n, 2, generator=generator, device=dev, dtype=dtype)
    return pts.add_(eps, alpha=_MOONS_NOISE * _MOONS_SCALE)


# ---- checkerboard -----------------------------------------------------------------------------
CHECKER_CELL = math.sqrt(3) / 2  # side of one square: a uniform law on [-2c, 2c] has variance 4c^2/3 = 1
# lower-left corners (in cells, board from -2 to 2) of the 8 filled squares: floor(x)+floor(y) even
_CHECKER_CORNERS = torch.tensor([[c - 2, 2 * b + c % 2 - 2] for b in range(2) for c in range(4)],
                                dtype=torch.float64)


def checkerboard(n: int, generator: torch.Generator | None = None, dtype=torch.float32) -> Tensor:
    r"""Uniform on the 8 "black" squares of a 4 x 4 checkerboard.

    The board is ``[-2c, 2c]^2`` with squares of side ``c = sqrt(3)/2``; a square is filled
    when ``floor(x/c) + floor(y/c)`` is even. Marginally each coordinate is uniform on
    ``[-2c, 2c]``, so its mean is 0 and its variance ``(4c)^2/12 = 1``.

    Returns:
        Tensor of shape (n, 2).
    """
    dev = _device(generator)
    k = torch.randint(8, (n,), generator=generator, device=dev)  # which square, (n,)
    u = torch.rand(n, 2, generator=generator, device=dev, dtype=dtype)  # where in it, (n, 2)
    return u.add_(_CHECKER_CORNERS.to(dev, dtype)[k]).mul_(CHECKER_CELL)


# ---- two spirals ------------------------------------------------------------------------------
_SPIRAL_TURNS = 3 * math.pi  # each arm winds 1.5 times
_SPIRAL_NOISE = 0.4          # before scaling
# E[th^2] = T^2/2 for th = T sqrt(u); add the noise's 2 s^2.
_SPIRAL_SCALE = math.sqrt(2 / (_SPIRAL_TURNS**2 / 2 + 2 * _SPIRAL_NOISE**2))


def spirals(n: int, generator: torch.Generator | None = None, dtype=torch.float32) -> Tensor:
    r"""Two interleaved Archimedean spirals, point reflections of each other.

    ``x = c (s (-th cos th, th sin th) + 0.4 eps)`` with ``th = 3 pi sqrt(u)``, ``u ~ U[0, 1]``
    (the square root makes the density uniform along the arm, whose arc length grows like
    ``th^2``), ``s = +-1`` picking the arm, and ``c = sqrt(2 / (9 pi^2/2 + 2 * 0.4^2)) ~ 0.30``
    so that ``E|x|^2 = 2``. The mean is 0 by the point symmetry; the arms reach radius 2.

    Returns:
        Tensor of shape (n, 2).
    """
    dev = _device(generator)
    th = torch.rand(n, generator=generator, device=dev, dtype=dtype).sqrt_().mul_(_SPIRAL_TURNS)  # (n,)
    r = torch.randint(2, (n,), generator=generator, device=dev).to(dtype).mul_(2 * _SPIRAL_SCALE)
    r = r.sub_(_SPIRAL_SCALE).mul_(th)  # signed radius c s th, (n,)
    pts = torch.stack((th.cos().mul_(r).neg_(), th.sin().mul_(r)), dim=1)  # (n, 2)
    eps = torch.randn(n, 2, generator=generator, device=dev, dtype=dtype)
    return pts.add_(eps, alpha=_SPIRAL_NOISE * _SPIRAL_SCALE)


# ---- swiss roll -------------------------------------------------------------------------------
_ROLL_A, _ROLL_B = 1.5 * math.pi, 4.5 * math.pi  # th ~ U[a, b]
_ROLL_NOISE = 0.5                                 # before scaling
# Closed-form moments of (th cos th, th sin th) for th ~ U[a, b].
_ROLL_MEAN = (
    ((_ROLL_B * math.sin(_ROLL_B) + math.cos(_ROLL_B)) - (_ROLL_A * math.sin(_ROLL_A) + math.cos(_ROLL_A)))
    / (_ROLL_B - _ROLL_A),
    ((math.sin(_ROLL_B) - _ROLL_B * math.cos(_ROLL_B)) - (math.sin(_ROLL_A) - _ROLL_A * math.cos(_ROLL_A)))
    / (_ROLL_B - _ROLL_A),
)
_ROLL_SQ = (_ROLL_B**3 - _ROLL_A**3) / (3 * (_ROLL_B - _ROLL_A))  # E[th^2] = E|x|^2 before centring
_ROLL_SCALE = math.sqrt(2 / (_ROLL_SQ - _ROLL_MEAN[0]**2 - _ROLL_MEAN[1]**2 + 2 * _ROLL_NOISE**2))


def swissroll(n: int, generator: torch.Generator | None = None, dtype=torch.float32) -> Tensor:
    r"""The 2D swiss roll (scikit-learn's ``make_swiss_roll`` seen from above).

    ``x = c ((th cos th, th sin th) - m + 0.5 eps)`` with ``th ~ U[3 pi/2, 9 pi/2]``. The mean
    ``m = E[(th cos th, th sin th)]`` and ``E[th^2]`` have closed forms
    (``int th cos th = th sin th + cos th``, ``int th sin th = sin th - th cos th``), and
    ``c ~ 0.16`` makes ``E|x|^2 = 2``.

    Returns:
        Tensor of shape (n, 2).
    """
    dev = _device(generator)
    th = torch.rand(n, generator=generator, device=dev, dtype=dtype).mul_(_ROLL_B - _ROLL_A).add_(_ROLL_A)
    pts = torch.stack((th.cos().mul_(th).sub_(_ROLL_MEAN[0]), th.sin().mul_(th).sub_(_ROLL_MEAN[1])), dim=1)
    eps = torch.randn(n, 2, generator=generator, device=dev, dtype=dtype)
    return pts.add_(eps, alpha=_ROLL_NOISE).mul_(_ROLL_SCALE)  # (n, 2)


# ---- concentric rings -------------------------------------------------------------------------
_RING_NOISE = 0.05  # after scaling, radial and tangential
# radii proportional to 1, 2, 3, 4 with E[r^2] + 2 s^2 = 2; mean of k^2 over k = 1..4 is 7.5.
RING_RADII = tuple(k * math.sqrt((2 - 2 * _RING_NOISE**2) / 7.5) for k in range(1, 5))
_RING_RADII_T = torch.tensor(RING_RADII, dtype=torch.float64)


def rings(n: int, generator: torch.Generator | None = None, dtype=torch.float32) -> Tensor:
    r"""Four concentric circles, each picked with probability 1/4.

    ``x = r_k (cos th, sin th) + 0.05 eps`` with ``th ~ U[0, 2 pi]`` and radii
    ``r_k = k sqrt((2 - 2 * 0.05^2) / 7.5) ~ 0.52 k`` for ``k = 1..4`` (see :data:`RING_RADII`),
    so that ``E|x|^2 = mean(r_k^2) + 2 * 0.05^2 = 2``.

    Returns:
        Tensor of shape (n, 2).
    """
    dev = _device(generator)
    k = torch.randint(4, (n, 1), generator=generator, device=dev)  # (n, 1)
    th = torch.rand(n, 1, generator=generator, device=dev, dtype=dtype).mul_(2 * math.pi)
    pts = torch.cat((th.cos(), th.sin()), dim=1).mul_(_RING_RADII_T.to(dev, dtype)[k])  # (n, 2)
    eps = torch.randn(n, 2, generator=generator, device=dev, dtype=dtype)
    return pts.add_(eps, alpha=_RING_NOISE)


# ---- Gaussian mixture with a known density ----------------------------------------------------
def gmm(n: int, generator: torch.Generator | None = None, dtype=torch.float32) -> Tensor:
    r"""Samples of :func:`fmlearn.gaussians.default_mixture`, a 2D Gaussian mixture whose
    density ``p_1(x) = sum_k w_k N(x; m_k, S_k)`` is known exactly (for likelihood checks).

    Returns:
        Tensor of shape (n, 2).
    """
    return _default_mixture().sample(n, generator).to(dtype)


@functools.lru_cache(maxsize=1)
def _default_mixture():
    """Built once: constructing the mixture (an eigendecomposition) costs twice as much as sampling it."""
    from .gaussians import default_mixture  # lazy: keeps `data` importable on its own

    return default_mixture()


DATASETS = {
    "8gaussians": eight_gaussians,
    "moons": moons,
    "checkerboard": checkerboard,
    "spirals": spirals,
    "swissroll": swissroll,
    "rings": rings,
    "gmm": gmm,
}


def dataset_names() -> list[str]:
    """The names understood by :func:`sample_data`, in registry order."""
    return list(DATASETS)


# ---- points from your own array ---------------------------------------------------------------
class ArrayData:
    r"""An empirical data set: draws rows of a fixed array uniformly, with replacement.

    Args:
        points: array-like of shape (N, D) (numpy array, nested list or tensor), N >= 2, finite.
        standardize: if True, store ``(points - mean) / std`` with the per-coordinate mean and
            standard deviation, shapes (D,), kept in ``self.mean`` and ``self.std`` so that
            :meth:`unstandardize` maps samples back to the original units.
        dtype: floating dtype in which the points are stored and sampled.

    Attributes:
        points: the stored (possibly standardized) points, shape (N, D).
        mean, std: shape (D,); zeros and ones when ``standardize`` is False.
    """

    def __init__(self, points, *, standardize: bool = False, dtype: torch.dtype = torch.float32):
        if isinstance(points, Tensor):
            x = points.detach().to("cpu", dtype)
        else:
            try:
                x = torch.as_tensor(np.asarray(points, dtype=np.float64), dtype=dtype)
            except (TypeError, ValueError) as err:
                raise TypeError(f"points must be a numeric array of shape (N, D); could not convert "
                                f"{type(points).__name__}: {err}") from None
        if x.ndim != 2:
            raise ValueError(f"points must have shape (N, D), got shape {tuple(x.shape)}; "
                             f"reshape a single point list with .reshape(-1, D).")
        if x.shape[0] < 2 or x.shape[1] < 1:
            raise ValueError(f"points must hold at least 2 points of dimension >= 1, got shape {tuple(x.shape)}.")
        if not bool(torch.isfinite(x).all()):
            bad = int((~torch.isfinite(x)).any(dim=1).sum())
            raise ValueError(f"points contains {bad} rows with NaN or infinite values; drop them first.")
        self.mean = torch.zeros(x.shape[1], dtype=dtype)
        self.std = torch.ones(x.shape[1], dtype=dtype)
        if standardize:
            self.mean = x.mean(dim=0)
            self.std = x.std(dim=0)
            if not bool((self.std > 0).all()):
                raise ValueError("points has a constant coordinate (std 0); it cannot be standardized.")
            x = (x - self.mean) / self.std
        self.points = x  # (N, D)
        self.standardized = bool(standardize)

    def __len__(self) -> int:
        return self.points.shape[0]

    @property
    def dim(self) -> int:
        """The data dimension D."""
        return self.points.shape[1]

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` rows uniformly with replacement; returns shape (n, D) on the CPU."""
        check_positive_int("n", n)
        idx = torch.randint(len(self), (n,), generator=generator, device=_device(generator))
        return self.points[idx.cpu()]

    def unstandardize(self, x: Tensor) -> Tensor:
        """Map points (B, D) back to the original units: ``x * std + mean``."""
        return x * self.std.to(x) + self.mean.to(x)

    def __repr__(self) -> str:
        return f"ArrayData(N={len(self)}, D={self.dim}, standardized={self.standardized})"


def sample_data(name: str | ArrayData, n: int, *, generator: torch.Generator | None = None,
                seed: int | None = None, device=None, dtype: torch.dtype = torch.float32) -> Tensor:
    """Draw ``n`` points from a toy data set (the data distribution ``p_1`` at t = 1).

    Args:
        name: one of :func:`dataset_names`, or an :class:`ArrayData`.
        n: number of points (positive int).
        generator: source of all randomness. Give this or ``seed``, not both; with neither,
            torch's global generator is used (seeded by ``torch.manual_seed``).
        seed: builds ``torch.Generator().manual_seed(seed)``; the same seed gives identical points.
        device: where the result goes (drawn on the generator's device, then moved).
        dtype: floating dtype of the result.

    Returns:
        Tensor of shape (n, D), D = 2 for the named data sets.
    """
    check_positive_int("n", n)
    if seed is not None:
        if generator is not None:
            raise ValueError("give either generator or seed, not both.")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}.")
        generator = torch.Generator().manual_seed(seed)
    elif generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}.")
    if isinstance(name, ArrayData):
        x = name.sample(n, generator)
    else:
        x = DATASETS[check_choice("dataset", name, DATASETS)](n, generator, dtype)
    return x.to(device=device, dtype=dtype)
