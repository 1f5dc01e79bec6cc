r"""The settings of a training run in one place (:class:`TrainConfig`), and the small types a run returns or raises.

:class:`TrainConfig` is what :func:`fmlearn.training.train`, :class:`fmlearn.trainer.Trainer`, the options of
``python -m fmlearn train-mnist`` (:meth:`TrainConfig.add_arguments`) and the ``training`` part of a
checkpoint's configuration (:meth:`TrainConfig.stored`) are all derived from: a new setting is one new field.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import NamedTuple

from torch import Tensor

from ._checks import check_choice, check_positive_int

__all__ = ["TrainConfig", "Labeled", "TrainingDiverged", "PRECISIONS", "DEFAULT_LR"]

#: arithmetic of the forward pass: float32, or bfloat16 mixed precision (see Trainer.autocast)
PRECISIONS = ("fp32", "bf16")
DEFAULT_LR = 3e-3  # for the course's small 2D MLPs; image networks want about 2e-4


@dataclass(frozen=True)
class TrainConfig:
    """How to train, apart from the model, the data, the objective and the number of steps.

    Attributes:
        batch_size: points (or images) per step.
        lr: Adam's learning rate (3e-3 measured best for the 3x64 MLP on the 2D sets; about 2e-4 suits
            image networks).
        ema_decay: decay ``d`` of the exponential moving average of the weights, in [0, 1).
        seed: seeds the one generator that draws data, noise and times.
        label_dropout: probability of replacing a label by the null label (classifier-free guidance; 0.1 is
            usual); needs a class-conditional network and labelled data.
        lr_decay_steps: cosine decay of the learning rate to 0 over this many steps (None: constant).
        precision: ``fp32``, or ``bf16`` mixed precision (:meth:`fmlearn.trainer.Trainer.autocast`).
    """

    batch_size: int = field(default=256, metadata={"help": "points (or images) per step"})
    lr: float = field(default=DEFAULT_LR, metadata={"help": "Adam's learning rate"})
    ema_decay: float = field(default=0.999, metadata={"help": "decay of the EMA of the weights, in [0, 1)"})
    seed: int = field(default=0, metadata={"help": "seed of the generator that draws data, noise and times"})
    label_dropout: float = field(default=0.0, metadata={
        "help": "with --conditional: probability of dropping a label (for classifier-free guidance)"})
    lr_decay_steps: int | None = field(default=None, metadata={"cli": False})  # the CLI sets it with --lr-decay
    precision: str = field(default="fp32", metadata={
        "help": "bf16: mixed precision, faster on CPUs with native bfloat16", "choices": PRECISIONS})

    def __post_init__(self):
        check_positive_int("batch_size", self.batch_size)
        if isinstance(self.lr, bool) or not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}.")
        if isinstance(self.ema_decay, bool) or not (isinstance(self.ema_decay, (int, float))
                                                    and 0.0 <= self.ema_decay < 1.0):
            raise ValueError(f"ema_decay must lie in [0, 1), got {self.ema_decay!r}; 0.999 is usual.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an int, got {self.seed!r}.")
        if isinstance(self.label_dropout, bool) or not (isinstance(self.label_dropout, (int, float))
                                                        and 0.0 <= self.label_dropout < 1.0):
            raise ValueError(f"label_dropout must lie in [0, 1), got {self.label_dropout!r}; 0.1 is usual for "
                             f"classifier-free guidance.")
        if self.lr_decay_steps is not None:
            check_positive_int("lr_decay_steps", self.lr_decay_steps)
        check_choice("precision", self.precision, PRECISIONS)
        object.__setattr__(self, "lr", float(self.lr))
        object.__setattr__(self, "ema_decay", float(self.ema_decay))
        object.__setattr__(self, "label_dropout", float(self.label_dropout))

    @classmethod
    def of(cls, settings: TrainConfig | None = None, **overrides) -> TrainConfig:
        """``settings`` (default: the defaults) with ``overrides`` replacing some fields; unknown names refused."""
        base = cls() if settings is None else settings
        if not isinstance(base, cls):
            raise TypeError(f"settings must be a TrainConfig, got {type(base).__name__}.")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise TypeError(f"unknown training setting(s) {unknown}; the settings are {sorted(names)}.")
        return dataclasses.replace(base, **overrides) if overrides else base

    def stored(self) -> dict:
        """The ``training`` entries of a checkpoint's configuration (plain JSON types). Settings left at their
        "off" value (no label dropout, no decay, fp32) are omitted, so older checkpoints still match."""
        out = {"batch_size": self.batch_size, "lr": self.lr, "ema_decay": self.ema_decay, "seed": self.seed}
        if self.label_dropout:
            out["label_dropout"] = self.label_dropout
        if self.lr_decay_steps:
            out["lr_decay_steps"] = self.lr_decay_steps
        if self.precision != "fp32":
            out["precision"] = self.precision
        return out

    @classmethod
    def add_arguments(cls, parser, defaults: TrainConfig | None = None) -> None:
        """Add one ``--option`` per field (``batch_size`` -> ``--batch-size``) to an argparse parser, with the
        field's help, choices and the default of ``defaults``."""
        defaults = cls() if defaults is None else defaults
        for f in dataclasses.fields(cls):
            if not f.metadata.get("cli", True):
                continue
            value = getattr(defaults, f.name)
            kind = type(value) if value is not None else str
            extra = {"choices": f.metadata["choices"]} if "choices" in f.metadata else {}
            parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=kind, default=value,
                                help=f"{f.metadata.get('help', '')} (default {value})", **extra)

    @classmethod
    def from_args(cls, args, **overrides) -> TrainConfig:
        """The settings parsed by :meth:`add_arguments`, with ``overrides`` (e.g. ``lr_decay_steps``)."""
        values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
        return cls(**{**values, **overrides})


class Labeled(NamedTuple):
    """A batch of data with class labels, returned by a data source for class-conditional training.

    Attributes:
        x: data x_1, float, shape (B, ...).
        y: integer labels, shape (B,).
    """

    x: Tensor
    y: Tensor


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite. ``step``: the bad step; ``last_loss``: the last finite loss."""

    def __init__(self, message: str, *, step: int, last_loss: float | None):
        super().__init__(message)
        self.step, self.last_loss = step, last_loss
