"""Sample and path metrics against closed forms and brute force."""
import itertools
import math

import numpy as np
import pytest
import torch

from fmlearn.data import ArrayData
from fmlearn.metrics import (data_floor, gaussian_w2, mmd, path_energy, sliced_wasserstein, straightness,
                             wasserstein2)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def gaussian_sample(n, mean, cov, g):
    """n points of N(mean, cov), float64, shape (n, D)."""
    mean, cov = torch.as_tensor(mean, dtype=torch.float64), torch.as_tensor(cov, dtype=torch.float64)
    z = torch.randn(n, len(mean), generator=g, dtype=torch.float64)
    return mean + z @ torch.linalg.cholesky(cov).T


# ---- exact W2 -------------------------------------------------------------------------------
def test_w2_of_cloud_with_itself_is_zero():
    x = torch.randn(300, 2, generator=gen())
    assert wasserstein2(x, x) == 0.0
    assert wasserstein2(x, x[torch.randperm(300, generator=gen(1))]) == 0.0  # order does not matter


@pytest.mark.parametrize("n", [50, 600])  # 600 also goes through the warm-started solver
def test_w2_of_a_shift_is_the_shift_length(n):
    x = torch.randn(n, 3, generator=gen(), dtype=torch.float64)
    c = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    # every permutation costs sum |x_i - x_p(i)|^2 + n|c|^2, so the identity is optimal: W2 = |c|
    assert abs(wasserstein2(x, x + c) - float(c.norm())) < 1e-9


def test_w2_matches_brute_force_over_permutations():
    g = gen(2)
    for _ in range(3):
        x, y = torch.randn(6, 2, generator=g, dtype=torch.float64), torch.randn(6, 2, generator=g, dtype=torch.float64)
        best = min(float((x - y[list(p)]).square().sum(1).mean()) for p in itertools.permutations(range(6)))
        assert abs(wasserstein2(x, y) - math.sqrt(best)) < 1e-12


def test_w2_between_gaussian_samples_matches_closed_form():
    # W2^2 splits exactly into |mean difference|^2 + W2^2 of the centred clouds. With the means
    # 8 apart, the first term (64, estimated from sample means to within ~0.5) dominates, so the
    # finite-sample bias of the second term (~0.1 at n = 2000 in 2D) is far below 1% of W2^2.
    m1, s1 = [0.0, 0.0], [[1.0, 0.0], [0.0, 0.25]]
    m2, s2 = [8.0, 1.0], [[2.0, 0.5], [0.5, 1.0]]
    g = gen(3)
    x, y = gaussian_sample(2000, m1, s1, g), gaussian_sample(2000, m2, s2, g)
    exact = gaussian_w2(torch.tensor(m1), torch.tensor(s1), torch.tensor(m2), torch.tensor(s2))
    assert abs(wasserstein2(x, y) / exact - 1) < 0.02


def test_w2_warm_start_keeps_the_exact_optimum():
    # from 500 points on, the solver works on reduced costs; the optimum must be the plain solver's
    from scipy.optimize import linear_sum_assignment

    g = gen(14)
    x = torch.rand(600, 2, generator=g, dtype=torch.float64) * 4 - 2
    y = torch.randn(600, 2, generator=g, dtype=torch.float64) * torch.tensor([0.3, 1.5]) + 1.0
    cost = (x[:, None] - y[None]).square().sum(-1).numpy()
    r, c = linear_sum_assignment(cost)
    assert abs(wasserstein2(x, y) - math.sqrt(cost[r, c].mean())) < 1e-12
    same = torch.ones(500, 2)
    assert wasserstein2(same, same) == 0.0  # degenerate clouds skip the warm start


def test_w2_input_errors():
    x = torch.randn(5, 2)
    with pytest.raises(ValueError, match="equal size"):
        wasserstein2(x, torch.randn(6, 2))
    with pytest.raises(ValueError, match="same dimension"):
        wasserstein2(x, torch.randn(5, 3))
    with pytest.raises(ValueError, match="x must have 2 dimensions"):
        wasserstein2(torch.randn(5), x)
    with pytest.raises(TypeError, match="torch.Tensor"):
        wasserstein2(x.numpy(), x)


