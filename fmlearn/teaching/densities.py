r"""The density explorer: a flow's log-density of ``p_t`` on a grid beside the true one, as t slides.

A model's probability-flow ODE carries the noise density ``N(0, I)`` at ``t_min`` to a density at every later
time (the instantaneous change of variables, :mod:`fmlearn.likelihood`):

.. math::  \log p_t(x) = \log N(z; 0, I) - \int_{t_{min}}^{t} \nabla\cdot v(x_s, s)\, ds ,

where ``z`` is where the ODE run backwards from ``x`` at time t lands at ``t_min``. For Gaussian-mixture data
the true marginal is a Gaussian mixture in closed form (:meth:`fmlearn.gaussians.GaussianMixture.at_time`),
so the two can be compared at every t, not only at the data (t = 1).

:func:`marginal_log_density` computes the model's ``log p_t`` with :func:`fmlearn.likelihood.log_likelihood`,
on a clock that ends at t; :func:`density_grids` computes both densities on an n x n grid for a few times,
and :func:`density_explorer` shows them: its callback only swaps the stored images (``imshow(...).set_data``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from . import plotting as P
from .._checks import check_choice
from ..likelihood import log_likelihood
from ..models import PathModel
from ..ode import singular_at
from .explorer import Explorer, View, assemble, check_time, dropdown, live_figure

__all__ = ["marginal_log_density", "DensityGrid", "density_grids", "density_explorer"]

_INSIDE = 1e-3  # how far a singular end is moved into the path (as ``log_likelihood`` bridges it)


class _Clock(nn.Module):
    r"""The model's velocity on the clock ``s in [0, 1] -> tau = t0 + s (t1 - t0)``: ``(t1 - t0) v(x, tau)``.

    The same ODE, reparametrized so that it runs from ``t0`` (s = 0) to ``t1`` (s = 1); its divergence
    integrates to ``int_{t0}^{t1} div v dtau``.
    """

    def __init__(self, model, t0: float, t1: float):
        super().__init__()
        self.model, self.t0, self.span = model, float(t0), float(t1) - float(t0)

    def forward(self, x: Tensor, s: Tensor) -> Tensor:  # x (B, D), s (B,)
        return self.span * self.model.velocity(x, self.t0 + s * self.span)  # (B, D)


def marginal_log_density(model, x: Tensor, times: Sequence[float], *, rtol: float = 1e-4,
                         atol: float = 1e-4) -> Tensor:
    r"""The model's log-density ``log p_t(x)`` of the marginal at each time t, shape (T, B).

    For each t, :func:`fmlearn.likelihood.log_likelihood` integrates the model's velocity and its exact
    divergence from ``x`` at t back to ``t_min`` (through :class:`_Clock`, the same ODE on a clock that ends
    at t). At ``t = t_max`` this is ``log_likelihood(model, x).log_prob``, up to the solver's tolerance.
    A time where the model's prediction is singular (a data prediction at ``sigma = 0``; at the start, a
    noise prediction at ``alpha = 0``) is moved ``1e-3`` of the span inside the path.

    Args:
        model: a :class:`~fmlearn.models.PathModel`.
        x: points, shape (B, D).
        times: times in the model's domain ``[t_min, t_max]``.
        rtol, atol: tolerances of the adaptive solver (1e-4: errors up to 0.06 nats for notebook 07's flow
            model, 0.2 for its diffusion model, where ``log p_t > -8``; see :func:`density_grids`).
            ``log_likelihood`` defaults to 1e-5, at twice the cost.

    Returns:
        shape (T, B), in x's dtype.
    """
    sched = model.schedule
    t0 = sched.t_min
    out = []
    for t in times:
        t1 = check_time(t, sched.t_min, sched.t_max)
        start = t0 + _INSIDE * (t1 - t0) if singular_at(model, t0, x.dtype) else t0
        end = t1 - _INSIDE * (t1 - start) if singular_at(model, t1, x.dtype) else t1
        clocked = PathModel(_Clock(model, start, end), "linear", "velocity", shape=model.shape)
        out.append(log_likelihood(clocked, x, rtol=rtol, atol=atol).log_prob.to(x.dtype))
    return torch.stack(out)  # (T, B)


@dataclass
class DensityGrid:
    """One model's log-density of ``p_t`` on a grid, beside the true one.

    Attributes:
        times: shape (T,).
        lim: the grid's n x n cells cover ``[-lim, lim]^2``; row i is y, column j is x (``imshow(origin="lower")``).
        true: the true ``log p_t``, shape (T, n, n), float64.
        model: the model's ``log p_t``, shape (T, n, n).
        kl: ``KL(p_t || model) ~ sum over cells of p_t (log p_t - log model) * cell area``, shape (T,), in nats
            (the grid's Riemann sum: the mass outside the grid is left out).
        schedule: the model's path name.
    """

    times: np.ndarray
    lim: float
    true: np.ndarray
    model: np.ndarray
    kl: np.ndarray
    schedule: str


def density_grids(models: Mapping[str, object], mixture, times: Sequence[float] = (0.2, 0.4, 0.6, 0.8, 0.9, 1.0),
                  n: int = 40, lim: float = P.LIM, rtol: float = 1e-4, atol: float = 1e-4) -> dict[str, DensityGrid]:
    r"""For each model and time: the true ``log p_t`` and the model's on an n x n grid (a :class:`DensityGrid`).

    The true marginal is closed form, ``mixture.at_time(t, model.schedule).log_prob``; the model's is
    :func:`marginal_log_density`. Cost: one ``log_likelihood`` per model and time on n*n points; for the
    course's 3x64 MLPs on the mixture (n = 40, 6 times) about 1 s per flow model and 2 s per diffusion model
    on one CPU thread. The solver's error at ``rtol = atol = 1e-4``, measured against 1e-6 where the true
    ``log p_t > -8``: at most 0.06 nats for the flow model and 0.2 for the diffusion model of notebook 07,
    whose own errors there are 0.02-0.6 nats (median).

    Args:
        models: label -> :class:`~fmlearn.models.PathModel` trained on ``mixture`` data.
        mixture: the data, a :class:`~fmlearn.gaussians.GaussianMixture` in 2D.
        times: increasing, each inside every model's domain ``[t_min, t_max]``.
        rtol, atol: the solver's tolerances (see :func:`marginal_log_density`).

    Returns:
        label -> :class:`DensityGrid`, in the order of ``models``.
    """
    if not models:
        raise ValueError("models is empty; give label -> PathModel entries.")
    if mixture.dim != 2:
        raise ValueError(f"mixture must be 2D, got dimension {mixture.dim}.")
    times = np.asarray([float(s) for s in times])
    if len(times) < 1 or np.any(np.diff(times) <= 0):
        raise ValueError("times must be a non-empty increasing sequence.")
    grid = P.grid_points(lim, n)  # (n*n, 2), x fastest
    cell = (2 * lim / n) ** 2
    out = {}
    for label, m in models.items():
        for s in times:  # refuse before the long computation
            check_time(s, m.schedule.t_min, m.schedule.t_max)
        true = torch.stack([mixture.at_time(float(s), m.schedule).log_prob(grid.double()) for s in times])  # (T, G)
        learned = marginal_log_density(m, grid, times, rtol=rtol, atol=atol).double()  # (T, G)
        kl = (true.exp() * (true - learned)).sum(1) * cell  # (T,)
        out[str(label)] = DensityGrid(times, float(lim), P.to_numpy(true).reshape(-1, n, n),
                                      P.to_numpy(learned).reshape(-1, n, n), P.to_numpy(kl), m.schedule.name)
    return out


class _DensityView(View):
    figsize = (9.0, 3.3)

    def __init__(self, fig, live, grids, clip, diff):
        super().__init__(fig, live)
        self.grids, self.clip, self.index = grids, clip, 0
        first = next(iter(grids.values()))
        self.times = first.times
        axes = fig.subplots(1, 3)
        extent, blank = (-first.lim, first.lim, -first.lim, first.lim), np.zeros(first.true.shape[1:])
        self.images, self.titles = [], []
        for ax, cmap, (lo, hi), gid in zip(axes, ("magma", "magma", "RdBu_r"), ((clip, 0), (clip, 0), (-diff, diff)),
                                           ("true", "model", "difference")):
            im = self.dynamic(ax.imshow(blank, origin="lower", extent=extent, cmap=cmap, vmin=lo, vmax=hi,
                                        interpolation="nearest", gid=gid))
            self.images.append(im)
            ax.set_xticks([-3, 0, 3])
            ax.set_yticks([-3, 0, 3])
            ax.tick_params(labelsize=7)
            self.titles.append(self.dynamic(ax.set_title(" ", fontsize=9)))
            fig.colorbar(im, ax=ax, shrink=0.75, pad=0.02).ax.tick_params(labelsize=7)
        axes[2].set_xlabel(f"blank: true log p_t below {clip:g}", fontsize=7)
        self.header = self.dynamic(fig.suptitle(" ", fontsize=10))

    def draw(self, model, t):
        name = check_choice("model", model, self.grids)
        t = float(t)
        k = int(np.argmin(np.abs(self.times - t)))
        if abs(self.times[k] - t) > 1e-6:
            raise ValueError(f"t={t} was not precomputed; choose one of {[float(s) for s in self.times]}.")
        g = self.grids[name]
        true, learned = g.true[k], g.model[k]  # (n, n), rows = y
        self.images[0].set_data(np.maximum(true, self.clip))
        self.images[1].set_data(np.maximum(learned, self.clip))
        self.images[2].set_data(np.where(true > self.clip, learned - true, np.nan))  # only where p_t has mass
        self.titles[0].set_text(f"true log p_t  ({g.schedule} path)")
        self.titles[1].set_text(f"{name}: log p_t of its flow")
        self.titles[2].set_text(f"{name} − true:  KL {g.kl[k]:.3f} nats")
        self.header.set_text(f"t = {self.times[k]:.2f}   (0 = noise, 1 = data)")
        self.index = k


def density_explorer(grids: Mapping[str, DensityGrid], model: str | None = None, t: float | None = None,
                     clip: float = -8.0, diff: float = 2.0, dpi: int = 80) -> Explorer:
    r"""Slide t and compare each model's log-density of ``p_t`` with the true one (from :func:`density_grids`).

    Three panels: the true ``log p_t``, the model's, and their difference where the true ``log p_t`` is above
    ``clip`` (elsewhere blank), titled with ``KL(p_t || model)`` on the grid. Colours: ``log p`` from ``clip``
    to 0 (lower values drawn at ``clip``); the difference from ``-diff`` (the model gives too little density
    there) to ``+diff`` (too much).

    Args:
        grids: label -> :class:`DensityGrid`, all with the same times and grid.
        model, t: the initial choice (default: the first model, the last time). The t slider offers
            exactly the precomputed times.

    Returns:
        an :class:`~fmlearn.teaching.explorer.Explorer`; static twin ``ex.static(model="fm", t=0.6)``.
    """
    import ipywidgets as W

    if not grids:
        raise ValueError("grids is empty; give label -> DensityGrid entries (from density_grids).")
    grids = {str(k): v for k, v in grids.items()}
    first = next(iter(grids.values()))
    for label, g in grids.items():
        if not isinstance(g, DensityGrid):
            raise TypeError(f"grids[{label!r}] must be a DensityGrid (from density_grids), got {type(g).__name__}.")
        if g.true.shape != first.true.shape or g.lim != first.lim or not np.array_equal(g.times, first.times):
            raise ValueError(f"grids[{label!r}] has other times or another grid than the first entry; "
                             "compute them in one density_grids call.")
    times = first.times
    model = next(iter(grids)) if model is None else check_choice("model", model, grids)
    t = float(times[-1]) if t is None else check_time(t)
    if not np.any(np.abs(times - t) <= 1e-6):
        raise ValueError(f"t={t} is not one of the times {times.tolist()}.")
    options = [(f"{s:.2f}", float(s)) for s in times]
    controls = {"model": dropdown("model", grids, model),
                "t": W.SelectionSlider(options=options, value=float(times[np.argmin(np.abs(times - t))]),
                                       description="t", continuous_update=True, layout=W.Layout(width="320px"),
                                       style={"description_width": "20px"})}

    def make_view(fig, live):
        return _DensityView(fig, live, grids, clip, diff)

    return assemble(controls, make_view(live_figure(_DensityView.figsize, dpi), True), make_view)
