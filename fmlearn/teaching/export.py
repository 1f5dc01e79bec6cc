r"""Save any of the course's plotly animations as a GIF or MP4 for slides, drawn with matplotlib.

:func:`save_animation` takes a figure of :mod:`fmlearn.teaching.animation` (``animate_path``,
``animate_field``) or :func:`fmlearn.teaching.digits.animate_digits` and writes one image per plotly frame,
without kaleido or a browser. Frames are applied as plotly plays them: frame ``k``'s ``data[i]`` updates
trace ``frame.traces[i]`` (or ``i``) as the previous frames left it, nested settings merged, arrays replaced.
One matplotlib figure is drawn once; each frame only moves its artists (``set_offsets``, ``set_data``).

Drawn: scatter traces (markers with colour, colour scale, size, opacity, symbol, arrows turned by
``marker.angle``; lines with gaps at ``None``), heatmaps and image traces (``z`` or a base64 ``source``); the
layout's title, axis ranges (else one range over all frames), equal scale, grid, hidden axes, annotations;
each frame's slider label (e.g. ``t = 0.50``) under the title. Not drawn: colour bars, legends, hover text,
buttons and sliders.
"""
from __future__ import annotations

import base64
import contextlib
import io
import os
import re
from pathlib import Path

import numpy as np
from matplotlib import animation as manimation
from matplotlib import colors as mcolors
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.path import Path as MPath

from .._io import atomic_write, writable

__all__ = ["save_animation"]

PT_PER_PX = 0.72  # a plotly pixel is drawn as 1/100 inch: at dpi 100 it stays one pixel
PLOTLY_COLORWAY = ["#636efa", "#EF553B", "#00cc96", "#ab63fa", "#FFA15A", "#19d3f3", "#FF6692", "#B6E880"]
SYMBOLS = {"circle": "o", "square": "s", "diamond": "D", "cross": "P", "x": "X", "triangle-up": "^",
           "triangle-down": "v", "triangle-left": "<", "triangle-right": ">", "star": "*", "hexagon": "h"}
ARROW = np.array([[0.0, 0.5], [-0.4, -0.5], [0.4, -0.5], [0.0, 0.5]])  # plotly's arrow points up, unit size
DASHES = {"dash": "--", "dot": ":", "dashdot": "-.", "longdash": "--"}


def _decode(obj):
    """Plotly's typed arrays (``{"dtype": "f8", "bdata": base64, "shape": "H, W"}``, how ``to_dict`` stores
    numpy arrays) as numpy arrays, anywhere in a figure dict."""
    if isinstance(obj, dict):
        if "bdata" in obj and "dtype" in obj:
            a = np.frombuffer(base64.b64decode(obj["bdata"]), dtype=np.dtype(obj["dtype"]))
            shape = obj.get("shape")
            return a.reshape([int(n) for n in str(shape).split(",")]) if shape else a
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) and obj and isinstance(obj[0], dict):
        return [_decode(v) for v in obj]
    return obj


def _merge(base: dict, update: dict) -> dict:
    """Plotly's update of nested settings: dicts merge, everything else (arrays, strings) replaces."""
    out = dict(base)
    for k, v in update.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _text(s) -> str:
    """Plotly's HTML-ish text as plain text: ``<br>`` -> newline, other tags dropped."""
    s = "" if s is None else str(s.get("text", "") if isinstance(s, dict) else s)
    return re.sub(r"<[^>]+>", "", re.sub(r"<br\s*/?>", "\n", s, flags=re.I))


def _rgba(color, default="#444444") -> tuple:
    """One plotly colour ('#hex', 'rgb(r, g, b)', 'rgba(r, g, b, a)', a CSS name) as an RGBA tuple."""
    if color is None:
        color = default
    m = re.fullmatch(r"\s*rgba?\(([^)]*)\)\s*", str(color))
    if m:
        v = [float(p) for p in m.group(1).split(",")]
        return (v[0] / 255, v[1] / 255, v[2] / 255, v[3] if len(v) > 3 else 1.0)
    return mcolors.to_rgba(color)


