r"""Claim 6: "hybrids combine the strengths of both" -- a flow sampled stochastically.

A flow matching model defines the score as well as the velocity (independent coupling), so it can be sampled
by the SDE ``dx = [v + w_t score] dt + sqrt(2 w_t) dW`` with ``w_t = noise * sigma_t`` (the ``em`` sampler;
``noise = 0`` is Euler on the ODE). Measured on moons: ``noise`` in {0, 0.1, 0.3, 1, 3} x NFE {8, 32, 128} on a
well-trained model (MLP width 64) and a deliberately weak one (width 16), same budget, W2 to fresh data beside
the data floor, over training seeds. Fresh noise can correct a network's errors along the way (Karras et al.
2022, section 4), but each step must also be small enough for the noise it adds.
"""
from __future__ import annotations

import torch

from ... import config
from ..._io import one_thread
from ...metrics import wasserstein2
from ...samplers import sample
from ..common import derive_seed
from .families import mean_where, moons_reference, train_family

__all__ = ["NOISES", "NFES", "WIDTHS", "DEFAULT", "measure", "verdict"]

NOISES = (0.0, 0.1, 0.3, 1.0, 3.0)
NFES = (8, 32, 128)
WIDTHS = {"well-trained": 64, "weak": 16}
DEFAULT = 1.0  # the em sampler's default noise: w_t = sigma_t


def measure(quick: bool | None = None, seed: int = 0, progress: bool = False) -> dict:
    """W2 of every (model, noise, NFE) per training seed; the floor is the mean W2 of 3 fresh data samples to the
    reference sample."""
    quick = config.quick_mode() if quick is None else quick
    steps, n, seeds = (800, 500, (seed,)) if quick else (3000, 2000, (seed, seed + 1))
    ref, floor = moons_reference("hybrids", seed, n)
    rows = []
    with one_thread():
        for s in seeds:
            x0 = torch.randn(n, 2, generator=torch.Generator().manual_seed(derive_seed(s, "hybrids", "x0")))
            for name, width in WIDTHS.items():
                ema = train_family("fm", "moons", steps=steps, seed=s, width=width, progress=progress,
                                   init=derive_seed(s, "hybrids", name))
                for noise in NOISES:
                    for nfe in NFES:
                        g = torch.Generator().manual_seed(derive_seed(s, "hybrids", name, noise, nfe))
                        out = sample(ema, x0, "em", nfe, noise=noise, generator=g).samples
                        w2 = wasserstein2(out, ref) if bool(torch.isfinite(out).all()) else None
                        rows.append({"model": name, "seed": s, "noise": noise, "nfe": nfe, "w2": w2})
    return {"train_steps": steps, "n": n, "seeds": list(seeds), "floor_w2": floor, "rows": rows}


def _mean(rows, model, noise, nfe):
    return mean_where(rows, "w2", model=model, noise=noise, nfe=nfe)


def verdict(result: dict) -> dict:
    """Judged at the sampler's default ``noise = 1`` (``w_t = sigma_t``, SiT's choice), fixed before measuring so
    that picking the best of the sweep cannot flatter the SDE: holds if it beats the ODE (noise 0) on every seed at
    every budget for both models; partly if at some budgets only; does not hold if never."""
    rows = result["rows"]
    helps = {}
    for model in WIDTHS:
        for nfe in NFES:
            wins = []
            for s in result["seeds"]:
                by = {r["noise"]: r["w2"] for r in rows if (r["model"], r["seed"], r["nfe"]) == (model, s, nfe)}
                wins.append(by.get(0.0) is not None and by.get(DEFAULT) is not None and by[DEFAULT] < by[0.0])
            helps[(model, nfe)] = all(wins)
    parts = [f"{model}: " + ", ".join(f"NFE {nfe} ODE {_mean(rows, model, 0.0, nfe):.3f} vs SDE "
                                      f"{_mean(rows, model, DEFAULT, nfe):.3f}" for nfe in NFES) for model in WIDTHS]
    measured = ("W2, mean over training seeds, noise 0 (ODE) vs 1 (SDE): " + "; ".join(parts)
                + f" (floor {result['floor_w2']:.3f}, {len(result['seeds'])} training seed(s)); SDE better on every "
                  f"seed at: " + (", ".join(f"{m} NFE {k}" for (m, k), h in helps.items() if h) or "none"))
    v = "holds" if all(helps.values()) else "partly" if any(helps.values()) else "does not hold"
    return {"verdict": v, "measured": measured}
