r"""The course's explorers of paths, trajectories and fields, each an :class:`~fmlearn.teaching.explorer.Explorer`
with a static twin.

Heavy work (noise, data, fields, trajectories) is precomputed when an explorer is built; a callback only
moves artists (see :mod:`fmlearn.teaching.explorer`). Only core widgets and APIs shared by ipywidgets 7
(Colab) and 8 (JupyterLab 4, VS Code) are used: ``Dropdown``, ``FloatSlider``, ``SelectionSlider``,
``Image(format="png")``, ``HBox``, ``VBox``, ``Layout`` and ``observe(handler, names="value")``.

Time runs from noise (t = 0) to data (t = 1) everywhere.
"""
from __future__ import annotations

from typing import Callable, Mapping, NamedTuple, Sequence

import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.colors import LogNorm
from torch import Tensor

from . import plotting as P
from .._checks import check_choice
from .explorer import Explorer, View, assemble, check_time, dropdown, live_figure, time_slider
from ..schedules import Schedule, get_schedule

__all__ = ["Field", "path_explorer", "trajectory_explorer", "field_explorer", "precompute_field",
           "marginal_velocity_fn"]


# ---- path explorer ------------------------------------------------------------------------------
class _PathView(View):
    figsize = (7.2, 3.4)

    def __init__(self, fig, live, x0, x1s, schedules, lim):
        super().__init__(fig, live)
        self.x0, self.x1s, self.schedules = x0, x1s, schedules
        ax, axc = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.4, 1]})
        self.points = self.dynamic(P.scatter(ax, x0, lim=lim, gid="x_t"))
        self.title = self.dynamic(ax.text(0.5, 1.02, " ", transform=ax.transAxes, ha="center", fontsize=9))
        P.style_axes(axc, lim=None, title=r"$x_t = \alpha_t\, x_1 + \sigma_t\, x_0$")
        axc.set(xlim=(0, 1), ylim=(-0.05, 1.05))
        axc.set_xlabel("t   (0 = noise, 1 = data)", fontsize=8)
        self.tt = np.linspace(0, 1, 201)
        tt = torch.as_tensor(self.tt)
        self.curves = {name: (P.to_numpy(s.alpha(tt)), P.to_numpy(s.sigma(tt))) for name, s in schedules.items()}
        self.alpha_line = self.dynamic(axc.plot(self.tt, self.tt, color=P.DATA_COLOR, label=r"$\alpha_t$")[0])
        self.sigma_line = self.dynamic(axc.plot(self.tt, self.tt, color=P.NOISE_COLOR, label=r"$\sigma_t$")[0])
        self.vline = self.dynamic(axc.axvline(0, color="k", lw=0.8, ls=":"))
        self.marks = self.dynamic(axc.plot([0, 0], [0, 1], "o", color="k", ms=4)[0])
        axc.legend(fontsize=8, loc="center left")

    def draw(self, t, schedule, dataset):
        t = check_time(t)
        name = check_choice("schedule", schedule, self.schedules)
        x1 = self.x1s[check_choice("dataset", dataset, self.x1s)]
        a, s = P.alpha_sigma(self.schedules[name], t)
        self.points.set_offsets(a * x1 + s * self.x0)  # (N, 2): the callback only recombines
        self.points.set_color(P.time_color(t))
        self.alpha_line.set_ydata(self.curves[name][0])
        self.sigma_line.set_ydata(self.curves[name][1])
        self.vline.set_xdata([t, t])
        self.marks.set_data([t, t], [a, s])
        # plain text, not mathtext: parsing "$...$" anew for every t would cost more than the scatter
        self.title.set_text(f"{dataset}, {name}:  t = {t:.2f},  α = {a:.2f},  σ = {s:.2f}")


