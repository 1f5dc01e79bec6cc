r"""Flow matching and diffusion on MNIST with the same UNet: build, train, ship, load.

=============  ======================  ==========================================================
objective      path, prediction        loss
=============  ======================  ==========================================================
``fm``         linear, velocity        flow matching (``Objective.preset("fm")``)
``diffusion``  cosine VP, noise        DDPM's noise regression (``Objective.preset("diffusion")``)
=============  ======================  ==========================================================

The shipped models use :class:`fmlearn.unet.UNet` with the same channels, batch size, learning-rate
schedule, precision and steps, so that notebook 08 compares the families: path, prediction, and the
loss weighting that suits each (logit-normal training times for flow matching, uniform for
diffusion: each measured both ways, see the README). ``--conditional`` gives the UNet a
label input and trains it with label dropout (10% of the labels replaced by the null label), the
model of classifier-free guidance (notebook 09, :mod:`fmlearn.guidance`). Train from the command
line::

    python -m fmlearn train-mnist --objective fm --lr-decay --time-distribution logit-normal \
        --precision bf16 --steps 15000 --out runs/mnist_fm.pt

(the shipped flow matching model's recipe: about 25 min on a 2-core CPU with native bfloat16; the
record beside each shipped checkpoint holds its exact command). Other options set the widths
(``--channels 16 48 96``), patches (``--patch 2``), the training-time distribution, the arithmetic
(``--precision bf16``: mixed precision, 1.3x faster here, possibly much slower on CPUs without native
bfloat16), batch size, learning rate and seed; defaults are in :data:`DEFAULTS` and :data:`SETTINGS`. It shows a progress
bar, keeps an EMA of the weights, writes a checkpoint every ``--checkpoint-every`` steps
(atomically), and resumes from ``--out`` when it exists with the same configuration: an interrupted
run loses at most one interval. The device is chosen automatically (cuda > mps > cpu) unless
``--device`` is given. ``--ship`` then exports the EMA weights into the package
(``fmlearn/checkpoints/mnist_<name>.pt``, about 1.1 MB) with a JSON record beside it: the command,
the configuration, the training time and an evaluation at NFE 100.

The shipped models load with :func:`load_shipped` (``"fm"``, ``"diffusion"``, ``"fm-cond"``);
:func:`recipe` reads the command in a record back into the arguments of :func:`train_mnist`.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import shlex
import time
from pathlib import Path

import torch

from .._checks import check_choice, check_positive_int
from .._io import package_path
from ..config import seeded
from ..models import PathModel
from ..train_config import TrainConfig

__all__ = ["OBJECTIVES", "SHIPPED", "DEFAULTS", "SETTINGS", "build_mnist_model", "train_mnist", "export_checkpoint",
           "sample_in_batches", "evaluate_model", "load_shipped", "shipped_record", "recipe", "main"]

#: objective name -> (path, what the network predicts, loss preset)
OBJECTIVES = {"fm": ("linear", "velocity", "fm"), "diffusion": ("cosine", "noise", "diffusion")}
#: the shipped models: name -> (objective, conditional)
SHIPPED = {"fm": ("fm", False), "diffusion": ("diffusion", False), "fm-cond": ("fm", True)}
CHECKPOINTS = package_path("checkpoints")
DEFAULTS = dict(steps=7000, checkpoint_every=250, lr_decay=False, channels=(16, 32, 64), time_distribution="uniform",
                patch=1)
#: the training settings of the MNIST UNets (label dropout applies to conditional models only)
SETTINGS = TrainConfig(batch_size=64, lr=1e-3, label_dropout=0.1)
NUM_CLASSES = 10


def _name(objective: str, conditional: bool) -> str:
    return f"{objective}-cond" if conditional else objective


def build_mnist_model(objective: str = "fm", channels=DEFAULTS["channels"], seed: int = 0, conditional: bool = False,
                      patch: int = DEFAULTS["patch"]) -> PathModel:
    """A fresh :class:`~fmlearn.models.PathModel` with a UNet for 28x28 digits (weights seeded by ``seed``);
    ``conditional``: the UNet takes labels 0..9 (and the null label 10); ``patch``: see :class:`~fmlearn.unet.UNet`."""
    from ..unet import UNet

    schedule, parametrization, _ = OBJECTIVES[check_choice("objective", objective, OBJECTIVES)]
    with seeded(seed):  # torch's global generator is left as it was
        net = UNet(channels=channels, num_classes=NUM_CLASSES if conditional else None, patch=patch)
    return PathModel(net, schedule, parametrization)


def train_mnist(objective: str = "fm", steps: int = DEFAULTS["steps"], out: str | Path | None = None, *,
                conditional: bool = False, checkpoint_every: int = DEFAULTS["checkpoint_every"], device=None,
                progress: bool = True, channels=DEFAULTS["channels"], root=None, lr_decay: bool = DEFAULTS["lr_decay"],
                time_distribution: str = DEFAULTS["time_distribution"], patch: int = DEFAULTS["patch"],
                **settings):
    """Train one MNIST model (see the module docstring); returns :class:`~fmlearn.training.TrainResult`.

    Args:
        objective: ``fm`` or ``diffusion``.
        steps: total training steps (a resumed run counts the steps already done).
        out: checkpoint file (written every ``checkpoint_every`` steps and at the end; resumed from).
        conditional: train a class-conditional model, dropping each label with probability ``label_dropout``.
        settings: fields of :class:`~fmlearn.train_config.TrainConfig` (``batch_size``, ``lr``, ``seed``,
            ``ema_decay``, ``label_dropout``, ``precision``) replacing those of :data:`SETTINGS`; ``seed`` also
            seeds the UNet's initial weights.
        lr_decay: as :func:`fmlearn.training.train`.
        channels: the UNet's widths at its three resolutions (see :class:`fmlearn.unet.UNet`).
        patch: 1, or 2 to fold 2x2 pixel blocks into channels (the UNet then runs at 16, 8, 4).
        time_distribution: how training times are drawn, ``uniform`` or ``logit-normal``
            (:func:`fmlearn.losses.sample_time`).
        root: folder of the MNIST files (default ``$FMLEARN_DATA/mnist``).
    """
    from ..losses import Objective
    from .data import MnistData
    from ..training import train

    check_positive_int("steps", steps)
    cfg = TrainConfig.of(SETTINGS, **settings)
    if not conditional:
        cfg = TrainConfig.of(cfg, label_dropout=0.0)
    model = build_mnist_model(objective, channels, cfg.seed, conditional, patch)
    loss = dataclasses.replace(Objective.preset(OBJECTIVES[objective][2]), time_distribution=time_distribution)
    data = MnistData("train", root=root, labels=conditional)
    return train(model, data, loss, steps=steps, settings=cfg, device=device, progress=progress,
                 checkpoint=out, checkpoint_every=checkpoint_every if out else None, lr_decay=lr_decay)


def export_checkpoint(src: str | Path, dst: str | Path, *, extra: dict | None = None) -> Path:
    """Write the EMA weights of a training checkpoint, without optimizer state, as a small shippable file.

    The exported file loads with :func:`fmlearn.checkpoints.load_checkpoint` like any other (its ``model``
    holds the EMA weights) and keeps the configuration, the training settings, the step count and the
    loss history. About 1.1 MB for the default UNet.
    """
    from ..checkpoints import load_checkpoint, save_checkpoint

    loaded = load_checkpoint(src, device="cpu")
    cfg = loaded.config
    return save_checkpoint(dst, loaded.ema if loaded.ema is not None else loaded.model,
                           objective=cfg.get("objective"), history=loaded.history, step=loaded.step,
                           training=cfg.get("training"), extra=extra)


def sample_in_batches(model: PathModel, noise_batches, sampler: str, nfe: int, *, generator=None,
                      device=None) -> tuple[torch.Tensor, int, float]:
    """Sample each noise batch (B_i, ...) in turn, under no_grad; bounded memory for thousands of images.

    ``noise_batches`` may be a generator that draws each batch when needed (then noise and the
    stochastic samplers' draws interleave on one ``generator``, as :func:`evaluate_model` does).

    Returns:
        ``(samples (sum B_i, ...) on the CPU, counted NFE of one batch, seconds of sampling)``.
    """
    from ..samplers import sample

    chunks, counted, start = [], 0, time.perf_counter()
    with torch.no_grad():
        for x0 in noise_batches:
            out = sample(model, x0 if device is None else x0.to(device), sampler, nfe, generator=generator)
            chunks.append(out.samples.cpu())
            counted = out.nfe  # (.cpu() above waits for the device, so the time is complete)
    return torch.cat(chunks), counted, time.perf_counter() - start


def evaluate_model(model: PathModel, sampler: str = "euler", nfe: int = 100, n: int = 1000, seed: int = 0,
                   batch_size: int = 250) -> dict:
    """Sample ``n`` digits and score them with :func:`fmlearn.mnist.metric.evaluate_images`.

    Returns:
        ``{"sampler", "nfe" (counted), "n", "fd", "confident", "entropy", "seconds"}``; FD depends on n:
        compare only at equal n (at n = 1000, real test digits score about 9).
    """
    from .metric import evaluate_images

    g = torch.Generator().manual_seed(seed)
    noise = (model.noise(min(batch_size, n - i), generator=g, device="cpu") for i in range(0, n, batch_size))
    images, nfe_counted, seconds = sample_in_batches(model, noise, sampler, nfe, generator=g)
    scores = evaluate_images(images.clamp(-1.5, 1.5))
    return {"sampler": sampler, "nfe": nfe_counted, "n": n, "fd": scores["fd"], "confident": scores["confident"],
            "entropy": scores["entropy"], "seconds": seconds}


# ---- shipped models -----------------------------------------------------------------------------
def _shipped_path(name: str) -> Path:
    check_choice("shipped model", name, SHIPPED)
    return CHECKPOINTS / f"mnist_{name.replace('-', '_')}.pt"


def shipped_record(name: str) -> dict:
    """The JSON record stored beside a shipped checkpoint: command, configuration, training time, evaluation."""
    path = _shipped_path(name).with_suffix(".json")
    if not path.is_file():
        raise FileNotFoundError(f"no record for the shipped model {name!r} at {path}; retrain it with "
                                f"`python -m fmlearn train-mnist ... --ship` (see fmlearn.mnist.models).")
    return json.loads(path.read_text())


def load_shipped(name: str = "fm", device=None) -> PathModel:
    """A shipped MNIST model (EMA weights, eval mode): ``"fm"``, ``"diffusion"`` or ``"fm-cond"``.

    Raises:
        FileNotFoundError: the checkpoint is missing (an installation without package data); the
            message names the command that retrains it.
        fmlearn.checkpoints.CheckpointError: the file is corrupted or belongs to another model.
    """
    from ..checkpoints import load_checkpoint

    path = _shipped_path(name)
    objective, conditional = SHIPPED[name]
    if not path.is_file():
        raise FileNotFoundError(f"the shipped checkpoint {path} is missing; reinstall fmlearn, or retrain it: "
                                f"{retrain_command(name)}")
    expected = {"model": {"schedule": {"name": OBJECTIVES[objective][0]}, "parametrization": OBJECTIVES[objective][1],
                          "net": {"kind": "unet", "num_classes": NUM_CLASSES if conditional else None}}}
    return load_checkpoint(path, expected=expected, device=device).model.requires_grad_(False)


def retrain_command(name: str) -> str:
    """The one command that retrains a shipped model and writes it into the package (the command in
    its record when there is one, else the default recipe)."""
    check_choice("shipped model", name, SHIPPED)
    record = _shipped_path(name).with_suffix(".json")
    if record.is_file():
        try:
            return json.loads(record.read_text())["command"]
        except (ValueError, KeyError):
            pass
    return _command_for(name)


def _command_for(name: str, config: dict | None = None, steps: int | None = None) -> str:
    """The train-mnist command (with ``--ship``) of shipped model ``name`` trained with a checkpoint's
    ``config`` for ``steps`` steps; without them, the default recipe. Only settings that differ from
    :data:`DEFAULTS` are spelled out, so :func:`recipe` reads the same settings back."""
    objective, conditional = SHIPPED[name]
    training = (config or {}).get("training", {})
    net = (config or {}).get("model", {}).get("net", {})
    options = {f"--{f.name.replace('_', '-')}": (training.get(f.name), getattr(SETTINGS, f.name))
               for f in dataclasses.fields(TrainConfig) if f.metadata.get("cli", True)
               and (conditional or f.name != "label_dropout")}
    options |= {"--time-distribution": ((config or {}).get("objective", {}).get("time_distribution"),
                                       DEFAULTS["time_distribution"]),
               "--channels": (" ".join(map(str, net["channels"])) if "channels" in net else None,
                              " ".join(map(str, DEFAULTS["channels"]))),
               "--patch": (net.get("patch"), DEFAULTS["patch"])}
    words = ["python -m fmlearn train-mnist", f"--objective {objective}"] + (["--conditional"] if conditional else [])
    words += ["--lr-decay"] if training.get("lr_decay_steps") else []
    words += [f"{flag} {value}" for flag, (value, default) in options.items() if value not in (None, default)]
    words += [f"--steps {DEFAULTS['steps'] if steps is None else steps}",
              f"--out runs/mnist_{name.replace('-', '_')}.pt --ship"]
    return " ".join(words)


def recipe(name: str) -> dict:
    """The keyword arguments of :func:`train_mnist` that retrain shipped model ``name`` as its record says:
    its command (:func:`retrain_command`) read by the same parser as ``python -m fmlearn train-mnist``.

    ``train_mnist(**recipe("fm"), out="runs/mnist_fm.pt")`` repeats the shipped training (about 30 min on
    a 2-core CPU); the result differs from the shipped file only by the nondeterminism of threaded CPU kernels.
    """
    command = shlex.split(retrain_command(name))
    start = command.index("train-mnist") + 1 if "train-mnist" in command else len(command)
    parser = argparse.ArgumentParser(prog="python -m fmlearn train-mnist", add_help=False)
    add_arguments(parser)
    try:
        args = parser.parse_args(command[start:])
    except SystemExit:  # argparse has printed why
        raise ValueError(f"the record of {name!r} holds a command that train-mnist does not accept: "
                         f"{' '.join(command)!r}; retrain it with --ship to write a new record.") from None
    if (args.objective, args.conditional) != SHIPPED[name]:
        raise ValueError(f"the record of {name!r} holds a command for another model: {' '.join(command)!r}")
    kwargs = _train_kwargs(args)
    kwargs.pop("device")  # where to train is the caller's choice, not the recipe's
    return kwargs


def _train_kwargs(args) -> dict:
    """train-mnist's parsed arguments -> the keyword arguments of :func:`train_mnist` (without ``out``)."""
    settings = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)}
    return dict(objective=args.objective, steps=args.steps, conditional=args.conditional,
                checkpoint_every=args.checkpoint_every, channels=tuple(args.channels), lr_decay=args.lr_decay,
                time_distribution=args.time_distribution, patch=args.patch, device=args.device, **settings)


