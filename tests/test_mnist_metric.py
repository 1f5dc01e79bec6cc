"""The MNIST quality metric: the Fréchet distance (fmlearn.frechet) against closed forms, the shipped classifier, scores of
real, noisy and blurred digits, and clear errors for bad input."""
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from fmlearn import frechet
from fmlearn.mnist import classifier as clf
from fmlearn.mnist import metric
from fmlearn.mnist.data import mnist_tensors
from fmlearn.metrics import gaussian_w2

if os.environ.get("FMLEARN_DATA"):
    DATA = Path(os.environ["FMLEARN_DATA"]) / "mnist"
else:
    DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
needs_data = pytest.mark.skipif(not (DATA / "t10k-images-idx3-ubyte.gz").is_file(),
                                reason=f"no MNIST files in {DATA} (set FMLEARN_DATA to a folder with mnist/)")


def _closed_form_2d(m1, s1, m2, s2) -> float:
    """W2^2 between 2D Gaussians without any matrix square root: for a 2x2 matrix M = S1 S2 with
    eigenvalues l1, l2 > 0, tr M^(1/2) = sqrt(l1) + sqrt(l2) = sqrt(tr M + 2 sqrt(det M))."""
    m = s1 @ s2
    tr_root = math.sqrt(np.trace(m) + 2 * math.sqrt(np.linalg.det(m)))
    return float(np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_root)


M1, S1 = np.array([0.0, 1.0]), np.array([[2.0, 0.6], [0.6, 0.5]])
M2, S2 = np.array([1.0, -0.5]), np.array([[0.3, -0.2], [-0.2, 1.5]])  # does not commute with S1


def test_fid_from_stats_is_the_gaussian_w2_closed_form():
    exact = _closed_form_2d(M1, S1, M2, S2)
    assert frechet.fid_from_stats(M1, S1, M2, S2) == pytest.approx(exact, rel=1e-10)
    assert frechet.fid_from_stats(M1, S1, M2, S2) == pytest.approx(gaussian_w2(M1, S1, M2, S2) ** 2, rel=1e-10)
    # in 16 dimensions, against the package's eigendecomposition-based W2
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(16, 16)), rng.normal(size=(16, 16))
    sa, sb = a @ a.T / 16, b @ b.T / 16
    ma, mb = rng.normal(size=16), rng.normal(size=16)
    assert frechet.fid_from_stats(ma, sa, mb, sb) == pytest.approx(gaussian_w2(ma, sa, mb, sb) ** 2, rel=1e-8)


def test_fid_of_samples_converges_to_the_closed_form():
    g = torch.Generator().manual_seed(0)
    n = 200_000
    la, lb = torch.linalg.cholesky(torch.tensor(S1)), torch.linalg.cholesky(torch.tensor(S2))
    xa = torch.randn(n, 2, generator=g, dtype=torch.float64) @ la.T + torch.tensor(M1)  # (n, 2) ~ N(M1, S1)
    xb = torch.randn(n, 2, generator=g, dtype=torch.float64) @ lb.T + torch.tensor(M2)  # (n, 2) ~ N(M2, S2)
    exact = _closed_form_2d(M1, S1, M2, S2)  # 4.628
    assert frechet.fid(xa, xb) == pytest.approx(exact, abs=0.05)  # sampling error ~0.01
    assert frechet.fid(xa.numpy(), xb.numpy()) == pytest.approx(frechet.fid(xa, xb), rel=1e-12)  # arrays or tensors


def test_fid_is_zero_on_identical_sets_and_symmetric():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(500, 32, generator=g) * torch.linspace(0.1, 3, 32)
    b = torch.randn(400, 32, generator=g) + 0.2
    assert abs(frechet.fid(a, a)) < 1e-8 * float(a.var(0).sum())
    assert frechet.fid(a, b) == pytest.approx(frechet.fid(b, a), rel=1e-8)
    assert frechet.fid(a, b) > 1.0
    with pytest.raises(ValueError, match="same F"):
        frechet.fid(a, b[:, :16])


def test_shift_and_blur_helpers():
    x = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(2)) * 2 - 1
    shifted = clf._shift(x, 2, torch.Generator().manual_seed(3))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), value=-1.0)
    for i in range(8):  # every image is its own translation by at most 2 px, background -1 filled in
        assert any(torch.equal(shifted[i], padded[i, :, 2 + dy:30 + dy, 2 + dx:30 + dx])
                   for dy in range(-2, 3) for dx in range(-2, 3))
    blank = -torch.ones(2, 1, 28, 28)
    assert torch.allclose(metric.gaussian_blur(blank), blank, atol=1e-6)  # blurring the background keeps it
    blurred = metric.gaussian_blur(x)
    assert blurred.shape == x.shape and blurred.std() < 0.5 * x.std()  # blurring averages the noise away