def path_explorer(datasets: Sequence[str] | Mapping[str, object] | None = ("moons", "8gaussians", "checkerboard",
                                                                           "spirals", "rings"),
                  schedules: Sequence[str | Schedule] = ("linear", "cosine", "linear-beta"), n: int = 1000,
                  seed: int = 0, t: float = 0.5, lim: float = P.LIM, dpi: int = 100) -> Explorer:
    r"""Slide t and watch ``p_t``: samples ``x_t = alpha_t x_1 + sigma_t x_0`` of a data set on a path.

    Controls: ``t`` (0..1), ``schedule``, ``dataset``. A second panel shows ``alpha_t`` and
    ``sigma_t`` with markers at t. Noise x0 (n, 2) and each data set's x1 (n, 2) are drawn once,
    from one generator seeded with ``seed`` (x0 first, then the data sets in order); a callback
    only recombines them.

    Args:
        datasets: names from :data:`fmlearn.data.DATASETS` (None: all), or a mapping label -> points (n, 2).
        schedules: path names or Schedule objects.
        n: points per data set.
        t: the initial time.
        dpi: CSS pixels per inch of the shown image (see :func:`~fmlearn.teaching.explorer.live_figure`).

    Example::

        ex = path_explorer(("moons", "8gaussians"))
        ex                                                       # the widget
        ex.static(t=0.5, schedule="cosine", dataset="moons")     # its static twin, a Figure
    """
    from ..data import DATASETS, sample_data

    g = torch.Generator().manual_seed(seed)
    x0 = P.to_numpy(torch.randn(n, 2, generator=g))
    if isinstance(datasets, Mapping):
        x1s = {str(k): P.points_2d(v, f"datasets[{k!r}]") for k, v in datasets.items()}
        for k, v in x1s.items():
            if len(v) != n:
                raise ValueError(f"datasets[{k!r}] has {len(v)} points; pass n={len(v)} or {n} points.")
    else:
        names = list(DATASETS) if datasets is None else [check_choice("dataset", d, DATASETS) for d in datasets]
        x1s = {d: P.to_numpy(sample_data(d, n, generator=g)) for d in names}
    if not x1s:
        raise ValueError("datasets is empty.")
    scheds = {}
    for s in schedules:
        sched = get_schedule(s)
        scheds[sched.name if sched.name not in scheds else repr(sched)] = sched
    check_time(t)
    controls = {"t": time_slider(t), "schedule": dropdown("schedule", scheds, next(iter(scheds))),
                "dataset": dropdown("dataset", x1s, next(iter(x1s)))}

    def make_view(fig, live):
        return _PathView(fig, live, x0, x1s, scheds, lim)

    return assemble(controls, make_view(live_figure(_PathView.figsize, dpi), True), make_view)


# ---- trajectory explorer ------------------------------------------------------------------------
class _TrajectoryView(View):
    figsize = (7.0, 3.7)

    def __init__(self, fig, live, entries, reference, lim, notes=None):
        super().__init__(fig, live)
        self.entries, self.notes = entries, notes or {}
        ax, axt = fig.subplots(1, 2)
        if reference is not None:
            P.scatter(ax, reference, color=P.NOISE_COLOR, alpha=0.25, s=1, lim=lim, gid="reference")
        self.samples = self.dynamic(P.scatter(ax, np.zeros((1, 2)), lim=lim, gid="samples"))
        self.lines = self.dynamic(LineCollection([], colors="#444444", linewidths=0.6, alpha=0.5, gid="trajectories"))
        axt.add_collection(self.lines)
        self.starts = self.dynamic(P.scatter(axt, np.zeros((1, 2)), color=P.NOISE_COLOR, s=8, alpha=1, lim=lim,
                                             gid="start", zorder=3))
        self.ends = self.dynamic(P.scatter(axt, np.zeros((1, 2)), color=P.DATA_COLOR, s=8, alpha=1, lim=lim,
                                           gid="end", zorder=3))
        self.title = self.dynamic(ax.text(0.5, 1.02, " ", transform=ax.transAxes, ha="center", fontsize=9))
        self.title_t = self.dynamic(axt.text(0.5, 1.02, " ", transform=axt.transAxes, ha="center", fontsize=9))
        self.missing = [self.dynamic(a.text(0.5, 0.5, "", transform=a.transAxes, ha="center", va="center",
                                            fontsize=10, color="#aa0000", gid="missing")) for a in (ax, axt)]

    def draw(self, sampler, nfe):
        entry = self.entries.get((sampler, nfe))
        found = entry is not None
        traj = entry[1] if found else None
        self.samples.set_visible(found)
        for artist in (self.lines, self.starts, self.ends):
            artist.set_visible(traj is not None)
        self.missing[0].set_text("" if found else f"not computed:\n{sampler}, NFE {nfe}")
        self.missing[1].set_text("" if traj is not None else ("no trajectory stored" if found else "not computed"))
        counted = f" (counted {entry[2]})" if found and entry[2] is not None and entry[2] != nfe else ""
        note = self.notes.get((sampler, nfe))
        self.title.set_text(f"{sampler}, NFE {nfe}{counted}: " + (note if note else "samples"))
        self.title_t.set_text(f"{0 if traj is None else traj.shape[1]} trajectories")
        if found:
            self.samples.set_offsets(entry[0])
        if traj is not None:
            self.lines.set_segments(list(traj.transpose(1, 0, 2)))  # (n, K+1, 2)
            self.starts.set_offsets(traj[0])
            self.ends.set_offsets(traj[-1])