def ship(name: str, run: str | Path, *, result=None, command: str | None = None, n_eval: int = 1000) -> Path:
    """Export the EMA weights of training checkpoint ``run`` into the package as shipped model ``name``
    and write its record (command, configuration, training, evaluation at NFE 100) beside it."""
    from ..checkpoints import load_checkpoint

    dst = _shipped_path(name)
    export_checkpoint(run, dst)
    loaded = load_checkpoint(dst, device="cpu")
    model = loaded.model
    objective, conditional = SHIPPED[name]
    evaluation = []
    if not conditional:
        samplers = ("euler", "ddpm") if objective == "diffusion" else ("euler",)
        evaluation = [evaluate_model(model, s, 100, n=n_eval) for s in samplers]
    record = {"model": name, "objective": objective, "conditional": conditional, "steps": loaded.step,
              "command": command or _command_for(name, loaded.config, loaded.step), "config": loaded.config,
              "parameters": sum(p.numel() for p in model.parameters()),
              "bytes": dst.stat().st_size, "torch": torch.__version__, "machine": platform.machine(),
              "evaluation": evaluation}
    if result is not None:
        record["training"] = {"seconds": round(result.seconds, 1), "device": result.device,
                              "threads": torch.get_num_threads(),
                              "final_loss_mean_last_200": float(result.history[-200:].mean())}
    dst.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    return dst


