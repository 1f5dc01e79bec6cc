r"""The state of one training run and its step: :class:`Trainer` (the loop around it is :func:`fmlearn.training.train`).

One step is the textbook recipe, the same for flow matching and diffusion (see :mod:`fmlearn.training`);
around it sit the EMA of the weights, label dropout for guidance, the learning-rate schedule, mixed
precision, a NaN guard that puts back the last good weights, and exact checkpoint / resume.
"""
from __future__ import annotations

import copy
import functools
import math
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import Tensor

from . import config
from ._checks import check_choice
from ._io import one_thread
from .checkpoints import CheckpointError, config_differences, read_checkpoint, save_checkpoint
from .losses import Objective
from .models import PathModel
from .train_config import Labeled, TrainConfig, TrainingDiverged

__all__ = ["Trainer"]

#: below this much work per step (parameters x batch size x positions per sample), one CPU thread
#: is faster than several
_ONE_THREAD_WORK = 2**25


def _data_source(data) -> tuple[Callable[[int, torch.Generator], Tensor], dict]:
    """A function ``(n, generator) -> (n, ...)`` and a plain description of ``data`` (for checkpoints)."""
    from .data import DATASETS, ArrayData
    if isinstance(data, str):
        fn = DATASETS[check_choice("dataset", data, DATASETS)]
        return (lambda n, g: fn(n, g)), {"kind": "dataset", "name": data}
    if isinstance(data, Tensor) or (hasattr(data, "__array__") and not callable(data)):
        try:  # a plain array of points (N, D): the same checks (shape, NaN) as ArrayData
            data = ArrayData(data)
        except (TypeError, ValueError) as err:
            raise type(err)(f"data (points of shape (N, D)): {err}") from None
    if isinstance(data, ArrayData):
        return data.sample, {"kind": "array", "n": len(data), "dim": data.dim}
    if callable(data):
        name = f"{getattr(data, '__module__', '')}.{getattr(data, '__qualname__', type(data).__name__)}"
        return data, {"kind": "callable", "name": name}
    raise TypeError(f"data must be a data set name (e.g. 'moons'), points (a tensor or array of shape (N, D)), "
                    f"an ArrayData or a function "
                    f"(n, generator) -> Tensor (n, D); got {type(data).__name__}.")


def _objective(objective, model: PathModel) -> Objective:
    if objective is None:  # whatever the model was built for
        objective = Objective(schedule=model.schedule, parametrization=model.parametrization)
    elif isinstance(objective, str):
        objective = Objective.preset(objective)
    elif not isinstance(objective, Objective):
        raise TypeError(f"objective must be an Objective or a preset name ('fm', 'fm-ot', 'diffusion'), "
                        f"got {type(objective).__name__}.")
    if objective.schedule != model.schedule or objective.parametrization != model.parametrization:
        raise ValueError(
            f"the model predicts {model.parametrization!r} on the {model.schedule!r} path, but the objective "
            f"trains {objective.parametrization!r} on {objective.schedule!r}. Build the model as "
            f"PathModel(net, {objective.schedule.config()!r}, {objective.parametrization!r}), or pass "
            f"objective=None to train what the model was built for.")
    return objective


def _adam(params, lr: float) -> torch.optim.Adam:
    """Adam, fused into one kernel where this torch and device support it (2x faster for small models)."""
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr)


def _setting(name: str) -> property:
    """A read-only attribute of the trainer that is the field ``name`` of its :class:`TrainConfig`."""
    return property(lambda self: getattr(self.settings, name), doc=f"``settings.{name}`` (read-only).")


