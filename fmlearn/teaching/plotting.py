r"""Figures for the course: paths, vector fields, trajectories and samples.

Static figures use matplotlib; the plotly animations are in :mod:`fmlearn.teaching.animation`.

One style everywhere: square panels with equal aspect, limits ``[-3.5, 3.5]`` (every toy data
set of :mod:`fmlearn.data` fits), a light grid, small markers; noise is grey, data is blue,
and a point cloud at time ``t`` is coloured in between (``t = 0`` noise, ``t = 1`` data).

Every function takes tensors or arrays. Functions that draw into an ``ax`` you give return
that ``ax`` (:func:`scatter` returns its ``PathCollection``, like ``ax.scatter``); the others
build and return a whole ``Figure``. Those figures are made with pyplot and then closed, so a
notebook shows one exactly once when it is the cell's last expression (or with
``display(fig)``), and they never pile up in pyplot's list of open figures. Artists that tests
and widgets look up carry a ``gid`` (``"x_t"``, ``"conditional"``, ``"field"``, ...).
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from matplotlib import colors as mcolors
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from torch import Tensor

from ..schedules import Schedule, get_schedule

__all__ = ["LIM", "NOISE_COLOR", "DATA_COLOR", "to_numpy", "time_color", "style_axes", "new_figure",
           "scatter", "plot_schedules", "plot_path_snapshots", "compare_paths", "plot_conditional_vs_marginal",
           "grid_points", "grid_spacing", "arrow_vectors", "arrow_polygons", "draw_arrows", "plot_vector_field",
           "plot_trajectories", "plot_samples_grid", "figure_size_ok", "points_2d", "trajectory_2d", "alpha_sigma",
           "velocity_callable", "noise_like"]

LIM = 3.5                 # default half-width of every panel
NOISE_COLOR = "#9a9a9a"   # t = 0
DATA_COLOR = "#1f77b4"    # t = 1
COND_COLOR = "#d62728"    # one data point and its conditional path
MARKER_SIZE = 3.0


# ---- small helpers ------------------------------------------------------------------------------
def to_numpy(x, dtype=np.float64) -> np.ndarray:
    """A tensor (any device, with or without grad) or array-like as a numpy array."""
    if isinstance(x, Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def points_2d(x, arg: str = "x") -> np.ndarray:
    """Check a 2D point cloud of shape (N, 2) and return it as float64 numpy."""
    x = to_numpy(getattr(x, "samples", x))
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"{arg} must be 2D points of shape (N, 2), got shape {x.shape}.")
    return x


def trajectory_2d(traj, arg: str = "trajectory") -> np.ndarray:
    """Check a trajectory of shape (K+1, N, 2) (or a SampleResult holding one)."""
    if traj is None or getattr(traj, "trajectory", 0) is None:
        raise ValueError(f"{arg} is None; sample with return_trajectory=True.")
    traj = to_numpy(getattr(traj, "trajectory", traj))
    if traj.ndim != 3 or traj.shape[2] != 2:
        raise ValueError(f"{arg} must have shape (K+1, N, 2) (steps, points, 2), got shape {traj.shape}.")
    return traj


def time_color(t: float) -> tuple[float, float, float]:
    """The colour of a point cloud at time t: grey noise (t=0) blending into blue data (t=1)."""
    t = min(max(float(t), 0.0), 1.0)
    a, b = np.array(mcolors.to_rgb(NOISE_COLOR)), np.array(mcolors.to_rgb(DATA_COLOR))
    return tuple(float(c) for c in (1 - t) * a + t * b)


def style_axes(ax, lim: float | None = LIM, title: str | None = None):
    """The course style: limits [-lim, lim]^2, equal aspect, light grid, small tick labels."""
    if lim is not None:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
    ax.grid(True, alpha=0.3, linewidth=0.5)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=7)
    if title is not None:
        ax.set_title(title, fontsize=9)
    return ax


def new_figure(nrows: int = 1, ncols: int = 1, panel: float = 2.4, figsize=None, **kwargs):
    """A closed pyplot figure and its (nrows, ncols) array of axes, with constrained layout.

    Closed means shown only when returned or displayed, never twice.
    """
    import matplotlib.pyplot as plt  # lazily: importing pyplot picks a backend

    fig, axes = plt.subplots(nrows, ncols, figsize=figsize or (panel * ncols, panel * nrows),
                             squeeze=False, layout="constrained", **kwargs)
    plt.close(fig)
    return fig, axes


def alpha_sigma(schedule: Schedule, t: float) -> tuple[float, float]:
    """``(alpha_t, sigma_t)`` of a path at one time, as Python floats."""
    tt = torch.tensor(float(t), dtype=torch.float64)
    return float(schedule.alpha(tt)), float(schedule.sigma(tt))


def noise_like(x1: np.ndarray, x0, seed: int) -> np.ndarray:
    """The noise x0 (N, 2) paired with x1 (N, 2): given (checked), or ``torch.randn(x1.shape)`` from ``seed``."""
    if x0 is None:
        x0 = torch.randn(x1.shape, generator=torch.Generator().manual_seed(seed))
    x0 = points_2d(x0, "x0")
    if x0.shape != x1.shape:
        raise ValueError(f"x0 must have the shape of x1 {x1.shape}, got {x0.shape}.")
    return x0


# ---- point clouds and paths ---------------------------------------------------------------------
def scatter(ax, x, *, color=DATA_COLOR, s: float = MARKER_SIZE, alpha: float = 0.6, lim: float | None = LIM,
            **kwargs):
    """Scatter 2D points x (N, 2) in the course style; returns the ``PathCollection``."""
    pts = points_2d(x)
    if "c" not in kwargs:
        kwargs["color"] = color
    coll = ax.scatter(pts[:, 0], pts[:, 1], s=s, alpha=alpha, linewidths=0, **kwargs)
    style_axes(ax, lim)
    return coll


def plot_schedules(schedules: Sequence[str | Schedule] = ("linear", "cosine", "linear-beta"),
                   n: int = 400) -> Figure:
    r"""Three panels against t: ``alpha_t`` (signal), ``sigma_t`` (noise) and ``log(alpha_t^2 / sigma_t^2)``.

    The log-SNR is drawn on ``[max(t_min, 1e-3), min(t_max, 1 - 1e-3)]``: it is infinite at the ends.
    """
    fig, axes = new_figure(1, 3, figsize=(10, 3))
    t = torch.linspace(0, 1, n, dtype=torch.float64)
    for name in schedules:
        sched = get_schedule(name)
        axes[0, 0].plot(t, sched.alpha(t), label=sched.name, lw=1.5)
        axes[0, 1].plot(t, sched.sigma(t), label=sched.name, lw=1.5)
        tl = torch.linspace(max(sched.t_min, 1e-3), min(sched.t_max, 1 - 1e-3), n, dtype=torch.float64)
        axes[0, 2].plot(tl, sched.log_snr(tl), label=sched.name, lw=1.5)
    for ax, title in zip(axes[0], (r"signal $\alpha_t$", r"noise $\sigma_t$",
                                   r"log-SNR $\log(\alpha_t^2/\sigma_t^2)$")):
        style_axes(ax, lim=None, title=title)
        ax.set_xlabel("t   (0 = noise, 1 = data)", fontsize=8)
    axes[0, 0].legend(fontsize=8)
    return fig


def _path_row(axes, x1: np.ndarray, x0: np.ndarray, sched: Schedule, times, lim) -> None:
    for ax, t in zip(axes, times):
        a, s = alpha_sigma(sched, t)
        scatter(ax, a * x1 + s * x0, color=time_color(t), lim=lim, gid="x_t")
        style_axes(ax, lim, title=f"t = {t:g}  " + rf"($\alpha$={a:.2f}, $\sigma$={s:.2f})")


def plot_path_snapshots(x1, schedule: str | Schedule = "linear", times: Sequence[float] = (0, .25, .5, .75, 1),
                        x0=None, seed: int = 0, lim: float = LIM) -> Figure:
    r"""A row of scatter plots of ``x_t = alpha_t x_1 + sigma_t x_0`` at the given times.

    Args:
        x1: data points, shape (N, 2).
        schedule: the path (name or Schedule).
        times: one panel per time, 0 = noise, 1 = data.
        x0: noise paired with x1, shape (N, 2); drawn from ``seed`` when None
            (``torch.randn(N, 2, generator=torch.Generator().manual_seed(seed))``).
    """
    x1 = points_2d(x1, "x1")
    sched = get_schedule(schedule)
    fig, axes = new_figure(1, len(times))
    _path_row(axes[0], x1, noise_like(x1, x0, seed), sched, times, lim)
    fig.suptitle(rf"{sched.name} path: $x_t = \alpha_t x_1 + \sigma_t x_0$", fontsize=10)
    return fig


def compare_paths(x1, schedules: Sequence[str | Schedule] = ("linear", "cosine"),
                  times: Sequence[float] = (0, .25, .5, .75, 1), x0=None, seed: int = 0,
                  lim: float = LIM) -> Figure:
    """A grid of path snapshots, one row per schedule, all rows sharing the same noise x0."""
    x1 = points_2d(x1, "x1")
    x0 = noise_like(x1, x0, seed)
    fig, axes = new_figure(len(schedules), len(times))
    for row, name in zip(axes, schedules):
        sched = get_schedule(name)
        _path_row(row, x1, x0, sched, times, lim)
        row[0].set_ylabel(sched.name, fontsize=10)
    return fig


def plot_conditional_vs_marginal(x1, schedule: str | Schedule = "linear", index: int = 0,
                                 times: Sequence[float] = (0, .25, .5, .75, 1), n_cond: int = 300,
                                 x0=None, seed: int = 0, lim: float = LIM) -> Figure:
    r"""One data point's conditional path (top row) against the whole data set's marginal path (bottom).

    Top: ``p_t(x | x_1) = N(alpha_t x_1, sigma_t^2 I)`` for ``x_1 = x1[index]``: a Gaussian blob
    (``n_cond`` samples, a dashed circle of radius ``2 sigma_t``) whose centre travels along
    ``alpha_s x_1`` (thin line) from the noise to the point (star). Bottom: the marginal
    ``p_t = E_{x_1}[p_t(x | x_1)]`` as samples ``alpha_t x_1 + sigma_t x_0`` of all of x1.
    The blob uses the first ``n_cond`` rows of the same noise x0 as the marginal.
    """
    x1 = points_2d(x1, "x1")
    if not -len(x1) <= index < len(x1):
        raise ValueError(f"index must pick one of the {len(x1)} data points, got {index}.")
    x0 = noise_like(x1, x0, seed)
    sched = get_schedule(schedule)
    point, noise = x1[index], x0[:n_cond]
    s_grid = torch.linspace(0, 1, 100, dtype=torch.float64)
    centre_path = to_numpy(sched.alpha(s_grid))[:, None] * point  # (100, 2)
    fig, axes = new_figure(2, len(times))
    for k, t in enumerate(times):
        a, s = alpha_sigma(sched, t)
        top, bottom = axes[0, k], axes[1, k]
        scatter(top, x1, color=NOISE_COLOR, alpha=0.15, s=1, lim=lim, gid="data")
        top.plot(centre_path[:, 0], centre_path[:, 1], color=COND_COLOR, lw=0.8, alpha=0.6)
        scatter(top, a * point + s * noise, color=COND_COLOR, lim=lim, gid="conditional")
        top.add_patch(_circle(a * point, 2 * s))
        scatter(bottom, a * x1 + s * x0, color=time_color(t), lim=lim, gid="marginal")
        for ax in (top, bottom):
            ax.plot(*point, marker="*", ms=9, color=COND_COLOR, mec="k", mew=0.5, zorder=5)
        style_axes(top, lim, title=f"t = {t:g}")
    axes[0, 0].set_ylabel(r"conditional $p_t(x\mid x_1)$", fontsize=9)
    axes[1, 0].set_ylabel(r"marginal $p_t(x)$", fontsize=9)
    fig.suptitle(f"{sched.name} path: one data point (star) versus the whole data set", fontsize=10)
    return fig


def _circle(centre, radius):
    from matplotlib.patches import Circle
    return Circle(tuple(centre), radius, fill=False, ls="--", lw=0.8, color=COND_COLOR)


# ---- vector fields and trajectories -------------------------------------------------------------
def grid_points(lim: float = LIM, n: int = 20) -> Tensor:
    """The centres of an n x n grid of cells covering [-lim, lim]^2, shape (n*n, 2), float32."""
    c = torch.linspace(-lim, lim, n + 1)
    c = 0.5 * (c[1:] + c[:-1])  # (n,) cell centres: no arrow starts on the border
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


def grid_spacing(grid) -> float:
    """The spacing of a rectangular grid of points (G, 2): the smallest gap between its x values."""
    gaps = np.diff(np.unique(np.round(to_numpy(grid)[:, 0], 6)))
    return float(gaps.min()) if len(gaps) else 1.0


def arrow_vectors(v: np.ndarray, spacing: float, ref: float | None = None) -> np.ndarray:
    """Velocities (..., 2) as display arrows whose length ``spacing * speed / (speed + ref)`` saturates.

    Arrows keep their direction, grow with speed, and never exceed one grid spacing, so a few
    very fast arrows (far from the data, or near t = 1) neither overlap nor shrink all others to
    dots; the true speed is shown by colour. ``ref`` (the speed drawn half a spacing long)
    defaults to a quarter of the median speed of ``v``; pass all times at once, shape (T, G, 2),
    for one scale shared by every time.
    """
    speed = np.linalg.norm(v, axis=-1, keepdims=True)
    if ref is None:
        ref = 0.25 * float(np.median(speed)) if speed.size else 1.0
    ref = ref if ref > 0 else 1.0
    return v * (spacing / (speed + ref))


def arrow_polygons(centres: np.ndarray, d: np.ndarray, spacing: float) -> np.ndarray:
    """Outlines of arrows ``d`` (..., G, 2) centred on ``centres`` (G, 2): shape (..., G, 7, 2), data units.

    Built with numpy for all arrows (and all times) at once, so that a widget callback only hands
    precomputed polygons to a ``PolyCollection`` (much faster than re-running ``quiver``).
    Arrows shorter than their head (0.3 spacings) shrink as a whole.
    """
    length = np.linalg.norm(d, axis=-1, keepdims=True)  # (..., G, 1)
    u = d / np.maximum(length, 1e-12)  # unit direction
    normal = np.stack([-u[..., 1], u[..., 0]], axis=-1)
    k = np.minimum(1.0, length / (0.3 * spacing))
    head, head_w, shaft_w = 0.3 * spacing * k, 0.14 * spacing * k, 0.04 * spacing * k
    tip, tail = centres + 0.5 * d, centres - 0.5 * d
    neck = tip - head * u
    return np.stack([tail + shaft_w * normal, neck + shaft_w * normal, neck + head_w * normal, tip,
                     neck - head_w * normal, neck - shaft_w * normal, tail - shaft_w * normal], axis=-2)


def draw_arrows(ax, polygons: np.ndarray, speed: np.ndarray, norm=None, cmap: str = "viridis", **kwargs):
    """Add arrow polygons (G, 7, 2) coloured by ``speed`` (G,) to ax; returns the ``PolyCollection``."""
    coll = PolyCollection(polygons, array=speed, cmap=cmap, norm=norm, linewidths=0, **kwargs)
    ax.add_collection(coll)
    return coll


def velocity_callable(velocity) -> Callable:
    """Accept a callable ``v(x, t)`` or a model with a ``.velocity`` method (e.g. a PathModel)."""
    fn = getattr(velocity, "velocity", velocity)
    if not callable(fn):
        raise TypeError(f"velocity must be a callable v(x (B, 2), t) -> (B, 2), got {type(velocity).__name__}.")
    return fn


def plot_vector_field(ax, velocity, t: float, lim: float = LIM, n: int = 20, *, ref: float | None = None,
                      cmap: str = "viridis", vmax: float | None = None):
    """Arrows of a velocity field at time t on an n x n grid, coloured by speed (see :func:`arrow_vectors`).

    Args:
        ax: the axes to draw into (returned).
        velocity: a callable ``v(x, t)`` with x of shape (B, 2) float32 and t a float, returning
            (B, 2); or a model with a ``.velocity`` method such as a PathModel.
        t: the time (0 = noise, 1 = data).
        ref: the speed drawn half a grid spacing long (default: a quarter of the median speed);
            see :func:`arrow_vectors`.
        vmax: the speed at the top of the colour map (default: the largest speed).
    """
    grid = grid_points(lim, n)
    with torch.no_grad():
        v = to_numpy(velocity_callable(velocity)(grid, float(t)))
    if v.shape != tuple(grid.shape):
        raise ValueError(f"velocity returned shape {v.shape} for points of shape {tuple(grid.shape)}.")
    spacing = 2 * lim / n
    polygons = arrow_polygons(grid.numpy(), arrow_vectors(v, spacing, ref), spacing)  # (G, 7, 2)
    speed = np.linalg.norm(v, axis=1)
    draw_arrows(ax, polygons, speed, mcolors.Normalize(0, vmax or max(float(speed.max()), 1e-12)), cmap,
                gid="field")
    return style_axes(ax, lim)


def plot_trajectories(ax, trajectory, n: int = 50, *, color: str = "#444444", alpha: float = 0.5,
                      lim: float | None = LIM):
    """Lines of the first n particles of a trajectory (K+1, N, 2), start points grey, end points blue.

    ``trajectory`` may also be a SampleResult (its ``.trajectory`` is used).
    """
    traj = trajectory_2d(trajectory)[:, :n]  # (K+1, n, 2)
    ax.add_collection(LineCollection(list(traj.transpose(1, 0, 2)), colors=color, linewidths=0.6, alpha=alpha,
                                     gid="trajectories"))
    ax.scatter(traj[0, :, 0], traj[0, :, 1], s=8, color=NOISE_COLOR, linewidths=0, gid="start", zorder=3)
    ax.scatter(traj[-1, :, 0], traj[-1, :, 1], s=8, color=DATA_COLOR, linewidths=0, gid="end", zorder=3)
    return style_axes(ax, lim)


def plot_samples_grid(results: Mapping[str, object], ncols: int = 3, reference=None, lim: float = LIM,
                      panel: float = 2.6) -> Figure:
    """One panel per entry of ``results`` (label -> samples (N, 2), or a SampleResult).

    The label is the panel's title (with the counted NFE when the result has one); ``reference``
    points (N, 2), e.g. the data, are drawn faintly behind every panel.
    """
    if not results:
        raise ValueError("results is empty; give at least one label -> samples.")
    ncols = max(1, min(ncols, len(results)))
    nrows = -(-len(results) // ncols)
    fig, axes = new_figure(nrows, ncols, panel=panel)
    ref = None if reference is None else points_2d(reference, "reference")
    for ax, (label, res) in zip(axes.flat, results.items()):
        if ref is not None:
            scatter(ax, ref, color=NOISE_COLOR, alpha=0.25, s=1, lim=lim, gid="reference")
        scatter(ax, points_2d(res, f"results[{label!r}]"), lim=lim, gid="samples")
        nfe = getattr(res, "nfe", None)
        style_axes(ax, lim, title=str(label) + (f"  (NFE {nfe})" if nfe is not None else ""))
    for ax in list(axes.flat)[len(results):]:
        ax.set_visible(False)
    return fig


def figure_size_ok(fig, limit: float = 5e6) -> bool:
    """True when a plotly figure's JSON (or an HTML string, e.g. from ``to_jshtml``) is under ``limit`` bytes."""
    text = fig if isinstance(fig, str) else fig.to_json()
    return len(text) < limit
