r"""Claim 9, the bottom line: "flow matching samples faster".

At equal quality, how many network evaluations, and how many milliseconds, does each family need with its best
sampler? Measured on the shipped races: two 2D data sets, moons and checkerboard (3 training seeds each;
W2 <= 3 x the data floor; the samplers' uniform time grid and the log-SNR grid), and MNIST (the full run;
FD <= 2 x the best FD of any row at NFE 100). Plain flow matching (independent coupling) against diffusion,
same network, data and training budget. The straightened models (reflow, distillation) are left out: they
straighten either family (see claim 7).

Times are the races' wall-clock sampling times (CPU, one thread, 2000 points, scored rows running beside
in other processes), per 1000 samples: at equal NFE they are equal for both families, since each step is
one call of the same network, so the NFE decides.
"""
from __future__ import annotations

from ..mnist_race import precomputed as mnist_precomputed
from ..race import precomputed_runs
from .families import FAMILIES

__all__ = ["SAMPLERS", "DATA_2D", "measure", "verdict"]

SAMPLERS = ("euler", "heun", "rk4", "ddim", "dpm++2m", "ddpm", "em")
DATA_2D = ("moons", "checkerboard")


def _reach(run: dict, model: str, target: float) -> dict:
    """The smallest fixed budget at which ``model``'s best sampler reaches ``W2 <= target`` in one race, with
    that row's sampler and milliseconds per 1000 samples; ``nfe`` None (and no time) when none gets there."""
    ok = [r for r in run["rows"] if r["model"] == model and r["sampler"] in SAMPLERS and r["nfe_budget"] is not None
          and r["w2"] is not None and r["w2"] <= target]
    if not ok:
        return {"nfe": None, "sampler": None, "ms": None}
    best = min(ok, key=lambda r: (r["nfe_budget"], r["seconds"]))
    return {"nfe": best["nfe_budget"], "sampler": best["sampler"], "ms": 1e6 * best["seconds"] / run["n_eval"]}


def _mnist_nfe(rows, model, target):
    nfes = [r["nfe"] for r in rows if r["model"] == model and r["fd"] is not None and r["fd"] <= target]
    return min(nfes) if nfes else None


def measure() -> dict:
    """Per 2D data set, grid and family: the NFE (one per seed) of the best sampler to reach 3 x the floor, with
    its sampler and milliseconds per 1000 samples; for MNIST the NFE to reach the FD target."""
    out = {"data_2d": list(DATA_2D)}
    for data in DATA_2D:
        out[data] = {}
        for grid in ("uniform", "logsnr"):
            runs = precomputed_runs(data, grid)
            reached = {m: [_reach(run, m, 3 * run["floor_w2"]) for run in runs] for m in FAMILIES}
            out[data][grid] = {**{m: [c["nfe"] for c in cells] for m, cells in reached.items()},
                               **{f"{m}_sampler": [c["sampler"] for c in cells] for m, cells in reached.items()},
                               **{f"{m}_ms": [c["ms"] for c in cells] for m, cells in reached.items()}}
    mnist = mnist_precomputed()
    target = 2 * min(r["fd"] for r in mnist["rows"] if r["nfe"] == 100 and r["fd"] is not None)
    out["mnist"] = {"target_fd": target, **{m: _mnist_nfe(mnist["rows"], m, target) for m in FAMILIES}}
    return out


def _ms(values) -> str:
    got = [v for v in values if v is not None]
    return f"{sum(got) / len(got):.1f} ms" if got else "-"


def verdict(result: dict) -> dict:
    """Holds if flow matching needs fewer NFE everywhere (every data set, grid and seed); partly if it does
    somewhere but diffusion ties or wins elsewhere (e.g. on a better time grid); does not hold if it never does."""
    comparisons, parts = [], []
    for data in result.get("data_2d", ["moons"]):
        for grid, per in result[data].items():
            comparisons += list(zip(per["fm"], per["diffusion"]))
            text = f"{data} {grid}: fm {per['fm']}, diffusion {per['diffusion']} NFE"
            if "fm_ms" in per:
                text += f" ({_ms(per['fm_ms'])} vs {_ms(per['diffusion_ms'])} per 1000 samples)"
            parts.append(text)
    m = result["mnist"]
    comparisons.append((m["fm"], m["diffusion"]))

    def less(a, b):
        return a is not None and (b is None or a < b)

    wins = [less(a, b) for a, b in comparisons]
    measured = "; ".join(parts) + (f"; MNIST (FD <= {m['target_fd']:.1f}): fm {m['fm']}, diffusion "
                                   f"{m['diffusion'] if m['diffusion'] is not None else 'not within 100'} NFE")
    return {"verdict": "holds" if all(wins) else "partly" if any(wins) else "does not hold", "measured": measured}
