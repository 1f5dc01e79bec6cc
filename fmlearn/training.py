r"""The training loop: one function, :func:`train`, around the :class:`~fmlearn.trainer.Trainer` whose step it
repeats, with its settings in one :class:`~fmlearn.train_config.TrainConfig`.

Each step is the textbook recipe, the same for flow matching and diffusion::

    x1 = data(B)                           # data x_1 ~ p_1,           (B, D)
    x0 = randn(B, D)                       # noise x_0 ~ N(0, I),      (B, D)
    loss = objective.loss(net, x0, x1)     # couple, draw t, regress net(x_t, t) on its target
    loss.backward(); optimizer.step()      # Adam
    ema = decay * ema + (1 - decay) * weights

One ``torch.Generator`` seeded with ``seed`` draws, in this order, the data, the noise and the
times, so the same seed and the same initial weights give the same loss history, bit for bit.
Everything else is plumbing kept out of the way: a progress bar, checkpoints that let an
interrupted run resume exactly, a guard that stops at the first NaN/inf loss and puts back the
last good weights, and speed (tiny models run on one CPU thread, with fused Adam).
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from torch import Tensor

from . import config
from ._checks import check_positive_int
from .losses import Objective
from .models import PathModel
from .train_config import DEFAULT_LR, PRECISIONS, Labeled, TrainConfig, TrainingDiverged
from .trainer import Trainer

__all__ = ["train", "Trainer", "TrainConfig", "TrainResult", "TrainingDiverged", "Labeled", "DEFAULT_STEPS", "DEFAULT_LR",
           "PRECISIONS"]

#: default number of steps (full, quick) for the 2D toy problems
DEFAULT_STEPS = (3000, 1000)


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        model: the trained model (raw weights), the same object that was passed in, in eval mode.
        ema: a copy of the model holding the exponential moving average of the weights (usually the better sampler).
        history: the loss of every step, shape (steps,), on the CPU.
        seconds: wall-clock time of this call's training.
        steps: number of training steps done in total (including resumed ones).
        device: where it trained, e.g. ``"cpu"``.
    """

    model: PathModel
    ema: PathModel
    history: Tensor = field(repr=False)
    seconds: float
    steps: int
    device: str


