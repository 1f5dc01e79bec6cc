r"""Claim 9, the bottom line: "flow matching samples faster".

At equal quality, how many network evaluations does each family need with its best sampler? Measured on the
shipped races: moons (3 training seeds; W2 <= 3 x the data floor; the samplers' uniform time grid and the
log-SNR grid) and MNIST (the full run; FD <= 2 x the best FD of any row at NFE 100). Plain flow matching
(independent coupling) against diffusion, same network, data and training budget. The straightened models
(reflow, distillation) are left out: they straighten either family (see claim 7).
"""
from __future__ import annotations

from ..mnist_race import precomputed as mnist_precomputed
from ..race import precomputed_runs
from ..race.claims import nfe_to_reach
from .families import FAMILIES

__all__ = ["measure", "verdict"]

SAMPLERS = ("euler", "heun", "rk4", "ddim", "dpm++2m", "ddpm", "em")


def _mnist_nfe(rows, model, target):
    nfes = [r["nfe"] for r in rows if r["model"] == model and r["fd"] is not None and r["fd"] <= target]
    return min(nfes) if nfes else None


def measure() -> dict:
    """NFE of each family's best sampler to reach the common target, per data set, grid and seed."""
    out = {"moons": {}}
    for grid in ("uniform", "logsnr"):
        runs = precomputed_runs("moons", grid)
        out["moons"][grid] = {m: [nfe_to_reach(run["rows"], m, SAMPLERS, 3 * run["floor_w2"]) for run in runs]
                              for m in FAMILIES}
    mnist = mnist_precomputed()
    target = 2 * min(r["fd"] for r in mnist["rows"] if r["nfe"] == 100 and r["fd"] is not None)
    out["mnist"] = {"target_fd": target, **{m: _mnist_nfe(mnist["rows"], m, target) for m in FAMILIES}}
    return out


def verdict(result: dict) -> dict:
    """Holds if flow matching needs fewer NFE everywhere; partly if it does somewhere but diffusion ties or wins
    elsewhere (e.g. on a better time grid); does not hold if it never does."""
    comparisons = []
    for grid, per in result["moons"].items():
        comparisons += [(f"moons {grid}", a, b) for a, b in zip(per["fm"], per["diffusion"])]
    m = result["mnist"]
    comparisons.append(("mnist", m["fm"], m["diffusion"]))

    def less(a, b):
        return a is not None and (b is None or a < b)

    wins = [less(a, b) for _, a, b in comparisons]
    measured = "; ".join(f"moons {g}: fm {p['fm']}, diffusion {p['diffusion']} NFE" for g, p in result["moons"].items())
    measured += (f"; MNIST (FD <= {m['target_fd']:.1f}): fm {m['fm']}, diffusion "
                 f"{m['diffusion'] if m['diffusion'] is not None else 'not within 100'} NFE")
    return {"verdict": "holds" if all(wins) else "partly" if any(wins) else "does not hold", "measured": measured}