def trajectory_explorer(results: Mapping[tuple[str, int], object], reference=None, n_traj: int = 30,
                        sampler: str | None = None, nfe: int | None = None, lim: float = P.LIM,
                        dpi: int = 100, label: str = "sampler",
                        notes: Mapping[tuple[str, int], str] | None = None) -> Explorer:
    """Pick a sampler and an NFE budget; see its samples and a few of its trajectories.

    Args:
        results: precomputed ``(sampler name, nfe) -> result``; a result has ``.samples`` (N, 2) and
            ``.trajectory`` (K+1, N, 2) or None (a SampleResult), or is itself samples (N, 2).
            The controls offer only combinations in the dict (a static twin of a missing one shows "not computed").
        reference: points (M, 2), e.g. the data, drawn faintly behind the samples.
        n_traj: trajectories drawn (the first n_traj particles).
        sampler, nfe: the initial choice (default: the first key).

        label: the first dropdown's caption, e.g. ``"model"`` when the keys name models, not samplers
            (the control and the static twin's argument are still called ``sampler``).
        notes: optional ``(sampler, nfe) -> text`` shown in the samples' title, e.g. the measured W2.

    The NFE slider offers the budgets computed for the chosen sampler (or model) only.

    Static twin: ``ex.static(sampler="euler", nfe=8)``.
    """
    import ipywidgets as W

    if not results:
        raise ValueError("results is empty; give (sampler, nfe) -> SampleResult entries.")
    entries = {}
    for key, res in results.items():
        if not (isinstance(key, tuple) and len(key) == 2):
            raise ValueError(f"results keys must be (sampler, nfe) pairs, got {key!r}.")
        traj = getattr(res, "trajectory", None)
        entries[(str(key[0]), int(key[1]))] = (P.points_2d(res, f"results[{key!r}]").astype(np.float32),
                                               None if traj is None else P.trajectory_2d(traj)[:, :n_traj],
                                               getattr(res, "nfe", None))
    samplers = list(dict.fromkeys(k[0] for k in entries))
    nfes = sorted({k[1] for k in entries})
    sampler = samplers[0] if sampler is None else check_choice("sampler", sampler, samplers)
    nfe = next(k[1] for k in entries if k[0] == sampler) if nfe is None else nfe
    if (sampler, nfe) not in entries:
        raise ValueError(f"unknown nfe {nfe!r} for {sampler}; choose one of "
                         f"{sorted(k[1] for k in entries if k[0] == sampler)}.")
    ref = None if reference is None else P.points_2d(reference, "reference")
    controls = {"sampler": dropdown(label, samplers, sampler),
                "nfe": W.SelectionSlider(options=nfes, value=nfe, description="NFE", continuous_update=True,
                                         layout=W.Layout(width="320px"), style={"description_width": "40px"})}

    def make_view(fig, live):
        return _TrajectoryView(fig, live, entries, ref, lim, notes)

    return assemble(controls, make_view(live_figure(_TrajectoryView.figsize, dpi), True), make_view, keys=entries)


# ---- velocity fields ----------------------------------------------------------------------------
class Field(NamedTuple):
    """A velocity field precomputed on a grid, with optional particles riding it.

    Attributes:
        times: shape (T,).
        grid: grid points, shape (G, 2).
        velocities: v(grid, times[k]) for each k, shape (T, G, 2).
        particles: particle positions at each time, shape (T, N, 2), or None.
    """

    times: np.ndarray
    grid: np.ndarray
    velocities: np.ndarray
    particles: np.ndarray | None = None


