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

Retrain the shipped classifier (about 4 minutes on one CPU core) with::

    python -m fmlearn.mnist_metric --train --out fmlearn/checkpoints/mnist_classifier.pt
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import math
import os
import platform
import sys
import time
import weakref
from pathlib import Path

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._io import atomic_write

__all__ = ["CHECKPOINT", "RECORD", "RETRAIN_COMMAND", "ClassifierFileError", "Classifier", "train_classifier",
           "load_classifier", "classifier_features", "fid", "fid_from_stats", "gaussian_blur", "evaluate_images",
           "references", "classifier_accuracy", "fd_infinity"]

CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "mnist_classifier.pt"
RECORD = CHECKPOINT.with_suffix(".json")
RETRAIN_COMMAND = "python -m fmlearn.mnist_metric --train --out fmlearn/checkpoints/mnist_classifier.pt"
FORMAT = "fmlearn-mnist-classifier"
_FILES = {"train": "train", "test": "t10k"}


class ClassifierFileError(RuntimeError):
    """The classifier's weights are missing, corrupted, or belong to another architecture."""


# ---- data ---------------------------------------------------------------------------------------
def _data_root(root: str | os.PathLike | None = None) -> Path | None:
    """The first folder holding the four MNIST files: ``root``, ``$FMLEARN_DATA/mnist``,
    ``~/.cache/fmlearn/mnist``, then the offline copy ``../shared/data/mnist`` beside the repository.
    None if none has them (then :mod:`fmlearn.mnist` may download them)."""
    if root is not None:
        return Path(root).expanduser()
    candidates = [Path(os.environ["FMLEARN_DATA"]).expanduser() / "mnist"] if os.environ.get("FMLEARN_DATA") else []
    candidates += [Path.home() / ".cache" / "fmlearn" / "mnist",
                   Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"]
    for folder in candidates:
        if all((folder / f"{p}-{k}-idx{d}-ubyte.gz").is_file() for p in _FILES.values()
               for k, d in (("images", 3), ("labels", 1))):
            return folder
    return None


_DATA_CACHE: dict[tuple[str, str], tuple[Tensor, Tensor]] = {}


def _pixels(split: str, root: str | os.PathLike | None = None) -> tuple[Tensor, Tensor]:
    """MNIST ``split`` as uint8 pixels (N, 1, 28, 28) and int64 labels (N,); cached per process (47 MB train)."""
    folder = _data_root(root)
    key = (split, str(folder))
    if key not in _DATA_CACHE:
        from .mnist import load_mnist  # the package's checked loader (sizes and MD5s; downloads when missing)

        images, labels = load_mnist(split, root=folder)
        images = torch.from_numpy(np.array(images, dtype=np.uint8)).reshape(-1, 1, 28, 28)  # (N, 1, 28, 28)
        _DATA_CACHE[key] = (images, torch.from_numpy(np.array(labels, dtype=np.int64)))
    return _DATA_CACHE[key]


def _scale(pixels: Tensor) -> Tensor:
    """uint8 pixels -> float32 network inputs in [-1, 1]: ``x = pixels / 127.5 - 1``."""
    return pixels.float().div_(127.5).sub_(1.0)


def _mnist(split: str, root: str | os.PathLike | None = None, n: int | None = None) -> tuple[Tensor, Tensor]:
    """The first ``n`` digits (all if None) of ``split``: x float32 (n, 1, 28, 28) in [-1, 1], y int64 (n,)."""
    pixels, labels = _pixels(split, root)
    return _scale(pixels[:n]), labels[:n]


# ---- the classifier -----------------------------------------------------------------------------
def _block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class Classifier(nn.Module):
    """A small CNN for 28x28 digits whose penultimate layer is the feature space of the Fréchet distance.

    ``conv32 - pool - conv32 - conv64 - pool - conv64 - pool - fc128 (features) - ReLU - dropout - fc10``
    (3x3 convolutions with BatchNorm and ReLU; pooling 28 -> 14 -> 7 -> 3). 140k weights, 0.6 MB.
    Pooling early keeps it cheap: 10000 test digits take a few seconds on one CPU core.

    Args:
        width: channels of the first two convolutions (the last two have twice as many).
        features: size F of the feature layer.
        dropout: dropout rate after the feature layer (training only).
    """

    def __init__(self, width: int = 32, features: int = 128, dropout: float = 0.3):
        super().__init__()
        self.config = {"width": width, "features": features, "dropout": dropout}
        w = width
        self.body = nn.Sequential(*_block(1, w), nn.MaxPool2d(2), *_block(w, w), *_block(w, 2 * w), nn.MaxPool2d(2),
                                  *_block(2 * w, 2 * w), nn.MaxPool2d(2), nn.Flatten())  # (B, 2w * 3 * 3)
        self.fc = nn.Linear(2 * w * 9, features)
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(dropout), nn.Linear(features, 10))

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features, taken *before* the ReLU (no dead coordinates, so no singular covariance).

        Args:
            x (Tensor): images, shape (B, 1, 28, 28), values in [-1, 1].

        Returns:
            Tensor of shape (B, F).
        """
        return self.fc(self.body(x))

    def forward(self, x: Tensor) -> Tensor:
        """Class logits, shape (B, 10), for images x of shape (B, 1, 28, 28) in [-1, 1]."""
        return self.head(self.features(x))


def _shift(x: Tensor, max_shift: int, generator: torch.Generator) -> Tensor:
    """Translate every image by its own random offset in [-max_shift, max_shift]^2, filling with background -1.

    x (Tensor): shape (B, 1, H, W). Returns the same shape.
    """
    b, _, h, w = x.shape
    s = max_shift
    padded = F.pad(x, (s, s, s, s), value=-1.0)  # (B, 1, H + 2s, W + 2s)
    dy, dx = torch.randint(0, 2 * s + 1, (2, b, 1), generator=generator)  # (B, 1) each
    rows = dy + torch.arange(h)  # (B, H)
    cols = dx + torch.arange(w)  # (B, W)
    return padded[torch.arange(b)[:, None, None], 0, rows[:, :, None], cols[:, None, :]][:, None]  # (B, 1, H, W)


@contextlib.contextmanager
def _evaluating(model: nn.Module):
    """Eval mode (BatchNorm running statistics, no dropout) for the block; the previous mode is restored."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@torch.no_grad()