def _colormap(scale, reverse: bool = False) -> mcolors.Colormap:
    """A plotly colour scale (a name or [[position, colour], ...]) as a matplotlib colormap."""
    if scale is None or isinstance(scale, str):
        import plotly.colors

        scale = plotly.colors.get_colorscale(scale or "Viridis")
    stops = [(float(p), _rgba(c)) for p, c in scale]
    cmap = mcolors.LinearSegmentedColormap.from_list("plotly", stops)
    return cmap.reversed() if reverse else cmap


def _floats(v, n: int | None = None) -> np.ndarray:
    """A plotly array (None for gaps) as floats; a scalar is repeated ``n`` times."""
    a = np.asarray(np.nan if v is None else v, dtype=np.float64)  # None -> NaN
    return np.broadcast_to(a, (n,)) if n is not None and a.ndim == 0 else a


def _marker_colors(trace: dict, n: int, default: str) -> np.ndarray:
    """RGBA (n, 4) of a marker trace: one colour, a colour per point, or numbers through the colour scale."""
    marker = trace.get("marker", {})
    c = marker.get("color", default)
    if isinstance(c, (list, tuple, np.ndarray)) and len(c) and not isinstance(c[0], str):
        z = _floats(c)
        lo, hi = marker.get("cmin", np.nanmin(z)), marker.get("cmax", np.nanmax(z))
        rgba = _colormap(marker.get("colorscale"), marker.get("reversescale", False))(
            (z - lo) / ((hi - lo) or 1.0))
    elif isinstance(c, (list, tuple, np.ndarray)):
        rgba = np.array([_rgba(x) for x in c])
    else:
        rgba = np.tile(_rgba(c), (n, 1))
    rgba = np.array(np.broadcast_to(rgba, (n, 4)), dtype=np.float64)
    rgba[:, 3] *= _floats(marker.get("opacity", 1.0), n) * float(trace.get("opacity", 1.0))
    return rgba


def _image(trace: dict) -> tuple[np.ndarray, tuple]:
    """The pixels of a heatmap (H, W) or image trace (H, W, 3|4) and their extent (left, right, bottom, top)."""
    if trace.get("type") == "image" and trace.get("z") is None and trace.get("source"):
        from PIL import Image

        data = base64.b64decode(str(trace["source"]).split(",", 1)[-1])
        z = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
    elif trace.get("type") == "image":
        z = np.asarray(trace.get("z"), dtype=np.float64) / 255.0  # colormodel rgb(a): 0-255
    else:
        z = _floats(trace.get("z"))
        z = z.T if trace.get("transpose") else z
    if z.ndim < 2 or z.size == 0:
        raise ValueError(f"a {trace.get('type')} trace needs a 2-D z (or an image source), got shape {z.shape}.")
    h, w = z.shape[:2]

    def span(coords, start, step, n):
        if coords is not None and len(coords) == n:
            c = _floats(coords)
            d = (c[-1] - c[0]) / max(n - 1, 1)
            return c[0] - d / 2, c[-1] + d / 2
        return start - step / 2, start + step * (n - 0.5)

    x = span(trace.get("x"), float(trace.get("x0", 0)), float(trace.get("dx", 1)), w)
    y = span(trace.get("y"), float(trace.get("y0", 0)), float(trace.get("dy", 1)), h)
    # a heatmap's row 0 is at the bottom; an image's at the top (its y axis runs downwards)
    return z, (x[0], x[1], y[1], y[0]) if trace.get("type") == "image" else (x[0], x[1], y[0], y[1])


