r"""The speed/quality race: which model and sampler reach the data with the fewest network calls?

``python -m fmlearn race --data moons --json results.json [--quick]`` (or :func:`run_race`) trains,
or loads from its cache, five models with the same network (``MLP(2, 64, 3)``) and the same number
of training steps on one 2D data set:

==============  =====================================================================================
``fm``          flow matching: linear path, independent coupling, velocity
``fm-ot``       the same with minibatch exact optimal-transport coupling
``diffusion``   variance-preserving cosine path, noise prediction
``reflow``      2-rectified flow: flow matching on FIXED pairs ``(x0, ODE_fm(x0))`` (rk4, 100 NFE),
                started from ``fm``'s weights (Liu et al. 2023; see :mod:`fmlearn.reflow`)
``distilled``   one-step generator: ``x0 + u(x0, 0)`` regressed onto reflow's ODE solution of ``x0``
==============  =====================================================================================

Then every sampler runs on every model at every budget of network evaluations (NFE) in
``{1, 2, 4, 8, 16, 32, 100}`` (a budget below the sampler's evaluations per step is skipped; the
adaptive ``dopri5`` runs once and reports the NFE it used; ``distilled`` runs only ``euler`` at NFE 1),
from the same noise, and each result is scored against FRESH data:

* ``w2``: exact 2-Wasserstein distance to ``n_eval`` fresh data points (the same reference for every
  row); ``floor_w2``, the W2 between two fresh data samples of that size (the reference and another,
  averaged over 5 others), is what a perfect model scores. Finite samples make W2 noisy: on moons
  at 2000 points the floor itself varies by about +-0.04 (``floor_w2_std``), mostly because the two
  moons' shares of a sample differ by chance, so smaller differences between rows mean little;
* ``mmd``: squared MMD on the first ``mmd_n`` (500) points of each (cheap);
* ``nfe``: the network calls counted by :func:`~fmlearn.samplers.sample`; ``seconds``: the wall time of sampling;
* ``straightness``: :func:`~fmlearn.metrics.straightness` of the sampler's own states (deterministic
  samplers; ``None`` for ``ddpm`` and ``em``). A single step is straight by definition (1.0).

**Stochastic samplers need the independent coupling.** ``ddpm`` and ``em`` turn the model's prediction
into a score through ``x0_hat = E[x0 | x_t]`` (Tweedie), which holds only when the noise is independent
of the data. That is true for ``fm`` and ``diffusion``, not for ``fm-ot`` and ``reflow``: there the SDE
samplers target another distribution (measured on moons: W2 0.37-0.52 at NFE 100, against 0.16-0.19
for every ODE sampler of the same models). The ODE samplers need only the velocity ``E[x1 - x0 | x_t]``,
which every coupling defines.

**Time grids.** Fixed-step samplers use the uniform grid in t of :func:`~fmlearn.samplers.sample`.
``grid="logsnr"`` instead spaces the times of models on a variance-preserving path (finite
log-SNR at ``t_min``) uniformly in log-SNR (:meth:`~fmlearn.schedules.Schedule.logsnr_grid`). Measured on moons, DDIM and
DPM-Solver++(2M) on the cosine path lose most of their accuracy in the low-SNR start of a uniform-t
grid (a noise prediction divided by a small ``alpha``), not in DPM-Solver++'s first-order last step;
with 8 steps their W2 drops from 0.51 / 0.53 (uniform) to 0.24 / 0.19 (log-SNR), the ODE's own
value being 0.21. Rows record the grid they used.

**Cache.** Trained models are checkpoints in ``cache_dir`` (default ``config.data_dir() / "race"``;
when that is not writable, ``~/.cache/fmlearn/race`` or a temporary folder, and the run says so),
named ``{data}-seed{seed}-{quick|full}-{steps}steps-{model}.pt``. A file whose configuration differs
(another recipe, or a student of another teacher: reflow and distilled store their teacher's weight
fingerprint) or that cannot be read is refused with a message and retrained; files are written
atomically, and only after training succeeded.

**Cost.** Exact W2 on 2000 points takes about a second, and a full race scores about 190 rows; the
scoring runs in ``workers`` processes (default: up to 2 when ``n_eval >= 1000``). Measured on a busy
2-core CPU: full mode 3.7 min from scratch (training 34 s, of which minibatch OT 23 s), 2.8 min with
cached models; quick mode 40 s. On an idle one: 2.4 min from scratch (training 30 s), 1.6 min cached.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from . import config
from ._io import atomic_write, one_thread
from ._checks import check_choice, check_positive_int
from .checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from .data import DATASETS, sample_data
from .models import MLP, PathModel
from .samplers import EVALS_PER_STEP, SAMPLERS, sample, steps_for

__all__ = ["run_race", "MODELS", "RACE_SAMPLERS", "NFES", "GRIDS", "plan", "sample_row", "score",
           "logsnr_grid", "check_claims", "format_table", "resolve_cache_dir", "cache_path", "get_models", "main",
           "precomputed", "precomputed_runs", "plot_quality", "plot_speed"]

MODELS = ("fm", "fm-ot", "diffusion", "reflow", "distilled")
RACE_SAMPLERS = ("euler", "heun", "rk4", "dopri5", "ddpm", "ddim", "dpm++2m", "em")
NFES = (1, 2, 4, 8, 16, 32, 100)
GRIDS = ("uniform", "logsnr")
MAX_NFE = 1000
STOCHASTIC = frozenset({"ddpm", "em"})
RECIPE = 1  # bump when the training recipe changes: older cached models are then refused and retrained
PAIR_SAMPLER, PAIR_NFE = "rk4", 100  # the accurate solver that makes reflow's and distillation's pairs
MMD_N = 500
FLOOR_REPEATS = 5  # W2 between finite samples is noisy (moons at 2000 points: about +-0.04): average the floor
BATCH_SIZE = 256


@dataclass(frozen=True)
class _Spec:
    schedule: str
    parametrization: str
    objective: str  # a preset of Objective, or "one-step" (reflow.OneStepObjective)
    teacher: str | None = None


_SPECS = {
    "fm": _Spec("linear", "velocity", "fm"),
    "fm-ot": _Spec("linear", "velocity", "fm-ot"),
    "diffusion": _Spec("cosine", "noise", "diffusion"),
    "reflow": _Spec("linear", "velocity", "fm", teacher="fm"),
    "distilled": _Spec("linear", "velocity", "one-step", teacher="reflow"),
}


def _seed(*parts) -> int:
    """A seed derived from ``parts`` (e.g. the race seed and a purpose): independent streams, one master seed."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def _say(progress: bool, message: str, log: list[str]) -> None:
    log.append(message)
    if progress:
        print(message, flush=True)


