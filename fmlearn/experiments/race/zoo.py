"""The race's models: made from their specs, trained (teachers first), cached as checkpoints and refused when stale.

**Cache.** Trained models are checkpoints in ``cache_dir`` (default ``config.data_dir() / "race"``; when
that is not writable, ``~/.cache/fmlearn/race`` or a temporary folder, and the run says so), named
``{data}-seed{seed}-{quick|full}-{steps}steps-{model}.pt``. A file whose configuration differs (another
recipe, or a student of another teacher: reflow and distilled store their teacher's weight fingerprint)
or that cannot be read is refused with a message and retrained; files are written atomically, and only
after training succeeded.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from ... import config
from ..._io import writable
from ...checkpoints import CheckpointError, load_checkpoint, objective_config, save_checkpoint
from ...models import MLP, PathModel
from ..common import derive_seed, say
from .plan import BATCH_SIZE, MODELS, PAIR_NFE, PAIR_SAMPLER, RECIPE, SPECS, parse_names

__all__ = ["resolve_cache_dir", "cache_path", "new_model", "objective_of", "expected_config", "train_model",
           "get_models"]


def resolve_cache_dir(cache_dir: str | Path | None = None) -> tuple[Path, list[Path], str | None]:
    """Where the race reads and writes its models: ``(write_dir, read_dirs, note)``.

    The requested folder (default ``config.data_dir() / "race"``) is used when writable. Otherwise
    models are written to ``~/.cache/fmlearn/race`` or, failing that, a folder in the temporary
    directory; matching models in the requested folder are still read. ``note`` says what happened.
    """
    wanted = Path(cache_dir).expanduser() if cache_dir is not None else config.data_dir() / "race"
    if writable(wanted):
        return wanted, [wanted], None
    for fallback in (Path.home() / ".cache" / "fmlearn" / "race", Path(tempfile.gettempdir()) / "fmlearn-race"):
        if fallback != wanted and writable(fallback):
            return fallback, [wanted, fallback], (f"the cache folder {str(wanted)!r} is not writable; trained "
                                                  f"models go to {str(fallback)!r} (models already in "
                                                  f"{str(wanted)!r} are still used when they match).")
    return wanted, [wanted], f"no writable cache folder ({str(wanted)!r} is read-only); models are not saved."


def cache_path(folder: str | Path, data: str, seed: int, quick: bool, steps: int, model: str) -> Path:
    """The cached checkpoint of one race model: ``{data}-seed{seed}-{quick|full}-{steps}steps-{model}.pt``."""
    return Path(folder) / f"{data}-seed{seed}-{'quick' if quick else 'full'}-{steps}steps-{model}.pt"


def new_model(name: str, seed: int) -> PathModel:
    """Race model ``name`` before training: ``MLP(2, 64, 3)`` on its path, initialized from the race's seed."""
    spec = SPECS[name]
    with config.seeded(derive_seed(seed, name, "init")):  # from the race's seed, not torch's global state
        return PathModel(MLP(2, 64, 3), spec.schedule, spec.parametrization)


def objective_of(name: str) -> dict:
    """The stored configuration of race model ``name``'s objective (a preset, or reflow's one-step objective)."""
    from ...reflow import OneStepObjective
    spec = SPECS[name]
    return objective_config(OneStepObjective() if spec.objective == "one-step" else spec.objective)


def expected_config(name: str, data: str, seed: int, steps: int, n_pairs: int, teacher_fp: str | None) -> dict:
    """The configuration a cached model must match to be used."""
    from ...train_config import TrainConfig
    if teacher_fp is None:
        source = {"kind": "dataset", "name": data}
    else:
        source = {"kind": "pairs", "teacher": SPECS[name].teacher, "teacher_fingerprint": teacher_fp,
                  "n": n_pairs, "sampler": PAIR_SAMPLER, "nfe": PAIR_NFE}
    return {"model": new_model(name, seed).describe(), "objective": objective_of(name),
            "training": {"data": source, "steps": steps, **TrainConfig(batch_size=BATCH_SIZE, seed=seed).stored(),
                         "race_recipe": RECIPE, "init": "teacher" if teacher_fp else "seed"}}


