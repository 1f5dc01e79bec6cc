"""MNIST loading on the real canonical files (offline): contents, scaling, checksums, repair, errors.

The files are found in ``$FMLEARN_DATA/mnist`` when FMLEARN_DATA is set (CI: the read-only shared copy),
else in ``shared/data/mnist`` next to the repository. Downloads are exercised with a fake opener only.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from fmlearn.mnist import data as mnist

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
FIRST = {"train": [5, 0, 4, 1, 9, 2, 1, 3, 1, 4], "test": [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]}


def _data_base() -> Path:
    env = os.environ.get("FMLEARN_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def real_dir() -> Path:
    folder = _data_base() / "mnist"
    if not all((folder / name).is_file() for name in mnist.FILES):
        pytest.skip(f"the MNIST files are not in {folder} (set FMLEARN_DATA to the folder holding mnist/)")
    return folder


def _snapshot(folder: Path) -> dict:
    return {p.name: (p.stat().st_mtime_ns, hashlib.md5(p.read_bytes()).hexdigest()) for p in folder.iterdir()}


@pytest.fixture
def copy_dir(real_dir, tmp_path) -> Path:
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in mnist.FILES:
        shutil.copyfile(real_dir / name, folder / name)
    return folder


class FakeOpener:
    """Stands in for urllib's urlopen: serves ``payload(url)`` bytes, or raises what it returns."""

    def __init__(self, payload):
        self.payload, self.urls = payload, []

    def __call__(self, url, timeout=None):
        self.urls.append(url)
        body = self.payload(url)
        if isinstance(body, Exception):
            raise body
        return io.BytesIO(body)


# ---- the real files -----------------------------------------------------------------------------
def test_real_files_verify_and_are_left_untouched(real_dir):
    before = _snapshot(real_dir)
    assert mnist.ensure_files(real_dir, download=False) == real_dir
    assert mnist.ensure_files(real_dir, download=True) == real_dir
    assert _snapshot(real_dir) == before
    for name, (md5, size) in mnist.FILES.items():
        assert (real_dir / name).stat().st_size == size
        assert mnist._md5(real_dir / name) == md5


