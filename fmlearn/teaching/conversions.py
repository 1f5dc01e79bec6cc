r"""The conversion explorer: one network's prediction seen in the four coordinates of
:mod:`fmlearn.parametrizations`, at points ``x_t`` of its path, as t slides from noise (0) to data (1).

On the path ``x_t = alpha_t x_1 + sigma_t x_0`` a network outputs one of

.. math::  \hat v = \dot\alpha_t \hat x_1 + \dot\sigma_t \hat\epsilon, \qquad \hat\epsilon, \qquad \hat x_1,
           \qquad \widehat{\nabla \log p_t} = -\hat\epsilon / \sigma_t,

with ``x_t = alpha_t x1_hat + sigma_t eps_hat``; the other three follow exactly
(:func:`fmlearn.parametrizations.convert`). The explorer shows all four for one network: the velocity and
the score as arrows at the points ``x_t``, the noise and the data predictions as the points ``eps_hat(x_t)``
and ``x1_hat(x_t)`` (grey lines join a few points ``x_t`` to their prediction). What to see: the data
prediction collapses to the mean of the data near t = 0 (an average over everything ``x_t`` could become);
the noise prediction collapses to 0 near t = 1; and a conversion that divides by a small ``alpha_t`` (noise
-> data near t = 0) or ``sigma_t`` (data -> noise, anything -> score, near t = 1) multiplies the
network's error, so the converted points fly off the panel where the network's own output does not.

Everything is precomputed when the explorer is built (one network call per model for all times at once);
a callback only hands stored arrays to the artists (see :mod:`fmlearn.teaching.explorer`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.colors import LogNorm

from . import plotting as P
from .._checks import check_choice
from ..parametrizations import PARAMETRIZATIONS, convert
from .explorer import Explorer, View, assemble, check_time, dropdown, live_figure, time_slider

__all__ = ["Predictions", "predictions", "conversion_explorer", "PANELS"]

#: the four panels, row by row: the two vector fields on top, the two point predictions below
PANELS = (("velocity", "velocity v  (arrows at x_t)"), ("score", "score ∇log p_t  (arrows at x_t)"),
          ("noise", "noise ε̂  (points)"), ("data", "data x̂₁  (points)"))
_ARROWS = ("velocity", "score")


@dataclass
class Predictions:
    """One model's prediction at points of its path, in every parametrization.

    Attributes:
        schedule: the model's path name.
        parametrization: what the network outputs.
        times: shape (T,).
        x: the points ``x_t = alpha_t x1 + sigma_t x0``, shape (T, N, 2).
        values: parametrization -> prediction at ``x``, each shape (T, N, 2), all converted from one
            network output with :func:`fmlearn.parametrizations.convert`.
    """

    schedule: str
    parametrization: str
    times: np.ndarray
    x: np.ndarray
    values: dict


def predictions(model, x0, x1, times) -> Predictions:
    """Evaluate ``model`` once at ``x_t = alpha_t x1 + sigma_t x0`` for every time, and convert its output.

    Args:
        model: a :class:`~fmlearn.models.PathModel` on 2D points.
        x0: noise, shape (N, 2).
        x1: data, shape (N, 2) (paired with x0 row by row).
        times: shape (T,), inside the path (a conversion singular at a time raises, naming it).

    Returns:
        :class:`Predictions`; times float64, the other arrays float32.
    """
    x0 = torch.as_tensor(P.points_2d(x0, "x0"), dtype=torch.float32)
    x1 = torch.as_tensor(P.points_2d(x1, "x1"), dtype=torch.float32)
    if x0.shape != x1.shape:
        raise ValueError(f"x0 and x1 must have one shape (N, 2), got {tuple(x0.shape)} and {tuple(x1.shape)}.")
    times = P.to_numpy(times).reshape(-1)  # float64: the slider's values compare exactly
    n, k = x0.shape[0], len(times)
    t = torch.as_tensor(times, dtype=torch.float32).repeat_interleave(n)  # (T*N,): every time for every pair
    x = model.schedule.interpolate(x0.repeat(k, 1), x1.repeat(k, 1), t)  # (T*N, 2)
    with torch.no_grad():
        out = model(x, t)  # the network's own output, (T*N, 2)
        values = {kind: P.to_numpy(convert(out, model.parametrization, kind, x, t, model.schedule),
                                   np.float32).reshape(k, n, 2) for kind in PARAMETRIZATIONS}
    return Predictions(model.schedule.name, model.parametrization, times,
                       P.to_numpy(x, np.float32).reshape(k, n, 2), values)


def _prepare(pred: Predictions, spacing: float, lim: float, n_lines: int) -> dict:
    """Everything a callback needs for one model: arrow outlines, colours, points, lines, titles' numbers."""
    out = {"times": pred.times, "x": pred.x}
    for kind in _ARROWS:
        v = pred.values[kind]  # (T, N, 2)
        speed = np.linalg.norm(v, axis=-1)  # (T, N)
        hi = float(speed.max()) or 1.0
        lo = min(max(float(np.quantile(speed, 0.01)), 1e-4 * hi), 0.5 * hi)
        # one arrow scale and one log colour scale for all times: magnitudes compare across t
        out[kind] = {"polygons": P.arrow_polygons(pred.x, P.arrow_vectors(v, spacing), spacing).astype(np.float32),
                     "speed": np.clip(speed, lo, None), "clim": (lo, hi), "median": np.median(speed, axis=1)}
    for kind in ("noise", "data"):
        p = pred.values[kind]
        segments = np.stack([pred.x[:, :n_lines], p[:, :n_lines]], axis=2)  # (T, n_lines, 2, 2): x_t -> prediction
        out[kind] = {"points": p, "segments": segments, "off": (np.abs(p) > lim).any(-1).sum(1)}
    return out