# ---- Gaussian closed form -------------------------------------------------------------------
def test_gaussian_w2_diagonal_by_hand():
    a, b = torch.tensor([4.0, 1.0, 0.25]), torch.tensor([1.0, 9.0, 0.25])
    m1, m2 = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.0, 2.0, 5.0])
    # W2^2 = |dm|^2 + sum (sqrt(a) - sqrt(b))^2 = (1 + 0 + 4) + (1 + 4 + 0) = 10
    assert abs(gaussian_w2(m1, torch.diag(a), m2, torch.diag(b)) - math.sqrt(10.0)) < 1e-12
    assert gaussian_w2(m1, torch.diag(a), m1, torch.diag(a)) == pytest.approx(0.0, abs=1e-7)


def test_gaussian_w2_non_commuting():
    # against the identity: W2^2 = |dm|^2 + sum_i (1 - sqrt(lambda_i(S2)))^2
    s2 = torch.tensor([[2.0, 0.8], [0.8, 1.0]], dtype=torch.float64)
    lam = torch.linalg.eigvalsh(s2)
    expected = math.sqrt(1.0 + float(((1 - lam.sqrt()) ** 2).sum()))
    m1, m2 = torch.zeros(2), torch.tensor([1.0, 0.0])
    assert abs(gaussian_w2(m1, torch.eye(2), m2, s2) - expected) < 1e-12
    s1 = torch.tensor([[0.5, -0.3], [-0.3, 0.4]], dtype=torch.float64)
    assert gaussian_w2(m1, s1, m2, s2) == pytest.approx(gaussian_w2(m2, s2, m1, s1), abs=1e-12)  # symmetric


def test_gaussian_w2_errors():
    m = torch.zeros(2)
    with pytest.raises(ValueError, match="cov1 must be symmetric"):
        gaussian_w2(m, torch.tensor([[1.0, 0.5], [0.0, 1.0]]), m, torch.eye(2))
    with pytest.raises(ValueError, match="cov2 must be positive semi-definite"):
        gaussian_w2(m, torch.eye(2), m, torch.diag(torch.tensor([1.0, -1.0])))
    with pytest.raises(ValueError, match=r"cov2 must have shape \(2, 2\)"):
        gaussian_w2(m, torch.eye(2), m, torch.eye(3))
    with pytest.raises(ValueError, match="mean1 contains"):
        gaussian_w2(torch.tensor([0.0, float("nan")]), torch.eye(2), m, torch.eye(2))


# ---- sliced W2 ------------------------------------------------------------------------------
def test_sliced_w2_of_a_shift():
    # projections of a shift by c move by theta.c, so SW2^2 = |c|^2 E[cos^2] = |c|^2 / D
    x = torch.randn(500, 2, generator=gen(), dtype=torch.float64)
    c = torch.tensor([3.0, 4.0], dtype=torch.float64)
    sw = sliced_wasserstein(x, x + c, n_projections=4000, generator=gen(1))
    assert abs(sw / (5.0 / math.sqrt(2)) - 1) < 0.03
    assert sliced_wasserstein(x, x, generator=gen(1)) == 0.0


def test_sliced_w2_is_exact_w2_in_one_dimension():
    g = gen(4)
    x, y = torch.randn(40, 1, generator=g, dtype=torch.float64), torch.randn(40, 1, generator=g, dtype=torch.float64)
    assert abs(sliced_wasserstein(x, y, n_projections=3) - wasserstein2(x, y)) < 1e-12
    # unequal sizes 4 and 6: repeating points up to 12 each gives the same empirical laws
    x4, y6 = x[:4], y[:6]
    exact = wasserstein2(x4.repeat_interleave(3, 0), y6.repeat_interleave(2, 0))
    assert abs(sliced_wasserstein(x4, y6, n_projections=3) - exact) < 1e-12


def test_sliced_w2_unequal_sizes_in_2d():
    x, y = torch.randn(30, 2, generator=gen(5)), torch.randn(60, 2, generator=gen(6))
    a = sliced_wasserstein(x, y, n_projections=50, generator=gen(7))
    b = sliced_wasserstein(x.repeat_interleave(2, 0), y, n_projections=50, generator=gen(7))
    assert a > 0 and abs(a - b) < 1e-12


