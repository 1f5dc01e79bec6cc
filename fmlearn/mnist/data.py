r"""MNIST handwritten digits from the canonical four files, verified by checksum.

**Files.** MNIST is distributed as four gzipped IDX files (:data:`FILES`), each checked by the
MD5 of its ``.gz`` bytes (the checksums torchvision lists)::

    train-images-idx3-ubyte.gz  60000 x 28 x 28 uint8   (magic 2051)
    train-labels-idx1-ubyte.gz  60000 labels 0..9        (magic 2049)
    t10k-images-idx3-ubyte.gz   10000 x 28 x 28 uint8
    t10k-labels-idx1-ubyte.gz   10000 labels

They live in ``$FMLEARN_DATA/mnist`` (default ``~/.cache/fmlearn/mnist``, see
:func:`fmlearn.config.data_dir`). :func:`ensure_files` keeps every file whose MD5 is right,
downloads missing ones from :data:`MIRRORS` (into a temporary file in the same folder, verified,
then renamed atomically), and replaces a corrupted one (e.g. a partial download) only when the
folder is writable and downloading is allowed; a read-only folder is never modified. MD5s are
computed once per process per file version.

**Scaling.** The networks see images in ``[-1, 1]``, like the Gaussian noise ``x_0`` at ``t = 0``:
``x = pixels / 127.5 - 1`` (so 0 -> -1 and 255 -> 1), with shape ``(B, 1, 28, 28)``;
:func:`to_images` maps back to uint8 pixels::

    x, y = mnist_tensors("train")          # (60000, 1, 28, 28) float32 in [-1, 1], (60000,) int64
    run = fmlearn.train(model, MnistData("train"), "fm")   # draws batches (B, 1, 28, 28)

**Licence.** The MNIST database of handwritten digits is by Yann LeCun and Corinna Cortes (with
Christopher J.C. Burges), commonly cited as licensed under Creative Commons Attribution-Share
Alike 3.0 (CC BY-SA 3.0); attribute the authors when you use or redistribute it.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .. import config
from .._checks import check_choice, check_positive_int
from .._io import writable

__all__ = ["FILES", "MIRRORS", "MnistFilesError", "locate", "ensure_files", "load_mnist", "mnist_pixels",
           "scale_pixels", "mnist_tensors", "to_images", "check_images", "MnistData"]

#: name -> (md5 of the .gz file, size in bytes).
FILES: dict[str, tuple[str, int]] = {
    "train-images-idx3-ubyte.gz": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422),
    "train-labels-idx1-ubyte.gz": ("d53e105ee54ea40749a09fcbcd1e9432", 28881),
    "t10k-images-idx3-ubyte.gz": ("9fb629c4189551a2d022fa330f9573f3", 1648877),
    "t10k-labels-idx1-ubyte.gz": ("ec29112dd5afa0611ce80d1b7f02629c", 4542),
}
#: Public mirrors of the canonical files, tried in order.
MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
_SPLITS = {"train": ("train", 60000), "test": ("t10k", 10000)}
_IMAGE_MAGIC, _LABEL_MAGIC = 2051, 2049
_urlopen = urllib.request.urlopen  # replaced by a fake in the tests (no network there)
_MD5_CACHE: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> md5 of that file version


class MnistFilesError(RuntimeError):
    """An MNIST file is missing, corrupted or malformed, and could not be (re)downloaded."""


# ---- files --------------------------------------------------------------------------------------
def locate(root: str | os.PathLike | None = None) -> Path:
    """The folder that holds the four files: ``root`` if given, else ``config.data_dir() / "mnist"``."""
    return Path(root).expanduser() if root is not None else config.data_dir() / "mnist"


def _md5(path: Path) -> str:
    """MD5 of a file, cached per process for this exact version of it (path, size, mtime)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _MD5_CACHE:
        h = hashlib.md5()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _MD5_CACHE[key] = h.hexdigest()
    return _MD5_CACHE[key]


def _problem(path: Path) -> str | None:
    """None if ``path`` holds the canonical bytes, else what is wrong with it (for messages)."""
    md5, size = FILES[path.name]
    actual = path.stat().st_size
    if actual != size:  # cheaper than hashing, and the usual sign of a partial download
        return f"size {actual} B instead of {size} B"
    got = _md5(path)
    return None if got == md5 else f"md5 {got} instead of {md5}"


