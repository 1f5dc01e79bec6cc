"""Checkpoints that carry their configuration, are written atomically and are refused with a clear message.

A checkpoint is one ``torch.save`` file holding only tensors and plain values, so it loads with
``torch.load(..., weights_only=True)`` (no arbitrary code runs when you open a file you downloaded)::

    {"format": "fmlearn-checkpoint", "version": 1,
     "config": {"model": model.describe(), "objective": objective.config(), ...},  # plain JSON types
     "state_dict": ..., "ema_state_dict": ..., "history": ..., "step": ...,
     "optimizer_state": ..., "generator_state": ..., "extra": ...}

The configuration is enough to rebuild the model (:func:`load_checkpoint`) and to check that a file
belongs to the run you are about to resume or reuse (:func:`config_matches`)::

    save_checkpoint("moons.pt", model, ema=ema, objective="fm", history=losses, step=3000)
    ckpt = load_checkpoint("moons.pt", expected={"model": model.describe()})
    ckpt.ema(x, t)
"""
from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ._io import atomic_write
from .config import get_device
from .models import PathModel
from .networks import build_net

__all__ = ["FORMAT", "VERSION", "CheckpointError", "LoadedCheckpoint", "save_checkpoint", "load_checkpoint",
           "read_checkpoint", "config_matches", "config_differences", "objective_config"]

FORMAT = "fmlearn-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: corrupted, not ours, another version or another configuration."""


@dataclass
class LoadedCheckpoint:
    """What :func:`load_checkpoint` returns.

    Attributes:
        model: the rebuilt :class:`~fmlearn.models.PathModel` with the raw trained weights, in eval mode.
        ema: the same model with the EMA weights, or None when the file has none.
        config: the stored configuration (plain JSON types).
        history: per-step training losses, shape (step,), or None.
        step: number of training steps done.
        raw: the whole loaded dict (optimizer and generator states, extra entries).
    """

    model: PathModel
    ema: PathModel | None
    config: dict
    history: Tensor | None
    step: int
    raw: dict = field(repr=False)


# ---- configuration helpers ----------------------------------------------------------------------
def _plain(value: Any, what: str) -> Any:
    """``value`` as plain JSON types (tuples become lists); TypeError naming ``what`` otherwise."""
    try:
        return json.loads(json.dumps(value, allow_nan=True))
    except (TypeError, ValueError) as err:
        raise TypeError(f"{what} must hold only plain JSON types (dict, list, str, int, float, bool, None): "
                        f"{err}") from None


