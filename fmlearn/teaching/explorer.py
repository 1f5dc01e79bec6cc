r"""The machinery of every interactive explorer: a :class:`View` that owns a figure's artists, the
:class:`Explorer` that ties ipywidgets controls to it, and its static twin.

Every explorer (:mod:`fmlearn.teaching.widgets`, :mod:`fmlearn.teaching.digits`) is an :class:`Explorer`:
``.controls`` (name -> ipywidget), ``.image`` (an ``ipywidgets.Image`` holding a PNG), ``.widget`` (the box
to display; an Explorer displays itself as that box) and ``.update()``. One matplotlib figure is drawn once;
a callback only moves its artists (``set_offsets``, ``set_UVC``, ...) and re-renders the changed artists
over a cached background (blitting on the Agg canvas), so it takes milliseconds.

**Sharp and in the window.** The PNG is drawn at the size it is shown and :data:`PIXEL_RATIO` times as
many pixels per side (sharp on HiDPI screens, smoothly reduced on others): ``dpi`` means CSS pixels per
inch of the shown image, and the Image widget's layout width is the PNG's width / :data:`PIXEL_RATIO`
(without it the page stretches the image to the output's width, blurred). :func:`live_figure` lowers the
scale so that the image fits :data:`FIT`, which leaves room in a 1366x768 window for JupyterLab's bars
(:data:`WINDOW_CHROME`) and two rows of controls (:data:`CONTROL_ROW` each): slider and plot are seen
together.

**Only what exists.** ``assemble(..., keys=...)`` (the combinations that were computed, one value per
control) makes each control offer only the values that exist with the controls before it: picking a
model narrows the NFE slider to that model's budgets.

**Static twin.** ``explorer.static(**params)`` draws the same picture with the same drawing code as a plain
matplotlib Figure, for pages where widgets do not run (GitHub, a static site, CI).

A new explorer: subclass :class:`View` (draw its artists in ``__init__``, move them in ``draw(**params)``,
register the moving ones with ``dynamic``), build its controls with :func:`dropdown` / :func:`time_slider`,
and return ``assemble(controls, make_view(live_figure(figsize, dpi), True), make_view)``.
"""
from __future__ import annotations

import statistics
import struct
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from matplotlib.figure import Figure

__all__ = ["View", "Explorer", "live_figure", "assemble", "dropdown", "time_slider", "check_time",
           "measure_callbacks", "display_size", "png_bytes", "PIXEL_RATIO", "FIT", "WINDOW", "WINDOW_CHROME",
           "CONTROL_ROW"]

PIXEL_RATIO = 2
"""PNG pixels per CSS pixel of a shown explorer image (a kernel cannot ask the browser for its ratio)."""
WINDOW = (1366, 768)
"""The smallest browser window (CSS px) every explorer fits in, controls and image together."""
WINDOW_CHROME = 120
"""CSS px of that window's height taken by the browser and JupyterLab's menu, tab, tool and status bars."""
CONTROL_ROW = 40
"""CSS px of one row of controls (dropdowns and sliders are 28 px tall, plus margins)."""
FIT = (900, WINDOW[1] - WINDOW_CHROME - 2 * CONTROL_ROW - 8)
"""The largest shown image, CSS px (width, height): 900 px wide fits a 1366-px window with JupyterLab's
file browser open; the height leaves two rows of controls and a margin in a 768-px window."""


class View:
    """Owns a figure's artists; ``draw(**params)`` moves them. ``live`` views blit onto an Agg canvas."""

    figsize: tuple[float, float] = (4.0, 4.0)

    def __init__(self, fig: Figure, live: bool):
        self.fig, self.live = fig, live
        self._dynamic: list = []
        self._background = None

    def dynamic(self, artist):
        """Register an artist that callbacks change: drawn over the cached background in live views."""
        if self.live:
            artist.set_animated(True)
        self._dynamic.append(artist)
        return artist

    def draw(self, **params) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def render_png(self) -> bytes:
        """The live figure as PNG bytes: background drawn once, dynamic artists redrawn each time."""
        canvas = self.fig.canvas
        if self._background is None:
            canvas.draw()  # animated artists are skipped here
            self.fig.set_layout_engine("none")  # freeze the layout computed by that draw
            self._background = canvas.copy_from_bbox(self.fig.bbox)
        else:
            canvas.restore_region(self._background)
        renderer = canvas.get_renderer()
        for artist in sorted(self._dynamic, key=lambda a: a.get_zorder()):  # stable: ties keep their order
            artist.draw(renderer)
        return png_bytes(np.asarray(canvas.buffer_rgba()))