# ---- what to run -------------------------------------------------------------------------------
def _names(arg: str, values, choices) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [v.strip() for v in values.split(",") if v.strip()]
    values = list(values)
    if not values:
        raise ValueError(f"{arg} must name at least one of {', '.join(map(repr, choices))}.")
    out = []
    for v in values:
        try:
            out.append(check_choice(arg[:-1], v, choices))  # "unknown model 'x'; choose one of ..."
        except ValueError as err:
            raise ValueError(f"{arg}: {err}") from None
    return tuple(dict.fromkeys(out))


def _nfes(values) -> tuple[int, ...]:
    if isinstance(values, str):
        try:
            values = [int(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"nfes must be a comma-separated list of integers, got {values!r}.") from None
    values = list(values)
    if not values:
        raise ValueError(f"nfes must hold at least one budget, e.g. {list(NFES)}.")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_NFE:
            raise ValueError(f"nfes: every budget must be an integer from 1 to {MAX_NFE}, got {v!r}.")
    return tuple(sorted(set(values)))


def plan(models=MODELS, samplers=RACE_SAMPLERS, nfes=NFES) -> list[tuple[str, str, int | None]]:
    """The rows of a race: ``(model, sampler, nfe budget)``, budget None for the adaptive ``dopri5``.

    A budget below ``EVALS_PER_STEP[sampler]`` is skipped; ``dopri5`` gets one row; ``distilled``
    gets exactly one row, ``euler`` at NFE 1, whatever ``samplers`` and ``nfes`` say.
    """
    models, samplers, nfes = _names("models", models, MODELS), _names("samplers", samplers, RACE_SAMPLERS), _nfes(nfes)
    rows = []
    for m in models:
        if m == "distilled":
            rows.append((m, "euler", 1))
            continue
        for s in samplers:
            if s not in EVALS_PER_STEP:  # adaptive
                rows.append((m, s, None))
            else:
                rows += [(m, s, n) for n in nfes if n >= EVALS_PER_STEP[s]]
    return rows


# ---- time grids --------------------------------------------------------------------------------
def logsnr_grid(schedule, steps: int) -> Tensor:
    """``schedule.logsnr_grid(steps)``: ``steps + 1`` times uniform in log-SNR (see :meth:`Schedule.logsnr_grid`)."""
    return schedule.logsnr_grid(steps)


def _grid_for(model: PathModel, sampler: str, nfe: int | None, grid: str) -> tuple[Tensor | None, str]:
    if sampler not in EVALS_PER_STEP or nfe is None:
        return None, "adaptive"
    if grid == "logsnr":
        try:
            return logsnr_grid(model.schedule, steps_for(sampler, nfe)), "logsnr"
        except ValueError:  # linear path: log-SNR is -inf at t = 0
            pass
    return None, "uniform"


# ---- one row -----------------------------------------------------------------------------------
def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def sample_row(model: PathModel, sampler: str, nfe: int | None, x0: Tensor, *, grid: str = "uniform",
               generator: torch.Generator | None = None) -> tuple[dict, Tensor]:
    """Run one sampler on one model: the row without its scores, and the samples.

    Args:
        model: the model to sample.
        sampler: one of :data:`RACE_SAMPLERS`.
        nfe: budget for fixed-step samplers; None for ``dopri5``.
        x0: the noise, shape (N, D).
        grid: ``uniform`` or ``logsnr`` (used only for paths with a finite log-SNR at ``t_min``).
        generator: the stochastic samplers' noise.

    Returns:
        ``(row, samples)``: row with ``sampler, nfe_budget, steps, grid, nfe`` (counted), ``seconds``
        and ``straightness``; samples (N, D) on the CPU.
    """
    check_choice("sampler", sampler, SAMPLERS)
    check_choice("grid", grid, GRIDS)
    times, used = _grid_for(model, sampler, nfe, grid)
    if sampler == "dopri5":
        times = model.schedule.time_grid(32)  # output times only (dense output): a trajectory for straightness
    deterministic = sampler not in STOCHASTIC
    _sync(x0.device)
    t0 = time.perf_counter()
    out = sample(model, x0, sampler, None if times is not None else nfe, times=times, generator=generator,
                 return_trajectory=deterministic)
    _sync(x0.device)
    seconds = time.perf_counter() - t0
    straight = None
    if deterministic:
        from .metrics import straightness
        traj = out.trajectory
        straight = straightness(traj) if bool(torch.isfinite(traj).all()) else None
    steps = len(out.times) - 1 if sampler in EVALS_PER_STEP else None
    row = {"sampler": sampler, "nfe_budget": nfe, "steps": steps, "grid": used, "nfe": out.nfe,
           "seconds": seconds, "straightness": straight}
    return row, out.samples.detach().cpu()


def score(samples: Tensor, reference: Tensor, mmd_n: int = MMD_N) -> tuple[float | None, float | None]:
    """``(w2, mmd)`` of samples (N, D) against reference data (N, D): exact W2 on all points, MMD on the
    first ``mmd_n`` of each. ``(None, None)`` when the samples hold NaN or inf (a diverged sampler)."""
    from .metrics import mmd, wasserstein2
    if not bool(torch.isfinite(samples).all()):
        return None, None
    k = min(mmd_n, samples.shape[0], reference.shape[0])
    return wasserstein2(samples, reference), mmd(samples[:k], reference[:k])


def _score_job(job) -> tuple[float | None, float | None]:
    """Score one ``(samples, reference, mmd_n)`` job of float64 numpy arrays (run in a worker process)."""
    x, y, mmd_n = job
    return score(torch.from_numpy(x), torch.from_numpy(y), mmd_n)


def _score_all(jobs: list[tuple[Tensor, Tensor]], mmd_n: int, workers: int, progress: bool,
               log: list[str]) -> list[tuple[float | None, float | None]]:
    """Score every ``(samples, reference)`` pair, split among ``workers`` fresh Python processes when > 1
    (:func:`fmlearn._parallel.map_in_processes`: nothing of the caller's script or notebook is re-imported)."""
    from tqdm.auto import tqdm

    from ._parallel import map_in_processes
    bar = tqdm(total=len(jobs), desc="score", unit="row", disable=not progress)
    if workers > 1 and len(jobs) > 1:
        arrays = [(x.double().numpy(), y.double().numpy(), mmd_n) for x, y in jobs]
        out = map_in_processes(_score_job, arrays, workers=workers, on_result=lambda i, r: bar.update(1),
                               warn=lambda msg: _say(progress, f"race: {msg}", log))
    else:
        out = []
        for x, y in jobs:
            out.append(score(x, y, mmd_n))
            bar.update(1)
    bar.close()
    return out


# ---- the cache ---------------------------------------------------------------------------------
def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
        return True
    except OSError:
        return False


def resolve_cache_dir(cache_dir: str | Path | None = None) -> tuple[Path, list[Path], str | None]:
    """Where the race reads and writes its models: ``(write_dir, read_dirs, note)``.

    The requested folder (default ``config.data_dir() / "race"``) is used when writable. Otherwise
    models are written to ``~/.cache/fmlearn/race`` or, failing that, a folder in the temporary
    directory; matching models in the requested folder are still read. ``note`` says what happened.
    """
    wanted = Path(cache_dir).expanduser() if cache_dir is not None else config.data_dir() / "race"
    if _writable(wanted):
        return wanted, [wanted], None
    for fallback in (Path.home() / ".cache" / "fmlearn" / "race", Path(tempfile.gettempdir()) / "fmlearn-race"):
        if fallback != wanted and _writable(fallback):
            return fallback, [wanted, fallback], (f"the cache folder {str(wanted)!r} is not writable; trained "
                                                  f"models go to {str(fallback)!r} (models already in "
                                                  f"{str(wanted)!r} are still used when they match).")
    return wanted, [wanted], f"no writable cache folder ({str(wanted)!r} is read-only); models are not saved."


def cache_path(folder: str | Path, data: str, seed: int, quick: bool, steps: int, model: str) -> Path:
    """The cached checkpoint of one race model: ``{data}-seed{seed}-{quick|full}-{steps}steps-{model}.pt``."""
    return Path(folder) / f"{data}-seed{seed}-{'quick' if quick else 'full'}-{steps}steps-{model}.pt"


# ---- training or loading -----------------------------------------------------------------------
def _new_model(name: str, seed: int) -> PathModel:
    spec = _SPECS[name]
    with torch.random.fork_rng(devices=[]):  # the initial weights come from the race's seed, not torch's global state
        torch.manual_seed(_seed(seed, name, "init"))
        return PathModel(MLP(2, 64, 3), spec.schedule, spec.parametrization)


def _objective_config(name: str) -> dict:
    from .losses import Objective
    from .reflow import OneStepObjective
    spec = _SPECS[name]
    return (OneStepObjective() if spec.objective == "one-step" else Objective.preset(spec.objective)).config()


def _expected(name: str, data: str, seed: int, steps: int, n_pairs: int, teacher_fp: str | None) -> dict:
    """The configuration a cached model must match to be used."""
    from .training import DEFAULT_LR
    if teacher_fp is None:
        source = {"kind": "dataset", "name": data}
    else:
        source = {"kind": "pairs", "teacher": _SPECS[name].teacher, "teacher_fingerprint": teacher_fp,
                  "n": n_pairs, "sampler": PAIR_SAMPLER, "nfe": PAIR_NFE}
    return {"model": _new_model(name, seed).describe(), "objective": _objective_config(name),
            "training": {"data": source, "steps": steps, "batch_size": BATCH_SIZE, "lr": DEFAULT_LR,
                         "ema_decay": 0.999, "seed": seed, "race_recipe": RECIPE,
                         "init": "teacher" if teacher_fp else "seed"}}


def _train(name: str, data: str, seed: int, steps: int, n_pairs: int, teacher: PathModel | None, device,
           progress: bool):
    """Train one race model; returns ``(result, pair_seconds)``."""
    from .training import train
    if teacher is None:
        model = _new_model(name, seed)
        return train(model, data, _SPECS[name].objective, steps=steps, batch_size=BATCH_SIZE, seed=seed,
                     device=device, progress=progress), 0.0
    from .reflow import distill, make_pairs, rectify
    t0 = time.perf_counter()
    dev = next(teacher.parameters()).device
    g = torch.Generator(device=dev).manual_seed(_seed(seed, name, "pairs"))
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
    from .reflow import fingerprint
    log = [] if log is None else log
    order: list[str] = []

    def add(name: str) -> None:  # teachers before their students
        if name not in order:
            if _SPECS[name].teacher is not None:
                add(_SPECS[name].teacher)
            order.append(name)

    for name in _names("models", names, MODELS):
        add(name)
    write_dir, read_dirs, note = resolve_cache_dir(cache_dir)
    if note:
        _say(True, f"race: {note}", log)
    dev = config.get_device(device)
    models: dict[str, PathModel] = {}
    info: dict[str, dict] = {}
    for name in order:
        teacher = models[_SPECS[name].teacher] if _SPECS[name].teacher else None
        teacher_fp = fingerprint(teacher) if teacher is not None else None
        expected = _expected(name, data, seed, steps, n_pairs, teacher_fp)
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
            _say(True, message + (f"\n  -> {then}." if i == len(refused) - 1 else ""), log)
        if loaded is not None:
            ckpt, path = loaded
            extra = ckpt.raw.get("extra") or {}
            models[name] = ckpt.ema
            info[name] = {"cached": True, "checkpoint": str(path), "train_seconds": extra.get("train_seconds"),
                          "pair_seconds": extra.get("pair_seconds", 0.0), "steps": ckpt.step}
            _say(progress, f"race: loaded {name!r} from {str(path)!r} (trained before in "
                           f"{extra.get('train_seconds', float('nan')):.1f} s)", log)
        else:
            _say(progress, f"race: training {name!r} ({steps} steps on {data!r})", log)
            result, pair_seconds = _train(name, data, seed, steps, n_pairs, teacher, dev, progress)
            models[name] = result.ema
            path = target
            try:
                save_checkpoint(path, result.model, ema=result.ema, objective=expected["objective"],
                                history=result.history, step=result.steps, training=expected["training"],
                                extra={"train_seconds": result.seconds, "pair_seconds": pair_seconds})
            except OSError as err:
                _say(True, f"race: could not cache {name!r} at {str(path)!r} ({err}); continuing without.", log)
                path = None
            info[name] = {"cached": False, "checkpoint": None if path is None else str(path),
                          "train_seconds": result.seconds, "pair_seconds": pair_seconds, "steps": result.steps}
        models[name].requires_grad_(False).eval()
        info[name]["fingerprint"] = fingerprint(models[name])
        if teacher_fp is not None:
            info[name]["teacher_fingerprint"] = teacher_fp
    return models, info


# ---- claims ------------------------------------------------------------------------------------
def _w2(rows, model, sampler, nfe):
    for r in rows:
        if r["model"] == model and r["sampler"] == sampler and r["nfe_budget"] == nfe:
            return r["w2"]
    return None


def _nfe_to_reach(rows, model, sampler, target):
    """Smallest budget whose W2 is at most ``target`` (None if no budget gets there)."""
    budgets = sorted(r["nfe_budget"] for r in rows if r["model"] == model and r["sampler"] == sampler
                     and r["nfe_budget"] is not None and r["w2"] is not None and r["w2"] <= target)
    return budgets[0] if budgets else None


def check_claims(result: dict) -> list[dict]:
    """The issue's expected outcomes, measured on a race result; each ``{"id", "claim", "holds", "detail"}``.

    ``holds`` is None when the rows needed were not run. Thresholds: "within k x of the floor" is
    ``w2 <= k floor_w2``; "far fewer steps" is at most half; "beat clearly" is at most half the W2.
    """
    rows, floor = result["rows"], result["floor_w2"]
    models = {r["model"] for r in rows}
    out = []
    # 1. with NFE 100, every model reaches 3 x floor (its best sampler at that budget)
    detail, holds = [], None
    for m in ("fm", "fm-ot", "diffusion", "reflow"):
        at100 = {r["sampler"]: r["w2"] for r in rows if r["model"] == m and r["nfe_budget"] == 100
                 and r["w2"] is not None}
        if not at100:
            continue
        best = min(at100, key=at100.get)
        ok = at100[best] <= 3 * floor
        holds = ok if holds is None else holds and ok
        bad = [f"{s} {w:.3f}" for s, w in at100.items() if w > 3 * floor]
        detail.append(f"{m}: best {best} {at100[best]:.3f} = {at100[best] / floor:.2f} x floor"
                      + (f" (above 3 x floor: {', '.join(bad)})" if bad else ""))
    out.append({"id": "nfe100", "claim": "with NFE 100 every model reaches W2 within 3x of the floor",
                "holds": holds, "detail": "; ".join(detail) or "not measured"})
    # 2. DDIM and DPM++(2M) reach one common target (3 x floor) with far fewer steps than DDPM. A common
    # target, not each sampler's own NFE-100 quality: that would reward a sampler with a worse limit.
    measured = {s for (m, s) in {(r["model"], r["sampler"]) for r in rows} if m == "diffusion"}
    if {"ddim", "dpm++2m", "ddpm"} <= measured:
        need = {s: _nfe_to_reach(rows, "diffusion", s, 3 * floor) for s in ("ddim", "dpm++2m", "ddpm")}
        if need["ddpm"] is None:
            holds = all(need[s] is not None for s in ("ddim", "dpm++2m"))
        else:
            holds = all(need[s] is not None and need[s] <= need["ddpm"] / 2 for s in ("ddim", "dpm++2m"))
        detail = f"NFE to reach W2 <= {3 * floor:.3f} (3 x floor): " + "; ".join(
            f"{s} {'never' if n is None else n}" for s, n in need.items())
    else:
        holds, detail = None, "not measured (needs the diffusion model with ddim, dpm++2m and ddpm)"
    out.append({"id": "fast-diffusion-samplers", "holds": holds, "detail": detail,
                "claim": "on the diffusion model, DDIM and DPM-Solver++(2M) reach W2 within 3x of the floor with "
                         "at most half the NFE that DDPM needs"})
    # 3. one step: fm-ot and reflow beat fm clearly
    base = _w2(rows, "fm", "euler", 1)
    others = {m: _w2(rows, m, "euler", 1) for m in ("fm-ot", "reflow") if m in models}
    if base is not None and others and all(v is not None for v in others.values()):
        holds = all(v <= 0.5 * base for v in others.values())
        detail = f"euler NFE 1: fm {base:.3f}; " + "; ".join(f"{m} {v:.3f} ({v / base:.2f} x fm)"
                                                              for m, v in others.items())
    else:
        holds, detail = None, "not measured"
    out.append({"id": "one-step", "claim": "at NFE 1, fm-ot and reflow beat fm clearly (at most half its W2)",
                "holds": holds, "detail": detail})
    # 4. the distilled model at NFE 1
    d = _w2(rows, "distilled", "euler", 1)
    out.append({"id": "distilled", "claim": "distilled at NFE 1 is within 3x of the floor",
                "holds": None if d is None else d <= 3 * floor,
                "detail": "not measured" if d is None else f"{d:.3f} = {d / floor:.2f} x floor"})
    return out


# ---- the race ----------------------------------------------------------------------------------
def _one_thread(device):
    """Tiny networks and the assignment solver run fastest on one CPU thread (see CONTRIBUTING)."""
    return one_thread(torch.device(device).type == "cpu")


def _machine(device, workers: int) -> dict:
    return {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "cpu_count": os.cpu_count(), "device": str(device), "torch_threads": torch.get_num_threads(),
            "score_workers": workers}


def _std(values: list[float]) -> float:
    m = sum(values) / len(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / max(len(values) - 1, 1))


def _clean(value):
    """JSON-safe: NaN and inf become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _write_json(path: str | Path, result: dict) -> Path:
    """Write atomically: an interrupted or failed run leaves any previous file as it was."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_clean(result), indent=1, allow_nan=False)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text + "\n", encoding="utf-8"))
    return path


def run_race(data: str = "moons", quick: bool | None = None, seed: int = 0, device=None,
             cache_dir: str | Path | None = None, json_path: str | Path | None = None, progress: bool = True, *,
             steps: int | None = None, n_eval: int | None = None, nfes=None, models=None, samplers=None,
             grid: str = "uniform", n_pairs: int | None = None, workers: int | None = None,
             retrain: bool = False) -> dict:
    """Train (or load) the race's models on ``data``, run every sampler at every budget, score against fresh data.

    Args:
        data: a data set name (:data:`fmlearn.data.DATASETS`).
        quick: small budgets (1000 steps, ``n_eval`` 500) instead of 3000 steps and 2000; None: quick mode
            (``FMLEARN_QUICK``).
        seed: the one seed of the race (weights, training, pairs, evaluation data, noise).
        device: where to train and sample (default :func:`fmlearn.config.get_device`).
        cache_dir: folder of the cached models (see :func:`resolve_cache_dir`).
        json_path: also write the result there (atomically).
        progress: progress bars and messages (refusals of cached files are printed anyway).
        steps: training steps of every model (overrides the budget).
        n_eval: number of generated and of fresh data points per row (overrides the budget).
        nfes: budgets of network evaluations (default :data:`NFES`), each from 1 to 1000.
        models: subset of :data:`MODELS` to evaluate (teachers are trained or loaded as needed).
        samplers: subset of :data:`RACE_SAMPLERS`.
        grid: ``uniform`` (the samplers' default) or ``logsnr`` (see :func:`logsnr_grid`).
        n_pairs: number of pairs for reflow and distillation (default 20000, quick 10000).
        workers: processes that compute W2 (default: up to 2 when ``n_eval >= 1000``, else 1).
        retrain: ignore cached models (they are replaced).

    Returns:
        the result dict (also written to ``json_path``): ``data, quick, seed, n_eval, train_steps,
        floor_w2, floor_w2_std, floor_w2_samples, floor_mmd, mmd_n, grid, rows`` (each ``model, sampler,
        nfe, w2, mmd, seconds, straightness, nfe_budget, steps, grid``), ``models`` (per model: cached,
        checkpoint, train_seconds, fingerprint, ...), ``train_seconds``, ``claims`` (:func:`check_claims`),
        ``machine``, ``seconds`` (the whole run) and ``log`` (the messages).

    Raises:
        ValueError: an unknown data set, model, sampler or grid, or a budget out of range.
    """
    t_start = time.perf_counter()
    data = check_choice("data", data, DATASETS)
    quick = config.quick_mode() if quick is None else bool(quick)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}.")
    models_ = _names("models", MODELS if models is None else models, MODELS)
    samplers_ = _names("samplers", RACE_SAMPLERS if samplers is None else samplers, RACE_SAMPLERS)
    nfes_ = _nfes(NFES if nfes is None else nfes)
    grid = check_choice("grid", grid, GRIDS)
    steps = check_positive_int("steps", (1000 if quick else 3000) if steps is None else steps)
    n_eval = check_positive_int("n_eval", (500 if quick else 2000) if n_eval is None else n_eval, minimum=2)
    n_pairs = check_positive_int("n_pairs", (10000 if quick else 20000) if n_pairs is None else n_pairs, minimum=2)
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if n_eval >= 1000 else 1
    workers = check_positive_int("workers", workers)
    dev = config.get_device(device)
    rows_plan = plan(models_, samplers_, nfes_)
    log: list[str] = []

    with _one_thread(dev):
        models, info = get_models(models_, data, seed=seed, quick=quick, steps=steps, n_pairs=n_pairs, device=dev,
                                  cache_dir=cache_dir, retrain=retrain, progress=progress, log=log)
        # fresh data: streams of their own, never the training generator's
        reference = sample_data(data, n_eval, generator=torch.Generator().manual_seed(_seed(seed, "eval", "data")))
        floor_g = torch.Generator().manual_seed(_seed(seed, "eval", "floor"))
        others = [sample_data(data, n_eval, generator=floor_g) for _ in range(FLOOR_REPEATS)]
        noise_g = torch.Generator(device=dev).manual_seed(_seed(seed, "eval", "noise"))
        x0 = torch.randn((n_eval, 2), generator=noise_g, device=dev)  # (n_eval, 2): the same noise for every row
        from tqdm.auto import tqdm
        rows, jobs = [], [(other, reference) for other in others]
        for m, s, n in tqdm(rows_plan, desc="sample", unit="row", disable=not progress):
            g = torch.Generator(device=dev).manual_seed(_seed(seed, "eval", m, s, n))
            row, samples = sample_row(models[m], s, n, x0, grid=grid, generator=g)
            rows.append({"model": m, **row})
            jobs.append((samples, reference))
        scores = _score_all(jobs, MMD_N, workers, progress, log)
        machine = _machine(dev, workers)
    floors, scores = scores[:FLOOR_REPEATS], scores[FLOOR_REPEATS:]
    floor_w2s = [w for w, _ in floors]
    for row, (w2, mmd_value) in zip(rows, scores):
        row["w2"], row["mmd"] = w2, mmd_value
        if w2 is None:
            row["error"] = "non-finite samples (the sampler diverged)"
    order = ["model", "sampler", "nfe", "w2", "mmd", "seconds", "straightness", "nfe_budget", "steps", "grid"]
    rows = [{k: r[k] for k in order if k in r} | {k: v for k, v in r.items() if k not in order} for r in rows]
    result = {"data": data, "quick": quick, "seed": seed, "n_eval": n_eval, "train_steps": steps,
              "floor_w2": sum(floor_w2s) / len(floor_w2s), "floor_w2_std": _std(floor_w2s),
              "floor_w2_samples": floor_w2s,
              "floor_mmd": sum(m for _, m in floors) / len(floors), "mmd_n": min(MMD_N, n_eval), "grid": grid,
              "n_pairs": n_pairs, "pair_solver": f"{PAIR_SAMPLER}, NFE {PAIR_NFE}", "nfes": list(nfes_),
              "models": info, "train_seconds": {m: v["train_seconds"] for m, v in info.items()},
              "rows": rows}
    result["claims"] = check_claims(result)
    result["machine"] = machine
    result["log"] = log
    result["seconds"] = time.perf_counter() - t_start
    if json_path is not None:
        _write_json(json_path, result)
    return _clean(result)


