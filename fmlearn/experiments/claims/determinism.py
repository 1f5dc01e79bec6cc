r"""Claim 2: "flow matching is deterministic and diffusion stochastic, so flow matching is faster".

Determinism belongs to the sampler, not to the family: every model of the race is sampled both ways
(ODE: Euler, Heun, RK4, DDIM, DPM-Solver++(2M); SDE: DDPM, Euler-Maruyama), and DDIM on a diffusion model is
Euler in other variables (notebook 04). Measured on the shipped moons races (3 training seeds, uniform grid):
for each family and budget, the best deterministic and the best stochastic sampler's W2 (means over seeds),
and whether one beats the other on every seed, with the sampling time per 1000 samples of each (the
race's wall time of the row, mean over seeds: at equal NFE the cost is the same network calls, whichever the
family or sampler). The claim would hold if the deterministic samplers won
everywhere; it fails where a stochastic sampler wins on every seed.
"""
from __future__ import annotations

from ..race import precomputed_runs
from ..seeds import summarize
from .families import FAMILIES

__all__ = ["DETERMINISTIC", "STOCHASTIC", "NFES", "measure", "verdict"]

DETERMINISTIC = ("euler", "heun", "rk4", "ddim", "dpm++2m")
STOCHASTIC = ("ddpm", "em")
NFES = (2, 4, 8, 16, 32, 100)


def _best(stats: dict, model: str, samplers, nfe: int) -> tuple[str, float] | None:
    cells = [(s, stats[(model, s, nfe)]["mean"]) for s in samplers if (model, s, nfe) in stats]
    return min(cells, key=lambda c: c[1]) if cells else None


def measure(grid: str = "uniform") -> dict:
    """Per family and budget: the best ODE and SDE samplers (mean W2 over the shipped seeds) and who wins on
    every seed (``"ode"``, ``"sde"`` or ``None`` when the seeds disagree)."""
    runs = precomputed_runs("moons", grid)
    stats = summarize(runs)
    per_run = [{(r["model"], r["sampler"], r["nfe_budget"]): r["w2"] for r in run["rows"] if r["w2"] is not None}
               for run in runs]  # each seed's W2 by row, built once
    ms = {}  # (model, sampler, nfe) -> milliseconds per 1000 samples, mean over seeds
    for run in runs:
        for r in run["rows"]:
            key = (r["model"], r["sampler"], r["nfe_budget"])
            ms[key] = ms.get(key, 0.0) + 1e6 * r["seconds"] / run["n_eval"] / len(runs)
    rows = []
    for model in FAMILIES:
        for nfe in NFES:
            ode, sde = _best(stats, model, DETERMINISTIC, nfe), _best(stats, model, STOCHASTIC, nfe)
            if ode is None or sde is None:
                continue
            wins = []
            for by in per_run:
                o = min(by.get((model, s, nfe), float("inf")) for s in DETERMINISTIC)
                w = min(by.get((model, s, nfe), float("inf")) for s in STOCHASTIC)
                wins.append("ode" if o < w else "sde")
            rows.append({"model": model, "nfe": nfe, "ode": ode[0], "ode_w2": ode[1], "sde": sde[0], "sde_w2": sde[1],
                         "ode_ms": ms[(model, ode[0], nfe)], "sde_ms": ms[(model, sde[0], nfe)],
                         "winner": wins[0] if len(set(wins)) == 1 else None})
    return {"grid": grid, "seeds": len(runs), "floor_w2": sum(r["floor_w2"] for r in runs) / len(runs), "rows": rows}


def verdict(result: dict) -> dict:
    """Does not hold when, for each family, some budget is won by a stochastic sampler on every seed."""
    sde_wins = {m: [r for r in result["rows"] if r["model"] == m and r["winner"] == "sde"] for m in FAMILIES}
    ode_wins = [r for r in result["rows"] if r["winner"] == "ode"]
    at100 = {r["model"]: r for r in result["rows"] if r["nfe"] == 100}
    measured = "; ".join(
        f"{m} at NFE 100: best ODE {at100[m]['ode']} {at100[m]['ode_w2']:.3f} ({at100[m]['ode_ms']:.0f} ms per 1000 "
        f"samples), best SDE {at100[m]['sde']} {at100[m]['sde_w2']:.3f} ({at100[m]['sde_ms']:.0f} ms)"
        for m in FAMILIES if m in at100)
    measured += (f" (floor {result['floor_w2']:.3f}); a stochastic sampler wins on every seed at NFE "
                 + ", ".join(f"{m}: {[r['nfe'] for r in sde_wins[m]] or 'none'}" for m in FAMILIES)
                 + f"; a deterministic one at {len(ode_wins)} (family, budget) pairs")
    if all(sde_wins[m] for m in FAMILIES):
        v = "does not hold"
    elif any(sde_wins.values()):
        v = "partly"
    else:
        v = "holds"
    return {"verdict": v, "measured": measured}