def _download(name: str, folder: Path) -> None:
    """Fetch ``name`` from the first mirror that serves the right bytes; rename into place atomically."""
    md5, _ = FILES[name]
    errors = []
    for mirror in MIRRORS:
        url = mirror + name
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
        try:
            h = hashlib.md5()
            with os.fdopen(fd, "wb") as out, _urlopen(url, timeout=60) as response:
                for block in iter(lambda: response.read(1 << 20), b""):
                    h.update(block)
                    out.write(block)
            if h.hexdigest() != md5:
                errors.append(f"{url}: checksum mismatch (md5 {h.hexdigest()} instead of {md5})")
                continue
            os.replace(tmp, folder / name)  # atomic: readers see the old file or the whole new one
            return
        except (OSError, urllib.error.URLError) as err:
            errors.append(f"{url}: {err}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise MnistFilesError(f"could not download {name} into {folder}:\n  " + "\n  ".join(errors)
                          + f"\nThe other files in {folder} were left as they were.")


def _offline_help(folder: Path) -> str:
    return (f"Copy the four canonical files ({', '.join(FILES)}) into {folder}, or set the environment "
            f"variable FMLEARN_DATA to a folder whose 'mnist' subfolder holds them, or download them from "
            f"{' or '.join(MIRRORS)}.")