# ---- the table ---------------------------------------------------------------------------------
def format_table(result: dict) -> str:
    """The race as text: one line per (model, sampler), W2 per NFE budget, dopri5 as ``W2 (nfe N)``."""
    rows = result["rows"]
    nfes = result.get("nfes") or sorted({r["nfe_budget"] for r in rows if r["nfe_budget"]})
    mode = "quick" if result["quick"] else "full"
    lines = [f"race on {result['data']!r} ({mode} mode, seed {result['seed']}, {result['train_steps']} training steps, "
             f"grid {result.get('grid', 'uniform')}): W2 to {result['n_eval']} fresh data points; "
             f"floor {result['floor_w2']:.3f} +- {result.get('floor_w2_std') or 0:.3f} (fresh data vs fresh data)",
             f"{'model':<10} {'sampler':<8}" + "".join(f"{n:>7}" for n in nfes) + "   adaptive"]
    seen = list(dict.fromkeys((r["model"], r["sampler"]) for r in rows))
    last_model = None
    for m, s in seen:
        cells = {r["nfe_budget"]: r for r in rows if r["model"] == m and r["sampler"] == s}
        line = f"{m if m != last_model else '':<10} {s:<8}"
        for n in nfes:
            r = cells.get(n)
            line += f"{'-' if r is None else ('nan' if r['w2'] is None else format(r['w2'], '.3f')):>7}"
        if None in cells:
            r = cells[None]
            line += f"   {'nan' if r['w2'] is None else format(r['w2'], '.3f')} (nfe {r['nfe']})"
        lines.append(line.rstrip())
        last_model = m
    lines.append("claims:")
    for c in result.get("claims", []):
        mark = {True: "holds", False: "FAILS", None: "n/a"}[c["holds"]]
        lines.append(f"  [{mark}] {c['claim']}: {c['detail']}")
    lines.append("training seconds: " + ", ".join(
        f"{m} {v['train_seconds']:.1f}{' (cached)' if v['cached'] else ''}" for m, v in result["models"].items()
        if v.get("train_seconds") is not None))
    lines.append(f"total {result['seconds']:.1f} s")
    return "\n".join(lines)