def _flatten(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``{"model.net.width": 64, ...}``; a non-dict value is a leaf."""
    if not isinstance(cfg, dict) or (prefix and not cfg):
        return {prefix: cfg}
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


_MISSING = object()


def config_differences(found: dict, expected: dict) -> list[str]:
    """Lines ``"key: file has X, expected Y"`` for every leaf of ``expected`` that ``found`` does not match.

    Only keys present in ``expected`` are compared, so a partial expectation such as
    ``{"model": model.describe()}`` checks the model and ignores the rest.
    """
    have = _flatten(_plain(found, "the stored config"))
    lines = []
    for key, want in _flatten(_plain(expected, "expected")).items():
        got = have.get(key, _MISSING)
        if got is _MISSING:
            # the file may hold a whole sub-dict where a leaf is expected, or nothing at all
            sub = {k: v for k, v in have.items() if k.startswith(key + ".")}
            got = sub if sub else _MISSING
        if got != want:
            shown = "nothing" if got is _MISSING else repr(got)
            lines.append(f"{key}: file has {shown}, expected {want!r}")
    return lines


def objective_config(objective) -> dict | None:
    """The stored configuration of an objective: a preset name or an objective with ``config()``, as a dict
    (a dict or None is returned as it is)."""
    if objective is None or isinstance(objective, dict):
        return objective
    if isinstance(objective, str):
        from .losses import Objective
        objective = Objective.preset(objective)
    return objective.config()


# ---- saving -------------------------------------------------------------------------------------
def save_checkpoint(path: str | Path, model: PathModel, *, ema: PathModel | None = None, objective=None,
                    history: Tensor | list | None = None, step: int = 0, optimizer_state: dict | None = None,
                    generator_state: Tensor | None = None, training: dict | None = None,
                    extra: dict | None = None) -> Path:
    """Save a model and everything needed to rebuild it (and to resume its training), atomically.

    The file is written to a temporary file in the same folder and then moved over ``path`` with
    ``os.replace``, which is atomic: an interrupted save leaves any previous file intact.

    Args:
        path: file to write (parent folders are created).
        model: the trained :class:`~fmlearn.models.PathModel` (raw weights).
        ema: optional model holding the exponential moving average of the weights.
        objective: the :class:`~fmlearn.losses.Objective` (or its preset name or config dict).
        history: per-step losses, shape (steps,).
        step: number of training steps done.
        optimizer_state: ``optimizer.state_dict()``, to resume training exactly.
        generator_state: ``generator.get_state()``, to resume the random stream exactly.
        training: training settings (batch size, learning rate, ...), stored in the config.
        extra: any other entries (tensors or plain values), stored under ``"extra"``.

    Returns:
        the path written.
    """
    if not isinstance(model, PathModel):
        raise TypeError(f"model must be a PathModel, got {type(model).__name__}; wrap a network with "
                        f"PathModel(net, schedule, parametrization).")
    config = {"model": model.describe(), "objective": objective_config(objective)}
    if training is not None:
        config["training"] = training
    config = _plain(config, "the checkpoint config")
    ckpt = {
        "format": FORMAT, "version": VERSION, "config": config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "ema_state_dict": None if ema is None else {k: v.detach().cpu() for k, v in ema.state_dict().items()},
        "history": None if history is None else torch.as_tensor(history).detach().float().cpu(),
        "step": int(step),
        "optimizer_state": optimizer_state,
        "generator_state": None if generator_state is None else generator_state.cpu(),
        "extra": extra or {},
    }
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            torch.save(ckpt, f)

    path = atomic_write(path, write)  # an interrupted save keeps the old file
    return path


# ---- loading ------------------------------------------------------------------------------------
def _retrain_hint(path: Path) -> str:
    return f"delete it and retrain with fmlearn.training.train(..., checkpoint={str(path)!r})"


def _reason(err: Exception) -> str:
    """The informative line of a torch.load error (its weights-only errors start with a long preamble)."""
    text = str(err)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:200] if lines else "empty file" if isinstance(err, EOFError) else "no message"


def read_checkpoint(path: str | Path, *, map_location=None) -> dict:
    """Load and validate the raw dict of an fmlearn checkpoint (format and version), without building models.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: the file is corrupted or truncated, not an fmlearn checkpoint, or another version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}; train a model first (fmlearn.training.train("
                                f"..., checkpoint={str(path)!r})) or check the path.")
    try:
        ckpt = torch.load(path, weights_only=True, map_location=map_location)
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError, ... for damaged files
        reason = _reason(err)
        if isinstance(err, pickle.UnpicklingError) and "Unsupported global" in str(err):
            raise CheckpointError(
                f"{str(path)!r} is not an fmlearn checkpoint: it contains Python objects, not only tensors and "
                f"plain values ({reason}), and fmlearn loads files only with weights_only=True, for safety. "
                f"Save models with fmlearn.checkpoints.save_checkpoint.") from None
        raise CheckpointError(f"{str(path)!r} is corrupted or truncated, or was not written by torch.save "
                              f"({type(err).__name__}: {reason}); {_retrain_hint(path)}.") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        what = f"a {type(ckpt).__name__}" if not isinstance(ckpt, dict) else f"a dict with keys {sorted(ckpt)[:6]}"
        raise CheckpointError(f"{str(path)!r} is not an fmlearn checkpoint (it holds {what}, without "
                              f"format={FORMAT!r}); save models with fmlearn.checkpoints.save_checkpoint.")
    if ckpt.get("version") != VERSION:
        raise CheckpointError(f"{str(path)!r} is an fmlearn checkpoint of version {ckpt.get('version')!r}, but "
                              f"this fmlearn reads version {VERSION}; {_retrain_hint(path)}, or use the fmlearn "
                              f"version that wrote it.")
    return ckpt


def _build_model(config: dict, path: Path) -> PathModel:
    cfg = config.get("model")
    try:
        net = build_net(cfg["net"])
        return PathModel(net, cfg["schedule"], cfg["parametrization"],
                         shape=tuple(cfg["shape"]) if cfg.get("shape") else None)
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"cannot rebuild the model stored in {str(path)!r} from its config {cfg!r}: {err}. "
                              f"For your own network class call fmlearn.networks.register_net(kind, cls) "
                              f"first.") from None


