r"""Claim 8: "flow matching is hard to train and needs meticulous tuning".

One recipe for both families (the course's MLP, Adam, batch 256, EMA, the same steps and seeds), and a sweep
of the one setting that usually needs tuning, the learning rate: ``lr`` in {3e-4, 1e-3, 3e-3, 1e-2, 3e-2}.
Each trained model is sampled the same way (Euler, NFE 100, through the exact conversions for diffusion) and
scored by W2 to fresh moons data beside the data floor. A family that needs tuning would reach good quality in
a narrow band of learning rates only, or diverge outside it: counted here as the learning rates whose W2 is
within 1.5x of the family's best (mean over training seeds), and the runs that failed: the loss diverged, or
the samples are nowhere near the data (W2 above 10x the floor; a finite loss does not guarantee a usable model).
"""
from __future__ import annotations

import torch

from ... import config
from ..._io import one_thread
from ...metrics import wasserstein2
from ...samplers import sample
from ...train_config import TrainingDiverged
from ..common import derive_seed
from .families import FAMILIES, mean_where, moons_reference, train_family

__all__ = ["LRS", "FAMILIES", "GOOD", "FAILED", "failed", "measure", "verdict"]

LRS = (3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
GOOD = 1.5  # within this factor of the family's best W2
FAILED = 10.0  # a run whose W2 is above this factor times the floor failed (or its loss diverged: W2 None)


def measure(quick: bool | None = None, seed: int = 0, progress: bool = False) -> dict:
    """W2 (Euler, NFE 100) of both families at each learning rate, per training seed (None: diverged)."""
    quick = config.quick_mode() if quick is None else quick
    steps, n, seeds = (800, 500, (seed,)) if quick else (3000, 2000, (seed, seed + 1))
    ref, floor = moons_reference("tuning", seed, n)
    rows = []
    with one_thread():
        for s in seeds:
            x0 = torch.randn(n, 2, generator=torch.Generator().manual_seed(derive_seed(s, "tuning", "x0")))
            for family in FAMILIES:
                for lr in LRS:
                    try:  # the same initial weights at every lr
                        ema = train_family(family, "moons", steps=steps, seed=s, lr=lr, progress=progress,
                                           init=derive_seed(s, "tuning", family))
                        out = sample(ema, x0, "euler", 100).samples
                        w2 = wasserstein2(out, ref) if bool(torch.isfinite(out).all()) else None
                    except TrainingDiverged:
                        w2 = None
                    rows.append({"family": family, "lr": lr, "seed": s, "w2": w2})
    return {"train_steps": steps, "n": n, "seeds": list(seeds), "floor_w2": floor, "rows": rows}


def failed(row: dict, floor: float) -> bool:
    """Whether one run failed: its loss diverged (W2 None) or its W2 is above ``FAILED`` times the floor."""
    return row["w2"] is None or row["w2"] > FAILED * floor


def verdict(result: dict) -> dict:
    """Does not hold if flow matching is good over at least as many learning rates as diffusion and fails no
    more often; holds if it is good over fewer and fails more; partly otherwise."""
    good, fails, best = {}, {}, {}
    for family in FAMILIES:
        means = {lr: mean_where(result["rows"], "w2", family=family, lr=lr) for lr in LRS}
        best[family] = min(v for v in means.values() if v is not None)
        good[family] = [lr for lr, v in means.items() if v is not None and v <= GOOD * best[family]]
        fails[family] = sorted({r["lr"] for r in result["rows"] if r["family"] == family
                                and failed(r, result["floor_w2"])})
    fm, df = (len(good["fm"]), len(fails["fm"])), (len(good["diffusion"]), len(fails["diffusion"]))
    measured = "; ".join(
        f"{f}: best W2 {best[f]:.3f}, within {GOOD}x of it at lr " + ", ".join(f"{lr:g}" for lr in good[f])
        + (f", failed at lr {', '.join(f'{lr:g}' for lr in fails[f])}" if fails[f] else ", no failed run")
        for f in FAMILIES)
    measured += f" (floor {result['floor_w2']:.3f}, {result['train_steps']} steps, {len(result['seeds'])} seed(s))"
    if fm[0] >= df[0] and fm[1] <= df[1]:
        v = "does not hold"
    elif fm[0] < df[0] and fm[1] > df[1]:
        v = "holds"
    else:
        v = "partly"
    return {"verdict": v, "measured": measured}