def marginal_velocity_fn(points, schedule: str | Schedule = "linear", std: float = 0.0,
                         t_max: float | None = None) -> Callable[[Tensor, float | Tensor], Tensor]:
    r"""The exact marginal velocity field ``v(x, t) = E[d x_t/dt | x_t = x]`` of a point cloud.

    The data are ``points`` (each a Gaussian of standard deviation ``std``; 0 for the points
    themselves). ``E[x_1 | x_t = x]`` is :meth:`GaussianMixture.posterior_mean`, and
    :func:`fmlearn.parametrizations.convert` turns that data prediction into the velocity
    (``v = (x1_hat - x) / (1 - t)`` on the linear path). This is what a perfectly trained
    flow-matching network would output.

    Times above ``t_max`` (default ``min(schedule.t_max, 0.999)``) are clipped: at t = 1 the field
    of a point cloud is singular (it moves every point onto its nearest data point in no time).

    Args:
        points: data points, shape (K, D).

    Returns:
        ``v(x, t)`` with x of shape (B, D) and t a float or shape (B,); returns (B, D) in x's dtype.
    """
    from ..gaussians import GaussianMixture
    from ..parametrizations import convert

    mixture = GaussianMixture.from_points(torch.as_tensor(P.to_numpy(points)), std)
    sched = get_schedule(schedule)
    t_hi = min(sched.t_max, 0.999) if t_max is None else float(t_max)

    def velocity(x: Tensor, t: float | Tensor) -> Tensor:
        x = torch.as_tensor(x)
        x64 = x.to(torch.float64)
        t = torch.as_tensor(t, dtype=torch.float64).clamp(max=t_hi)
        x1_hat = mixture.posterior_mean(x64, t, sched)  # (B, D)
        return convert(x1_hat, "data", "velocity", x64, t, sched).to(x.dtype)

    return velocity


def precompute_field(velocity_fn, times, lim: float = P.LIM, n: int = 20, x0=None) -> Field:
    """Evaluate a velocity field on an n x n grid at each time, and let particles ride it.

    Args:
        velocity_fn: ``v(x (B, 2), t float) -> (B, 2)``, or a model with ``.velocity`` (a PathModel).
        times: shape (T,), increasing.
        x0: optional particle starts (N, 2) at ``times[0]``; they move by Euler steps between the
            given times, ``x <- x + (t_{k+1} - t_k) v(x, t_k)`` (the simplest sampler; use
            :mod:`fmlearn.samplers` for better ones).

    Returns:
        A :class:`Field` of float32 arrays: times (T,), grid (n*n, 2), velocities (T, n*n, 2),
        particles (T, N, 2) or None.
    """
    fn = P.velocity_callable(velocity_fn)
    times = P.to_numpy(times).reshape(-1)
    if len(times) < 1 or np.any(np.diff(times) <= 0):
        raise ValueError("times must be a non-empty increasing sequence.")
    grid = P.grid_points(lim, n)  # (G, 2)
    vel, parts = [], None
    with torch.no_grad():
        for t in times:
            vel.append(P.to_numpy(fn(grid, float(t)), np.float32))
        if x0 is not None:
            x = torch.as_tensor(P.points_2d(x0, "x0"), dtype=torch.float32)
            parts = [x]
            for t, t_next in zip(times[:-1], times[1:]):
                x = x + float(t_next - t) * fn(x, float(t))  # one Euler step, (N, 2)
                parts.append(x)
            parts = np.stack([P.to_numpy(p, np.float32) for p in parts])
    return Field(times.astype(np.float32), grid.numpy(), np.stack(vel), parts)


class _FieldView(View):
    figsize = (4.6, 4.8)

    def __init__(self, fig, live, fields, lim):
        super().__init__(fig, live)
        self.fields, self.current, self.index = fields, None, 0
        self.ax = ax = fig.subplots()
        P.style_axes(ax, lim)
        ax.set_xlabel("arrows: direction of v(x, t);  colour: speed, log scale", fontsize=8)
        first = next(iter(fields.values()))
        self.arrows = self.dynamic(P.draw_arrows(ax, first["polygons"][0], first["speed"][0], LogNorm(*first["clim"]),
                                                 gid="field"))
        self.particles = self.dynamic(ax.scatter([0], [0], s=5, color="#d62728", linewidths=0, zorder=3,
                                                 gid="particles"))
        self.title = self.dynamic(ax.text(0.5, 1.02, " ", transform=ax.transAxes, ha="center", fontsize=9))

    def draw(self, t, dataset):
        name = check_choice("dataset", dataset, self.fields)
        f = self.fields[name]
        k = int(np.argmin(np.abs(f["times"] - float(t))))  # snap to the nearest precomputed time
        if name != self.current:  # each data set has its own colour scale
            self.arrows.set_norm(LogNorm(*f["clim"]))
            self.current = name
        self.arrows.set_verts(f["polygons"][k])  # (G, 7, 2) precomputed: no arrow geometry in the callback
        self.arrows.set_array(f["speed"][k])
        parts = f["particles"]
        self.particles.set_visible(parts is not None)
        if parts is not None:
            self.particles.set_offsets(parts[k])
        self.title.set_text(f"{name}:  t = {f['times'][k]:.2f}")
        self.index = k


