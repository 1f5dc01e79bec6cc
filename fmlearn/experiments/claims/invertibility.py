r"""Claim 1: "flow matching uses invertible neural networks (it is a normalizing flow)".

Flow matching trains an ordinary network, here the course's MLP ``v(x, t)`` (SiLU activations, no invertible
layers); what is
invertible is the *flow* it defines, the solution map of ``dx/dt = v(x, t)``, for any smooth enough field,
and diffusion's probability-flow ODE defines one just the same. Two measurements:

* **The network is not invertible in x.** At a fixed ``t``, the Jacobian determinant ``det dv/dx`` of the
  trained network takes both signs on a grid of ``[-3, 3]^2``. A continuous injective map of a connected
  open set has a local degree of constant sign, so a sign change proves that ``x -> v(x, t)`` is not
  injective: two inputs share one output.
* **The flow is invertible.** Noise -> data with RK4 in float64 on N steps, then data -> noise on the same
  grid backwards: the round-trip error goes to 0, for both families. It falls at RK4's order (or faster)
  only once a step resolves the network's time embedding, whose frequencies reach 100 per unit time
  (:class:`~fmlearn.models.SinusoidalTimeEmbedding`): measured, the factor per 4x more steps grows from
  about 16 (order 2) at N = 16 -> 64 to about 1000 (order 5) at N = 256 -> 1024.
"""
from __future__ import annotations

import math

import torch

from ... import config
from ..._io import one_thread
from ...models import PathModel
from ...ode import integrate
from ..common import derive_seed
from .families import FAMILIES, train_family

__all__ = ["STEPS", "FAMILIES", "jacobian_grid", "jacobian_signs", "round_trip_errors", "measure", "verdict"]

STEPS = (16, 64, 256, 1024)


def jacobian_grid(model: PathModel, t: float = 0.5, n: int = 41, lim: float = 3.0) -> torch.Tensor:
    """``det d v(x, t) / dx`` of the model's velocity on an ``n x n`` grid of ``[-lim, lim]^2``, shape (n, n)
    (row i: the i-th x coordinate), float64, exact Jacobians by autograd."""
    model = model.double()
    g = torch.linspace(-lim, lim, n, dtype=torch.float64)
    grid = torch.cartesian_prod(g, g)  # (n^2, 2)
    tt = torch.full((1,), float(t), dtype=torch.float64)

    def v(x):  # one point (2,) -> (2,)
        return model.velocity(x[None], tt)[0]

    jac = torch.func.vmap(torch.func.jacrev(v))(grid)  # (n^2, 2, 2)
    return torch.linalg.det(jac).reshape(n, n)


def jacobian_signs(model: PathModel, t: float = 0.5, n: int = 41, lim: float = 3.0) -> dict:
    """Shares of an ``n x n`` grid of ``[-lim, lim]^2`` where ``det d v(x, t) / dx`` is positive and negative."""
    det = jacobian_grid(model, t, n, lim)
    return {"t": t, "points": n * n, "positive": float((det > 0).double().mean()),
            "negative": float((det < 0).double().mean())}


def round_trip_errors(model: PathModel, n: int = 100, steps=STEPS, seed: int = 0) -> dict:
    """Mean ``|x0' - x0|`` after RK4 from noise to data and back on the same grid of N steps, per N, and the
    order of the decrease between the last two N (``log(e_1 / e_2) / log(N_2 / N_1)``), float64."""
    model = model.double()
    x0 = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    errors = []
    with torch.no_grad():
        for k in steps:
            times = model.schedule.time_grid(k).double()
            x1, _ = integrate(model.velocity, x0, times, "rk4")
            back, _ = integrate(model.velocity, x1, times.flip(0), "rk4")
            errors.append(float((back - x0).norm(dim=1).mean()))
    order = math.log(errors[-2] / max(errors[-1], 1e-300)) / math.log(steps[-1] / steps[-2])
    return {"steps": list(steps), "errors": errors, "order": order}


def measure(quick: bool | None = None, seed: int = 0, progress: bool = False) -> dict:
    """Train one small model per family on moons (the same MLP, budget and seed) and measure both properties."""
    quick = config.quick_mode() if quick is None else quick
    steps = 800 if quick else 3000
    out = {"train_steps": steps, "families": {}}
    with one_thread():  # tiny networks: one CPU thread is fastest, and does not stall on a busy machine
        for name in FAMILIES:
            ema = train_family(name, "moons", steps=steps, seed=seed, progress=progress,
                               init=derive_seed(seed, "claims", "invertibility", name))
            out["families"][name] = {"jacobian": jacobian_signs(ema), "round_trip": round_trip_errors(ema, seed=seed)}
    return out


def verdict(result: dict) -> dict:
    """The claim's verdict from :func:`measure`'s result: it does not hold when, for flow matching, the network's
    Jacobian determinant takes both signs while the flow's round trip converges at about the solver's order."""
    fm = result["families"]["fm"]
    not_injective = fm["jacobian"]["positive"] > 0 and fm["jacobian"]["negative"] > 0
    flows_invert = all(f["round_trip"]["order"] > 3.5 and f["round_trip"]["errors"][-1] < 1e-8
                       for f in result["families"].values())
    rt = {n: f["round_trip"] for n, f in result["families"].items()}
    measured = (f"fm's MLP (SiLU, no invertible layers) at t = 0.5: det dv/dx > 0 on "
                f"{100 * fm['jacobian']['positive']:.0f}% of the grid, "
                f"< 0 on {100 * fm['jacobian']['negative']:.0f}% (so not injective); RK4 round trip of the flow, "
                + "; ".join(f"{n}: error {r['errors'][0]:.1e} at N={r['steps'][0]} -> {r['errors'][-1]:.1e} at "
                            f"N={r['steps'][-1]} (order {r['order']:.1f} over the last 4x)" for n, r in rt.items()))
    return {"verdict": "does not hold" if not_injective and flows_invert else "partly",
            "measured": measured}
