r"""Flow matching and diffusion on MNIST with the same UNet: build, train, load.

=============  ======================  ==========================================================
kind           path, prediction        objective
=============  ======================  ==========================================================
``fm``         linear, velocity        flow matching (``Objective.preset("fm")``)
``diffusion``  cosine VP, noise        DDPM's noise regression (``Objective.preset("diffusion")``)
=============  ======================  ==========================================================

Both use :class:`fmlearn.unet.UNet` with the same channels, batch size, learning rate and steps,
so that notebook 08 compares the families and nothing else. Train from the command line::

    python -m fmlearn train-mnist --model fm --steps 12000 --out runs/mnist_fm.pt

It shows a progress bar, keeps an EMA of the weights, writes a checkpoint every
``--checkpoint-every`` steps (atomically), and resumes from ``--out`` when it exists with the same
configuration: an interrupted run loses at most one interval. The device is chosen automatically
(cuda > mps > cpu) unless ``--device`` is given.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ._checks import check_choice, check_positive_int
from .models import PathModel

__all__ = ["KINDS", "build_mnist_model", "train_mnist", "export_checkpoint", "evaluate_model", "main"]

KINDS = {"fm": ("linear", "velocity", "fm"), "diffusion": ("cosine", "noise", "diffusion")}
DEFAULTS = dict(steps=12000, batch_size=64, lr=2e-4, checkpoint_every=500)


def build_mnist_model(kind: str = "fm", channels=(16, 32, 64), seed: int = 0) -> PathModel:
    """A fresh :class:`~fmlearn.models.PathModel` with a UNet for 28x28 digits (weights seeded by ``seed``)."""
    from .unet import UNet

    schedule, parametrization, _ = KINDS[check_choice("model", kind, KINDS)]
    torch.manual_seed(seed)
    return PathModel(UNet(channels=channels), schedule, parametrization)


def train_mnist(kind: str = "fm", steps: int = DEFAULTS["steps"], out: str | Path | None = None, *,
                batch_size: int = DEFAULTS["batch_size"], lr: float = DEFAULTS["lr"], seed: int = 0,
                checkpoint_every: int = DEFAULTS["checkpoint_every"], device=None, progress: bool = True,
                channels=(16, 32, 64), root=None):
    """Train one MNIST model (see the module docstring); returns :class:`~fmlearn.training.TrainResult`.

    Args:
        kind: ``fm`` or ``diffusion``.
        steps: total training steps (a resumed run counts the steps already done).
        out: checkpoint file (written every ``checkpoint_every`` steps and at the end; resumed from).
        batch_size, lr, seed: as :func:`fmlearn.training.train` (lr 2e-4 suits this UNet).
        root: folder of the MNIST files (default ``$FMLEARN_DATA/mnist``).
    """
    from .mnist import MnistData
    from .training import train

    check_positive_int("steps", steps)
    model = build_mnist_model(kind, channels, seed)
    data = MnistData("train", root=root)
    objective = KINDS[kind][2]
    return train(model, data, objective, steps=steps, batch_size=batch_size, lr=lr, seed=seed, device=device,
                 progress=progress, checkpoint=out, checkpoint_every=checkpoint_every if out else None)


def export_checkpoint(src: str | Path, dst: str | Path, *, extra: dict | None = None) -> Path:
    """Write the EMA weights of a training checkpoint, without optimizer state, as a small shippable file.

    The exported file loads with :func:`fmlearn.checkpoints.load_checkpoint` like any other (its ``model``
    holds the EMA weights) and keeps the configuration, the training settings, the step count and the
    loss history. About 1.1 MB for the default UNet.
    """
    from .checkpoints import load_checkpoint, save_checkpoint

    loaded = load_checkpoint(src)
    cfg = loaded.config
    return save_checkpoint(dst, loaded.ema if loaded.ema is not None else loaded.model,
                           objective=cfg.get("objective"), history=loaded.history, step=loaded.step,
                           training=cfg.get("training"), extra=extra)


def evaluate_model(model: PathModel, sampler: str = "euler", nfe: int = 100, n: int = 1000, seed: int = 0,
                   batch_size: int = 250) -> dict:
    """Sample ``n`` digits and score them with :func:`fmlearn.mnist_metric.evaluate_images`.

    Returns:
        ``{"sampler", "nfe" (counted), "n", "fd", "confident", "entropy", "seconds"}``; FD depends on n:
        compare only at equal n (at n = 1000, real test digits score about 9).
    """
    import time

    from .mnist_metric import evaluate_images
    from .samplers import sample

    g = torch.Generator().manual_seed(seed)
    chunks, nfe_counted, start = [], 0, time.perf_counter()
    for i in range(0, n, batch_size):
        out = sample(model, model.noise(min(batch_size, n - i), generator=g), sampler, nfe, generator=g)
        chunks.append(out.samples)
        nfe_counted = out.nfe
    seconds = time.perf_counter() - start
    scores = evaluate_images(torch.cat(chunks).clamp(-1.5, 1.5))
    return {"sampler": sampler, "nfe": nfe_counted, "n": n, "fd": scores["fd"], "confident": scores["confident"],
            "entropy": scores["entropy"], "seconds": seconds}


def add_arguments(parser) -> None:
    parser.add_argument("--model", default="fm", choices=sorted(KINDS), help="fm or diffusion (default fm)")
    parser.add_argument("--steps", type=int, default=DEFAULTS["steps"], help="total training steps")
    parser.add_argument("--out", required=True, help="checkpoint file (resumed from when it exists)")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    parser.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-every", type=int, default=DEFAULTS["checkpoint_every"])
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: automatic)")


def main(args) -> int:
    """``python -m fmlearn train-mnist``: train, print where the checkpoint is and how long it took."""
    result = train_mnist(args.model, args.steps, args.out, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                         checkpoint_every=args.checkpoint_every, device=args.device)
    tail = result.history[-200:].mean().item() if len(result.history) else float("nan")
    print(f"trained {args.model}: {result.steps} steps in {result.seconds:.0f} s on {result.device}; "
          f"mean loss of the last 200 steps {tail:.4f}; checkpoint {args.out}")
    return 0