def _load_weights(model: nn.Module, state: dict, path: Path, which: str) -> None:
    """``model.load_state_dict(state)`` with a message listing every missing, unexpected or misshapen tensor."""
    own = model.state_dict()
    problems = []
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing:
        problems.append(f"missing {missing}")
    if unexpected:
        problems.append(f"unexpected {unexpected}")
    for k in own.keys() & state.keys():
        if tuple(own[k].shape) != tuple(state[k].shape):
            problems.append(f"{k}: file has shape {tuple(state[k].shape)}, network has {tuple(own[k].shape)}")
    if problems:
        raise CheckpointError(f"the {which} in {str(path)!r} do not fit the network its config describes ("
                              + "; ".join(problems) + f"); {_retrain_hint(path)}.")
    model.load_state_dict(state)


def load_checkpoint(path: str | Path, *, expected: dict | None = None, device=None) -> LoadedCheckpoint:
    """Rebuild the model (and its EMA) stored by :func:`save_checkpoint`.

    Args:
        path: the checkpoint file.
        expected: optional (partial) configuration the file must match, e.g.
            ``{"model": model.describe(), "objective": objective.config()}``; every differing key is
            listed as ``key: file has X, expected Y``.
        device: where to put the models (default: :func:`fmlearn.config.get_device`).

    Returns:
        a :class:`LoadedCheckpoint`; its models are in eval mode.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: corrupted or truncated file, not an fmlearn checkpoint, other version, a
            configuration that differs from ``expected``, or weights that do not fit the network.
    """
    path = Path(path)
    dev = get_device(device)
    ckpt = read_checkpoint(path, map_location=dev)
    config = ckpt.get("config") or {}
    if expected is not None:
        diffs = config_differences(config, expected)
        if diffs:
            raise CheckpointError(f"{str(path)!r} was saved with another configuration:\n  " + "\n  ".join(diffs)
                                  + f"\nLoad the matching model, or {_retrain_hint(path)}.")
    model = _build_model(config, path)
    _load_weights(model, ckpt["state_dict"], path, "weights")
    ema = None
    if ckpt.get("ema_state_dict") is not None:
        ema = _build_model(config, path)
        _load_weights(ema, ckpt["ema_state_dict"], path, "EMA weights")
        ema = ema.to(dev).eval().requires_grad_(False)
    history = ckpt.get("history")
    return LoadedCheckpoint(model=model.to(dev).eval(), ema=ema, config=config,
                            history=None if history is None else history.cpu(), step=int(ckpt.get("step", 0)),
                            raw=ckpt)


def config_matches(path: str | Path, expected: dict) -> bool:
    """True when ``path`` is a readable fmlearn checkpoint whose config matches ``expected`` (see
    :func:`config_differences`); False when the file is missing, unreadable or differs."""
    try:
        ckpt = read_checkpoint(path, map_location="cpu")
    except (FileNotFoundError, CheckpointError):
        return False
    return not config_differences(ckpt.get("config") or {}, expected)