class _ConversionView(View):
    figsize = (6.4, 6.6)

    def __init__(self, fig, live, entries, reference, lim):
        super().__init__(fig, live)
        self.entries, self.current, self.index = entries, None, 0
        axes = fig.subplots(2, 2).ravel()
        first = next(iter(entries.values()))
        n = first["x"].shape[1]
        self.arrows, self.points, self.lines, self.titles, self.marks = {}, {}, {}, {}, {}
        self.xt = {}
        for ax, (kind, label) in zip(axes, PANELS):
            P.style_axes(ax, lim)
            ax.set_title(label, fontsize=9, loc="left")
            if kind in _ARROWS:
                f = first[kind]
                self.arrows[kind] = self.moving(P.draw_arrows(ax, f["polygons"][0], f["speed"][0], LogNorm(*f["clim"]),
                                                               gid=kind))
            else:
                if kind == "data" and reference is not None:
                    P.scatter(ax, reference, color=P.DATA_COLOR, alpha=0.12, s=2, lim=lim, gid="reference")
                self.xt[kind] = self.moving(ax.scatter(np.zeros(n), np.zeros(n), s=2, color="#d2d2d2",
                                                        linewidths=0, gid=f"{kind}_x_t"))
                self.lines[kind] = self.moving(LineCollection([], colors="#777777", linewidths=0.5, alpha=0.6,
                                                               gid=f"{kind}_lines"))
                ax.add_collection(self.lines[kind])
                color = "#505050" if kind == "noise" else P.DATA_COLOR  # darker than the grey points x_t
                self.points[kind] = self.moving(ax.scatter(np.zeros(n), np.zeros(n), s=4, color=color, alpha=0.8,
                                                            linewidths=0, gid=kind))
            # one point followed through the four panels: its x_t (arrows) or its prediction (points)
            self.marks[kind] = self.moving(ax.plot([0], [0], "o", ms=5, mfc="none", mec=P.COND_COLOR, mew=1.2,
                                                    gid=f"{kind}_mark", zorder=4)[0])
            self.titles[kind] = self.moving(ax.text(0.02, 0.02, " ", transform=ax.transAxes, fontsize=8,
                                                     va="bottom", bbox={"fc": "white", "ec": "none", "pad": 1.5}))
        self.header = self.dynamic(fig.suptitle(" ", fontsize=10))

    def moving(self, artist):
        """A dynamic artist left out of the layout: arrows and points that leave a panel never resize it."""
        artist.set_in_layout(False)
        return self.dynamic(artist)

    def draw(self, schedule, parametrization, t):
        names = sorted({k[0] for k in self.entries})
        check_choice("schedule", schedule, names)
        check_choice("parametrization", parametrization, sorted({k[1] for k in self.entries}))
        key = (schedule, parametrization)
        e = self.entries[key]
        times = e["times"]
        t = check_time(t, float(times[0]), float(times[-1]))
        k = int(np.argmin(np.abs(times - t)))  # snap to the nearest precomputed time
        if key != self.current:  # each model has its own colour scales
            for kind in _ARROWS:
                self.arrows[kind].set_norm(LogNorm(*e[kind]["clim"]))
            self.current = key
        x = e["x"][k]  # (N, 2)
        for kind in _ARROWS:
            a = e[kind]
            self.arrows[kind].set_verts(a["polygons"][k])  # (N, 7, 2), precomputed
            self.arrows[kind].set_array(a["speed"][k])
            self.marks[kind].set_data(x[:1, 0], x[:1, 1])
            self.titles[kind].set_text(self._caption(kind == parametrization, f"median |·| {a['median'][k]:.3g}"))
        for kind in ("noise", "data"):
            p = e[kind]
            self.xt[kind].set_offsets(x)
            self.points[kind].set_offsets(p["points"][k])
            self.lines[kind].set_segments(p["segments"][k])
            self.marks[kind].set_data(p["points"][k][:1, 0], p["points"][k][:1, 1])
            off = int(p["off"][k])
            self.titles[kind].set_text(self._caption(kind == parametrization, f"{off} off the panel" if off else ""))
        self.header.set_text(f"{schedule} path, network predicts {parametrization}, t = {times[k]:.2f}")
        self.index = k

    @staticmethod
    def _caption(own: bool, note: str) -> str:
        # short: every glyph is drawn again in each callback (the header says what the network outputs)
        return " · ".join(part for part in ("network output" if own else "", note) if part)


