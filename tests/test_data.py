"""Toy data sets: shapes, shared scale, reproducibility, structure, and ArrayData."""
import math

import numpy as np
import pytest
import torch
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from fmlearn.data import CHECKER_CELL, DATASETS, RING_RADII, ArrayData, dataset_names, sample_data

NAMES = ["8gaussians", "moons", "checkerboard", "spirals", "swissroll", "rings", "gmm"]


def test_registry_names():
    assert dataset_names() == NAMES
    assert list(DATASETS) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_and_shared_scale(name):
    x = sample_data(name, 20000, seed=0)
    assert x.shape == (20000, 2) and x.dtype == torch.float32
    assert bool(torch.isfinite(x).all())
    assert float(x.mean(0).abs().max()) < 0.3
    std = x.std(0)
    assert bool(((std > 0.5) & (std < 1.6)).all()), std
    assert float(x.abs().max()) < 3.5


@pytest.mark.parametrize("name", [n for n in NAMES if n != "gmm"])
def test_total_variance_is_two(name):
    # our own sets are scaled so that E|x|^2 = 2 (per-coordinate variance 1 on average)
    x = sample_data(name, 20000, seed=1, dtype=torch.float64)
    assert abs(float(x.square().sum(1).mean()) - 2.0) < 0.06


@pytest.mark.parametrize("name", NAMES)
def test_seed_reproducibility(name):
    a = sample_data(name, 100, seed=3)
    assert torch.equal(a, sample_data(name, 100, seed=3))
    assert torch.equal(a, sample_data(name, 100, generator=torch.Generator().manual_seed(3)))
    assert not torch.equal(a, sample_data(name, 100, seed=4))


def test_generator_advances_and_global_seed():
    g = torch.Generator().manual_seed(0)
    assert not torch.equal(sample_data("moons", 50, generator=g), sample_data("moons", 50, generator=g))
    torch.manual_seed(5)
    a = sample_data("rings", 50)
    torch.manual_seed(5)
    assert torch.equal(a, sample_data("rings", 50))


def test_dtype_and_device():
    x = sample_data("spirals", 10, seed=0, dtype=torch.float64, device="cpu")
    assert x.dtype == torch.float64 and x.device.type == "cpu"
    assert sample_data("checkerboard", 1, seed=0).shape == (1, 2)


def test_unknown_name_lists_choices():
    with pytest.raises(ValueError) as err:
        sample_data("moon", 10, seed=0)
    msg = str(err.value)
    assert "dataset" in msg and all(repr(n) in msg for n in NAMES)
    assert "Did you mean 'moons'" in msg


@pytest.mark.parametrize("n, exc", [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError)])
def test_bad_n(n, exc):
    with pytest.raises(exc, match="n must"):
        sample_data("moons", n, seed=0)


def test_seed_and_generator_conflict():
    with pytest.raises(ValueError, match="either generator or seed"):
        sample_data("moons", 10, seed=0, generator=torch.Generator())
    with pytest.raises(TypeError, match="seed"):
        sample_data("moons", 10, seed=1.0)
    with pytest.raises(TypeError, match="generator"):
        sample_data("moons", 10, generator=0)


# ---- structure of each data set -------------------------------------------------------------
def test_checkerboard_only_black_squares():
    x = sample_data("checkerboard", 20000, seed=0, dtype=torch.float64)
    cells = torch.floor(x / CHECKER_CELL).long()  # (n, 2), in {-2, ..., 1}
    assert int(cells.min()) == -2 and int(cells.max()) == 1
    assert bool(((cells.sum(1) % 2) == 0).all())  # every point in a filled square
    _, counts = torch.unique(cells, dim=0, return_counts=True)
    assert len(counts) == 8 and int(counts.min()) > 20000 / 8 * 0.9  # all 8 filled, evenly


def test_rings_radii_cluster_on_four_values():
    r = sample_data("rings", 20000, seed=0, dtype=torch.float64).norm(dim=1).numpy()
    hist, _ = np.histogram(r, bins=100, range=(0, 2.5))
    occupied = hist > 0
    runs = int(occupied[0]) + int(np.sum(occupied[1:] & ~occupied[:-1]))  # separate groups of radii
    assert runs == 4
    nearest = np.abs(r[:, None] - np.array(RING_RADII)[None]).min(1)
    # radial noise has std 0.05: 99% within 2.6 std, half within 0.7 std
    assert np.quantile(nearest, 0.99) < 0.15 and np.median(nearest) < 0.045