def _batched(fn, x: Tensor, batch_size: int = 1000, device: torch.device | None = None) -> Tensor:
    """Apply ``fn`` to x in batches (moved to ``device``) under no_grad; concatenate the results on the CPU."""
    return torch.cat([fn(x[i:i + batch_size].to(device)).cpu() for i in range(0, x.shape[0], batch_size)])


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def classifier_accuracy(model: Classifier | None = None, n: int | None = None, *, root=None) -> float:
    """Share of the first ``n`` test digits (all 10000 if None) that ``model`` classifies correctly."""
    model = load_classifier() if model is None else model
    x, y = _mnist("test", root, n)
    with _evaluating(model):
        pred = _batched(lambda b: model(b).argmax(1), x, device=_device(model))  # (n,)
    return float((pred == y).double().mean())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _save_weights(model: Classifier, out: Path) -> None:
    """``torch.save`` of the config and state_dict, through memory so the bytes do not depend on the file
    name (the zip archive inside is named after it): the same weights give the same sha256."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "config": model.config, "state_dict": model.state_dict()}, buffer)
    atomic_write(out, lambda p: Path(p).write_bytes(buffer.getvalue()))


def train_classifier(epochs: int = 3, seed: int = 0, *, batch_size: int = 128, lr: float = 3e-3,
                     max_shift: int = 2, out: str | os.PathLike | None = CHECKPOINT, root=None,
                     references_n: int | None = 10000, verbose: bool = True) -> tuple[Classifier, dict]:
    """Train :class:`Classifier` on the 60000 training digits, reproducibly from ``seed``.

    AdamW with a one-cycle learning rate; every batch is shifted by up to ``max_shift`` pixels.
    One seed drives the initialization, dropout (torch's global generator, forked so the caller's
    state is untouched), the shuffling and the shifts (a ``torch.Generator``).

    Args:
        epochs: passes over the training set (3 reach about 99.5% test accuracy).
        seed: the one seed.
        batch_size, lr, max_shift: optimization and augmentation settings.
        out: where to write the weights (and the JSON record beside it, same name with ``.json``);
            None writes nothing.
        root: folder of the MNIST files (default: see :func:`_data_root`).
        references_n: also measure :func:`references` at this n for the record (None skips it).
        verbose: print progress.

    Returns:
        ``(model, record)``: the trained model in eval mode and the record written to JSON.
    """
    pixels, y = _pixels("train", root)
    n = pixels.shape[0]
    steps_per_epoch = n // batch_size  # drop the last partial batch: every step has the same size
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Classifier()
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
        model.train()
        for epoch in range(epochs):
            perm = torch.randperm(n, generator=gen)
            running = 0.0
            for i in range(steps_per_epoch):
                idx = perm[i * batch_size:(i + 1) * batch_size]
                xb = _scale(pixels[idx])  # (B, 1, 28, 28)
                xb = _shift(xb, max_shift, gen) if max_shift > 0 else xb
                loss = F.cross_entropy(model(xb), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                running += float(loss.detach())
            if verbose:
                print(f"epoch {epoch + 1}/{epochs}: mean loss {running / steps_per_epoch:.4f} "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
    train_seconds = time.perf_counter() - start
    model.eval()
    acc = classifier_accuracy(model, root=root)
    if verbose:
        print(f"test accuracy {acc:.4f}, training {train_seconds:.0f} s", flush=True)
    record = {
        "format": FORMAT,
        "config": {"model": model.config, "epochs": epochs, "batch_size": batch_size, "optimizer": "AdamW",
                   "lr": lr, "weight_decay": 1e-4, "schedule": "OneCycleLR", "augmentation":
                   f"random shift of up to {max_shift} px (background -1)", "input": "x = pixels / 127.5 - 1"},
        "seed": seed,
        "test_accuracy": acc,
        "n_test": int(_pixels("test", root)[0].shape[0]),
        "train_seconds": round(train_seconds, 1),
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "machine": platform.processor() or platform.machine(),
        "command": RETRAIN_COMMAND,
    }
    if references_n:
        t0 = time.perf_counter()
        record["references"] = dict(references(references_n, model=model, root=root),
                                    seconds=round(time.perf_counter() - t0, 1))
        if verbose:
            print(f"references: {record['references']}", flush=True)
    if out is not None:
        out = Path(out)
        _save_weights(model, out)
        record["sha256"] = _sha256(out)
        record["size_bytes"] = out.stat().st_size
        atomic_write(out.with_suffix(".json"), lambda p: Path(p).write_text(json.dumps(record, indent=2) + "\n"))
        _LOADED.pop(str(out.resolve()), None)
        if verbose:
            print(f"wrote {out} ({record['size_bytes']} B) and {out.with_suffix('.json')}", flush=True)
    return model, record


_LOADED: dict[str, Classifier] = {}


def load_classifier(path: str | os.PathLike | None = None) -> Classifier:
    """The trained classifier in eval mode, loaded once per process (``weights_only=True``).

    Args:
        path: the weights file; default the shipped ``fmlearn/checkpoints/mnist_classifier.pt``.

    Raises:
        ClassifierFileError: the file is missing, corrupted, or holds another architecture; the
            message gives the command that retrains it.
    """
    path = Path(path) if path is not None else CHECKPOINT
    key = str(path.resolve())
    if key in _LOADED:
        return _LOADED[key]
    fix = f"Retrain it (about 4 minutes on a CPU) with:\n    {RETRAIN_COMMAND}"
    if not path.is_file():
        raise ClassifierFileError(f"the MNIST classifier's weights {path} are missing. {fix}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, not a torch file, pickled code refused by weights_only...
        raise ClassifierFileError(f"cannot read the MNIST classifier's weights {path} "
                                  f"({type(err).__name__}: {str(err).splitlines()[0][:200]}); the file is "
                                  f"corrupted or not a classifier checkpoint. {fix}") from None
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        config, state = obj.get("config", {}), obj.get("state_dict")
    else:  # a bare state_dict
        config, state = {}, obj
    if not isinstance(config, dict) or not isinstance(state, dict):
        raise ClassifierFileError(f"{path} is not an MNIST classifier checkpoint. {fix}")
    try:
        model = Classifier(**config)
        model.load_state_dict(state)
    except (TypeError, RuntimeError) as err:
        raise ClassifierFileError(f"{path} holds weights of another architecture than Classifier"
                                  f"({config}): {str(err).splitlines()[0][:300]}. {fix}") from None
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    _LOADED[key] = model
    return model


def classifier_features(x: Tensor, model: Classifier | None = None, batch_size: int = 1000) -> Tensor:
    """Penultimate features of images x (N, 1, 28, 28) in [-1, 1]; returns (N, F), in batches, no grad."""
    model = load_classifier() if model is None else model
    x = _check_images(x)
    with _evaluating(model):
        return _batched(model.features, x, batch_size, _device(model))


# ---- the Fréchet distance -----------------------------------------------------------------------
def _as_2d_float64(arg: str, a) -> np.ndarray:
    a = a.detach().cpu().numpy() if isinstance(a, Tensor) else np.asarray(a)
    if a.ndim != 2 or a.shape[0] < 2:
        raise ValueError(f"{arg} must have shape (N, F) with N >= 2, got {a.shape}.")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{arg} contains NaN or infinite values.")
    return a


def _stats(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
    a, b = _as_2d_float64("features_a", features_a), _as_2d_float64("features_b", features_b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"features_a and features_b must have the same F, got {a.shape} and {b.shape}.")
    return fid_from_stats(*_stats(a), *_stats(b))


# ---- evaluating images --------------------------------------------------------------------------
def _check_images(x, arg: str = "x", limit: float = 1.5) -> Tensor:
    """:func:`fmlearn.mnist.check_images`, plus: refuse empty batches and batches that look like pixels in
    [0, 1]; return the images as float32 clipped to [-1, 1] (as when samples are shown or saved)."""
    from .mnist import check_images

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


def _test_stats(model: Classifier, root=None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the 10000 test digits' features; computed once per model and data folder."""
    cache = _REFERENCE.setdefault(model, {})
    key = str(_data_root(root))
    if key not in cache:
        x, _ = _mnist("test", root)
        with _evaluating(model):
            cache[key] = _stats(_batched(model.features, x, device=_device(model)).double().numpy())
    return cache[key]


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
    a = _as_2d_float64("features", features)
    n = a.shape[0]
    sizes = sorted({max(2, round(n * f)) for f in (0.4, 0.6, 0.8, 1.0)})
    rng = np.random.default_rng(seed)
    fds = []
    for m in sizes:
        reps = 1 if m == n else draws
        fds.append(float(np.mean([fid_from_stats(*_stats(a[rng.choice(n, m, replace=False)]), mu_b, cov_b)
                                  for _ in range(reps)])))
    inv = 1.0 / np.asarray(sizes, dtype=np.float64)
    slope, intercept = np.polyfit(inv, np.asarray(fds), 1)
    return {"fd_inf": float(intercept), "slope": float(slope), "sizes": sizes, "fds": fds}


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
    x = _check_images(x)
    model = load_classifier() if model is None else model
    with _evaluating(model):
        feats = _batched(model.features, x, device=_device(model)).double()  # (N, F)
        probs = _batched(lambda f: torch.softmax(model.head(f), dim=1), feats.float(),
                         device=_device(model))  # (N, 10)
    counts = torch.bincount(probs.argmax(1), minlength=10)  # (10,)
    entropy = label_entropy(probs)
    if reference_features is None:
        mu_b, cov_b = _test_stats(model, root)
    else:
        mu_b, cov_b = _stats(_as_2d_float64("reference_features", reference_features))
    fd = fid_from_stats(*_stats(_as_2d_float64("features", feats.numpy())), mu_b, cov_b) if x.shape[0] >= 2 \
        else float("nan")
    fd_inf = fd_infinity(feats.numpy(), mu_b, cov_b)["fd_inf"] if x.shape[0] >= 2.5 * feats.shape[1] else None
    return {"fd": fd, "fd_inf": fd_inf, "confident": float((probs.max(1).values >= threshold).double().mean()),
            "entropy": entropy, "label_counts": [int(c) for c in counts], "n": int(x.shape[0])}


