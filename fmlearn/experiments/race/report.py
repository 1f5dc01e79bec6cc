"""A race as text (:func:`format_table`) and the races shipped with the package (:func:`precomputed`)."""
from __future__ import annotations

import json

from ..._checks import check_choice
from ..._io import package_path
from .plan import GRIDS

__all__ = ["format_table", "RESULTS", "precomputed", "precomputed_runs"]


def format_table(result: dict) -> str:
    """The race as text: one line per (model, sampler), W2 per NFE budget, dopri5 as ``W2 (nfe N)`` in an
    ``adaptive`` column (only when an adaptive sampler ran)."""
    rows = result["rows"]
    nfes = result.get("nfes") or sorted({r["nfe_budget"] for r in rows if r["nfe_budget"]})
    mode = "quick" if result["quick"] else "full"
    lines = [f"race on {result['data']!r} ({mode} mode, seed {result['seed']}, {result['train_steps']} training steps, "
             f"grid {result.get('grid', 'uniform')}): W2 to {result['n_eval']} fresh data points; "
             f"floor {result['floor_w2']:.3f} +- {result.get('floor_w2_std') or 0:.3f} (fresh data vs fresh data)",
             f"{'model':<10} {'sampler':<8}" + "".join(f"{n:>7}" for n in nfes)
             + ("   adaptive" if any(r["nfe_budget"] is None for r in rows) else "")]  # no empty column
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


RESULTS = package_path("results")


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
    """Every shipped seed of one race (seed 0 first): the repeats that :mod:`fmlearn.experiments.seeds` summarizes."""
    runs, seed = [precomputed(data, grid)], 1
    while (RESULTS / f"race_{data}_{grid}_seed{seed}.json").exists():
        runs.append(precomputed(data, grid, seed))
        seed += 1
    return runs


