"""Results over several seeds: each row's mean and spread, and verdicts that hold on every seed.

One training run and one noise draw cannot carry a claim: on moons the data floor alone scatters by
+-0.03 in W2, and redrawing the MNIST sampling noise moved rows by up to 7% in FD. So the shipped races
come with repeats, and the notebooks state (and assert) only what holds on every one of them:

* :func:`summarize` — per row key (e.g. ``(model, sampler, nfe)``), the values over the runs with
  their mean, standard deviation (n - 1), minimum and maximum (:func:`spread` of one list);
* :func:`verdicts` — per claim id, whether it holds on every run, on none, or is mixed;
* :func:`always_less` — ``a < b`` on every run (the form a notebook asserts), paired by run.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

__all__ = ["summarize", "spread", "verdicts", "always_less", "format_spread"]


def _key(row: dict, key: Sequence[str]) -> tuple:
    return tuple(row.get(k) for k in key)


def summarize(results: Sequence[dict], value: str = "w2", key: Sequence[str] = ("model", "sampler", "nfe_budget")
              ) -> dict[tuple, dict]:
    """Each row key's values over ``results`` (runs with a ``rows`` list), with mean, std, min and max.

    Rows whose value is None (a diverged sampler) are left out of that key's statistics; a key missing
    from some runs gets the runs that have it (``n`` says how many).

    Returns:
        ``{key: {"values", "n", "mean", "std", "min", "max"}}``; ``std`` is 0.0 for a single value.
    """
    if not results:
        raise ValueError("results must hold at least one run.")
    values: dict[tuple, list[float]] = {}
    for result in results:
        for row in result["rows"]:
            if row.get(value) is not None:
                values.setdefault(_key(row, key), []).append(float(row[value]))
    return {k: spread(vs) for k, vs in values.items()}


def spread(values: Sequence[float]) -> dict:
    """``{"values", "n", "mean", "std", "min", "max"}`` of one list of numbers (std with n - 1; 0.0 for one)."""
    vs = [float(v) for v in values]
    if not vs:
        raise ValueError("values must hold at least one number.")
    mean = sum(vs) / len(vs)
    std = math.sqrt(sum((v - mean) ** 2 for v in vs) / (len(vs) - 1)) if len(vs) > 1 else 0.0
    return {"values": vs, "n": len(vs), "mean": mean, "std": std, "min": min(vs), "max": max(vs)}


def verdicts(claim_lists: Sequence[Sequence[dict]]) -> dict[str, dict]:
    """Per claim id, over runs: ``{"claim", "holds": [per run], "verdict": "holds" | "fails" | "mixed" |
    "n/a"}``; a run where the claim was not measured (holds None) is left out of the verdict."""
    out: dict[str, dict] = {}
    for claims in claim_lists:
        for c in claims:
            entry = out.setdefault(c["id"], {"claim": c["claim"], "holds": []})
            entry["holds"].append(c["holds"])
    for entry in out.values():
        known = [h for h in entry["holds"] if h is not None]
        entry["verdict"] = ("n/a" if not known else "holds" if all(known) else "fails" if not any(known)
                            else "mixed")
    return out


def always_less(results: Sequence[dict], a: tuple, b: tuple, value: str = "w2",
                key: Sequence[str] = ("model", "sampler", "nfe_budget"), factor: float = 1.0) -> bool:
    """Whether row ``a``'s value is below ``factor`` times row ``b``'s in every run that has both."""
    pairs = []
    for result in results:
        rows = {_key(r, key): r.get(value) for r in result["rows"]}
        if rows.get(a) is not None and rows.get(b) is not None:
            pairs.append(rows[a] < factor * rows[b])
    if not pairs:
        raise ValueError(f"no run has both rows {a} and {b}.")
    return all(pairs)


def format_spread(stats: dict, digits: int = 3, fmt: Callable[[float], str] | None = None) -> str:
    """``mean +- std`` (and the run count when it is not 3) of one :func:`summarize` entry."""
    f = fmt or (lambda v: f"{v:.{digits}f}")
    text = f"{f(stats['mean'])} ± {f(stats['std'])}"
    return text if stats["n"] == 3 else f"{text} (n={stats['n']})"