def label_entropy(probs: Tensor) -> float:
    r"""Entropy (nats) of the histogram of predicted labels: ``H = -sum_k p_k log p_k`` with
    ``p_k`` = share of the N samples whose most likely class is k.

    ``log 10 = 2.303`` when the ten digits are equally frequent; 0 when every sample is one digit.
    It measures mode coverage (diversity across classes), not the confidence of single samples.

    Args:
        probs: class probabilities (or logits), shape (N, K).
    """
    counts = torch.bincount(probs.argmax(1), minlength=probs.shape[1])  # (K,)
    p = counts.double() / counts.sum()
    return float(-(p[p > 0] * p[p > 0].log()).sum()) + 0.0  # + 0.0: no "-0.0" for one class


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
    train_pixels, _ = _pixels("train", root)
    n_test = _pixels("test", root)[0].shape[0]
    if not 2 <= n <= n_test:
        raise ValueError(f"n must be in 2..{n_test}, got {n}.")
    idx = torch.randperm(train_pixels.shape[0], generator=torch.Generator().manual_seed(seed))[:n]
    ref = _test_stats(model, root)
    with _evaluating(model):
        real = _batched(model.features, _scale(train_pixels[idx]), device=_device(model))  # (n, F)
        blurred = _batched(lambda b: model.features(gaussian_blur(b, sigma)), _mnist("test", root, n)[0],
                           device=_device(model))  # (n, F)
    floor = fid_from_stats(*_stats(real.double().numpy()), *ref)
    blur = fid_from_stats(*_stats(blurred.double().numpy()), *ref)
    out = {"floor_fd": floor, "blur_fd": blur, "n": n, "sigma": sigma, "floor_fd_inf": None, "blur_fd_inf": None}
    if n >= 2.5 * real.shape[1]:
        out["floor_fd_inf"] = fd_infinity(real.double().numpy(), *ref)["fd_inf"]
        out["blur_fd_inf"] = fd_infinity(blurred.double().numpy(), *ref)["fd_inf"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fmlearn.mnist_metric", description=__doc__.split("\n")[0])
    parser.add_argument("--train", action="store_true", help="train the classifier and write its weights and record")
    parser.add_argument("--out", default=str(CHECKPOINT), help="weights file (the JSON record goes beside it)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for torch (default 1: bit-for-bit reproducible, and fastest for "
                             "this small net on a busy machine)")
    parser.add_argument("--references", type=int, metavar="N", help="print floor_fd and blur_fd at this n")
    args = parser.parse_args(argv)
    if not args.train and args.references is None:
        parser.print_help()
        return 2
    torch.set_num_threads(args.threads)
    if args.train:
        train_classifier(args.epochs, args.seed, out=args.out)
    if args.references is not None:
        print(json.dumps(references(args.references, model=load_classifier(args.out)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