# ---- shipped results and figures ---------------------------------------------------------------
RESULTS = Path(__file__).resolve().parent / "results"


def precomputed(data: str = "moons", grid: str = "uniform", seed: int = 0) -> dict:
    """A full race shipped with the package: ``fmlearn/results/race_{data}_{grid}.json`` (seed 0) or
    ``race_{data}_{grid}_seed{seed}.json``.

    Regenerate one with ``python -m fmlearn race --data moons --grid uniform [--seed K] --json PATH``.
    """
    check_choice("grid", grid, GRIDS)
    path = RESULTS / (f"race_{data}_{grid}.json" if seed == 0 else f"race_{data}_{grid}_seed{seed}.json")
    shipped = sorted(p.stem[len("race_"):] for p in RESULTS.glob("race_*.json"))
    if not path.exists():
        raise ValueError(f"no shipped race result for data={data!r}, grid={grid!r}, seed={seed} (shipped: "
                         f"{', '.join(shipped)}); run python -m fmlearn race --data {data} --grid {grid} "
                         f"--seed {seed} --json PATH to make one.")
    return json.loads(path.read_text(encoding="utf-8"))


def precomputed_runs(data: str = "moons", grid: str = "uniform") -> list[dict]:
    """Every shipped seed of one race (seed 0 first): the repeats that :mod:`fmlearn.seeds` summarizes."""
    runs, seed = [precomputed(data, grid)], 1
    while (RESULTS / f"race_{data}_{grid}_seed{seed}.json").exists():
        runs.append(precomputed(data, grid, seed))
        seed += 1
    return runs


