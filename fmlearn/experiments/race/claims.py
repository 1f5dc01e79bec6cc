"""The race's expected outcomes, measured on a result: each claim holds, fails, or was not measured."""
from __future__ import annotations

__all__ = ["check_claims", "nfe_to_reach"]


def _w2(rows, model, sampler, nfe):
    for r in rows:
        if r["model"] == model and r["sampler"] == sampler and r["nfe_budget"] == nfe:
            return r["w2"]
    return None


def nfe_to_reach(rows, model: str, sampler, target: float) -> int | None:
    """Smallest fixed budget at which ``model`` with ``sampler`` (a name, or a collection of names: the best of
    them) reaches ``W2 <= target`` in the race ``rows``; None if no budget gets there."""
    names = {sampler} if isinstance(sampler, str) else set(sampler)
    budgets = sorted(r["nfe_budget"] for r in rows if r["model"] == model and r["sampler"] in names
                     and r["nfe_budget"] is not None and r["w2"] is not None and r["w2"] <= target)
    return budgets[0] if budgets else None


def check_claims(result: dict) -> list[dict]:
    """The issue's expected outcomes, measured on a race result; each ``{"id", "claim", "holds", "detail"}``.

    ``holds`` is None when the rows needed were not run. Thresholds: "within k x of the floor" is
    ``w2 <= k floor_w2``; "far fewer steps" is at most half; "beat clearly" is at most half the W2.
    """
    rows, floor = result["rows"], result["floor_w2"]
    models = {r["model"] for r in rows}
    out = []
    # 1. with NFE 100, every model reaches 3 x floor (its best sampler at that budget)
    detail, holds = [], None
    for m in ("fm", "fm-ot", "diffusion", "reflow"):
        at100 = {r["sampler"]: r["w2"] for r in rows if r["model"] == m and r["nfe_budget"] == 100
                 and r["w2"] is not None}
        if not at100:
            continue
        best = min(at100, key=at100.get)
        ok = at100[best] <= 3 * floor
        holds = ok if holds is None else holds and ok
        bad = [f"{s} {w:.3f}" for s, w in at100.items() if w > 3 * floor]
        detail.append(f"{m}: best {best} {at100[best]:.3f} = {at100[best] / floor:.2f} x floor"
                      + (f" (above 3 x floor: {', '.join(bad)})" if bad else ""))
    out.append({"id": "nfe100", "claim": "with NFE 100 every model reaches W2 within 3x of the floor",
                "holds": holds, "detail": "; ".join(detail) or "not measured"})
    # 2. DDIM and DPM++(2M) reach one common target (3 x floor) with far fewer steps than DDPM. A common
    # target, not each sampler's own NFE-100 quality: that would reward a sampler with a worse limit.
    measured = {s for (m, s) in {(r["model"], r["sampler"]) for r in rows} if m == "diffusion"}
    if {"ddim", "dpm++2m", "ddpm"} <= measured:
        need = {s: nfe_to_reach(rows, "diffusion", s, 3 * floor) for s in ("ddim", "dpm++2m", "ddpm")}
        if need["ddpm"] is None:
            holds = all(need[s] is not None for s in ("ddim", "dpm++2m"))
        else:
            holds = all(need[s] is not None and need[s] <= need["ddpm"] / 2 for s in ("ddim", "dpm++2m"))
        detail = f"NFE to reach W2 <= {3 * floor:.3f} (3 x floor): " + "; ".join(
            f"{s} {'never' if n is None else n}" for s, n in need.items())
    else:
        holds, detail = None, "not measured (needs the diffusion model with ddim, dpm++2m and ddpm)"
    out.append({"id": "fast-diffusion-samplers", "holds": holds, "detail": detail,
                "claim": "on the diffusion model, DDIM and DPM-Solver++(2M) reach W2 within 3x of the floor with "
                         "at most half the NFE that DDPM needs"})
    # 3. one step: fm-ot and reflow beat fm clearly
    base = _w2(rows, "fm", "euler", 1)
    others = {m: _w2(rows, m, "euler", 1) for m in ("fm-ot", "reflow") if m in models}
    if base is not None and others and all(v is not None for v in others.values()):
        holds = all(v <= 0.5 * base for v in others.values())
        detail = f"euler NFE 1: fm {base:.3f}; " + "; ".join(f"{m} {v:.3f} ({v / base:.2f} x fm)"
                                                              for m, v in others.items())
    else:
        holds, detail = None, "not measured"
    out.append({"id": "one-step", "claim": "at NFE 1, fm-ot and reflow beat fm clearly (at most half its W2)",
                "holds": holds, "detail": detail})
    # 4. the distilled model at NFE 1
    d = _w2(rows, "distilled", "euler", 1)
    out.append({"id": "distilled", "claim": "distilled at NFE 1 is within 3x of the floor",
                "holds": None if d is None else d <= 3 * floor,
                "detail": "not measured" if d is None else f"{d:.3f} = {d / floor:.2f} x floor"})
    return out