class _Canvas:
    """One matplotlib figure with an artist per plotly trace, updated in place for each frame."""

    def __init__(self, traces: list[dict], layout: dict, size: tuple[int, int], dpi: float, colorway: list):
        self.fig = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi, facecolor="white")
        FigureCanvasAgg(self.fig)
        xa, ya = layout.get("xaxis", {}), layout.get("yaxis", {})
        visible = xa.get("visible", True) is not False or ya.get("visible", True) is not False
        m = {"l": 60, "r": 20, "t": 70, "b": 45} if visible else {"l": 10, "r": 10, "t": 60, "b": 10}
        m.update({k: float(v) for k, v in layout.get("margin", {}).items() if k in m})
        px = dpi / 100  # output pixels per plotly pixel
        f = {k: min(0.3, m[k] * px / (size[0] if k in "lr" else size[1])) for k in m}
        self.ax = self.fig.add_axes((f["l"], f["b"], 1 - f["l"] - f["r"], 1 - f["b"] - f["t"]))
        ax = self.ax
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=12 * PT_PER_PX)
        for axis, a in ((ax.xaxis, xa), (ax.yaxis, ya)):
            if a.get("visible", True) is False:
                axis.set_visible(False)
                ax.spines[["bottom"] if axis is ax.xaxis else ["left"]].set_visible(False)
            if a.get("showgrid"):
                axis.grid(True, color=_rgba(a.get("gridcolor", "#eeeeee")), linewidth=0.7)
        ax.set_axisbelow(True)
        font = layout.get("title", {}).get("font", {}) if isinstance(layout.get("title"), dict) else {}
        self.title = self.fig.text(0.5, 1 - 8 * px / size[1], "", ha="center", va="top",
                                   fontsize=float(font.get("size", 17)) * PT_PER_PX, linespacing=1.3)
        for a in layout.get("annotations", []):
            coords = ax.transData if a.get("xref", "x") == "x" and a.get("yref", "y") == "y" else ax.transAxes
            ax.text(float(a.get("x", 0.5)), float(a.get("y", 0.5)), _text(a.get("text")), transform=coords,
                    ha="center", va="center", fontsize=float(a.get("font", {}).get("size", 12)) * PT_PER_PX)
        self.colorway = colorway
        self.artists = [self._artist(t, colorway[i % len(colorway)]) for i, t in enumerate(traces)]
        equal = ya.get("scaleanchor") == "x" or xa.get("scaleanchor") == "y"
        ax.set_aspect("equal" if equal else "auto", adjustable="box")  # after imshow, which sets its own

    def _artist(self, trace: dict, color: str):
        kind = trace.get("type", "scatter")
        if kind in ("heatmap", "image"):
            z, extent = _image(trace)
            cmap = _colormap(trace.get("colorscale"), trace.get("reversescale", False)) if z.ndim == 2 else None
            return self.ax.imshow(z, cmap=cmap, extent=extent, origin="lower" if kind == "heatmap" else "upper",
                                  interpolation="nearest", aspect="auto")
        if kind not in ("scatter", "scattergl"):
            raise ValueError(f"cannot draw a {kind!r} trace; save_animation draws scatter, heatmap and image traces.")
        mode = self._mode(trace)
        line = self.ax.plot([], [], color=color)[0] if "lines" in mode else None
        dots = self.ax.scatter([], [], linewidths=0) if "markers" in mode else None
        return line, dots

    @staticmethod
    def _mode(trace: dict) -> str:
        # plotly's default: lines and markers for fewer than 20 points, else lines
        return trace.get("mode") or ("lines+markers" if len(trace.get("x") or []) < 20 else "lines")

    def draw(self, traces: list[dict], title: str) -> None:
        """Move every artist to the traces' current state."""
        for i, (trace, artist) in enumerate(zip(traces, self.artists)):
            visible = trace.get("visible", True) is True
            if trace.get("type") in ("heatmap", "image"):
                z, extent = _image(trace)
                artist.set_data(z)
                artist.set_extent(extent)
                if z.ndim == 2:
                    lo, hi = trace.get("zmin", np.nanmin(z)), trace.get("zmax", np.nanmax(z))
                    artist.set_clim(lo, hi)
                artist.set_visible(visible)
                continue
            x, y = _floats(trace.get("x", [])), _floats(trace.get("y", []))
            line, dots = artist
            default = self.colorway[i % len(self.colorway)]
            if line is not None:
                style = trace.get("line", {})
                line.set_data(x, y)  # NaN (None in plotly) breaks the line, as plotly's connectgaps=False
                line.set_color(_rgba(style.get("color", default)))
                line.set_alpha(float(trace.get("opacity", 1.0)))
                line.set_linewidth(float(style.get("width", 2)) * PT_PER_PX)
                line.set_linestyle(DASHES.get(style.get("dash"), "-"))
                line.set_visible(visible)
            if dots is not None:
                marker = trace.get("marker", {})
                keep = np.isfinite(x) & np.isfinite(y)
                n = len(x)
                dots.set_offsets(np.column_stack([x, y])[keep])
                dots.set_facecolors(_marker_colors(trace, n, default)[keep])
                dots.set_sizes((_floats(marker.get("size", 6), n)[keep] * PT_PER_PX) ** 2)
                dots.set_paths(self._marker_paths(marker, n, keep))
                dots.set_visible(visible)
        self.title.set_text(title)

    @staticmethod
    def _marker_paths(marker: dict, n: int, keep: np.ndarray) -> list:
        symbol = str(marker.get("symbol", "circle"))
        if symbol.startswith("arrow"):  # one turned arrow per point: angle in degrees, clockwise from up
            a = np.radians(-_floats(marker.get("angle", 0.0), n)[keep])  # (P,)
            rot = np.stack([np.stack([np.cos(a), -np.sin(a)], -1), np.stack([np.sin(a), np.cos(a)], -1)], -2)
            verts = np.einsum("pij,kj->pki", rot, ARROW)  # (P, 4, 2)
            return [MPath(v, closed=True) for v in verts]
        from matplotlib.markers import MarkerStyle

        style = MarkerStyle(SYMBOLS.get(symbol.split("-open")[0], "o"))
        return [style.get_path().transformed(style.get_transform())]