# ---- MMD ------------------------------------------------------------------------------------
def test_mmd_matches_explicit_double_sum():
    x, y = torch.randn(4, 2, generator=gen(8), dtype=torch.float64), torch.randn(3, 2, generator=gen(9), dtype=torch.float64)
    hs = (0.5, 2.0)

    def k(a, b):
        return sum(math.exp(-float((a - b).square().sum()) / (2 * h * h)) for h in hs)

    kxx = sum(k(x[i], x[j]) for i in range(4) for j in range(4) if i != j) / 12
    kyy = sum(k(y[i], y[j]) for i in range(3) for j in range(3) if i != j) / 6
    kxy = sum(k(x[i], y[j]) for i in range(4) for j in range(3)) / 12
    assert abs(mmd(x, y, bandwidths=hs) - (kxx + kyy - 2 * kxy)) < 1e-12


def test_mmd_same_versus_different_distributions():
    g = gen(10)
    # under the null the unbiased estimate has std ~0.003 at n = 500; a unit shift gives ~0.25
    same = mmd(torch.randn(500, 2, generator=g), torch.randn(500, 2, generator=g))
    shifted = mmd(torch.randn(500, 2, generator=g), torch.randn(500, 2, generator=g) + torch.tensor([1.0, 0.0]))
    assert abs(same) < 0.015
    assert shifted > 0.1


def test_mmd_errors():
    x = torch.randn(5, 2)
    with pytest.raises(ValueError, match="bandwidths"):
        mmd(x, x, bandwidths=(1.0, -1.0))
    with pytest.raises(ValueError, match="at least 2 points"):
        mmd(x[:1], x)


# ---- data floor -----------------------------------------------------------------------------
def test_data_floor_of_a_fixed_cloud_is_zero_and_of_data_positive():
    pts = torch.randn(64, 2, generator=gen())
    assert data_floor(lambda n, g: pts, 64) == 0.0  # two "samples" that are the same points
    f1 = data_floor("moons", 200, generator=gen(1), repeats=2)
    assert 0.05 < f1 < 0.5
    assert f1 == data_floor("moons", 200, generator=gen(1), repeats=2)  # one seed, same floor
    assert data_floor("moons", 200, generator=gen(2), repeats=2) != f1


def test_data_floor_other_metrics_and_array_data():
    data = ArrayData(np.random.default_rng(0).normal(size=(1000, 2)))
    assert abs(data_floor(data, 300, metric="mmd", generator=gen())) < 0.02
    assert data_floor("8gaussians", 300, metric="sliced", generator=gen()) > 0
    # the floor shrinks with the sample size
    assert data_floor("checkerboard", 800, generator=gen(), repeats=2) < \
        data_floor("checkerboard", 50, generator=gen(), repeats=2)
    with pytest.raises(ValueError, match="unknown metric 'w1'"):
        data_floor("moons", 10, metric="w1")


# ---- path metrics ---------------------------------------------------------------------------
def quarter_circles(k, n=3):
    """Trajectories (k+1, n, 2) along quarter circles of radius 1..n, and their times (k+1,)."""
    t = torch.linspace(0, 1, k + 1, dtype=torch.float64)
    r = torch.arange(1, n + 1, dtype=torch.float64)
    ang = 0.5 * math.pi * t
    return torch.stack([torch.cos(ang)[:, None] * r, torch.sin(ang)[:, None] * r], dim=-1), t


def test_straightness_of_straight_lines_is_one():
    g = gen(11)
    x0, x1 = torch.randn(20, 3, generator=g, dtype=torch.float64), torch.randn(20, 3, generator=g, dtype=torch.float64)
    t = torch.linspace(0, 1, 8, dtype=torch.float64) ** 2  # uneven speed, still straight
    traj = x0 + t[:, None, None] * (x1 - x0)  # (8, 20, 3)
    assert abs(straightness(traj) - 1.0) < 1e-12


def test_straightness_of_quarter_circle():
    k = 1000
    traj, _ = quarter_circles(k)
    # the polygon of k chords has length 2k sin(pi/(4k)) per unit radius; its limit is the arc pi/2
    polygon = math.sqrt(2) / (2 * k * math.sin(math.pi / (4 * k)))
    assert abs(straightness(traj) - polygon) < 1e-12
    assert abs(straightness(traj) - 2 * math.sqrt(2) / math.pi) < 1e-6


def test_straightness_of_a_still_path_and_a_mix():
    still = torch.zeros(5, 1, 2, dtype=torch.float64)
    assert straightness(still) == 1.0  # no division by zero
    traj, _ = quarter_circles(200, n=1)
    line = torch.linspace(0, 1, 201, dtype=torch.float64)[:, None, None] * torch.ones(1, 1, 2, dtype=torch.float64)
    mixed = straightness(torch.cat([traj, line], dim=1))
    assert abs(mixed - (straightness(traj) + 1) / 2) < 1e-12


