r"""The popular claims about flow matching against diffusion, each measured: ``python -m fmlearn claims``.

Each claim has a module named after what it measures, with ``measure(...) -> dict`` (JSON-ready) and
``verdict(result) -> {"verdict", "measured"}``; the verdict is one of ``holds``, ``partly``, ``does not hold``,
computed from the measurement, never typed. :data:`CLAIMS` lists all nine in the order of notebook 10, with
the published number that anchors each at scale; a claim whose experiment is not built yet says so
(``"not measured yet"``) instead of borrowing a verdict.

=====  ====================================================  =============================================
claim  what is measured                                      module
=====  ====================================================  =============================================
1      the network is not invertible, the flow is            :mod:`.invertibility` (live: trains 2 MLPs)
2      deterministic vs stochastic samplers, both families   :mod:`.determinism` (shipped moons races)
3      W2 against the MLP's width, two budgets               :mod:`.scaling` (live: trains 40 MLPs)
4      W2 and copies against the training-set size           :mod:`.data_size` (live: trains 24 MLPs)
5      precision and mode weights on a 25-Gaussian grid      :mod:`.fidelity` (live: trains 8 MLPs)
6      a flow sampled by an SDE, noise x NFE x model quality  :mod:`.hybrids` (live: trains 4 MLPs)
7      straightened transport vs NFE to a common target      :mod:`.transport` (shipped moons races)
8      a learning-rate sweep of one recipe, both families    :mod:`.tuning` (live: trains 20 MLPs)
9      NFE to equal quality, best sampler per family         :mod:`.bottom_line` (shipped moons and MNIST)
=====  ====================================================  =============================================
"""
from __future__ import annotations

import importlib
import inspect
import time
from pathlib import Path

from ... import config
from ..._io import package_path
from ..common import json_safe, machine_info, write_json

__all__ = ["CLAIMS", "VERDICTS", "run_claims", "precomputed", "recompute_verdict", "format_verdicts", "add_arguments",
           "main"]

VERDICTS = ("holds", "partly", "does not hold", "not measured yet")

#: id -> (the claim, module measuring it or None, the literature's anchor, where the course shows it)
CLAIMS: dict[str, tuple[str, str | None, str, str]] = {
    "1": ("flow matching uses invertible neural networks (it is a normalizing flow)", "invertibility",
          "Lipman et al. 2023: flow matching trains a continuous normalizing flow (Chen et al. 2018) by regressing "
          "its velocity, with an unconstrained U-Net", "03, 07"),
    "2": ("flow matching is deterministic and diffusion stochastic, so flow matching is faster", "determinism",
          "Karras et al. 2022 (EDM): a deterministic Heun sampler on a diffusion model, CIFAR-10 FID 1.79 at 35 NFE",
          "02, 04, 05, 08"),
    "3": ("flow matching scales linearly with model size, diffusion shows diminishing returns", "scaling",
          "Ma et al. 2024 (SiT) vs Peebles & Xie 2023 (DiT), same backbones on ImageNet-256 at 400K steps: FID "
          "S/B/L/XL 57.6/33.0/18.8/17.2 vs 68.4/43.5/23.3/19.5, the gap shrinking with size", "10"),
    "4": ("flow matching needs large amounts of high-quality data", "data_size",
          "Kadkhodaie et al. 2024: diffusion models memorize below about 100 images and generalize from 1e4-1e5",
          "10"),
    "5": ("diffusion gives better fidelity and diversity", "fidelity",
          "Lipman et al. 2023, Table 1: same U-Net, CIFAR-10 FID 6.35 (FM-OT) vs 7.48 (DDPM); Esser et al. 2024 "
          "(SD3): the loss weighting matters as much as the family", "08, 10"),
    "6": ("hybrids combine the strengths of both", "hybrids",
          "Ma et al. 2024 (SiT), Table 8: the same flow model sampled by an SDE, FID 18.04 (ODE) -> 17.19 (SDE)",
          "02, 05"),
    "7": ("straighter, lower-variance transport means fewer steps", "transport",
          "Liu et al. 2023 (rectified flow) and Salimans & Ho 2022 (progressive distillation): one- and few-step "
          "samplers after straightening or distilling", "05, 06"),
    "8": ("flow matching is hard to train and needs meticulous tuning", "tuning",
          "Esser et al. 2024 (SD3) compare 61 diffusion and rectified-flow formulations trained with one shared "
          "setup; rectified flow with logit-normal times ranks among the best", "03, 05, 10"),
    "9": ("flow matching samples faster (the bottom line)", "bottom_line", "", "05, 08"),
}