def _frame_titles(fig: dict) -> list[str]:
    """Title of each frame: the layout's (or the frame's own) title, then its slider label."""
    layout = fig.get("layout", {})
    names = {}
    prefix = ""
    for slider in layout.get("sliders", [])[:1]:
        prefix = _text(slider.get("currentvalue", {}).get("prefix", ""))
        for step in slider.get("steps", []):
            args = step.get("args") or [[]]
            if args and isinstance(args[0], list) and len(args[0]) == 1:
                names[str(args[0][0])] = _text(step.get("label", args[0][0]))
    out = []
    for fr in fig["frames"]:
        title = _text(_merge(layout, fr.get("layout", {})).get("title"))
        name = fr.get("name")
        label = names.get(str(name), "" if name is None else str(name))
        out.append("\n".join(s for s in (title, f"{prefix}{label}" if label else "") if s))
    return out


def _states(fig: dict) -> list[list[dict]]:
    """The traces as each frame leaves them (each frame applied over the state the previous one left)."""
    state = [dict(t) for t in fig.get("data", [])]
    out = []
    for k, fr in enumerate(fig["frames"]):
        data = fr.get("data") or []
        targets = fr.get("traces") or list(range(len(data)))
        for i, d in zip(targets, data):
            if not 0 <= int(i) < len(state):
                raise ValueError(f"frame {k} updates trace {i}, but the figure has {len(state)} trace(s); "
                                 "give the figure its traces (go.Figure(data=frames[0].data, frames=frames)).")
            state[int(i)] = _merge(state[int(i)], d)
        out.append([dict(t) for t in state])
    return out


def _limits(states: list[list[dict]], layout: dict, ax) -> None:
    """The layout's axis ranges, else one range covering every frame (the view does not jump)."""
    spans = {"x": [], "y": []}
    image = any(t.get("type") == "image" for traces in states for t in traces)
    for t in (t for traces in states for t in traces):
        if t.get("type") in ("heatmap", "image"):
            l, r, b, top = _image(t)[1]
            spans["x"] += [l, r]
            spans["y"] += [b, top]
        else:
            spans["x"].extend(_floats(t.get("x") or []).ravel())
            spans["y"].extend(_floats(t.get("y") or []).ravel())
    for key, setter in (("x", ax.set_xlim), ("y", ax.set_ylim)):
        a = layout.get(f"{key}axis", {})
        v = np.asarray(spans[key], dtype=np.float64)
        v = v[np.isfinite(v)]
        lo, hi = (float(v.min()), float(v.max())) if len(v) else (-1.0, 1.0)
        pad = 0.0 if image else 0.05 * ((hi - lo) or 1.0)
        lo, hi = sorted(float(e) for e in a.get("range") or (lo - pad, hi + pad))
        reverse = a.get("autorange") == "reversed" or (key == "y" and image and a.get("range") is None)
        setter((hi, lo) if reverse else (lo, hi))