def test_path_energy_of_constant_velocity_lines():
    g = gen(12)
    x0, x1 = torch.randn(10, 2, generator=g, dtype=torch.float64), torch.randn(10, 2, generator=g, dtype=torch.float64)
    t = torch.tensor([0.0, 0.05, 0.3, 0.31, 0.7, 1.0], dtype=torch.float64)  # uneven steps
    traj = x0 + t[:, None, None] * (x1 - x0)
    assert abs(path_energy(traj, t) - float((x1 - x0).square().sum(1).mean())) < 1e-12


def test_path_energy_penalizes_uneven_speed_and_curves():
    g = gen(13)
    x0, x1 = torch.randn(10, 2, generator=g, dtype=torch.float64), torch.randn(10, 2, generator=g, dtype=torch.float64)
    t = torch.linspace(0, 1, 2001, dtype=torch.float64)
    traj = x0 + (t**2)[:, None, None] * (x1 - x0)  # same line, speed 2t |x1 - x0|: energy 4/3 |x1 - x0|^2
    assert abs(path_energy(traj, t) / float((x1 - x0).square().sum(1).mean()) - 4 / 3) < 1e-3
    circ, tc = quarter_circles(2000, n=1)  # speed pi/2: energy pi^2/4 > chord^2 = 2
    assert abs(path_energy(circ, tc) - math.pi**2 / 4) < 1e-5


def test_path_metric_errors():
    traj, t = quarter_circles(10)
    bad = traj.clone()
    bad[3, 1, 0] = float("nan")
    with pytest.raises(ValueError, match="trajectory contains 1 NaN"):
        straightness(bad)
    with pytest.raises(ValueError, match="trajectory contains"):
        path_energy(bad, t)
    with pytest.raises(ValueError, match="trajectory must have 3 dimensions"):
        straightness(traj[:, 0])
    with pytest.raises(ValueError, match="at least 2 time points"):
        straightness(traj[:1])
    with pytest.raises(ValueError, match=r"times must have shape \(11,\)"):
        path_energy(traj, t[:-1])
    with pytest.raises(ValueError, match="strictly increasing"):
        path_energy(traj, t.flip(0))


@pytest.mark.parametrize("fn", [wasserstein2, sliced_wasserstein, mmd])
def test_cloud_metrics_refuse_nan(fn):
    x = torch.randn(6, 2)
    bad = x.clone()
    bad[2, 1] = float("nan")
    with pytest.raises(ValueError, match="x contains 1 NaN"):
        fn(bad, x)
    with pytest.raises(ValueError, match="y contains 1 NaN"):
        fn(x, bad)


def test_transport_straightness_sees_speed_where_chord_over_arc_does_not():
    from fmlearn.metrics import path_energy, straightness, transport_straightness
    t = torch.linspace(0, 1, 201, dtype=torch.float64)
    a, b = torch.tensor([[0.0, 0.0]], dtype=torch.float64), torch.tensor([[3.0, 4.0]], dtype=torch.float64)
    const = a + t[:, None, None] * (b - a)  # straight, constant speed: (K+1, 1, 2)
    assert transport_straightness(const, t) == pytest.approx(0.0, abs=1e-20) and straightness(const) == 1.0
    # straight but speeding up, x = a + t^2 (b - a): chord/arc still 1, but
    # S = int |2t - 1|^2 dt |b - a|^2 = |b - a|^2 / 3 = 25/3 (the step velocities are exact at midpoints)
    accel = a + (t ** 2)[:, None, None] * (b - a)
    assert straightness(accel) == pytest.approx(1.0) and transport_straightness(accel, t) == pytest.approx(25 / 3, rel=1e-4)
    # a half circle of radius 1 at constant angular speed pi: |v - chord|^2 = pi^2 - 4, integrated over [0, 1]
    circle = torch.stack([torch.cos(math.pi * t), torch.sin(math.pi * t)], dim=-1)[:, None, :]
    assert transport_straightness(circle, t) == pytest.approx(math.pi ** 2 - 4, rel=1e-3)
    # identity with the path energy
    assert transport_straightness(circle, t) == pytest.approx(path_energy(circle, t) - 4.0, rel=1e-9)
    with pytest.raises(ValueError, match="times"):
        transport_straightness(circle, t[:-1])