def train(model: PathModel, data, objective: Objective | str | None = "fm", *, steps: int | None = None,
          settings: TrainConfig | None = None, device=None, progress: bool = True,
          checkpoint: str | Path | None = None, checkpoint_every: int | None = None, resume: bool = True,
          lr_decay: bool = False, callback=None, **overrides) -> TrainResult:
    """Train ``model`` on fresh batches of ``data`` with Adam, keeping an EMA of the weights.

    Args:
        model: the :class:`~fmlearn.models.PathModel` to train (in place; moved to ``device``).
            Its initial weights are yours: seed torch before building it for a reproducible run.
        data: a data set name (see :data:`fmlearn.data.DATASETS`), points of shape (N, D) (a tensor or
            numpy array, wrapped in an :class:`~fmlearn.data.ArrayData`), an ArrayData, or a function ``(n, generator) -> Tensor (n, D)`` (the generator lives on ``device``).
            A function may also return pairs ``(x0, x1)``, each (n, D): then the noise comes with the
            data and the pairs are a fixed coupling (reflow, distillation: see :mod:`fmlearn.reflow`).
            A function returning :class:`Labeled` ``(x, y)`` trains a class-conditional network
            ``net(x, t, y)`` (e.g. ``MnistData("train", labels=True)`` with ``UNet(num_classes=10)``).
        objective: an :class:`~fmlearn.losses.Objective`, a preset name (``fm``, ``fm-ot``,
            ``diffusion``), or None for the objective the model was built for. Its schedule and
            parametrization must match the model's.
        steps: number of training steps (default 3000, or 1000 in quick mode). With a checkpoint,
            the total including resumed steps.
        settings: a :class:`~fmlearn.train_config.TrainConfig` (batch size, learning rate, EMA decay, seed,
            label dropout, precision); default its defaults.
        overrides: fields of :class:`~fmlearn.train_config.TrainConfig` replacing those of ``settings``:
            ``train(model, "moons", "fm", batch_size=64, lr=1e-3, seed=1)``. The default ``lr`` 3e-3 was
            measured on moons with the 3x64 MLP (3000 steps reach W2 0.20-0.24 at 3e-3 against 0.28 at
            1e-3); use about 2e-4 for image networks. ``ema_decay``: see :meth:`Trainer.update_ema`;
            ``seed`` seeds the one generator that draws data, noise and times.
        device: ``cpu``, ``cuda``, ``mps`` or None for :func:`fmlearn.config.get_device`.
        progress: show a progress bar with the running loss.
        checkpoint: file to save to every ``checkpoint_every`` steps and at the end.
        checkpoint_every: default: a tenth of the run.
        resume: continue from ``checkpoint`` if it exists (it must belong to the same configuration);
            False starts afresh and overwrites it.
        lr_decay: decay the learning rate from ``lr`` to 0 along a cosine over the ``steps`` of the run
            (sets ``lr_decay_steps = steps``; :meth:`Trainer.current_lr`); the default keeps it constant.
            With labelled data, ``label_dropout=0.1`` also teaches the network the unconditional model that
            classifier-free guidance needs (see :mod:`fmlearn.guidance`).
        callback: called as ``callback(trainer, done)`` with the :class:`Trainer` after every step (``done``
            False) and once after the last (``done`` True, losses checked); e.g. a live view of the run,
            :class:`fmlearn.teaching.live.LiveTraining`. It must be cheap or decide itself how often to work.

    Returns:
        a :class:`TrainResult`. An interrupted run keeps its checkpoint; calling ``train`` again
        with the same arguments resumes it and gives the same result as an uninterrupted run.

    Raises:
        TrainingDiverged: the loss became NaN/inf; the model holds the last weights with a finite loss.
        ValueError: the data returned NaN/inf (the model also holds the last good weights).
    """
    from tqdm.auto import tqdm

    steps = config.budget(*DEFAULT_STEPS) if steps is None else check_positive_int("steps", steps)
    cfg = TrainConfig.of(settings, **overrides)
    if lr_decay:
        cfg = TrainConfig.of(cfg, lr_decay_steps=steps)
    trainer = Trainer(model, data, objective, cfg, device=device)
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None:
        trainer.run_config()  # fails early for objectives that cannot be stored
        every = max(1, steps // 10) if checkpoint_every is None else check_positive_int("checkpoint_every",
                                                                                          checkpoint_every)
        if resume and path.exists():
            trainer.load(path)
            if trainer.step_count > steps:
                warnings.warn(f"{str(path)!r} holds {trainer.step_count} steps, more than steps={steps}; "
                              f"returning it without training.", stacklevel=2)
    start = trainer.step_count
    report = 25  # progress bar refresh interval, in steps
    t0 = time.perf_counter()
    try:
        with trainer.threads(), tqdm(total=steps, initial=min(start, steps), disable=not progress,
                                     desc="train", unit="step") as bar:
            for i in range(start, steps):
                trainer.step()
                if callback is not None:
                    callback(trainer, False)
                if path is not None and (i + 1) % every == 0 and i + 1 < steps:
                    trainer.save(path)
                if progress and ((i + 1) % report == 0 or i + 1 == steps):
                    recent = trainer.history[-report:] or [float("nan")]  # on a GPU, filled every few steps
                    bar.set_postfix_str(f"loss={sum(recent) / len(recent):.4f}", refresh=False)
                    bar.update(i + 1 - bar.n)
            trainer.finish()
            if callback is not None:
                callback(trainer, True)
    finally:
        model.eval()
    seconds = time.perf_counter() - t0
    if path is not None and trainer.step_count > start:
        trainer.save(path)
    return TrainResult(model=model, ema=trainer.ema, history=trainer.history_tensor(), seconds=seconds,
                       steps=trainer.step_count, device=str(trainer.device))
