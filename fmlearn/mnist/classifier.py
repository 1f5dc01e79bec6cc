r"""The MNIST classifier whose features measure generated digits: a small CNN, its training and loading.

:class:`Classifier` (> 99% test accuracy) is shipped as ``fmlearn/checkpoints/mnist_classifier.pt``
with a JSON record beside it (seed, accuracy, references, the command). :mod:`fmlearn.mnist.metric`
uses its penultimate features for the Fréchet distance and its class probabilities for the confident
share and the label entropy. Retrain it (about 4 minutes on one CPU core) with::

    python -m fmlearn.mnist.classifier --train --out fmlearn/checkpoints/mnist_classifier.pt
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._io import atomic_write, package_path
from ..config import device_of, seeded
from .data import load_mnist, mnist_pixels, mnist_tensors, scale_pixels

__all__ = ["CHECKPOINT", "RECORD", "RETRAIN_COMMAND", "ClassifierFileError", "Classifier", "train_classifier",
           "load_classifier", "classifier_features", "classifier_accuracy", "evaluating", "batched"]

CHECKPOINT = package_path("checkpoints", "mnist_classifier.pt")
RECORD = CHECKPOINT.with_suffix(".json")
RETRAIN_COMMAND = "python -m fmlearn.mnist.classifier --train --out fmlearn/checkpoints/mnist_classifier.pt"
FORMAT = "fmlearn-mnist-classifier"


class ClassifierFileError(RuntimeError):
    """The classifier's weights are missing, corrupted, or belong to another architecture."""


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
def evaluating(model: nn.Module):
    """Eval mode (BatchNorm running statistics, no dropout) for the block; the previous mode is restored."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@torch.no_grad()
def batched(fn, x: Tensor, batch_size: int = 1000, device: torch.device | None = None) -> Tensor:
    """Apply ``fn`` to x in batches (moved to ``device``) under no_grad; concatenate the results on the CPU."""
    return torch.cat([fn(x[i:i + batch_size].to(device)).cpu() for i in range(0, x.shape[0], batch_size)])


def classifier_accuracy(model: Classifier | None = None, n: int | None = None, *, root=None) -> float:
    """Share of the first ``n`` test digits (all 10000 if None) that ``model`` classifies correctly."""
    model = load_classifier() if model is None else model
    x, y = mnist_tensors("test", n, root=root)
    with evaluating(model):
        pred = batched(lambda b: model(b).argmax(1), x, device=device_of(model))  # (n,)
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
        root: folder of the MNIST files (default: see :func:`fmlearn.mnist.data.locate`).
        references_n: also measure :func:`fmlearn.mnist.metric.references` at this n for the record (None skips it).
        verbose: print progress.

    Returns:
        ``(model, record)``: the trained model in eval mode and the record written to JSON.
    """
    pixels, y = mnist_pixels("train", root=root)
    n = pixels.shape[0]
    steps_per_epoch = n // batch_size  # drop the last partial batch: every step has the same size
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    with seeded(seed):
        model = Classifier()
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
        model.train()
        for epoch in range(epochs):
            perm = torch.randperm(n, generator=gen)
            running = 0.0
            for i in range(steps_per_epoch):
                idx = perm[i * batch_size:(i + 1) * batch_size]
                xb = scale_pixels(pixels[idx])  # (B, 1, 28, 28)
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
        "n_test": len(load_mnist("test", root)[1]),  # the cached arrays: no copy for a count
        "train_seconds": round(train_seconds, 1),
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "machine": platform.processor() or platform.machine(),
        "command": RETRAIN_COMMAND,
    }
    if references_n:
        t0 = time.perf_counter()
        from .metric import references  # the metric is built on this module

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
    from .metric import check_samples

    x = check_samples(x)
    with evaluating(model):
        return batched(model.features, x, batch_size, device_of(model))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fmlearn.mnist.classifier", description=__doc__.split("\n")[0])
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
        from .metric import references

        print(json.dumps(references(args.references, model=load_classifier(args.out)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