def ensure_files(root: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Make sure the four canonical files are in the folder, verified by MD5; return the folder.

    A file with the right MD5 is kept. A missing file is downloaded (if ``download``). A file with a
    wrong MD5 (partial or corrupted download) is replaced by a verified download only if the folder
    is writable and ``download`` is True; a read-only folder is never modified.

    Args:
        root: the folder; default ``config.data_dir() / "mnist"`` (``$FMLEARN_DATA/mnist``).
        download: allow downloading from :data:`MIRRORS`.

    Raises:
        MnistFilesError: a file is missing or bad and could not be (re)downloaded; the message names
            the file, the folder and what to do.
    """
    folder = locate(root)
    missing = [name for name in FILES if not (folder / name).is_file()]
    bad = {name: p for name in FILES if name not in missing and (p := _problem(folder / name))}
    if not missing and not bad:
        return folder
    def refuse_bad(why: str) -> MnistFilesError:
        what = "; ".join([*(f"{n} has {p}" for n, p in bad.items()), *(f"{n} is missing" for n in missing)])
        return MnistFilesError(
            f"bad MNIST file(s) in {folder}: {what} (a partial or corrupted download); {why}, so the folder was "
            f"left untouched. Replace the file(s) with good copies (md5s in fmlearn.mnist.data.FILES), or delete them "
            f"and call ensure_files(download=True) with internet, or point FMLEARN_DATA at a folder with good copies.")

    if not download:
        if bad:
            raise refuse_bad("download=False")
        raise MnistFilesError(f"MNIST file(s) missing from {folder}: {', '.join(missing)} (download=False). "
                              + _offline_help(folder))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise MnistFilesError(f"cannot create the MNIST folder {folder} ({err}). " + _offline_help(folder)) from None
    if not writable(folder):  # e.g. CI's shared FMLEARN_DATA: never delete or write there
        if bad:
            raise refuse_bad("the folder is read-only")
        raise MnistFilesError(f"MNIST file(s) missing from the read-only folder {folder}: {', '.join(missing)}. "
                              + _offline_help(folder))
    for name in [*missing, *bad]:
        try:
            _download(name, folder)
        except MnistFilesError as err:
            raise MnistFilesError(f"{err}\n" + _offline_help(folder)) from None
    return folder


# ---- decoding -----------------------------------------------------------------------------------
def _read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    """Decode a gzipped IDX file of unsigned bytes: big-endian int32 magic, then ``ndim`` sizes, then data."""
    raw = gzip.decompress(path.read_bytes())
    header = np.frombuffer(raw, dtype=">i4", count=1 + ndim, offset=0)
    if int(header[0]) != magic:
        raise MnistFilesError(f"{path} has IDX magic number {int(header[0])}, expected {magic}; "
                              f"is it the right file (images 2051, labels 2049)?")
    shape = tuple(int(s) for s in header[1:])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 * (1 + ndim))
    if data.size != int(np.prod(shape)):
        raise MnistFilesError(f"{path} holds {data.size} bytes of data, but its header announces shape {shape}.")
    return data.reshape(shape)


@functools.lru_cache(maxsize=4)
def _decode(folder: str, split: str, stamp: tuple) -> tuple[np.ndarray, np.ndarray]:
    prefix, n = _SPLITS[split]
    images = _read_idx(Path(folder) / f"{prefix}-images-idx3-ubyte.gz", _IMAGE_MAGIC, 3)
    labels = _read_idx(Path(folder) / f"{prefix}-labels-idx1-ubyte.gz", _LABEL_MAGIC, 1).astype(np.int64)
    if images.shape != (n, 28, 28) or labels.shape != (n,):
        raise MnistFilesError(f"MNIST {split} in {folder} has images {images.shape} and labels {labels.shape}; "
                              f"expected ({n}, 28, 28) and ({n},).")
    if labels.max() > 9:
        raise MnistFilesError(f"MNIST {split} labels in {folder} go up to {labels.max()}; expected 0..9.")
    images.setflags(write=False)  # shared by every caller in this process
    labels.setflags(write=False)
    return images, labels


def load_mnist(split: str = "train", root: str | os.PathLike | None = None,
               download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The raw digits of one split, checked and cached in memory for the process.

    Args:
        split: ``"train"`` (60000 digits) or ``"test"`` (10000).
        root: folder of the files (see :func:`ensure_files`).
        download: allow downloading missing files.

    Returns:
        ``(images, labels)``: read-only numpy arrays, uint8 of shape (N, 28, 28) with pixels 0..255
        (0 is background), and int64 of shape (N,) with digits 0..9.
    """
    check_choice("split", split, _SPLITS)
    folder = ensure_files(root, download=download).resolve()
    prefix = _SPLITS[split][0]
    stamp = tuple((st.st_size, st.st_mtime_ns) for st in
                  (folder.joinpath(f"{prefix}-{kind}").stat() for kind in ("images-idx3-ubyte.gz",
                                                                         "labels-idx1-ubyte.gz")))
    return _decode(str(folder), split, stamp)


# ---- tensors in [-1, 1] -------------------------------------------------------------------------
def scale_pixels(pixels: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """uint8 pixels (any shape) -> network inputs in [-1, 1]: ``x = pixels / 127.5 - 1`` (0 -> -1, 255 -> 1)."""
    return pixels.to(dtype).div_(127.5).sub_(1.0)


def mnist_pixels(split: str = "train", n: int | None = None, *, root: str | os.PathLike | None = None,
                 download: bool = True) -> tuple[Tensor, Tensor]:
    """The first ``n`` digits of ``split`` (all if None) as uint8 pixels (n, 1, 28, 28) and int64 labels (n,).

    A copy of :func:`load_mnist`'s in-memory arrays (47 MB for the whole train split): the cheap form to
    keep, scaled per batch with :func:`scale_pixels`.
    """
    images, labels = load_mnist(split, root, download)
    if n is not None:
        check_positive_int("n", n)
    return torch.tensor(images[:n])[:, None], torch.tensor(labels[:n])


def mnist_tensors(split: str = "train", n: int | None = None, *, device: str | torch.device | None = None,
                  dtype: torch.dtype = torch.float32, root: str | os.PathLike | None = None,
                  download: bool = True) -> tuple[Tensor, Tensor]:
    """MNIST as network inputs: ``x = pixels / 127.5 - 1``.

    Args:
        split: ``"train"`` or ``"test"``.
        n: only the first ``n`` digits (default all).
        device: where to put the tensors; default CPU (the trainer moves batches to the model).
        dtype: floating dtype of ``x``.
        root, download: see :func:`ensure_files`.

    Returns:
        ``(x, y)``: x of shape (n, 1, 28, 28) in [-1, 1], y int64 of shape (n,).
    """
    pixels, labels = mnist_pixels(split, n, root=root, download=download)
    return scale_pixels(pixels.to(device), dtype), labels.to(device)


def to_images(x: Tensor) -> Tensor:
    """Inverse of the scaling: ``round((x + 1) * 127.5)`` clamped to 0..255.

    Args:
        x: images of shape (B, 1, 28, 28) (or (B, 28, 28)), values about [-1, 1].

    Returns:
        uint8 tensor of shape (B, 28, 28) on ``x``'s device.
    """
    if x.ndim == 4:
        check_images(x)
        x = x[:, 0]
    elif x.ndim != 3 or tuple(x.shape[1:]) != (28, 28):
        raise ValueError(f"x must have shape (B, 1, 28, 28) or (B, 28, 28), got {tuple(x.shape)}.")
    return ((x.detach().float() + 1) * 127.5).round_().clamp_(0, 255).to(torch.uint8)


def check_images(x, arg: str = "x", *, limit: float = 1.5) -> Tensor:
    """Check a batch of images for the networks: shape (B, 1, 28, 28), floating, finite, in about [-1, 1].

    Args:
        x: the tensor to check.
        arg: its name, used in the messages.
        limit: largest absolute value accepted (samples of a generative model overshoot a little).

    Returns:
        ``x`` unchanged.
    """
    want = f"{arg} must have shape (B, 1, 28, 28) and values in [-1, 1]"
    if not isinstance(x, Tensor):
        raise TypeError(f"{want}; got a {type(x).__name__}. Use mnist_tensors() or torch.as_tensor(...).")
    if not x.is_floating_point():
        raise TypeError(f"{want}; got dtype {x.dtype}. Did you pass uint8 pixels? Use mnist_tensors(), "
                        f"or scale with {arg}.float() / 127.5 - 1.")
    if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        hint = f" Add the channel with {arg}.unsqueeze(1)." if x.ndim == 3 and tuple(x.shape[1:]) == (28, 28) else ""
        raise ValueError(f"{want}; got shape {tuple(x.shape)}.{hint}")
    finite = torch.isfinite(x)
    if not bool(finite.all()):
        raise ValueError(f"{want}; got {int((~finite).sum())} NaN or infinite values.")
    if x.numel():
        lo, hi = float(x.min()), float(x.max())
        if lo < -limit or hi > limit:
            hint = (f" It looks like pixels in [0, 255]; scale with {arg} / 127.5 - 1." if lo >= 0 and hi > 2
                    else f" It looks like pixels in [0, 1]; scale with {arg} * 2 - 1." if lo >= 0 else "")
            raise ValueError(f"{want}; got values in [{lo:.4g}, {hi:.4g}].{hint}")
    return x


# ---- a data source for training -----------------------------------------------------------------
class MnistData:
    """Draws MNIST digits uniformly with replacement: a ``data`` argument for :func:`fmlearn.training.train`.

    Stored as uint8 (47 MB for the train split) and scaled per batch, ``x = pixels / 127.5 - 1``.

    Args:
        split: ``"train"`` or ``"test"``.
        device: where the digits are stored and batches are returned; default CPU.
        classes: keep only these digits (e.g. ``[0, 1]``) for a smaller or class-conditional problem.
        labels: calls return :class:`fmlearn.training.Labeled` ``(x, y)`` instead of ``x`` alone
            (for class-conditional training).
        root, download: see :func:`ensure_files`.

    Attributes:
        images: uint8 tensor (N, 28, 28). labels: int64 tensor (N,).
    """

    shape = (1, 28, 28)
    num_classes = 10

    def __init__(self, split: str = "train", device: str | torch.device | None = None, classes=None, *,
                 labels: bool = False, root: str | os.PathLike | None = None, download: bool = True):
        self.with_labels = bool(labels)
        images, labels = load_mnist(split, root, download)
        self.split = split
        self.images = torch.tensor(images, device=device)  # (N, 28, 28) uint8
        self.labels = torch.tensor(labels, device=device)  # (N,) int64
        self.classes = None
        if classes is not None:
            self.classes = sorted({int(c) for c in classes})
            if not self.classes or not set(self.classes) <= set(range(10)):
                raise ValueError(f"classes must be digits in 0..9, got {classes!r}.")
            keep = torch.isin(self.labels, torch.tensor(self.classes, device=self.labels.device))
            self.images, self.labels = self.images[keep], self.labels[keep]

    def __len__(self) -> int:
        return self.labels.shape[0]

    def __repr__(self) -> str:
        which = f", classes={self.classes}" if self.classes is not None else ""
        which += ", labels=True" if self.with_labels else ""
        return f"MnistData({self.split!r}, n={len(self)}{which}, device={self.images.device})"

    def _index(self, n: int, generator: torch.Generator | None) -> Tensor:
        check_positive_int("n", n)
        dev = generator.device if generator is not None else torch.device("cpu")
        return torch.randint(len(self), (n,), generator=generator, device=dev).to(self.labels.device)  # (n,)

    def sample_with_labels(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Draw ``n`` digits and their labels: x float32 (n, 1, 28, 28) in [-1, 1], y int64 (n,)."""
        idx = self._index(n, generator)
        x = scale_pixels(self.images[idx])[:, None]  # (n, 1, 28, 28)
        return x, self.labels[idx]

    def __call__(self, n: int, generator: torch.Generator | None = None):
        """Draw ``n`` digits, shape (n, 1, 28, 28) in [-1, 1], using only ``generator``'s randomness;
        with ``labels=True``, a :class:`~fmlearn.training.Labeled` ``(x, y)`` with labels y (n,)."""
        if self.with_labels:
            from ..training import Labeled
            return Labeled(*self.sample_with_labels(n, generator))
        return self.sample_with_labels(n, generator)[0]

    sample = __call__
