"""k-NN precision and recall, and the memorized share, against hand-computed cases and limits."""
import pytest
import torch

from fmlearn.data import sample_data
from fmlearn.gaussians import GaussianMixture
from fmlearn.neighbours import copy_share, knn_radii, memorized_share, nearest_ratio, precision_recall

F64 = torch.float64


def test_knn_radii_by_hand():
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [7.0, 0.0]], dtype=F64)
    torch.testing.assert_close(knn_radii(x, 1), torch.tensor([1.0, 1.0, 2.0, 4.0], dtype=F64))
    torch.testing.assert_close(knn_radii(x, 2), torch.tensor([3.0, 2.0, 3.0, 6.0], dtype=F64))
    with pytest.raises(ValueError, match="k must be smaller"):
        knn_radii(x, 4)


def test_precision_recall_by_hand():
    data = torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [7.0, 0.0]], dtype=F64)  # k=1 radii 1, 1, 2, 4
    samples = torch.tensor([[0.5, 0.0], [5.0, 0.0], [20.0, 0.0]], dtype=F64)
    # precision: 0.5 is inside the ball of 0 (and 1); 5 is 2 from 3 (radius 2) -> inside; 20 is outside all
    # recall, sample radii (k=1): 4.5, 4.5, 15 -> data 0, 1, 3, 7 all within 4.5 of 0.5 or 5
    p, r = precision_recall(samples, data, k=1)
    assert p == pytest.approx(2 / 3) and r == pytest.approx(1.0)


def test_identical_clouds_score_one_and_distant_clouds_zero():
    x = sample_data("moons", 500, seed=0).double()
    assert precision_recall(x, x) == (1.0, 1.0)
    assert precision_recall(x + 100.0, x) == (0.0, 0.0)


def test_a_collapsed_model_has_precision_without_recall():
    data = sample_data("moons", 1000, seed=0).double()
    half = data[data[:, 1] > 0.25]  # only the upper moon: samples that look like data but cover half of it
    p, r = precision_recall(half[:500], data)
    fresh = precision_recall(sample_data("moons", 1000, seed=1).double(), data)
    assert p > 0.9 and r < 0.65 and fresh[1] > 0.9


def test_nearest_ratio_and_memorized_share():
    train = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 10.0]], dtype=F64)
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]], dtype=F64)
    torch.testing.assert_close(nearest_ratio(x, train), torch.tensor([0.0, 1 / 3, 1.0], dtype=F64))
    assert memorized_share(x, train) == pytest.approx(1 / 3)  # 1/3 itself does not count: d1 < d2 / 3
    with pytest.raises(ValueError, match="ratio"):
        memorized_share(x, train, ratio=0)


def test_a_perfect_memorizer_is_far_above_fresh_data():
    """The exact model of the empirical distribution of 64 points returns training points; fresh data does not."""
    train = sample_data("moons", 64, seed=0).double()
    copies = GaussianMixture.from_points(train).sample(2000, generator=torch.Generator().manual_seed(1))
    fresh = sample_data("moons", 2000, seed=2).double()
    assert memorized_share(copies, train) > 0.99
    assert memorized_share(fresh, train) < 0.5


def test_copy_share_by_hand_and_against_fresh_data():
    train = torch.tensor([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0]], dtype=F64)  # spacings 1, 1, 4
    x = torch.tensor([[0.05, 0.0], [0.2, 0.0], [5.3, 0.0], [3.0, 0.0]], dtype=F64)
    assert copy_share(x, train) == pytest.approx(2 / 4)  # 0.05 < 0.1 * 1 and 0.3 < 0.1 * 4
    small = sample_data("moons", 16, seed=0).double()
    fresh = sample_data("moons", 4000, seed=3).double()
    assert copy_share(small[torch.randint(0, 16, (500,))], small) == 1.0
    assert copy_share(fresh, small) < 0.05  # far below the 0.3 that the ratio test gives fresh data here