# ---- command line -------------------------------------------------------------------------------
def add_arguments(parser) -> None:
    from ..losses import TIME_DISTRIBUTIONS

    parser.add_argument("--objective", default="fm", choices=sorted(OBJECTIVES),
                        help="fm or diffusion (default fm)")
    parser.add_argument("--conditional", action="store_true",
                        help="class-conditional UNet trained with label dropout (for classifier-free guidance)")
    parser.add_argument("--steps", type=int, default=DEFAULTS["steps"], help="total training steps")
    parser.add_argument("--out", required=True, help="checkpoint file (resumed from when it exists)")
    TrainConfig.add_arguments(parser, SETTINGS)  # --batch-size, --lr, --ema-decay, --seed, --label-dropout, --precision
    parser.add_argument("--lr-decay", action=argparse.BooleanOptionalAction, default=DEFAULTS["lr_decay"],
                        help="cosine decay of the learning rate to 0 over --steps")
    parser.add_argument("--channels", type=int, nargs=3, default=list(DEFAULTS["channels"]), metavar="C",
                        help="UNet widths at its three resolutions (default %(default)s)")
    parser.add_argument("--patch", type=int, default=DEFAULTS["patch"], choices=[1, 2],
                        help="2: fold 2x2 pixel blocks into channels, the UNet runs at 16x16..4x4 (default 1)")
    parser.add_argument("--time-distribution", default=DEFAULTS["time_distribution"],
                        choices=TIME_DISTRIBUTIONS, help="how training times are drawn (default uniform)")
    parser.add_argument("--checkpoint-every", type=int, default=DEFAULTS["checkpoint_every"])
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: automatic)")
    parser.add_argument("--ship", action="store_true",
                        help="afterwards, export the EMA weights into fmlearn/checkpoints with an evaluated record")


def main(args) -> int:
    """``python -m fmlearn train-mnist``: train, print where the checkpoint is and how long it took."""
    import sys

    from .data import MnistFilesError
    from ..training import TrainingDiverged

    try:
        return _main(args, getattr(args, "_argv", sys.argv[1:]))
    except (ValueError, MnistFilesError, TrainingDiverged) as err:  # bad input, missing data, a checkpoint of another run
        print(f"fmlearn train-mnist: {err}", file=sys.stderr)
        return 2


def _main(args, argv) -> int:
    result = train_mnist(out=args.out, **_train_kwargs(args))
    name = _name(args.objective, args.conditional)
    tail = result.history[-200:].mean().item() if len(result.history) else float("nan")
    print(f"trained {name}: {result.steps} steps in {result.seconds:.0f} s on {result.device}; "
          f"mean loss of the last 200 steps {tail:.4f}; checkpoint {args.out}")
    if args.ship:
        command = "python -m fmlearn " + " ".join(shlex.quote(a) for a in argv) if argv else None
        dst = ship(name, args.out, result=result, command=command)
        print(f"shipped {name}: {dst} ({dst.stat().st_size / 1e6:.2f} MB) and {dst.with_suffix('.json').name}")
    return 0