class Trainer:
    """The state of a training run (model, EMA, optimizer, random generator) and its :meth:`step`.

    :func:`train` is a loop over :meth:`step` with a progress bar and checkpoints; use the class
    directly to interleave training with your own code::

        trainer = Trainer(model, "moons", "fm")
        with trainer.threads():
            for _ in range(100):
                loss = trainer.step()

    Args:
        model, data, objective: as :func:`~fmlearn.training.train`.
        settings: a :class:`~fmlearn.training.TrainConfig` (default: its defaults).
        device: where to train (default :func:`fmlearn.config.get_device`).
        overrides: fields of :class:`~fmlearn.training.TrainConfig` replacing those of ``settings``,
            e.g. ``Trainer(model, "moons", batch_size=64, lr=1e-3)``.
    """

    batch_size, lr, ema_decay, seed = (_setting(n) for n in ("batch_size", "lr", "ema_decay", "seed"))
    label_dropout, lr_decay_steps, precision = (_setting(n) for n in ("label_dropout", "lr_decay_steps", "precision"))

    def __init__(self, model: PathModel, data, objective: Objective | str | None = "fm",
                 settings: TrainConfig | None = None, *, device=None, **overrides):
        if not isinstance(model, PathModel):
            raise TypeError(f"model must be a PathModel, got {type(model).__name__}; wrap your network: "
                            f"PathModel(net, 'linear', 'velocity').")
        cfg = TrainConfig.of(settings, **overrides)
        self.settings = cfg
        self.num_classes = getattr(model.net, "num_classes", None)  # None: the network takes no labels
        if cfg.label_dropout and self.num_classes is None:
            raise ValueError(f"label_dropout={cfg.label_dropout} needs a class-conditional network (with a "
                             f"num_classes attribute, e.g. UNet(num_classes=10)); this one takes no labels.")
        self.device = config.get_device(device)
        self.model = model.to(self.device).train()
        self.objective = _objective(objective, model)
        self.draw_data, self.data_config = _data_source(data)
        self.generator = torch.Generator(device=self.device).manual_seed(cfg.seed)
        self.optimizer = _adam(model.parameters(), cfg.lr)
        self.ema = copy.deepcopy(model).requires_grad_(False).eval()
        self._params = [p.detach() for p in model.parameters()]  # views sharing the weights' storage
        self._ema_params = [p.detach() for p in self.ema.parameters()]
        if not self._params:
            raise ValueError("the model has no parameters to train.")
        self.dtype = self._params[0].dtype
        self.step_count = 0
        self.history: list[float] = []  # the loss of every checked step
        # NaN guard: losses are checked every `check_every` steps (each check waits for the device);
        # `_good` holds the last weights known to give a finite loss, `_candidate` the window's first.
        self.check_every = 1 if self.device.type == "cpu" else 20
        self._pending: list[Tensor] = []  # losses (0-dim, on the device) of the steps not checked yet
        self._good = [p.detach().clone() for p in self._params]
        self._good_step = 0
        self._candidate = [p.detach().clone() for p in self._params]
        self._window: list[Tensor] = []  # their data batches
        self._checked_data = False

    # ---- one step -----------------------------------------------------------------------------
    def step(self) -> Tensor:
        """One training step on a fresh batch; returns the loss (0-dim tensor, detached)."""
        self._before_step()
        g = self.generator
        batch = self._data(self.batch_size, g)
        net = self.model.net
        if isinstance(batch, Labeled):  # class-conditional: the network sees the (sometimes dropped) labels
            x1 = batch.x  # data x_1, (B, ...)
            y = self.drop_labels(batch.y, g)  # (B,)
            x0 = torch.randn(x1.shape, generator=g, device=self.device, dtype=self.dtype)
            net = functools.partial(self.model.net, y=y)  # net(x, t) -> net(x, t, y=y)
        elif isinstance(batch, tuple):  # a fixed coupling (e.g. reflow): the data brings its own noise
            x0, x1 = batch  # (B, D) each
        else:
            x1 = batch  # data x_1, (B, D)
            x0 = torch.randn(x1.shape, generator=g, device=self.device, dtype=self.dtype)  # noise x_0, (B, D)
        with self.autocast():  # bf16: the network's matmuls and convolutions in bfloat16, the rest float32
            loss = self.objective.loss(net, x0, x1, generator=g, check=False)  # couple, draw t, regress on target
        if self.lr_decay_steps is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = self.current_lr()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.update_ema()
        seen = torch.stack(batch) if isinstance(batch, tuple) and not isinstance(batch, Labeled) else x1
        return self._after_step(loss.detach(), seen)  # (seen: what the NaN guard checks)

    def autocast(self):
        """The context of the forward pass: ``torch.autocast`` to bfloat16 for ``precision="bf16"``.

        Mixed precision as usual: weights, gradients, Adam and the EMA stay float32; only matrix
        products and convolutions run in bfloat16. On a CPU with native bfloat16 (AVX512-BF16 or AMX)
        it makes the MNIST UNet's steps 1.3x faster (0.124 -> 0.093 s for a batch of 64 on two AVX512-BF16
        threads). Without native support it can be much slower: time a few steps before you choose it.
        """
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def current_lr(self) -> float:
        r"""The learning rate of the next step: ``lr``, or with ``lr_decay_steps = T`` the cosine decay
        ``lr * (1 + cos(pi * min(n, T) / T)) / 2`` at step n (from lr at the start to 0 at step T)."""
        if self.lr_decay_steps is None:
            return self.lr
        n = min(self.step_count, self.lr_decay_steps)
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * n / self.lr_decay_steps))

    def drop_labels(self, y: Tensor, g: torch.Generator) -> Tensor:
        """Replace each label by the null label ``num_classes`` with probability ``label_dropout``.

        Training on both ``v(x, t, y)`` and ``v(x, t, null)`` with one network is what classifier-free
        guidance needs (Ho & Salimans 2022). Labels (B,) -> labels (B,).
        """
        if not self.label_dropout:
            return y
        drop = torch.rand(y.shape, generator=g, device=y.device) < self.label_dropout  # (B,)
        return torch.where(drop, torch.full_like(y, self.num_classes), y)

    def update_ema(self) -> None:
        r"""``ema <- d ema + (1 - d) weights`` with ``d = min(ema_decay, (1 + n) / (10 + n))`` at step n.

        The warm-up ``(1 + n) / (10 + n)`` (as in TensorFlow's ExponentialMovingAverage) keeps the
        average of a short run from being dominated by the random initial weights.
        """
        n = self.step_count
        decay = min(self.ema_decay, (1 + n) / (10 + n))
        torch._foreach_lerp_(self._ema_params, self._params, 1.0 - decay)

    def _data(self, n: int, g: torch.Generator) -> Tensor | tuple[Tensor, Tensor] | Labeled:
        x = self.draw_data(n, g)
        if isinstance(x, Labeled):
            if not self._checked_data:
                self._check_labels(x.y, n)
                self._check_first_batch(x.x, n)
            return Labeled(x.x.to(device=self.device, dtype=self.dtype), x.y.to(device=self.device))
        if not self._checked_data and self.label_dropout:
            raise ValueError(f"label_dropout={self.label_dropout} needs labelled data: the data source must "
                             f"return fmlearn.training.Labeled(x, y), e.g. MnistData('train', labels=True).")
        pair = isinstance(x, tuple)
        if not self._checked_data:  # the first batch is checked in full, later ones only for NaN/inf
            if pair and len(x) != 2:
                raise ValueError(f"data returned a tuple of {len(x)} items; a fixed coupling returns (x0, x1).")
            for part in (x if pair else (x,)):
                self._check_first_batch(part, n)
        if pair:
            return tuple(part.to(device=self.device, dtype=self.dtype) for part in x)
        return x.to(device=self.device, dtype=self.dtype)

    def _check_labels(self, y, n: int) -> None:
        if self.num_classes is None:
            raise ValueError("the data returns labels (Labeled), but the network takes none; build a "
                             "class-conditional network, e.g. UNet(num_classes=10), or return only images.")
        if not isinstance(y, Tensor) or y.shape != (n,) or y.is_floating_point() or y.dtype == torch.bool:
            got = f"{y.dtype} {tuple(y.shape)}" if isinstance(y, Tensor) else type(y).__name__
            raise ValueError(f"labels must be an integer Tensor of shape ({n},), got {got}.")
        if int(y.min()) < 0 or int(y.max()) >= self.num_classes:
            raise ValueError(f"labels must lie in 0..{self.num_classes - 1}, got {int(y.min())}..{int(y.max())}.")

    def _check_first_batch(self, x, n: int) -> None:
        desc = self.data_config.get("name", self.data_config["kind"])
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise TypeError(f"data {desc!r} must return a floating-point Tensor of shape ({n}, ...), got "
                            f"{type(x).__name__ if not isinstance(x, Tensor) else x.dtype}.")
        want = (n, *self.model.shape) if self.model.shape else None
        if x.ndim < 2 or x.shape[0] != n or (want is not None and tuple(x.shape) != want):
            raise ValueError(f"data {desc!r} returned shape {tuple(x.shape)} for n={n}, but the model needs "
                             f"{want if want else (n, '...')}.")
        self._checked_data = True

    # ---- NaN guard ----------------------------------------------------------------------------
    def _before_step(self) -> None:
        if not self._window:  # first step of a window: remember its weights
            torch._foreach_copy_(self._candidate, self._params)

    def _after_step(self, loss: Tensor, x1: Tensor) -> Tensor:
        self._pending.append(loss)
        self._window.append(x1)
        self.step_count += 1
        if len(self._pending) >= self.check_every:
            self.check()
        return loss

    def check(self) -> None:
        """Check the losses since the last check; on NaN/inf, restore the last good weights and raise.

        Raises:
            ValueError: the data of the bad step held NaN/inf values.
            TrainingDiverged: the loss became NaN/inf with finite data (the learning rate is too high).
        """
        n = len(self._pending)
        if n == 0:
            return
        values = [self._pending[0].item()] if n == 1 else torch.stack(self._pending).tolist()  # waits for the device
        self._pending.clear()
        bad = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)  # first bad step in the window
        if bad is None:  # the window's first weights gave a finite loss: they are the new last good weights
            self.history += values
            self._good, self._candidate = self._candidate, self._good
            self._good_step = self.step_count - n
            self._window.clear()
            return
        step = self.step_count - n + bad
        # the weights before the window (before the bad step when checking every step) if they are
        # finite, else the last weights that gave a finite loss
        usable = bad > 0 or all(bool(torch.isfinite(w).all()) for w in self._candidate)
        weights, restored = (self._candidate, step - bad) if usable else (self._good, self._good_step)
        torch._foreach_copy_(self._params, weights)
        data_ok = bool(torch.isfinite(self._window[bad]).all())
        self._window.clear()
        self.history += values[:bad]
        last = self.history[step - 1] if step > 0 else None
        value = values[bad]
        del self.history[restored:]
        self.step_count = restored
        where = "its initial weights" if restored == 0 else f"the weights it had before step {restored}"
        if not data_ok:
            desc = self.data_config.get("name", self.data_config["kind"])
            raise ValueError(f"the data batch of step {step} from data {desc!r} contains NaN or infinite values; "
                             f"clean the data (e.g. keep the rows where np.isfinite(points).all(axis=1)). "
                             f"The model holds {where}.")
        last_txt = f"{last:.4g} (step {step - 1})" if last is not None else "none (it was the first step)"
        raise TrainingDiverged(
            f"training diverged at step {step}: the loss became {value}; the last finite loss was {last_txt}. "
            f"The model holds {where}. Lower the learning rate (lr={self.lr:g}; try lr={self.lr / 10:g}).",
            step=step, last_loss=last)

    # ---- plumbing -----------------------------------------------------------------------------
    @contextmanager
    def threads(self) -> Iterator[None]:
        """Run tiny models on one CPU thread (splitting a 64-wide matmul costs more than it saves);
        restores the caller's thread count afterwards.

        Work is counted as parameters x batch size x positions per sample (28 x 28 = 784 for an
        image, whose convolutions reuse each weight at every pixel; 1 for a point in R^D).
        """
        positions = math.prod(self.model.shape[1:]) if self.model.shape and len(self.model.shape) > 1 else 1
        work = sum(p.numel() for p in self._params) * self.batch_size * positions
        with one_thread(self.device.type == "cpu" and work < _ONE_THREAD_WORK):
            yield

    def history_tensor(self) -> Tensor:
        """The loss of every checked step, shape (steps,), on the CPU (call :meth:`check` first)."""
        return torch.tensor(self.history, dtype=torch.float32)

    def finish(self) -> None:
        """Check the last losses and copy the model's buffers into the EMA model."""
        self.check()
        with torch.no_grad():
            for mine, theirs in zip(self.ema.buffers(), self.model.buffers()):
                mine.copy_(theirs)

    def run_config(self) -> dict:
        """Everything a checkpoint must match to be resumed by this run (plain JSON types)."""
        return {"model": self.model.describe(), "objective": self.objective.config(),
                "training": {"data": self.data_config, **self.settings.stored()}}

    def save(self, path: str | Path) -> Path:
        """Checkpoint everything needed to resume exactly (atomic write)."""
        self.finish()
        cfg = self.run_config()
        return save_checkpoint(path, self.model, ema=self.ema, objective=cfg["objective"],
                               history=self.history_tensor(), step=self.step_count,
                               optimizer_state=self.optimizer.state_dict(),
                               generator_state=self.generator.get_state(), training=cfg["training"])

    def load(self, path: str | Path) -> None:
        """Resume from a checkpoint written by :meth:`save` for the same configuration."""
        ckpt = read_checkpoint(path, map_location=self.device)
        stored, wanted = ckpt.get("config") or {}, self.run_config()
        diffs = config_differences(stored, wanted)
        # settings written only when used (label dropout, lr decay, bf16) bind the other way round too
        extra = set((stored.get("training") or {})) - set(wanted["training"])
        diffs += [f"training.{k}: file has {stored['training'][k]!r}, expected nothing" for k in sorted(extra)]
        if diffs:
            raise CheckpointError(f"{str(path)!r} belongs to another training run:\n  " + "\n  ".join(diffs)
                                  + "\nPass another checkpoint path, or resume=False to overwrite it.")
        if ckpt.get("optimizer_state") is None or ckpt.get("generator_state") is None:
            raise CheckpointError(f"{str(path)!r} has no optimizer or generator state, so training cannot "
                                  f"resume from it; pass resume=False to overwrite it.")
        with torch.no_grad():
            self.model.load_state_dict(ckpt["state_dict"])
            self.ema.load_state_dict(ckpt["ema_state_dict"])
        self.optimizer.load_state_dict(ckpt["optimizer_state"])
        self.generator.set_state(ckpt["generator_state"].cpu())
        self.step_count = int(ckpt["step"])
        history = ckpt.get("history")
        self.history = history.tolist() if history is not None else []
        self._good = [p.detach().clone() for p in self._params]
        self._good_step = self.step_count
        self._window.clear()