def _rows_by(result: dict, model: str, sampler: str) -> list[dict]:
    return sorted((r for r in result["rows"] if r["model"] == model and r["sampler"] == sampler
                   and r["w2"] is not None), key=lambda r: r["nfe"])


def plot_quality(result: dict, models=None, samplers=None, panel: float = 2.8):
    """Quality against cost: W2 to fresh data (log) against counted NFE (log), one panel per model,
    one line per sampler (``dopri5``: a marker at its measured NFE), the data floor dashed.

    Args:
        result: a race result (:func:`run_race` or :func:`precomputed`).
        models, samplers: subsets to draw (default: all in the result).
    Returns:
        a matplotlib Figure.
    """
    from . import plotting

    models = [m for m in (models or MODELS) if any(r["model"] == m for r in result["rows"])]
    samplers = [s for s in (samplers or RACE_SAMPLERS) if any(r["sampler"] == s for r in result["rows"])]
    fig, axes = plotting.new_figure(1, len(models), panel=panel, sharex=True, sharey=True)
    colors = {s: f"C{i}" for i, s in enumerate(RACE_SAMPLERS)}
    for ax, model in zip(axes[0], models):
        for sampler in samplers:
            rows = _rows_by(result, model, sampler)
            if rows:
                style = dict(marker="*", markersize=10, linestyle="none") if sampler == "dopri5" else dict(marker=".")
                ax.plot([r["nfe"] for r in rows], [r["w2"] for r in rows], color=colors[sampler], label=sampler,
                        **style)
        ax.axhline(result["floor_w2"], color="k", linestyle="--", linewidth=0.8, label="data floor")
        ax.set(xscale="log", yscale="log", title=model, xlabel="NFE (network calls)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0, 0].set_ylabel("W2 to fresh data")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    for ax in axes[0, 1:]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h), labels.append(lab)
    fig.legend(handles, labels, loc="outside right center", fontsize=8)
    fig.suptitle(f"{result['data']}: quality vs NFE ({'quick' if result['quick'] else 'full'} budget, "
                 f"{result['n_eval']} points, {result.get('grid', 'uniform')} grid)", fontsize=10)
    return fig


def plot_speed(result: dict, models=None):
    """Quality against wall-clock time per 1000 samples, every row of the race as a point coloured by model.

    Returns:
        a matplotlib Figure.
    """
    from . import plotting

    fig, axes = plotting.new_figure(1, 1, panel=3.6, figsize=(5.2, 3.6))
    ax = axes[0, 0]
    for i, model in enumerate(models or MODELS):
        rows = [r for r in result["rows"] if r["model"] == model and r["w2"] is not None and r["seconds"]]
        if rows:
            ax.scatter([1000 * r["seconds"] / result["n_eval"] for r in rows], [r["w2"] for r in rows],
                       s=12, color=f"C{i}", label=model)
    ax.axhline(result["floor_w2"], color="k", linestyle="--", linewidth=0.8, label="data floor")
    ax.set(xscale="log", yscale="log", xlabel="seconds per 1000 samples (CPU)", ylabel="W2 to fresh data",
           title="quality vs wall-clock time")
    ax.legend(fontsize=8)
    return fig


# ---- command line ------------------------------------------------------------------------------
def main(args) -> int:
    """Run the race from the arguments of ``python -m fmlearn race`` (see ``fmlearn/__main__.py``); print the
    table. Exit code 2 on bad input."""
    try:
        result = run_race(args.data, quick=args.quick, seed=args.seed, device=args.device, cache_dir=args.cache_dir,
                          json_path=args.json, progress=not args.no_progress, steps=args.steps, n_eval=args.n_eval,
                          nfes=args.nfes, models=args.models, samplers=args.samplers, grid=args.grid,
                          workers=args.workers, retrain=args.retrain)
    except (ValueError, TypeError) as err:
        print(f"fmlearn race: {err}", file=sys.stderr)
        return 2
    print(format_table(result))
    if args.json:
        print(f"wrote {args.json}")
    return 0
