r"""The MNIST race: the shipped flow matching and diffusion models, every sampler, every NFE budget.

``python -m fmlearn mnist-eval --json PATH [--quick]`` samples the same noise with each model and
sampler at NFE in {1, 2, 4, 8, 16, 32, 100} and scores the digits with the shipped classifier
(:mod:`fmlearn.mnist.metric`): Fréchet distance of its features to the test set, share of
confident samples, entropy of the predicted-label histogram, and seconds. The flow samplers run on
the diffusion model and the diffusion samplers on the flow model through the exact conversions
of :mod:`fmlearn.parametrizations`. Beside the rows stand two references measured on the same
number of images: real training digits (``floor_fd``: what a perfect model scores at this n) and
blurred test digits (``blur_fd``: a visibly bad model). FD depends on n: compare rows of one run. Each row
and reference also has ``fd_inf``, the FD extrapolated to infinitely many samples
(:func:`fmlearn.frechet.fd_infinity`): real digits score 12.2 at n = 500 and about 0 extrapolated.

Full: n_eval = 500 per row (8.5 min on an idle 2-core CPU, in two worker processes of one thread each,
which sample 1.4x faster than one process with two threads; DDIM rows of a linear-path model are copies of
Euler's, marked ``same_as``); quick: n_eval = 150 at NFE {1, 4, 16, 32}
(about 1.5 min). Sampling costs about 1 ms per image and network evaluation on such a CPU.
"""
from __future__ import annotations

import functools
import os
import sys
import time
from pathlib import Path

import torch

from .. import config
from .._checks import check_choice, check_positive_int
from .._io import package_path
from .common import derive_seed, json_safe, machine_info, write_json

__all__ = ["EVAL_SAMPLERS", "NFES", "run_mnist_eval", "precomputed", "precomputed_runs", "format_table", "rows_of",
           "add_arguments", "main"]

EVAL_SAMPLERS = ("euler", "heun", "ddpm", "ddim", "dpm++2m")
NFES = (1, 2, 4, 8, 16, 32, 100)
QUICK_NFES = (1, 4, 16, 32)
MODELS = ("fm", "diffusion")
RESULTS = package_path("results")


def _seed(*parts) -> int:
    """The seed of one purpose of the MNIST race (its own streams, apart from the 2D race's)."""
    return derive_seed("mnist", *parts)


def _noise(n_eval: int, shape, seed: int) -> torch.Tensor:
    """The shared noise of every row, (n_eval, *shape): the same draws in every process."""
    return torch.randn((n_eval, *shape), generator=torch.Generator().manual_seed(_seed(seed, "noise")))


def _score_row(model, classifier, x0, name: str, sampler: str, nfe: int, seed: int, batch_size: int, device) -> dict:
    """Sample one (model, sampler, NFE) row from the shared noise x0 and score it."""
    from ..mnist.metric import evaluate_images
    from ..mnist.models import sample_in_batches
    g = torch.Generator(device=device).manual_seed(_seed(seed, name, sampler, nfe))
    images, counted, seconds = sample_in_batches(model, x0.split(batch_size), sampler, nfe, generator=g, device=device)
    row = {"model": name, "sampler": sampler, "nfe": counted, "fd": None, "confident": None, "entropy": None,
           "seconds": seconds}
    if bool(torch.isfinite(images).all()):
        scores = evaluate_images(images.clamp(-1.5, 1.5), model=classifier)
        row.update(fd=scores["fd"], fd_inf=scores["fd_inf"], confident=scores["confident"], entropy=scores["entropy"])
    else:
        row["error"] = "non-finite samples (the sampler diverged)"
    return row


@functools.lru_cache(maxsize=4)
def _shipped_and_classifier(name: str, device: str):
    from ..mnist.classifier import load_classifier
    from ..mnist.models import load_shipped
    return load_shipped(name, device=device), load_classifier()


def _shipped_row(job: dict) -> dict:
    """One row of a shipped model, computed in a worker process (see :func:`fmlearn.experiments.parallel.map_in_processes`)."""
    model, classifier = _shipped_and_classifier(job["model"], job["device"])
    x0 = _noise(job["n_eval"], model.shape, job["seed"])
    return _score_row(model, classifier, x0, job["model"], job["sampler"], job["nfe"], job["seed"],
                      job["batch_size"], job["device"])


def _same_as(model, sampler: str) -> str | None:
    """A sampler whose rows equal another's on this model, in exact arithmetic: DDIM is Euler on the
    linear path with ``sigma_min = 0`` (``alpha + sigma = 1``: notebook 04, ``test_samplers``)."""
    cfg = model.schedule.config()
    if sampler == "ddim" and cfg["name"] == "linear" and cfg.get("sigma_min", 0.0) == 0.0:
        return "euler"
    return None