def png_bytes(rgba: np.ndarray) -> bytes:
    """An RGB PNG of an (H, W, 4) uint8 image (its alpha dropped), encoded for speed.

    Each row stores its difference from the row above (PNG filter "up": a plot's flat areas become
    runs of zeros) and deflate runs only length encoding: about twice as fast as Pillow's fastest
    setting, which tries five filters on every row, for files of a similar size.
    """
    h, w = rgba.shape[:2]
    rows = rgba[..., :3].reshape(h, 3 * w)
    filtered = np.empty((h, 3 * w + 1), np.uint8)
    filtered[:, 0] = 2  # filter type "up"
    filtered[0, 1:] = rows[0]  # the first row's "above" is zero
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # modulo 256, as PNG defines it
    deflate = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    data = deflate.compress(filtered) + deflate.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8 bits, truecolour, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def live_figure(figsize, dpi: float) -> Figure:
    """A figure on its own Agg canvas (no pyplot), for a live view that blits its PNG.

    ``dpi`` is the shown image's CSS pixels per inch, lowered so that ``figsize`` fits :data:`FIT`; the
    canvas has :data:`PIXEL_RATIO` times as many pixels per inch (``fig.dpi = PIXEL_RATIO * shown dpi``).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    w, h = (float(v) for v in figsize)
    shown = min(float(dpi), FIT[0] / w, FIT[1] / h)
    fig = Figure(figsize=(w, h), dpi=PIXEL_RATIO * shown, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def display_size(fig: Figure) -> tuple[float, float]:
    """(width, height) in CSS px at which a :func:`live_figure`'s PNG is shown: its pixels / PIXEL_RATIO."""
    w, h = fig.canvas.get_width_height(physical=True)
    return w / PIXEL_RATIO, h / PIXEL_RATIO


@dataclass(eq=False)
class Explorer:
    """An interactive figure: controls, the image they drive, and a static twin.

    Attributes:
        controls: name -> ipywidget; the names are the keyword arguments of :meth:`static`.
        image: ``ipywidgets.Image`` with the current PNG.
        widget: the assembled box (controls above the image) to display.
        view: the drawing object of the live figure (its artists are what the tests inspect).
    """

    controls: dict
    image: object
    widget: object
    view: View
    make_view: Callable[[Figure, bool], View] = field(repr=False)
    keys: Sequence[tuple] | None = field(default=None, repr=False)
    """The computed combinations (one value per control, in the controls' order), or None: any."""

    def __post_init__(self):
        self._narrowing = False
        self._all_options = {name: list(_control_values(c, 0)) for name, c in self.controls.items()
                             if getattr(c, "options", None) is not None}
        if self.keys is not None:
            self.keys = [tuple(k) for k in self.keys]
            self._narrow()
        for control in self.controls.values():
            control.observe(self._on_change, names="value")

    def _narrow(self) -> None:
        """Each control after the first offers the values that exist with the current values before it."""
        names = list(self.controls)
        self._narrowing = True  # the option changes below fire value events: one redraw follows, not several
        try:
            for i, name in enumerate(names[1:], 1):
                control = self.controls[name]
                prefix = tuple(self.controls[n].value for n in names[:i])
                there = {k[i] for k in self.keys if k[:i] == prefix}
                allowed = [v for v in self._all_options.get(name, ()) if v in there]
                if not allowed or [_option_value(o) for o in control.options] == allowed:
                    continue
                value = control.value
                if value not in allowed:  # the nearest number, or the first name
                    numeric = all(isinstance(v, (int, float)) for v in allowed + [value])
                    value = min(allowed, key=lambda v: abs(v - control.value)) if numeric else allowed[0]
                control.options = allowed
                control.value = value
        finally:
            self._narrowing = False

    @property
    def figure(self) -> Figure:
        """The one live matplotlib figure (updated in place, never recreated)."""
        return self.view.fig

    def params(self) -> dict:
        """The current control values, name -> value."""
        return {name: c.value for name, c in self.controls.items()}

    def _on_change(self, change=None) -> None:
        if self._narrowing:
            return
        if self.keys is not None:
            self._narrow()
        self.update()

    def update(self) -> None:
        """Redraw for the current control values and refresh the image."""
        self.view.draw(**self.params())
        self.image.value = self.view.render_png()

    def static(self, **params) -> Figure:
        """The static twin: a plain Figure drawn by the same code, for ``params`` (defaults: current values)."""
        unknown = sorted(set(params) - set(self.controls))
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown}; choose among {sorted(self.controls)}.")
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=self.view.figsize, layout="constrained")
        plt.close(fig)  # shown when returned or displayed, never twice (see fmlearn.teaching.plotting)
        view = self.make_view(fig, False)
        view.draw(**{**self.params(), **params})
        return fig

    def _ipython_display_(self):  # ipywidgets 7 and 8 alike
        from IPython.display import display
        display(self.widget)