def run_claims(quick: bool | None = None, json_path: str | Path | None = None, progress: bool = True,
               seed: int = 0, only=None) -> dict:
    """Measure every claim that has an experiment and compute its verdict.

    Args:
        quick: small training budgets for the live experiments (None: ``FMLEARN_QUICK``).
        json_path: also write the result there (atomically).
        progress: a progress bar over the claims.
        seed: the seed of the live experiments.
        only: ids of the claims to measure again (e.g. ``("4", "9")``); the others are kept from the run already
            at ``json_path``, which must exist and have the same budgets and seed. ``seconds`` is then the sum
            of the claims' own times.

    Returns:
        ``{"quick", "claims": [{"id", "claim", "verdict", "measured", "literature", "notebooks", "result",
        "seconds"}], "machine", "seconds"}``.
    """
    from tqdm.auto import tqdm

    quick = config.quick_mode() if quick is None else bool(quick)
    kept = _kept_claims(only, json_path, quick, seed)
    t0 = time.perf_counter()
    out = []
    for cid, (claim, module, literature, notebooks) in tqdm(CLAIMS.items(), desc="claims", unit="claim",
                                                            disable=not progress):
        if cid in kept:
            out.append(kept[cid])
            continue
        entry = {"id": cid, "claim": claim, "literature": literature, "notebooks": notebooks}
        start = time.perf_counter()
        if module is None:
            entry.update(verdict="not measured yet", measured="", result=None)
        else:
            mod = importlib.import_module(f"{__name__}.{module}")
            live = "quick" in inspect.signature(mod.measure).parameters  # trains models (else: shipped results)
            result = mod.measure(quick=quick, seed=seed) if live else mod.measure()
            entry.update(mod.verdict(result), result=result)
        entry["seconds"] = time.perf_counter() - start
        out.append(entry)
    seconds = sum(c["seconds"] for c in out) if only else time.perf_counter() - t0
    result = {"quick": quick, "seed": seed, "claims": out, "machine": machine_info(), "seconds": seconds}
    if json_path is not None:
        write_json(json_path, result)
    return json_safe(result)


def _kept_claims(only, json_path, quick: bool, seed: int) -> dict[str, dict]:
    """The entries of the run at ``json_path`` that ``only`` does not ask to measure again (id -> entry)."""
    import json

    if not only:
        return {}
    only = [str(c).strip() for c in (only.split(",") if isinstance(only, str) else only)]
    unknown = [c for c in only if c not in CLAIMS]
    if unknown:
        raise ValueError(f"unknown claim id(s) {unknown}; the claims are {', '.join(CLAIMS)}.")
    if json_path is None or not Path(json_path).is_file():
        raise ValueError("only= measures some claims again and keeps the others from an earlier run: give the "
                         "json_path of that run (it does not exist yet: run every claim once first).")
    old = json.loads(Path(json_path).read_text(encoding="utf-8"))
    if old.get("quick") != quick or old.get("seed") != seed:
        raise ValueError(f"{json_path} was run with quick={old.get('quick')}, seed={old.get('seed')}, not "
                         f"quick={quick}, seed={seed}: measure every claim again, or match its settings.")
    return {c["id"]: c for c in old["claims"] if c["id"] not in only and c["id"] in CLAIMS}


def precomputed() -> dict:
    """The full run shipped with the package (``fmlearn/results/claims.json``), read by notebook 10.

    Regenerate it with ``python -m fmlearn claims --json fmlearn/results/claims.json``.
    """
    import json

    path = package_path("results", "claims.json")
    if not path.is_file():
        raise FileNotFoundError(f"no shipped claims result at {path}; run `python -m fmlearn claims --json {path}`.")
    return json.loads(path.read_text(encoding="utf-8"))


def recompute_verdict(entry: dict) -> str:
    """The verdict of one shipped claim computed again from its stored measurement (never the stored text)."""
    module = CLAIMS[entry["id"]][1]
    if module is None:
        return "not measured yet"
    return importlib.import_module(f"{__name__}.{module}").verdict(entry["result"])["verdict"]


def format_verdicts(result: dict) -> str:
    """The verdict table as text: claim, verdict, what was measured."""
    lines = [f"claims ({'quick' if result['quick'] else 'full'} budgets, {result['seconds']:.0f} s):"]
    for c in result["claims"]:
        lines.append(f"{c['id']}. {c['claim']}\n   -> {c['verdict'].upper()}"
                     + (f": {c['measured']}" if c["measured"] else ""))
    return "\n".join(lines)


def add_arguments(parser) -> None:
    """The options of ``python -m fmlearn claims``."""
    parser.add_argument("--json", metavar="PATH", default=None, help="also write the result to this JSON file")
    parser.add_argument("--quick", action="store_true", default=None,
                        help="small training budgets for the live experiments; default: FMLEARN_QUICK")
    parser.add_argument("--seed", type=int, default=0, help="seed of the live experiments (default 0)")
    parser.add_argument("--only", metavar="IDS", default=None,
                        help="comma-separated claim ids to measure again, keeping the others from --json's file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args) -> int:
    """Run ``python -m fmlearn claims`` from its parsed arguments; print the verdicts."""
    result = run_claims(args.quick, json_path=args.json, progress=not args.no_progress, seed=args.seed,
                        only=args.only)
    print(format_verdicts(result))
    if args.json:
        print(f"wrote {args.json}")
    return 0