def run_mnist_eval(quick: bool | None = None, *, models=MODELS, samplers=EVAL_SAMPLERS, nfes=None,
                   n_eval: int | None = None, seed: int = 0, device=None, batch_size: int = 250,
                   json_path: str | Path | None = None, progress: bool = True, loaded: dict | None = None,
                   workers: int | None = None) -> dict:
    """Sample and score every (model, sampler, NFE) row; see the module docstring.

    Args:
        quick: n_eval 150 and NFE {1, 4, 16, 32}; None: quick mode (``FMLEARN_QUICK``).
        models: names of shipped models (``fm``, ``diffusion``).
        samplers: subset of :data:`EVAL_SAMPLERS` (any fixed-step sampler of :mod:`fmlearn.samplers` works).
        nfes: NFE budgets; a budget below a sampler's evaluations per step (heun: 2) is skipped.
        n_eval: images per row (overrides the budget).
        seed: one seed for the noise (the same noise for every row) and the stochastic samplers.
        loaded: ``{name: PathModel}`` to evaluate instead of the shipped models (tests, your own models);
            these run in this process.
        workers: processes that sample the shipped models on the CPU, one thread each (default: 2 on a
            CPU with at least 2 cores for a run of more than 4 rows, else 1: sampling here in this process
            with torch's own threads). Each row's draws do not depend on it.
        json_path: also write the result there (atomically).

    Returns:
        ``{"quick", "n_eval", "floor_fd", "blur_fd", "rows": [{"model", "sampler", "nfe", "fd",
        "confident", "entropy", "seconds"}], "references", "machine", "seconds"}``. A row that equals
        another in exact arithmetic (DDIM and Euler on the linear path) is not sampled twice: it is a copy
        with ``"same_as": "euler"``.
    """
    from tqdm.auto import tqdm

    from ..mnist.classifier import load_classifier
    from ..mnist.metric import references
    from ..mnist.models import load_shipped
    from ..samplers import EVALS_PER_STEP
    from .parallel import map_in_processes

    t_start = time.perf_counter()
    quick = config.quick_mode() if quick is None else bool(quick)
    n_eval = check_positive_int("n_eval", (150 if quick else 500) if n_eval is None else n_eval, minimum=2)
    nfes = tuple(QUICK_NFES if quick else NFES) if nfes is None else tuple(int(n) for n in nfes)
    for n in nfes:
        check_positive_int("nfe", n)
    samplers = tuple(check_choice("sampler", s, EVALS_PER_STEP) for s in samplers)
    dev = config.get_device(device)
    shipped = loaded is None
    if shipped:
        loaded = {m: load_shipped(check_choice("model", m, MODELS), device=dev) for m in models}
    classifier = load_classifier()
    refs = references(n_eval, model=classifier)
    shape = next(iter(loaded.values())).shape
    plan = [(m, s, n) for m in loaded for s in samplers for n in nfes if n >= EVALS_PER_STEP[s]]
    copies = {(m, s, n): (m, _same_as(loaded[m], s), n) for m, s, n in plan
              if _same_as(loaded[m], s) and (m, _same_as(loaded[m], s), n) in plan}
    todo = [key for key in plan if key not in copies]
    if workers is None:
        workers = 2 if (shipped and torch.device(dev).type == "cpu" and (os.cpu_count() or 1) >= 2
                        and len(todo) > 4) else 1
    workers = check_positive_int("workers", workers)
    bar = tqdm(total=len(todo), desc="mnist-eval", unit="row", disable=not progress)
    if shipped and workers > 1:
        jobs = [{"model": m, "sampler": s, "nfe": n, "n_eval": n_eval, "seed": seed, "batch_size": batch_size,
                 "device": str(dev)} for m, s, n in todo]
        done = map_in_processes(_shipped_row, jobs, workers=workers, costs=[n for _, _, n in todo],
                                on_result=lambda i, r: bar.update(1), warn=lambda msg: print(f"mnist-eval: {msg}"))
    else:
        x0 = _noise(n_eval, shape, seed)  # shared by every row
        done = []
        for m, s, n in todo:
            done.append(_score_row(loaded[m], classifier, x0, m, s, n, seed, batch_size, dev))
            bar.update(1)
    bar.close()
    computed = dict(zip(todo, done))
    rows = [computed[key] if key not in copies else {**computed[copies[key]], "sampler": key[1],
                                                      "same_as": copies[key][1]} for key in plan]
    result = {"quick": quick, "n_eval": n_eval, "floor_fd": refs["floor_fd"], "blur_fd": refs["blur_fd"],
              "floor_fd_inf": refs["floor_fd_inf"], "blur_fd_inf": refs["blur_fd_inf"],
              "seed": seed, "nfes": list(nfes), "samplers": list(samplers), "models": list(loaded),
              "rows": rows, "references": refs, "machine": machine_info(dev, score_workers=workers),
              "seconds": time.perf_counter() - t_start}
    if json_path is not None:
        write_json(json_path, result)
    return json_safe(result)