def assemble(controls: dict, view: View, make_view, keys: Sequence[tuple] | None = None) -> Explorer:
    """The :class:`Explorer` of ``controls`` (name -> widget) driving ``view``; ``make_view(fig, live)`` makes the
    views of its static twins. ``keys``: the computed combinations (a tuple of one value per control, in
    order); each control then offers only what exists with the controls before it. Draws once.

    The image is shown at :func:`display_size` (its layout width in CSS px; the height follows the aspect,
    and ``max-width: 100%`` of ipywidgets' stylesheet shrinks it in a narrower page)."""
    import ipywidgets as W

    image = W.Image(value=b"", format="png")
    if view.live:
        width, _ = display_size(view.fig)
        image.layout.width = f"{width:g}px"
    bar = W.HBox(list(controls.values()), layout=W.Layout(flex_flow="row wrap"))
    explorer = Explorer(controls, image, W.VBox([bar, image]), view, make_view, keys)
    explorer.update()
    return explorer


def dropdown(description: str, options: Sequence, value):
    """A ``Dropdown`` of the explorers' common size, wider for a long caption or long options (never cut:
    the caption takes its natural width, ``description_width: initial``)."""
    import ipywidgets as W
    options = list(options)
    longest = max((len(str(o[0] if isinstance(o, tuple) else o)) for o in options), default=0)
    width = 12 + 7 * len(description) + max(140, 30 + 8 * longest)  # ~7 px a caption letter, 8 an option's
    return W.Dropdown(options=options, value=value, description=description,
                      layout=W.Layout(width=f"{width}px"), style={"description_width": "initial"})


def time_slider(value: float, lo: float = 0.0, hi: float = 1.0, step: float = 0.01):
    """The time slider ``t`` (0 = noise, 1 = data)."""
    import ipywidgets as W
    return W.FloatSlider(value=value, min=lo, max=hi, step=step, description="t", readout_format=".2f",
                         continuous_update=True, layout=W.Layout(width="320px"),
                         style={"description_width": "20px"})


def check_time(t: float, lo: float = 0.0, hi: float = 1.0) -> float:
    """``t`` as a float, refused with a message outside ``[lo, hi]``."""
    t = float(t)
    if not lo - 1e-9 <= t <= hi + 1e-9:
        raise ValueError(f"t must lie in [{lo:g}, {hi:g}] (0 = noise, 1 = data), got {t}.")
    return t


def _option_value(option):
    return option[1] if isinstance(option, tuple) and len(option) == 2 else option


def _control_values(control, n: int) -> list:
    options = getattr(control, "options", None)
    if options is not None:
        return [_option_value(o) for o in options]
    return [float(v) for v in np.linspace(control.min, control.max, n)]


def measure_callbacks(explorer: Explorer, n: int = 20) -> dict[str, float]:
    """Median callback time in milliseconds per control, and over all of them (key ``"all"``).

    Each control is set through its values (options, or n evenly spaced slider positions),
    cycling until it has changed n times; the original values are restored afterwards.
    """
    saved = explorer.params()
    report, every = {}, []
    for name, control in explorer.controls.items():
        values, times = _control_values(control, n), []
        i = 0
        while len(times) < n and len(values) > 1:
            value = values[i % len(values)]
            i += 1
            if value == control.value:
                continue
            start = time.perf_counter()
            control.value = value  # the observer runs synchronously: this is the whole callback
            times.append(1000 * (time.perf_counter() - start))
        if times:
            report[name] = statistics.median(times)
            every += times
        control.value = saved[name]
    report["all"] = statistics.median(every) if every else float("nan")
    return report