def train_model(name: str, data: str, seed: int, steps: int, n_pairs: int, teacher: PathModel | None, device,
           progress: bool):
    """Train one race model; returns ``(result, pair_seconds)``."""
    from ...training import train
    if teacher is None:
        model = new_model(name, seed)
        return train(model, data, SPECS[name].objective, steps=steps, batch_size=BATCH_SIZE, seed=seed,
                     device=device, progress=progress), 0.0
    from ...reflow import distill, make_pairs, rectify
    t0 = time.perf_counter()
    dev = next(teacher.parameters()).device
    g = torch.Generator(device=dev).manual_seed(derive_seed(seed, name, "pairs"))
    pairs = make_pairs(teacher, n_pairs, sampler=PAIR_SAMPLER, nfe=PAIR_NFE, generator=g)
    pair_seconds = time.perf_counter() - t0
    fn = distill if name == "distilled" else rectify
    result, _ = fn(teacher, pairs, steps=steps, seed=seed, batch_size=BATCH_SIZE, device=device, progress=progress)
    return result, pair_seconds


def get_models(names, data: str, *, seed: int = 0, quick: bool = False, steps: int, n_pairs: int, device=None,
               cache_dir: str | Path | None = None, retrain: bool = False, progress: bool = True,
               log: list[str] | None = None) -> tuple[dict[str, PathModel], dict[str, dict]]:
    """Load each race model from the cache, or train it (teachers first) and cache it.

    Returns:
        ``(models, info)``: the EMA models by name (teachers included), and per model ``cached``
        (loaded, not trained), ``checkpoint`` (its file, or None), ``train_seconds`` (of the training
        that made it, also when loaded), ``pair_seconds`` and ``fingerprint`` of its weights.
    """
    from ...reflow import fingerprint
    log = [] if log is None else log
    order: list[str] = []

    def add(name: str) -> None:  # teachers before their students
        if name not in order:
            if SPECS[name].teacher is not None:
                add(SPECS[name].teacher)
            order.append(name)

    for name in parse_names("models", names, MODELS):
        add(name)
    write_dir, read_dirs, note = resolve_cache_dir(cache_dir)
    if note:
        say(True, f"race: {note}", log)
    dev = config.get_device(device)
    models: dict[str, PathModel] = {}
    info: dict[str, dict] = {}
    for name in order:
        teacher = models[SPECS[name].teacher] if SPECS[name].teacher else None
        teacher_fp = fingerprint(teacher) if teacher is not None else None
        expected = expected_config(name, data, seed, steps, n_pairs, teacher_fp)
        loaded, refused = None, []
        for folder in ([] if retrain else read_dirs):
            path = cache_path(folder, data, seed, quick, steps, name)
            if not path.exists():
                continue
            try:
                ckpt = load_checkpoint(path, expected=expected, device=dev)
                if ckpt.ema is None or ckpt.step != steps:
                    raise CheckpointError(f"{str(path)!r} holds {ckpt.step} steps and "
                                          f"{'no' if ckpt.ema is None else 'an'} EMA model; expected {steps} steps "
                                          f"and an EMA model.")
            except CheckpointError as err:  # corrupted, another recipe, or a student of another teacher
                refused.append(f"race: refusing the cached {name!r} model: {err}")
                continue
            loaded = (ckpt, path)
            break
        target = cache_path(write_dir, data, seed, quick, steps, name)
        for i, message in enumerate(refused):
            then = (f"using {str(loaded[1])!r} instead" if loaded else
                    f"retraining {name!r}; the new model is saved to {str(target)!r} once training has succeeded")
            say(True, message + (f"\n  -> {then}." if i == len(refused) - 1 else ""), log)
        if loaded is not None:
            ckpt, path = loaded
            extra = ckpt.raw.get("extra") or {}
            models[name] = ckpt.ema
            info[name] = {"cached": True, "checkpoint": str(path), "train_seconds": extra.get("train_seconds"),
                          "pair_seconds": extra.get("pair_seconds", 0.0), "steps": ckpt.step}
            say(progress, f"race: loaded {name!r} from {str(path)!r} (trained before in "
                           f"{extra.get('train_seconds', float('nan')):.1f} s)", log)
        else:
            say(progress, f"race: training {name!r} ({steps} steps on {data!r})", log)
            result, pair_seconds = train_model(name, data, seed, steps, n_pairs, teacher, dev, progress)
            models[name] = result.ema
            path = target
            try:
                save_checkpoint(path, result.model, ema=result.ema, objective=expected["objective"],
                                history=result.history, step=result.steps, training=expected["training"],
                                extra={"train_seconds": result.seconds, "pair_seconds": pair_seconds})
            except OSError as err:
                say(True, f"race: could not cache {name!r} at {str(path)!r} ({err}); continuing without.", log)
                path = None
            info[name] = {"cached": False, "checkpoint": None if path is None else str(path),
                          "train_seconds": result.seconds, "pair_seconds": pair_seconds, "steps": result.steps}
        models[name].requires_grad_(False).eval()
        info[name]["fingerprint"] = fingerprint(models[name])
        if teacher_fp is not None:
            info[name]["teacher_fingerprint"] = teacher_fp
    return models, info


