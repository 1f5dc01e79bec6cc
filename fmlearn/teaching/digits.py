r"""Showing generated digits: tiled grids, a digit emerging from noise, and an image explorer.

Images everywhere are tensors or arrays of shape (N, 1, H, W) with values in [-1, 1] (MNIST's
scaling, ``x = pixels / 127.5 - 1``); they are shown black on white (ink = 1 drawn dark).

* :func:`tile` puts N images in rows of ``ncol`` as one array;
* :func:`plot_grids` draws several tiled grids side by side (a static figure);
* :func:`animate_digits` is a plotly animation of trajectories (K+1, N, 1, H, W), noise to digit (save it
  for slides with :func:`fmlearn.teaching.export.save_animation`);
* :func:`image_explorer` is an interactive explorer (any controls, e.g. model / sampler / NFE, or
  digit / guidance scale) over precomputed images, with a static twin like every explorer in
  :mod:`fmlearn.teaching.widgets`.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from .._checks import check_choice

__all__ = ["tile", "plot_grids", "animate_digits", "image_explorer"]

CMAP = "gray_r"


def _images(x, arg: str = "images") -> np.ndarray:
    """(N, 1, H, W) or (N, H, W) tensor/array -> float32 array (N, H, W) in [0, 1] (0 = background)."""
    if isinstance(x, Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 3:
        raise ValueError(f"{arg} must have shape (N, 1, H, W) or (N, H, W), got {x.shape}.")
    return (np.clip(x, -1.0, 1.0) + 1.0) / 2.0


def tile(images, ncol: int = 8, pad: int = 1) -> np.ndarray:
    """Tile images (N, 1, H, W) in [-1, 1] into one array of ``ceil(N / ncol)`` rows, values in [0, 1].

    Returns:
        float32 array of shape (rows * (H + pad) - pad, ncol' * (W + pad) - pad), ncol' = min(ncol, N);
        the padding and empty cells are 0 (background).
    """
    x = _images(images)
    n, h, w = x.shape
    if n == 0:
        raise ValueError("images is empty.")
    ncol = max(1, min(int(ncol), n))
    rows = -(-n // ncol)
    out = np.zeros((rows * (h + pad) - pad, ncol * (w + pad) - pad), dtype=np.float32)
    for i in range(n):  # at most a few hundred small copies
        r, c = divmod(i, ncol)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = x[i]
    return out


def plot_grids(grids: Mapping[str, object], ncol: int = 8, panel: float = 2.6, suptitle: str | None = None):
    """Draw each entry (title -> images (N, 1, H, W)) as a tiled grid, side by side; returns the Figure."""
    from .plotting import new_figure

    if not grids:
        raise ValueError("grids is empty; give title -> images (N, 1, H, W).")
    fig, axes = new_figure(1, len(grids), panel=panel)
    for ax, (title, images) in zip(axes[0], grids.items()):
        ax.imshow(tile(images, ncol), cmap=CMAP, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(str(title), fontsize=9)
        ax.set_axis_off()
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return fig


#: the widest a digits animation is drawn (px): it fits the course's website column and a 1366-px-wide JupyterLab
ANIMATION_WIDTH = 720


def animate_digits(trajectories: Mapping[str, object], times, ncol: int = 4, n_frames: int = 25,
                   title: str = "From noise (t = 0) to digits (t = 1)"):
    """A plotly animation of digits emerging along sampler trajectories, one tiled panel per entry.

    Args:
        trajectories: label -> trajectory (K+1, N, 1, H, W) (e.g. ``sample(..., return_trajectory=True)``);
            all with the same K.
        times: the K+1 times of the trajectories (shown on the slider).
        ncol: images per row in each panel.
        n_frames: at most this many frames (evenly chosen, first and last kept).

    Returns:
        a ``plotly.graph_objects.Figure`` with a play button and a time slider.
    """
    import plotly.graph_objects as go

    if not trajectories:
        raise ValueError("trajectories is empty.")
    trajs = {k: (v.detach().cpu().numpy() if isinstance(v, Tensor) else np.asarray(v)) for k, v in trajectories.items()}
    lengths = {v.shape[0] for v in trajs.values()}
    times = np.asarray(torch.as_tensor(times).cpu(), dtype=np.float64).reshape(-1)
    if len(lengths) != 1 or times.shape[0] != lengths.pop():
        raise ValueError("every trajectory must have the same number of frames K+1, equal to len(times).")
    k = times.shape[0]
    picks = sorted(set(np.linspace(0, k - 1, min(n_frames, k)).round().astype(int).tolist()))
    gap = 4  # columns of background between panels

    def frame(i):
        panels = [tile(v[i], ncol) for v in trajs.values()]
        h = max(p.shape[0] for p in panels)
        padded = [np.pad(p, ((0, h - p.shape[0]), (0, gap))) for p in panels]
        return np.concatenate(padded, axis=1)[:, :-gap]

    def heatmap(i):
        return go.Heatmap(z=np.round(frame(i)[::-1], 2), colorscale="gray", reversescale=True, zmin=0, zmax=1,
                          showscale=False, hoverinfo="skip")

    first = frame(picks[0])
    width = first.shape[1]
    labels = list(trajs)
    fig = go.Figure(data=[heatmap(picks[0])],
                    frames=[go.Frame(data=[heatmap(i)], name=f"{times[i]:.2f}") for i in picks])
    # one pixel scale for both directions: the figure is exactly as tall as its digits need at that width (a
    # capped width with an uncapped height left an empty band under the digits); at most ANIMATION_WIDTH px wide
    # (plotly adds 140 px under the plot for the slider and button, 60 above it for the title; l, r: 10 px each;
    # measured in Chromium: then the digits fill the plot area's width and height both)
    step_px = min(6.0, (ANIMATION_WIDTH - 20) / width)
    panel_w = (width + gap) / len(labels)
    fig.update_layout(
        title=title, width=round(20 + width * step_px), height=round(200 + first.shape[0] * step_px),
        xaxis=dict(visible=False, constrain="domain"), yaxis=dict(visible=False, scaleanchor="x"),
        margin=dict(l=10, r=10, t=60, b=10),
        annotations=[dict(x=(j + 0.5) * panel_w - gap / 2, y=first.shape[0] + 1, text=lab, showarrow=False,
                          xref="x", yref="y") for j, lab in enumerate(labels)],
        template="simple_white",  # no grey plot area around the digits
        # the button left of the slider (as in fmlearn.teaching.animation): the slider's "t = " label stays visible
        updatemenus=[dict(type="buttons", showactive=False, x=0.1, y=0, xanchor="right", yanchor="top",
                          pad={"r": 10, "t": 60},
                          buttons=[dict(label="▶ play", method="animate",
                                        args=[None, {"frame": {"duration": 120, "redraw": True},
                                                     "fromcurrent": True}])])],
        sliders=[dict(currentvalue={"prefix": "t = "}, pad={"t": 50, "b": 10}, x=0.1, len=0.9, y=0,
                      xanchor="left", yanchor="top",
                      steps=[dict(label=f"{times[i]:.2f}", method="animate",
                                  args=[[f"{times[i]:.2f}"], {"mode": "immediate",
                                                               "frame": {"duration": 0, "redraw": True}}])
                             for i in picks])])
    return fig


# ---- the explorer -------------------------------------------------------------------------------
def image_explorer(results: Mapping[tuple, object], names: Sequence[str], notes: Mapping[tuple, str] | None = None,
                   ncol: int = 8, dpi: int = 100, **initial):
    """Pick a combination of control values and see its precomputed images as a tiled grid.

    Args:
        results: ``(value of names[0], value of names[1], ...) -> images (N, 1, H, W)``; each control offers
            only the values computed with the controls before it (a static twin of a missing
            combination shows "not computed").
        names: one control per key position, e.g. ``("model", "sampler", "nfe")``; a control whose
            values are all numbers is a slider, otherwise a dropdown.
        notes: optional key -> text shown under the grid (e.g. the measured FD).
        ncol: images per row.
        initial: starting values, e.g. ``nfe=8`` (default: the first key).

    Returns:
        an :class:`~fmlearn.teaching.explorer.Explorer`; static twin ``ex.static(model="fm", sampler="euler", nfe=8)``.
    """
    import ipywidgets as W

    from .explorer import View, assemble, dropdown, live_figure

    names = tuple(names)
    if not results:
        raise ValueError("results is empty; give (value, ...) -> images entries.")
    grids = {}
    for key, images in results.items():
        if not isinstance(key, tuple) or len(key) != len(names):
            raise ValueError(f"every key must be a tuple of {len(names)} values ({', '.join(names)}), got {key!r}.")
        grids[key] = tile(images, ncol)
    shape = next(iter(grids.values())).shape
    if any(g.shape != shape for g in grids.values()):
        raise ValueError("every entry must hold the same number of images of the same size.")
    unknown = sorted(set(initial) - set(names))
    if unknown:
        raise ValueError(f"unknown control(s) {unknown}; choose among {list(names)}.")
    first = next(iter(grids))
    controls = {}
    for i, name in enumerate(names):
        values = list(dict.fromkeys(k[i] for k in grids))
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        value = initial.get(name, first[i])
        if numeric:
            values = sorted(values)
            if value not in values:
                raise ValueError(f"unknown {name} {value!r}; choose one of {values}.")
            controls[name] = W.SelectionSlider(options=values, value=value, description=name,
                                               continuous_update=True, layout=W.Layout(width="320px"),
                                               style={"description_width": "60px"})
        else:
            controls[name] = dropdown(name, values, check_choice(name, value, values))
    notes = dict(notes or {})
    aspect = shape[0] / shape[1]

    class _ImageView(View):
        figsize = (5.0, 5.0 * aspect + 0.7)

        def __init__(self, fig, live):
            super().__init__(fig, live)
            ax = fig.add_axes((0.02, 0.1, 0.96, 0.82))
            ax.set_axis_off()
            self.image = self.dynamic(ax.imshow(np.zeros(shape), cmap=CMAP, vmin=0, vmax=1, interpolation="nearest"))
            self.title = self.dynamic(fig.text(0.5, 0.965, " ", ha="center", va="top", fontsize=10))
            self.note = self.dynamic(fig.text(0.5, 0.03, " ", ha="center", va="bottom", fontsize=9))
            self.missing = self.dynamic(ax.text(0.5, 0.5, "", transform=ax.transAxes, ha="center", va="center",
                                                fontsize=11, color="#aa0000", gid="missing"))

        def draw(self, **params):
            key = tuple(params[n] for n in names)
            grid = grids.get(key)
            self.image.set_data(grid if grid is not None else np.zeros(shape))
            self.missing.set_text("" if grid is not None else "not computed")
            self.title.set_text(", ".join(f"{n} {params[n]}" for n in names))
            self.note.set_text(notes.get(key, " "))

    def make_view(fig, live):
        fig.set_layout_engine("none")  # the axes are placed by hand
        return _ImageView(fig, live)

    return assemble(controls, make_view(live_figure(_ImageView.figsize, dpi), True), make_view, keys=grids)