def _prepare_field(name: str, value) -> dict:
    """Check a (times, grid, velocities[, particles]) tuple and precompute its arrows for every time."""
    if not isinstance(value, tuple) or len(value) not in (3, 4):
        raise ValueError(f"fields[{name!r}] must be (times, grid, velocities[, particles]), "
                         "e.g. from precompute_field.")
    times = P.to_numpy(value[0]).reshape(-1)
    grid = P.points_2d(value[1], f"fields[{name!r}] grid")
    vel = P.to_numpy(value[2])
    parts = None if len(value) < 4 or value[3] is None else P.trajectory_2d(value[3], f"fields[{name!r}] particles")
    if vel.shape != (len(times), len(grid), 2):
        raise ValueError(f"fields[{name!r}] velocities must have shape {(len(times), len(grid), 2)}, got {vel.shape}.")
    if parts is not None and len(parts) != len(times):
        raise ValueError(f"fields[{name!r}] particles have {len(parts)} steps but times has {len(times)}.")
    spacing = P.grid_spacing(grid)  # arrows are sized relative to it
    speed = np.linalg.norm(vel, axis=-1)  # (T, G)
    arrows = P.arrow_vectors(vel, spacing)  # (T, G, 2): one scale for all times, so speeds compare
    # Speeds span decades (a point-cloud field grows like 1/(1 - t)): one log colour scale for all t.
    hi = float(speed.max()) or 1.0
    lo = min(max(float(np.quantile(speed, 0.01)), 1e-4 * hi), 0.5 * hi)
    return {"times": times, "grid": grid, "polygons": P.arrow_polygons(grid, arrows, spacing),  # (T, G, 7, 2)
            "speed": np.clip(speed, lo, None), "clim": (lo, hi), "particles": parts}


def field_explorer(fields: Mapping[str, tuple], dataset: str | None = None, t: float | None = None,
                   lim: float = P.LIM, dpi: int = 100) -> Explorer:
    """Slide t through a precomputed velocity field (arrows coloured by speed) and its particles.

    Args:
        fields: data set name -> ``(times (T,), grid (G, 2), velocities (T, G, 2)[, particles (T, N, 2)])``,
            e.g. from :func:`precompute_field`. One arrow scale and colour scale per data set,
            shared by all its times, so that speeds compare across t.
        dataset: the initial data set (default: the first).
        t: the initial time (default: the first precomputed time). The slider snaps to the
            nearest precomputed time.

    Static twin: ``ex.static(t=0.9, dataset="moons")``.
    """
    if not fields:
        raise ValueError("fields is empty; give name -> precompute_field(...) entries.")
    prepared = {str(k): _prepare_field(str(k), v) for k, v in fields.items()}
    dataset = next(iter(prepared)) if dataset is None else check_choice("dataset", dataset, prepared)
    all_times = np.concatenate([f["times"] for f in prepared.values()])
    lo, hi = float(all_times.min()), float(all_times.max())
    steps = np.diff(np.unique(np.round(all_times, 4)))
    step = float(max(0.001, round(steps.min(), 4))) if len(steps) else 0.01
    t = float(prepared[dataset]["times"][0]) if t is None else check_time(t, lo, hi)
    controls = {"t": time_slider(t, lo, hi, step), "dataset": dropdown("dataset", prepared, dataset)}

    def make_view(fig, live):
        return _FieldView(fig, live, prepared, lim)

    return assemble(controls, make_view(live_figure(_FieldView.figsize, dpi), True), make_view)
