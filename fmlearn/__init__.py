"""fmlearn: flow matching and diffusion on one Gaussian-path core.

The main objects, importable from the top level (loaded on first use, so ``import fmlearn`` is cheap):

>>> import fmlearn
>>> model = fmlearn.PathModel(fmlearn.MLP(dim=2), "linear", "velocity")   # a flow matching model
>>> run = fmlearn.train(model, "moons", "fm")                              # doctest: +SKIP
>>> out = fmlearn.sample(run.ema, 1000, "euler", nfe=20)                   # doctest: +SKIP

The core modules are named after the maths: ``schedules`` (paths), ``parametrizations``, ``losses``,
``couplings``, ``models`` and ``unet`` (networks), ``training``, ``ode`` (solvers), ``samplers``,
``likelihood``, ``metrics``, ``frechet``, ``guidance``, ``reflow``, ``data``, ``gaussians``, ``checkpoints``,
``config``. Above them, in layers that import only downward: ``fmlearn.mnist`` (the MNIST scale),
``fmlearn.experiments`` (the races and their repeats) and ``fmlearn.teaching`` (figures, widgets,
exercises), which the notebooks use.
"""
from __future__ import annotations

import importlib

from fmlearn._version import __version__

_EXPORTS = {
    "get_schedule": "schedules", "LinearSchedule": "schedules", "CosineSchedule": "schedules",
    "LinearBetaSchedule": "schedules", "convert": "parametrizations", "MLP": "models", "PathModel": "models",
    "Objective": "losses", "flow_matching_loss": "losses", "diffusion_loss": "losses", "path_loss": "losses",
    "train": "training", "sample": "samplers", "log_likelihood": "likelihood", "sample_data": "data",
    "ArrayData": "data", "GaussianMixture": "gaussians", "wasserstein2": "metrics",
    "save_checkpoint": "checkpoints", "load_checkpoint": "checkpoints", "quick_mode": "config",
    "get_device": "config", "UNet": "unet",
}
_MODULES = {"schedules", "parametrizations", "losses", "couplings", "models", "unet", "training", "trainer", "ode",
            "samplers", "likelihood", "metrics", "frechet", "guidance", "reflow", "data", "gaussians", "checkpoints", "networks",
            "config", "mnist", "experiments", "teaching"}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"fmlearn.{_EXPORTS[name]}"), name)
    if name in _MODULES:
        return importlib.import_module(f"fmlearn.{name}")
    raise AttributeError(f"module 'fmlearn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS) | _MODULES)