@pytest.mark.parametrize("split,n,counts", [("train", 60000, TRAIN_COUNTS), ("test", 10000, TEST_COUNTS)])
def test_contents(real_dir, split, n, counts):
    images, labels = mnist.load_mnist(split, real_dir, download=False)
    assert images.shape == (n, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype == np.int64
    assert labels[:10].tolist() == FIRST[split]
    assert np.bincount(labels, minlength=10).tolist() == counts
    assert images.min() == 0 and images.max() == 255
    assert mnist.load_mnist(split, real_dir) is mnist.load_mnist(split, real_dir)  # decoded once per process
    with pytest.raises(ValueError):
        images[0, 0, 0] = 1  # the cached arrays are read-only


def test_default_folder_from_fmlearn_data(real_dir, monkeypatch):
    monkeypatch.setenv("FMLEARN_DATA", str(real_dir.parent))
    assert mnist.locate() == real_dir
    assert mnist.load_mnist("test")[1][:10].tolist() == FIRST["test"]


def test_scaling_round_trip(real_dir):
    raw, _ = mnist.load_mnist("train", real_dir)
    x, y = mnist.mnist_tensors("train", root=real_dir)
    assert x.shape == (60000, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    assert torch.equal(x[0, 0], torch.from_numpy(raw[0].astype(np.float32)) / 127.5 - 1)
    assert torch.equal(mnist.to_images(x[:10]), torch.from_numpy(raw[:10].copy()))
    assert mnist.to_images(torch.full((1, 1, 28, 28), 1.3)).max() == 255  # clamped
    x64, _ = mnist.mnist_tensors("test", dtype=torch.float64, root=real_dir)
    assert x64.dtype == torch.float64


# ---- corrupted and missing files ----------------------------------------------------------------
def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_truncated_file_is_reported_offline(copy_dir):
    _truncate(copy_dir / "t10k-images-idx3-ubyte.gz")
    before = _snapshot(copy_dir)
    with pytest.raises(mnist.MnistFilesError, match=r"t10k-images-idx3-ubyte\.gz has size 824438 B instead of 1648877"):
        mnist.ensure_files(copy_dir, download=False)
    assert _snapshot(copy_dir) == before


def test_same_size_corruption_is_caught_by_md5(copy_dir):
    path = copy_dir / "train-labels-idx1-ubyte.gz"
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(mnist.MnistFilesError, match=r"train-labels-idx1-ubyte\.gz has md5 \w{32} instead of d53e"):
        mnist.ensure_files(copy_dir, download=False)


def test_bad_file_is_replaced_by_a_verified_download(copy_dir, real_dir, monkeypatch):
    name = "t10k-images-idx3-ubyte.gz"
    _truncate(copy_dir / name)
    # the first mirror is down, the second serves the right bytes
    opener = FakeOpener(lambda url: urllib.error.URLError("down") if url.startswith(mnist.MIRRORS[0])
                        else (real_dir / name).read_bytes())
    monkeypatch.setattr(mnist, "_urlopen", opener)
    assert mnist.ensure_files(copy_dir, download=True) == copy_dir
    assert opener.urls == [m + name for m in mnist.MIRRORS]  # only the bad file was fetched
    assert hashlib.md5((copy_dir / name).read_bytes()).hexdigest() == mnist.FILES[name][0]
    assert sorted(p.name for p in copy_dir.iterdir()) == sorted(mnist.FILES)  # no temporary file left
    assert mnist.load_mnist("test", copy_dir)[1][:10].tolist() == FIRST["test"]


def test_wrong_download_is_refused_and_good_files_untouched(copy_dir, monkeypatch):
    name = "t10k-labels-idx1-ubyte.gz"
    _truncate(copy_dir / name)
    before = _snapshot(copy_dir)
    monkeypatch.setattr(mnist, "_urlopen", FakeOpener(lambda url: b"<html>not the file</html>"))
    with pytest.raises(mnist.MnistFilesError, match="checksum mismatch") as err:
        mnist.ensure_files(copy_dir, download=True)
    assert name in str(err.value)
    assert _snapshot(copy_dir) == before  # neither the good files nor the bad one were touched, no .part left


def test_read_only_folder_is_never_modified(copy_dir, real_dir, monkeypatch):
    name = "train-labels-idx1-ubyte.gz"
    _truncate(copy_dir / name)
    before = _snapshot(copy_dir)
    opener = FakeOpener(lambda url: (real_dir / name).read_bytes())
    monkeypatch.setattr(mnist, "_urlopen", opener)
    # the logic, independent of who runs the tests (root ignores permissions)
    monkeypatch.setattr(mnist, "writable", lambda folder: False)
    with pytest.raises(mnist.MnistFilesError, match="read-only") as err:
        mnist.ensure_files(copy_dir, download=True)
    assert name in str(err.value) and "Replace the file" in str(err.value)
    assert opener.urls == [] and _snapshot(copy_dir) == before
    monkeypatch.undo()
    # a real read-only folder
    monkeypatch.setattr(mnist, "_urlopen", opener)
    os.chmod(copy_dir, 0o555)
    try:
        if os.access(copy_dir, os.W_OK):
            return  # running as root: chmod does not stop writes, so there is nothing more to check
        with pytest.raises(mnist.MnistFilesError, match="read-only"):
            mnist.ensure_files(copy_dir, download=True)
        assert _snapshot(copy_dir) == before
    finally:
        os.chmod(copy_dir, 0o755)


def test_missing_files_offline_name_fmlearn_data(tmp_path, monkeypatch):
    monkeypatch.setenv("FMLEARN_DATA", str(tmp_path))
    with pytest.raises(mnist.MnistFilesError) as err:
        mnist.load_mnist("train", download=False)
    msg = str(err.value)
    assert "FMLEARN_DATA" in msg and str(tmp_path / "mnist") in msg and mnist.MIRRORS[0] in msg
    assert all(name in msg for name in mnist.FILES)
    # no internet: every mirror fails; the message says what to do and nothing is left behind
    monkeypatch.setattr(mnist, "_urlopen", FakeOpener(lambda url: urllib.error.URLError("no network")))
    with pytest.raises(mnist.MnistFilesError, match="(?s)no network.*FMLEARN_DATA"):
        mnist.ensure_files()
    assert list((tmp_path / "mnist").iterdir()) == []


def test_wrong_magic_number_is_reported(real_dir, tmp_path):
    path = tmp_path / "fake-images.gz"  # a labels file where images are expected
    shutil.copyfile(real_dir / "t10k-labels-idx1-ubyte.gz", path)
    with pytest.raises(mnist.MnistFilesError, match="magic number 2049, expected 2051"):
        mnist._read_idx(path, 2051, 3)
    path.write_bytes(gzip.compress(np.array([2049, 5], dtype=">i4").tobytes() + b"\x01\x02"))
    with pytest.raises(mnist.MnistFilesError, match="holds 2 bytes"):
        mnist._read_idx(path, 2049, 1)


# ---- checks and the data source -----------------------------------------------------------------
def test_check_images_errors():
    good = torch.zeros(2, 1, 28, 28)
    assert mnist.check_images(good) is good
    with pytest.raises(TypeError, match="uint8 pixels"):
        mnist.check_images(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"shape \(B, 1, 28, 28\).*got shape \(2, 28, 28\).*unsqueeze\(1\)"):
        mnist.check_images(torch.zeros(2, 28, 28))
    with pytest.raises(ValueError, match="got shape"):
        mnist.check_images(torch.zeros(2, 784))
    bad = good.clone()
    bad[1, 0, 3, 4] = float("nan")
    with pytest.raises(ValueError, match="1 NaN"):
        mnist.check_images(bad, arg="x1")
    with pytest.raises(ValueError, match=r"\[0, 255\].*/ 127.5 - 1"):
        mnist.check_images(torch.full((2, 1, 28, 28), 200.0))
    mnist.check_images(torch.full((2, 1, 28, 28), 1.2))  # samples may overshoot a little


def test_mnist_data_source(real_dir):
    data = mnist.MnistData("train", root=real_dir)
    assert len(data) == 60000
    a = data(64, torch.Generator().manual_seed(3))
    b = data(64, torch.Generator().manual_seed(3))
    c = data(64, torch.Generator().manual_seed(4))
    assert a.shape == (64, 1, 28, 28) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.min()) >= -1 and float(a.max()) <= 1
    x, y = data.sample_with_labels(64, torch.Generator().manual_seed(3))
    assert torch.equal(x, a) and y.shape == (64,) and y.dtype == torch.int64
    # each image comes with its own label: the same rows of the raw arrays
    raw, labels = mnist.load_mnist("train", real_dir)
    idx = torch.randint(60000, (64,), generator=torch.Generator().manual_seed(3))
    assert torch.equal(y, torch.from_numpy(labels[idx.numpy()]))
    assert torch.equal(mnist.to_images(x), torch.from_numpy(raw[idx.numpy()]))
    ones = mnist.MnistData("test", classes=[1, 7], root=real_dir)
    assert len(ones) == 1135 + 1028
    assert set(ones.sample_with_labels(200, torch.Generator().manual_seed(0))[1].tolist()) == {1, 7}
    with pytest.raises(ValueError, match="0..9"):
        mnist.MnistData("test", classes=[10], root=real_dir)