def test_missing_or_corrupted_weights_give_the_retrain_command(tmp_path):
    with pytest.raises(clf.ClassifierFileError, match="--train"):
        clf.load_classifier(tmp_path / "absent.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(clf.ClassifierFileError, match="corrupted.*\n.*--train"):
        clf.load_classifier(bad)
    other = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(3)}, other)
    with pytest.raises(clf.ClassifierFileError, match="another architecture"):
        clf.load_classifier(other)


def test_shipped_record_describes_the_shipped_weights():
    record = json.loads(clf.RECORD.read_text())
    assert record["test_accuracy"] >= 0.99 and record["n_test"] == 10000
    assert record["command"] == clf.RETRAIN_COMMAND
    assert record["size_bytes"] == clf.CHECKPOINT.stat().st_size <= 5 * 2 ** 20
    assert record["sha256"] == clf._sha256(clf.CHECKPOINT)  # the record belongs to these exact bytes
    assert record["references"]["floor_fd"] < record["references"]["blur_fd"]


@needs_data
def test_shipped_classifier_is_accurate():
    model = clf.load_classifier()
    assert clf.load_classifier() is model  # cached
    assert not model.training
    assert clf.classifier_accuracy(model, n=2000, root=DATA) >= 0.99


def _test_images(n):
    return mnist_tensors("test", n, root=DATA)[0]


@needs_data
def test_real_digits_score_well_and_noise_badly():
    real = metric.evaluate_images(_test_images(1000), root=DATA)
    assert real["n"] == 1000 and sum(real["label_counts"]) == 1000
    assert real["confident"] >= 0.9
    assert real["entropy"] >= 0.97 * math.log(10)
    noise = torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    bad = metric.evaluate_images(noise, root=DATA)
    assert bad["fd"] > 20 * real["fd"]
    # explicit reference features replace the test set: the digits' own features are at distance 0
    feats = clf.classifier_features(_test_images(1000))
    assert feats.shape == (1000, 128)
    assert abs(metric.evaluate_images(_test_images(1000), reference_features=feats)["fd"]) < 1e-6 * real["fd"] + 1e-6


@needs_data
def test_real_train_digits_beat_blurred_test_digits():
    ref = metric.references(2000, root=DATA)
    assert 0 < ref["floor_fd"] < ref["blur_fd"]
    assert ref["floor_fd"] < 0.5 * ref["blur_fd"]


@pytest.mark.parametrize("bad, error, message", [
    (torch.zeros(4, 1, 28, 28, dtype=torch.uint8), TypeError, r"127\.5"),
    (torch.zeros(4, 28, 28), ValueError, "unsqueeze"),
    (torch.zeros(4, 3, 32, 32), ValueError, r"\([BN], 1, 28, 28\)"),
    (torch.full((4, 1, 28, 28), float("nan")), ValueError, "NaN"),
    (torch.full((4, 1, 28, 28), 200.0), ValueError, r"\[0, 255\]"),
    (torch.rand(16, 1, 28, 28), ValueError, r"\[0, 1\]"),
])
def test_bad_images_are_refused_clearly(bad, error, message):
    with pytest.raises(error, match=message):
        metric.evaluate_images(bad)


def test_fd_infinity_removes_the_small_sample_bias():
    # Features drawn from exactly the reference Gaussian: the true FD is 0; at N = 200 in 8 dimensions the
    # plain FD is biased upwards, the extrapolation to N = infinity is not (checked over 5 seeds).
    import numpy as np
    from fmlearn.frechet import fd_infinity, fid_from_stats
    plain, extrapolated = [], []
    for seed in range(5):
        a = np.random.default_rng(seed).standard_normal((200, 8))
        plain.append(fid_from_stats(a.mean(0), np.cov(a, rowvar=False), np.zeros(8), np.eye(8)))
        out = fd_infinity(a, np.zeros(8), np.eye(8), seed=seed)
        extrapolated.append(out["fd_inf"])
        assert out["sizes"] == [80, 120, 160, 200] and out["slope"] > 0
    assert np.mean(plain) > 0.05 and abs(np.mean(extrapolated)) < 0.3 * np.mean(plain)


@needs_data
def test_real_digits_extrapolate_to_a_small_fd():
    # 500 real training digits against the test set: FD 12.2 at n = 500, about 1 at n = 10,000 (train vs test)
    ref = metric.references(500, root=DATA)
    assert ref["floor_fd"] > 10 and abs(ref["floor_fd_inf"]) < 3 and ref["blur_fd_inf"] > 1000