def conversion_explorer(models: Sequence | Mapping[str, object], data, n: int = 200, seed: int = 0,
                        times=None, t: float = 0.5, schedule: str | None = None,
                        parametrization: str | None = None, n_lines: int = 30, lim: float = P.LIM,
                        dpi: int = 80) -> Explorer:
    r"""Pick a network (its path and what it predicts) and slide t: its one output in four coordinates.

    Each model is evaluated once at the points ``x_t = alpha_t x1 + sigma_t x0`` of its own path, for every
    time, and its output converted to velocity, score, noise and data (:func:`predictions`). The panels:
    velocity and score as arrows at ``x_t`` (length saturating, colour = magnitude on one log scale for
    all t; :func:`fmlearn.teaching.plotting.arrow_vectors`), noise and data predictions as points (grey
    lines join the first ``n_lines`` points ``x_t``, grey dots, to their prediction; faint blue: the data).
    A red ring follows one point through the four panels. The header names what the network outputs (the
    other three panels are converted from it; its own panel's caption says "network output"); captions give
    the median magnitude of the arrows, or how many points fall off the panel.

    Args:
        models: :class:`~fmlearn.models.PathModel` objects (or a mapping whose values are), one per
            (schedule, parametrization); together they must cover every schedule with every
            parametrization, so that no combination of the controls is missing.
        data: data points (M, 2), M >= n; the first n are the x1, and all are drawn faintly.
        n: points x_t per time.
        seed: seeds the noise x0 (n, 2), shared by every model.
        times: the precomputed times, increasing (default: 0.02, 0.04, ..., 0.98, inside every path's
            singular ends); the t slider snaps to the nearest.
        t, schedule, parametrization: the initial values (default: t = 0.5, the first model's).

    Returns:
        an :class:`~fmlearn.teaching.explorer.Explorer`; static twin
        ``ex.static(schedule="linear", parametrization="noise", t=0.1)``.
    """
    ms = list(models.values()) if isinstance(models, Mapping) else list(models)
    if not ms:
        raise ValueError("models is empty; give PathModel objects, one per (schedule, parametrization).")
    x1 = P.points_2d(data, "data")
    if len(x1) < n:
        raise ValueError(f"data has {len(x1)} points; give at least n={n}.")
    x0 = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
    times = np.round(np.linspace(0.02, 0.98, 49), 6) if times is None else P.to_numpy(times).reshape(-1)
    if len(times) < 1 or np.any(np.diff(times) <= 0):
        raise ValueError("times must be a non-empty increasing sequence.")
    spacing = 2 * lim / 22  # the longest arrow: about a 22nd of the panel
    entries = {}
    for m in ms:
        if not (hasattr(m, "schedule") and hasattr(m, "parametrization")):
            raise TypeError(f"models must be PathModel objects (with .schedule and .parametrization), "
                            f"got {type(m).__name__}.")
        key = (m.schedule.name, m.parametrization)
        if key in entries:
            raise ValueError(f"two models predict {key[1]!r} on the {key[0]!r} path; give one per combination.")
        for end in (float(times[0]), float(times[-1])):
            check_time(end, m.schedule.t_min, m.schedule.t_max)
        entries[key] = _prepare(predictions(m, x0, x1[:n], times), spacing, lim, n_lines)
    schedules = list(dict.fromkeys(k[0] for k in entries))
    params = [p for p in PARAMETRIZATIONS if any(k[1] == p for k in entries)]
    missing = [(s, p) for s in schedules for p in params if (s, p) not in entries]
    if missing:
        raise ValueError(f"no model for {missing}: every schedule needs a model for every parametrization "
                         f"({params}), so that every choice of the controls is computed.")
    first = next(iter(entries))
    schedule = first[0] if schedule is None else check_choice("schedule", schedule, schedules)
    parametrization = first[1] if parametrization is None else check_choice("parametrization", parametrization,
                                                                            params)
    t = check_time(t, float(times[0]), float(times[-1]))
    step = float(np.min(np.diff(times))) if len(times) > 1 else 0.01
    controls = {"schedule": dropdown("schedule", schedules, schedule),
                "parametrization": dropdown("predicts", params, parametrization),
                "t": time_slider(t, float(times[0]), float(times[-1]), round(step, 4))}

    def make_view(fig, live):
        return _ConversionView(fig, live, entries, x1, lim)

    return assemble(controls, make_view(live_figure(_ConversionView.figsize, dpi), True), make_view)
