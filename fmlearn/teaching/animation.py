r"""Plotly animations of the course: a path's point cloud moving from noise to data (:func:`animate_path`) and
samples riding a vector field (:func:`animate_field`).

They are plotly figures with frames, a slider and a play button, and play in JupyterLab, VS Code, Colab and
on a static HTML page alike. Their static twins are :func:`fmlearn.teaching.plotting.plot_path_snapshots`
and :func:`fmlearn.teaching.plotting.plot_trajectories`. Save any of these for slides with
:func:`fmlearn.teaching.export.save_animation` (a GIF or MP4, drawn with matplotlib).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from matplotlib import colors as mcolors

from ..schedules import Schedule, get_schedule
from .plotting import (LIM, alpha_sigma, arrow_vectors, grid_points, grid_spacing, noise_like, points_2d, time_color,
                       to_numpy, trajectory_2d, velocity_callable)

__all__ = ["animate_path", "animate_field"]


def _xy(points: np.ndarray, decimals: int = 3) -> tuple[list, list]:
    """Rounded coordinates as plain lists: compact JSON with every plotly version."""
    p = np.round(points.astype(np.float64), decimals)
    return p[:, 0].tolist(), p[:, 1].tolist()


def _hex(rgb) -> str:
    return mcolors.to_hex(rgb)


def _animation_layout(labels: Sequence[str], lim: float, title: str, redraw: bool, prefix: str) -> dict:
    """Square axes on [-lim, lim]^2, a play/pause button and a slider with one step per frame."""
    frame_args = {"mode": "immediate", "frame": {"duration": 0, "redraw": redraw}, "transition": {"duration": 0}}
    play = {"label": "▶ play", "method": "animate",
            "args": [None, {"frame": {"duration": 100, "redraw": redraw}, "fromcurrent": True,
                            "transition": {"duration": 0}}]}
    pause = {"label": "❚❚ pause", "method": "animate", "args": [[None], frame_args]}
    axis = {"range": [-lim, lim], "showgrid": True, "gridcolor": "#eeeeee", "zeroline": False}
    return {
        "title": {"text": title, "font": {"size": 14}},
        "width": 560, "height": 600, "template": "simple_white", "showlegend": False,
        "xaxis": axis, "yaxis": {**axis, "scaleanchor": "x", "scaleratio": 1},
        # placed as plotly express places them: buttons left of the slider, both under the plot
        "updatemenus": [{"type": "buttons", "buttons": [play, pause], "direction": "left", "showactive": False,
                         "x": 0.1, "y": 0, "xanchor": "right", "yanchor": "top", "pad": {"r": 10, "t": 70}}],
        "sliders": [{"active": 0, "x": 0.1, "len": 0.9, "y": 0, "xanchor": "left", "yanchor": "top",
                     "pad": {"b": 10, "t": 60}, "currentvalue": {"prefix": prefix},
                     "steps": [{"method": "animate", "label": lab, "args": [[str(k)], frame_args]}
                               for k, lab in enumerate(labels)]}],
    }


def animate_path(x1, schedule: str | Schedule = "linear", n_frames: int = 30, x0=None, seed: int = 0,
                 lim: float = LIM, max_points: int = 2000, title: str | None = None):
    r"""A plotly animation of ``x_t = alpha_t x_1 + sigma_t x_0`` for t from 0 (noise) to 1 (data).

    Args:
        x1: data points, shape (N, 2); only the first ``max_points`` are drawn (keeps the figure small).
        schedule: the path.
        n_frames: number of frames, at evenly spaced times including 0 and 1.
        x0: noise paired with x1, shape (N, 2); drawn from ``seed`` when None.

    Returns:
        A ``plotly.graph_objects.Figure`` with ``n_frames`` frames, a slider and a play button.
    """
    import plotly.graph_objects as go

    if n_frames < 2:
        raise ValueError(f"n_frames must be >= 2, got {n_frames}.")
    x1 = points_2d(x1, "x1")
    x0 = noise_like(x1, x0, seed)[:max_points]
    x1 = x1[:max_points]
    sched = get_schedule(schedule)
    times = np.linspace(0.0, 1.0, n_frames)
    frames = []
    for k, t in enumerate(times):
        a, s = alpha_sigma(sched, t)
        x, y = _xy(a * x1 + s * x0)
        frames.append(go.Frame(name=str(k), data=[go.Scatter(x=x, y=y, mode="markers",
                                                             marker={"size": 3, "color": _hex(time_color(t))})]))
    fig = go.Figure(data=frames[0].data, frames=frames)
    fig.update_layout(_animation_layout([f"{t:.2f}" for t in times], lim,
                                        title or f"{sched.name} path: x_t = α_t x_1 + σ_t x_0", True, "t = "))
    return fig


def animate_field(velocity, trajectory=None, times=None, *, lim: float = LIM, n: int = 15, grid=None,
                  max_frames: int = 40, n_particles: int = 300, title: str = "velocity field and particles"):
    """A plotly animation of a velocity field (arrows coloured by speed) with particles riding it.

    Args:
        velocity: a callable ``v(x (B, 2), t float) -> (B, 2)`` (or a model with ``.velocity``),
            evaluated on an n x n grid at each frame's time; or precomputed velocities of shape
            (T, G, 2) at ``grid`` (G, 2) (default :func:`grid_points` ``(lim, n)``).
        trajectory: particle positions (T, N, 2) at ``times``, or a SampleResult (its
            ``.trajectory`` and ``.times``); None draws the field alone.
        times: the frame times, shape (T,).
        max_frames: at most this many frames, evenly picked among the T times (keeps it small).
        n_particles: draw the first this many particles.

    Returns:
        A ``plotly.graph_objects.Figure``: per frame one trace of arrow shafts (segments with None
        separators), one of arrow heads coloured by log10 speed, and one of particles.
    """
    import plotly.graph_objects as go

    if trajectory is not None and hasattr(trajectory, "trajectory"):
        times = trajectory.times if times is None else times
    if times is None:
        raise ValueError("times is required: the time of each frame, shape (T,).")
    times = to_numpy(times).reshape(-1)
    traj = None if trajectory is None else trajectory_2d(trajectory)[:, :n_particles]
    if traj is not None and len(traj) != len(times):
        raise ValueError(f"trajectory has {len(traj)} steps but times has {len(times)}.")
    grid = grid_points(lim, n) if grid is None else torch.as_tensor(grid, dtype=torch.float32)
    idx = np.unique(np.linspace(0, len(times) - 1, min(max_frames, len(times))).round().astype(int))
    if callable(velocity) or hasattr(velocity, "velocity"):
        fn = velocity_callable(velocity)
        with torch.no_grad():
            vels = np.stack([to_numpy(fn(grid, float(times[k]))) for k in idx])  # (F, G, 2)
    else:
        vels = to_numpy(velocity)
        if vels.shape != (len(times), *grid.shape):
            raise ValueError(f"precomputed velocities must have shape {(len(times), *grid.shape)} "
                             f"(times, grid points, 2), got {vels.shape}.")
        vels = vels[idx]  # (F, G, 2)
    g = grid.numpy().astype(np.float64)
    spacing = grid_spacing(g)
    speed = np.linalg.norm(vels, axis=-1)  # (F, G)
    arrows = arrow_vectors(vels, spacing)  # (F, G, 2): one scale for all frames
    # Speeds span decades (a point-cloud field grows like 1/(1 - t)): colour by log10 speed.
    log_speed = np.log10(np.maximum(speed, 1e-4 * (float(speed.max()) or 1.0)))
    cmin, cmax = float(np.quantile(log_speed, 0.01)), float(log_speed.max())
    frames = []
    for f, k in enumerate(idx):
        d = arrows[f]
        tails, heads = g - 0.5 * d, g + 0.5 * d
        seg = np.full((len(g), 3, 2), np.nan)
        seg[:, 0], seg[:, 1] = tails, heads
        sx, sy = _xy(seg.reshape(-1, 2))
        sx = [None if v != v else v for v in sx]  # NaN -> None: a gap between segments
        sy = [None if v != v else v for v in sy]
        hx, hy = _xy(heads)
        angle = np.round(90 - np.degrees(np.arctan2(d[:, 1], d[:, 0])), 1).tolist()  # clockwise from up
        data = [go.Scatter(x=sx, y=sy, mode="lines", line={"color": "#888888", "width": 1}, hoverinfo="skip"),
                go.Scatter(x=hx, y=hy, mode="markers", hoverinfo="skip",
                           marker={"symbol": "arrow", "size": 7, "angle": angle,
                                   "color": np.round(log_speed[f], 2).tolist(), "cmin": cmin, "cmax": cmax,
                                   "colorscale": "Viridis", "showscale": True,  # in every frame: a frame
                                   # replaces the trace, and one without a colour bar removes it as it plays
                                   "colorbar": {"title": {"text": "log10 speed"}, "len": 0.6}})]
        if traj is not None:
            px, py = _xy(traj[k])
            data.append(go.Scatter(x=px, y=py, mode="markers", marker={"size": 4, "color": "#d62728"}))
        frames.append(go.Frame(name=str(f), data=data))
    fig = go.Figure(data=frames[0].data, frames=frames)
    fig.update_layout(_animation_layout([f"{times[k]:.2f}" for k in idx], lim, title, True, "t = "))
    return fig