def test_moons_are_two_pieces_of_equal_size():
    x = sample_data("moons", 3000, seed=0, dtype=torch.float64).numpy()
    graph = cKDTree(x).sparse_distance_matrix(cKDTree(x), max_distance=0.2)
    k, labels = connected_components(graph, directed=False)
    assert k == 2
    assert abs(np.mean(labels) - 0.5) < 0.05  # each moon holds half the points
    # centred: the two moons are point reflections of each other, so their means are opposite
    m0, m1 = x[labels == 0].mean(0), x[labels == 1].mean(0)
    assert np.allclose(m0, -m1, atol=0.06) and np.linalg.norm(m0) > 0.3


def test_eight_gaussians_near_their_centres():
    x = sample_data("8gaussians", 5000, seed=0, dtype=torch.float64)
    angle = torch.atan2(x[:, 1], x[:, 0])
    k = torch.round(angle / (math.pi / 4)) % 8  # nearest of the 8 directions
    assert len(torch.unique(k)) == 8
    centres = torch.stack([torch.cos(k * math.pi / 4), torch.sin(k * math.pi / 4)], 1) * math.sqrt(2 * 0.99)
    assert float((x - centres).norm(dim=1).max()) < 0.6  # 5 sigma of the 0.1 blobs


def test_gmm_follows_default_mixture():
    from fmlearn.gaussians import default_mixture

    mix = default_mixture()
    x = sample_data("gmm", 40000, seed=0, dtype=torch.float64)
    assert torch.allclose(x.mean(0), mix.mean(), atol=0.03)
    assert torch.allclose(torch.cov(x.T), mix.covariance(), atol=0.05)


# ---- ArrayData ------------------------------------------------------------------------------
def test_arraydata_round_trip_from_numpy_list_and_tensor():
    pts = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0], [6.0, 7.0], [8.0, 9.0]])
    for src in (pts, pts.tolist(), torch.tensor(pts)):
        data = ArrayData(src)
        assert len(data) == 5 and data.dim == 2
        x = data.sample(10000, torch.Generator().manual_seed(0))
        assert x.shape == (10000, 2) and x.dtype == torch.float32
        rows, counts = torch.unique(x, dim=0, return_counts=True)
        assert torch.equal(rows, torch.tensor(pts, dtype=torch.float32))  # only the given rows, all of them
        assert int(counts.min()) > 1800 and int(counts.max()) < 2200  # uniform: 2000 each


def test_arraydata_through_sample_data_and_other_dims():
    data = ArrayData(np.arange(30.0).reshape(10, 3))
    a = sample_data(data, 7, seed=1, dtype=torch.float64)
    assert a.shape == (7, 3) and a.dtype == torch.float64
    assert torch.equal(a, sample_data(data, 7, seed=1, dtype=torch.float64))
    assert bool((a[:, 1] - a[:, 0] == 1).all())  # whole rows, never mixed


def test_arraydata_standardize():
    rng = np.random.default_rng(0)
    pts = rng.normal([3.0, -2.0], [5.0, 0.5], size=(500, 2))
    data = ArrayData(pts, standardize=True)
    assert torch.allclose(data.points.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(data.points.std(0), torch.ones(2), atol=1e-5)
    back = data.unstandardize(data.points)
    assert np.allclose(back.numpy(), pts, atol=1e-4)
    with pytest.raises(ValueError, match="constant"):
        ArrayData([[1.0, 0.0], [1.0, 2.0]], standardize=True)


@pytest.mark.parametrize("bad, exc, match", [
    ([[0.0, float("nan")], [1.0, 2.0]], ValueError, "NaN"),
    ([[0.0, float("inf")], [1.0, 2.0]], ValueError, "NaN or infinite"),
    ([0.0, 1.0, 2.0], ValueError, r"shape \(N, D\)"),
    (np.zeros((4, 2, 2)), ValueError, r"shape \(N, D\)"),
    ([[0.0, 1.0]], ValueError, "at least 2 points"),
    ([["a", "b"], ["c", "d"]], TypeError, "numeric"),
])
def test_arraydata_rejects_bad_input(bad, exc, match):
    with pytest.raises(exc, match=match):
        ArrayData(bad)