def precomputed(name: str = "mnist_eval") -> dict:
    """The full run shipped with the package (``fmlearn/results/mnist_eval.json``), read by notebook 08."""
    import json
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no precomputed MNIST evaluation at {path}; run "
                                f"`python -m fmlearn mnist-eval --json {path}`.")
    return json.loads(path.read_text())


def precomputed_runs() -> list[dict]:
    """The shipped full run (noise seed 0) and its repeats with other sampling noise
    (``mnist_eval_seed1.json``, ...: the headline samplers and budgets only), for :mod:`fmlearn.experiments.seeds`.

    Regenerate a repeat with ``python -m fmlearn mnist-eval --seed 1 --samplers euler,dpm++2m,ddpm
    --nfes 4,8,16,100 --json fmlearn/results/mnist_eval_seed1.json``.
    """
    runs, seed = [precomputed()], 1
    while (RESULTS / f"mnist_eval_seed{seed}.json").is_file():
        runs.append(precomputed(f"mnist_eval_seed{seed}"))
        seed += 1
    return runs


def format_table(result: dict) -> str:
    """Rows as text: per (model, sampler), FD and confident share per NFE."""
    nfes = sorted({r["nfe"] for r in result["rows"]})
    head = f"{'model':<10} {'sampler':<8} " + " ".join(f"{'NFE ' + str(n):>13}" for n in nfes)
    lines = [f"MNIST, n={result['n_eval']} per row: FD (confident share); floor_fd {result['floor_fd']:.1f}, "
             f"blur_fd {result['blur_fd']:.1f}", head]
    for m in dict.fromkeys(r["model"] for r in result["rows"]):
        for s in dict.fromkeys(r["sampler"] for r in result["rows"] if r["model"] == m):
            cells = {r["nfe"]: r for r in result["rows"] if r["model"] == m and r["sampler"] == s}
            text = [f"{cells[n]['fd']:6.1f} ({cells[n]['confident']:.2f})" if n in cells and cells[n]["fd"] is not None
                    else ("diverged" if n in cells else "-") for n in nfes]
            lines.append(f"{m:<10} {s:<8} " + " ".join(f"{c:>13}" for c in text))
    return "\n".join(lines)


def rows_of(result: dict, model: str, sampler: str) -> list[dict]:
    """The rows of one (model, sampler), sorted by NFE, that have scores."""
    rows = [r for r in result["rows"] if r["model"] == model and r["sampler"] == sampler and r["fd"] is not None]
    return sorted(rows, key=lambda r: r["nfe"])


def add_arguments(parser) -> None:
    """The options of ``python -m fmlearn mnist-eval``."""
    parser.add_argument("--json", metavar="PATH", default=None, help="also write the result to this JSON file")
    parser.add_argument("--quick", action="store_true", default=None,
                        help="150 images per row at NFE 1, 4, 16, 32; default: FMLEARN_QUICK")
    parser.add_argument("--n-eval", type=int, default=None, help="images per row (default 500, quick 150)")
    parser.add_argument("--nfes", default=None, help="comma-separated NFE budgets (default 1,2,4,8,16,32,100)")
    parser.add_argument("--samplers", default=",".join(EVAL_SAMPLERS), help="comma-separated samplers")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: automatic)")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes that sample on the CPU, one thread each (default: 2 when there are 2 cores)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args) -> int:
    """Run ``python -m fmlearn mnist-eval`` from its parsed arguments; print the table. Exit code 2 on bad input."""
    try:
        nfes = [int(v) for v in args.nfes.split(",")] if args.nfes else None
        result = run_mnist_eval(args.quick, samplers=[s.strip() for s in args.samplers.split(",") if s.strip()],
                                nfes=nfes, n_eval=args.n_eval, seed=args.seed, device=args.device,
                                json_path=args.json, progress=not args.no_progress, workers=args.workers)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as err:  # incl. missing MNIST files, bad classifier
        print(f"fmlearn mnist-eval: {err}", file=sys.stderr)
        return 2
    print(format_table(result))
    print(f"{result['seconds']:.0f} s" + (f"; wrote {args.json}" if args.json else ""))
    return 0
