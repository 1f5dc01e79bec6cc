r"""The machinery of every interactive explorer: a :class:`View` that owns a figure's artists, the
:class:`Explorer` that ties ipywidgets controls to it, and its static twin.

Every explorer (:mod:`fmlearn.teaching.widgets`, :mod:`fmlearn.teaching.digits`) is an :class:`Explorer`:
``.controls`` (name -> ipywidget), ``.image`` (an ``ipywidgets.Image`` holding a PNG), ``.widget`` (the box
to display; an Explorer displays itself as that box) and ``.update()``. One matplotlib figure is drawn once;
a callback only moves its artists (``set_offsets``, ``set_UVC``, ...) and re-renders the changed artists
over a cached background (blitting on the Agg canvas), so it takes milliseconds.

**Static twin.** ``explorer.static(**params)`` draws the same picture with the same drawing code as a plain
matplotlib Figure, for pages where widgets do not run (GitHub, a static site, CI).

A new explorer: subclass :class:`View` (draw its artists in ``__init__``, move them in ``draw(**params)``,
register the moving ones with ``dynamic``), build its controls with :func:`dropdown` / :func:`time_slider`,
and return ``assemble(controls, make_view(live_figure(figsize, dpi), True), make_view)``.
"""
from __future__ import annotations

import io
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from matplotlib.figure import Figure

__all__ = ["View", "Explorer", "live_figure", "assemble", "dropdown", "time_slider", "check_time",
           "measure_callbacks"]


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
        from PIL import Image

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
        w, h = canvas.get_width_height(physical=True)
        img = Image.frombuffer("RGBA", (w, h), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")
        buf = io.BytesIO()
        img.save(buf, format="png", compress_level=1)  # fast; the image is small anyway
        return buf.getvalue()


def live_figure(figsize, dpi: int) -> Figure:
    """A figure on its own Agg canvas (no pyplot), for a live view that blits its PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


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

    def __post_init__(self):
        for control in self.controls.values():
            control.observe(self._on_change, names="value")

    @property
    def figure(self) -> Figure:
        """The one live matplotlib figure (updated in place, never recreated)."""
        return self.view.fig

    def params(self) -> dict:
        """The current control values, name -> value."""
        return {name: c.value for name, c in self.controls.items()}

    def _on_change(self, change=None) -> None:
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


def assemble(controls: dict, view: View, make_view) -> Explorer:
    """The :class:`Explorer` of ``controls`` (name -> widget) driving ``view``; ``make_view(fig, live)`` makes the
    views of its static twins. Draws once."""
    import ipywidgets as W

    image = W.Image(value=b"", format="png")
    bar = W.HBox(list(controls.values()), layout=W.Layout(flex_flow="row wrap"))
    explorer = Explorer(controls, image, W.VBox([bar, image]), view, make_view)
    explorer.update()
    return explorer


def dropdown(description: str, options: Sequence, value):
    """A ``Dropdown`` of the explorers' common size."""
    import ipywidgets as W
    return W.Dropdown(options=list(options), value=value, description=description,
                      layout=W.Layout(width="210px"), style={"description_width": "60px"})


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


def _control_values(control, n: int) -> list:
    options = getattr(control, "options", None)
    if options is not None:
        return [o[1] if isinstance(o, tuple) and len(o) == 2 else o for o in options]
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
