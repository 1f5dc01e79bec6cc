"""What the claims' experiments share: the two families as the course builds them, one way to train one, the
moons reference they are scored against, and the mean of a measurement over matching rows."""
from __future__ import annotations

import copy

import torch
from torch import Tensor

from ... import config
from ...data import sample_data
from ...losses import Objective
from ...metrics import wasserstein2
from ...models import MLP, PathModel
from ...train_config import TrainConfig
from ...trainer import Trainer
from ...training import train
from ..common import derive_seed

__all__ = ["FAMILIES", "train_family", "train_family_snapshots", "moons_reference", "mean_where"]

#: family -> (path, what the network predicts, loss preset): the course's flow matching and diffusion
FAMILIES = {"fm": ("linear", "velocity", "fm"), "diffusion": ("cosine", "noise", "diffusion")}


def train_family(family: str, data, *, steps: int, seed: int, init: int, width: int = 64,
                 objective: Objective | str | None = None, progress: bool = False, **settings) -> PathModel:
    """Train the course's MLP (3 hidden layers of ``width``) as ``family`` on ``data`` on the CPU; return the EMA
    model in eval mode.

    Args:
        init: the seed of the initial weights (drawn under :func:`fmlearn.config.seeded`).
        seed: the training seed (data, noise, times).
        objective: default the family's preset.
        settings: fields of :class:`~fmlearn.train_config.TrainConfig`, e.g. ``lr``.
    """
    model, preset = _build(family, width, init)
    run = train(model, data, preset if objective is None else objective, steps=steps, seed=seed, device="cpu",
                progress=progress, **settings)
    return run.ema.eval()


def train_family_snapshots(family: str, data, *, at: tuple[int, ...], seed: int, init: int, width: int = 64,
                           **settings) -> dict[int, PathModel]:
    """One training run of :func:`train_family`, with a copy of its EMA model taken after each number of steps in
    ``at``: ``{steps: ema model}``. The snapshot after ``k`` steps equals ``train_family(..., steps=k)`` exactly
    (same weights, data, noise and times; tested), so one run of ``max(at)`` steps replaces ``len(at)`` runs."""
    model, preset = _build(family, width, init)
    trainer = Trainer(model, data, preset, TrainConfig.of(None, seed=seed, **settings), device="cpu")
    marks, out = set(at), {}
    with trainer.threads():
        for i in range(max(marks)):
            trainer.step()
            if i + 1 in marks:
                trainer.finish()
                out[i + 1] = copy.deepcopy(trainer.ema).eval()
    return out


def _build(family: str, width: int, init: int) -> tuple[PathModel, str]:
    """A fresh model of ``family`` (weights drawn under ``seeded(init)``) and its loss preset."""
    schedule, parametrization, preset = FAMILIES[family]
    with config.seeded(init):
        return PathModel(MLP(2, width, 3), schedule, parametrization), preset


def moons_reference(purpose: str, seed: int, n: int, repeats: int = 3) -> tuple[Tensor, float]:
    """``(reference, floor)``: ``n`` fresh moons points drawn for ``purpose``, and the mean W2 between it and
    ``repeats`` other fresh samples of the same size (what a perfect model scores; W2 of finite samples is noisy,
    hence the mean)."""
    ref = sample_data("moons", n, generator=torch.Generator().manual_seed(derive_seed(seed, purpose, "ref")))
    floor_g = torch.Generator().manual_seed(derive_seed(seed, purpose, "floor"))
    others = [sample_data("moons", n, generator=floor_g) for _ in range(repeats)]
    return ref, sum(wasserstein2(o, ref) for o in others) / repeats


def mean_where(rows: list[dict], key: str, **match) -> float | None:
    """The mean of ``row[key]`` over the rows whose fields equal ``match``; None when no row matches or one of
    them has no value (a failed run)."""
    values = [r[key] for r in rows if all(r[k] == v for k, v in match.items())]
    return None if not values or any(v is None for v in values) else sum(values) / len(values)