def save_animation(fig, path: str | Path, *, fps: float = 10, dpi: float = 100,
                   size: tuple[int, int] | None = None) -> Path:
    """Save a plotly animation (a figure with frames) as a GIF or MP4, one image per frame, for slides.

    Example: ``save_animation(animate_path(sample_data("moons", 1000, seed=0)), "path.gif")``.

    Args:
        fig: a ``plotly.graph_objects.Figure`` with frames (or its ``to_dict()``), e.g. from
            :func:`~fmlearn.teaching.animation.animate_path`, :func:`~fmlearn.teaching.animation.animate_field`
            or :func:`~fmlearn.teaching.digits.animate_digits`.
        path: the file to write; ``.gif`` (Pillow) or ``.mp4`` (needs ffmpeg). Its folder is created. The file
            is written to a temporary file in that folder and then renamed, so a failed write leaves an
            existing file as it was.
        fps: frames per second.
        dpi: pixels per inch. Plotly's pixel sizes (markers, lines, fonts) are drawn as 1/100 inch, so at
            dpi 100 they keep their size in pixels and a larger dpi draws everything larger.
        size: (width, height) of the images in pixels; default the figure's layout width and height
            (plotly's 700 x 450 where unset) times ``dpi / 100``. MP4 (H.264) needs even sizes: matplotlib
            rounds an odd one down.

    Returns:
        the path written.

    Raises:
        ValueError: an unknown suffix, a figure without frames, a bad fps/dpi/size, a trace type that
            cannot be drawn.
        RuntimeError: ``.mp4`` without ffmpeg.
        PermissionError: the folder cannot be written.
    """
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ValueError(f"cannot save an animation as {path.name!r}: the file name must end in .gif or .mp4.")
    if fps <= 0 or dpi <= 0:
        raise ValueError(f"fps and dpi must be > 0, got fps={fps}, dpi={dpi}.")
    d = _decode(fig if isinstance(fig, dict) else getattr(fig, "to_dict", lambda: None)())
    if not isinstance(d, dict) or not d.get("frames"):
        raise ValueError("the figure has no frames: give an animation such as animate_path(...), "
                         "animate_field(...) or animate_digits(...) (a plotly figure with frames).")
    layout = d.get("layout", {})
    if size is None:
        size = (float(layout.get("width", 700)) * dpi / 100, float(layout.get("height", 450)) * dpi / 100)
    if len(size) != 2 or min(size) < 16:
        raise ValueError(f"size must be (width, height) in pixels, each at least 16, got {size!r}.")
    size = (int(round(size[0])), int(round(size[1])))
    if suffix == ".mp4" and not manimation.writers.is_available("ffmpeg"):
        raise RuntimeError("saving .mp4 needs ffmpeg, which was not found: install it (e.g. `apt install ffmpeg`, "
                           "`conda install ffmpeg` or `brew install ffmpeg`) or save as .gif instead.")
    if not writable(path.parent):
        raise PermissionError(f"cannot write to the folder {str(path.parent)!r}: choose a folder you can write to.")

    states = _states(d)
    titles = _frame_titles(d)
    colorway = layout.get("colorway") or layout.get("template", {}).get("layout", {}).get("colorway") \
        or PLOTLY_COLORWAY
    canvas = _Canvas(states[0], layout, size, dpi, list(colorway))
    _limits(states, layout, canvas.ax)

    def write(tmp: str) -> None:
        # writers pick the format from the suffix, so write `<tmp>.gif` and rename it onto `tmp`
        inner = f"{tmp}{suffix}"
        writer = manimation.PillowWriter(fps=fps) if suffix == ".gif" else manimation.FFMpegWriter(fps=fps)
        writer.setup(canvas.fig, inner, dpi)
        try:
            try:
                for traces, title in zip(states, titles):
                    canvas.draw(traces, title)
                    writer.grab_frame()
            except BaseException:
                with contextlib.suppress(Exception):  # close ffmpeg's pipe; the error to report is the first
                    writer.finish()
                raise
            writer.finish()
            os.replace(inner, tmp)
        finally:
            if os.path.exists(inner):
                os.remove(inner)

    return atomic_write(path, write)
