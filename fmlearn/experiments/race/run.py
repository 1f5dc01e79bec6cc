"""Run a race: train or load its models, run every row from the same noise, score against fresh data."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch

from ... import config
from ..._checks import check_choice, check_positive_int
from ..._io import one_thread
from ...data import DATASETS, sample_data
from ..common import derive_seed, json_safe, machine_info, sample_std, write_json
from .claims import check_claims
from .plan import (FLOOR_REPEATS, GRIDS, MMD_N, MODELS, NFES, PAIR_NFE, PAIR_SAMPLER, RACE_SAMPLERS, parse_names,
                   parse_nfes, plan)
from .report import format_table
from .scoring import sample_row, score_all
from .zoo import get_models

__all__ = ["run_race", "add_arguments", "main"]


def _one_thread(device):
    """Tiny networks and the assignment solver run fastest on one CPU thread (see CONTRIBUTING)."""
    return one_thread(torch.device(device).type == "cpu")


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
        grid: ``uniform`` (the samplers' default) or ``logsnr`` (:meth:`fmlearn.schedules.Schedule.logsnr_grid`).
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
    models_ = parse_names("models", MODELS if models is None else models, MODELS)
    samplers_ = parse_names("samplers", RACE_SAMPLERS if samplers is None else samplers, RACE_SAMPLERS)
    nfes_ = parse_nfes(NFES if nfes is None else nfes)
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
        reference = sample_data(data, n_eval, generator=torch.Generator().manual_seed(derive_seed(seed, "eval", "data")))
        floor_g = torch.Generator().manual_seed(derive_seed(seed, "eval", "floor"))
        others = [sample_data(data, n_eval, generator=floor_g) for _ in range(FLOOR_REPEATS)]
        noise_g = torch.Generator(device=dev).manual_seed(derive_seed(seed, "eval", "noise"))
        x0 = torch.randn((n_eval, 2), generator=noise_g, device=dev)  # (n_eval, 2): the same noise for every row
        from tqdm.auto import tqdm
        rows, jobs = [], [(other, reference) for other in others]
        for m, s, n in tqdm(rows_plan, desc="sample", unit="row", disable=not progress):
            g = torch.Generator(device=dev).manual_seed(derive_seed(seed, "eval", m, s, n))
            row, samples = sample_row(models[m], s, n, x0, grid=grid, generator=g)
            rows.append({"model": m, **row})
            jobs.append((samples, reference))
        scores = score_all(jobs, MMD_N, workers, progress, log)
        machine = machine_info(dev, score_workers=workers)
    floors, scores = scores[:FLOOR_REPEATS], scores[FLOOR_REPEATS:]
    floor_w2s = [w for w, _ in floors]
    for row, (w2, mmd_value) in zip(rows, scores):
        row["w2"], row["mmd"] = w2, mmd_value
        if w2 is None:
            row["error"] = "non-finite samples (the sampler diverged)"
    order = ["model", "sampler", "nfe", "w2", "mmd", "seconds", "straightness", "nfe_budget", "steps", "grid"]
    rows = [{k: r[k] for k in order if k in r} | {k: v for k, v in r.items() if k not in order} for r in rows]
    result = {"data": data, "quick": quick, "seed": seed, "n_eval": n_eval, "train_steps": steps,
              "floor_w2": sum(floor_w2s) / len(floor_w2s), "floor_w2_std": sample_std(floor_w2s),
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
        write_json(json_path, result)
    return json_safe(result)


# ---- command line ------------------------------------------------------------------------------
def add_arguments(parser) -> None:
    """The options of ``python -m fmlearn race``; choices and defaults come from the race's own tables."""
    parser.add_argument("--data", default="moons", help=f"2D data set: {', '.join(DATASETS)} (default moons)")
    parser.add_argument("--json", metavar="PATH", default=None, help="also write the result to this JSON file")
    parser.add_argument("--quick", action="store_true", default=None,
                        help="small budgets (1000 steps, 500 points); default: FMLEARN_QUICK")
    parser.add_argument("--seed", type=int, default=0, help="the race's one seed (default 0)")
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: automatic)")
    parser.add_argument("--cache-dir", default=None, help="folder of the cached models (default: FMLEARN_DATA/race)")
    parser.add_argument("--grid", default="uniform",
                        help=f"time grid of the fixed-step samplers: {' or '.join(GRIDS)} (default uniform)")
    parser.add_argument("--retrain", action="store_true", help="ignore the cached models and train afresh")
    parser.add_argument("--steps", type=int, default=None, help="training steps of every model (overrides the budget)")
    parser.add_argument("--n-eval", type=int, default=None, help="points per evaluation (overrides the budget)")
    parser.add_argument("--nfes", default=None, help=f"comma-separated NFE budgets (default {','.join(map(str, NFES))})")
    parser.add_argument("--models", default=None, help=f"comma-separated subset of {','.join(MODELS)}")
    parser.add_argument("--samplers", default=None,
                        help=f"comma-separated subset of {','.join(RACE_SAMPLERS)}")
    parser.add_argument("--workers", type=int, default=None, help="processes that compute W2 (default: up to 2)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


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
