r"""A live view of training: the loss curve and the current samples, refreshed while :func:`fmlearn.training.train`
runs, at a cost kept under a budget of the training time.

::

    view = LiveTraining(["flow matching", "diffusion"], reference=points)
    view                                                   # the panel (an ipywidgets Image)
    train(fm_model, points, "fm", callback=view.callback("flow matching"))
    train(diffusion_model, points, "diffusion", callback=view.callback("diffusion"))
    view.static()                                          # its static twin: the final frame

One panel per run shows samples of the run's EMA model drawn from fixed noise (Euler, ``nfe`` steps; so the
panels of successive refreshes differ only by what the network learned), points in 2D or a tile of images;
a last panel shows every run's loss curve (a running mean over ``smooth`` steps, log scale).

**Budget.** A refresh (sampling + drawing + PNG) is timed; a refresh happens during training only when the time
spent refreshing so far, plus this refresh and the final one (each costed as the last), fits in ``budget`` times
the training time so far. So with ``budget=0.05`` the view spends at most about 5% of the training time
(:attr:`LiveTraining.overhead` reports the measured share), except that the last step of a run always refreshes
(the final frame): a run shorter than ``cost / budget`` (about 2 s for a 0.1 s refresh) shows only its final
frame, and that frame may cost more than 5% of so short a run. There is no busy redraw: one full Agg draw per refresh,
nothing between refreshes but a clock read per step.
"""
from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from . import plotting as P
from ..samplers import sample

__all__ = ["LiveTraining"]


@dataclass
class _Run:
    """What one panel shows: the latest samples and the loss history of one training run."""
    losses: list = field(default_factory=list)
    samples: np.ndarray | None = None
    step: int = 0
    seconds: float = 0.0  # training time of the run so far (refreshes excluded)


class LiveTraining:
    """Loss curves and current samples of one or more training runs, refreshed within a time budget.

    Args:
        runs: the names of the runs (one samples panel each), in order.
        reference: data points (N, 2) drawn in grey under 2D samples (optional), or a dict run name -> points.
        n_samples: samples per refresh (2D; images: ``n_images``).
        nfe: Euler steps of each refresh's sampling.
        budget: largest share of the training time spent refreshing (0 < budget <= 1).
        seed: seed of the fixed noise.
        n_images: images per panel for image models (a tile of ``n_images`` digits).
        smooth: window of the running mean of the loss curve (at most a tenth of the steps so far).
        dpi, panel: resolution and panel size (inches) of the live image.
    """

    def __init__(self, runs: Sequence[str] = ("model",), *, reference=None, n_samples: int = 500, nfe: int = 20,
                 budget: float = 0.05, seed: int = 0, n_images: int = 16, smooth: int = 50, dpi: int = 80,
                 panel: float = 2.6, lim: float = P.LIM):
        runs = list(runs)
        if not runs or len(set(runs)) != len(runs):
            raise ValueError(f"runs must be distinct names, at least one; got {runs!r}.")
        if not 0 < budget <= 1:
            raise ValueError(f"budget is a share of the training time, in (0, 1]; got {budget!r}.")
        self.runs = {name: _Run() for name in runs}
        refs = reference if isinstance(reference, dict) else {name: reference for name in runs}
        unknown = sorted(set(refs) - set(runs))
        if unknown:
            raise ValueError(f"reference for unknown run(s) {unknown}; the runs are {runs}.")
        self.reference = {name: P.points_2d(ref, "reference") for name, ref in refs.items() if ref is not None}
        self.n_samples, self.nfe, self.budget, self.seed = n_samples, nfe, budget, seed
        self.n_images, self.smooth, self.lim, self.panel, self.dpi = n_images, smooth, lim, panel, dpi
        self.refreshes = 0
        self.refresh_seconds = 0.0
        self._noise: dict[tuple, torch.Tensor] = {}
        t0 = time.perf_counter()
        self.fig = self._figure(live=True)
        self.image = self._image_widget()
        self._show()
        self._cost = time.perf_counter() - t0  # seconds of the last refresh; first a draw's, as an estimate

    # ---- the callback for train -----------------------------------------------------------------
    def callback(self, name: str) -> Callable:
        """The ``callback(trainer, done)`` to pass to :func:`fmlearn.training.train` for the run ``name``."""
        if name not in self.runs:
            raise ValueError(f"unknown run {name!r}; this view shows {list(self.runs)}.")
        run = self.runs[name]
        clock = {"t": None}

        def on_step(trainer, done: bool) -> None:
            now = time.perf_counter()
            if clock["t"] is not None:
                run.seconds += now - clock["t"]
            trained = sum(r.seconds for r in self.runs.values())
            # a refresh now, and the final one it keeps room for, must fit in the budget of the time trained
            if done or self.refresh_seconds + 2 * self._cost <= self.budget * trained:
                self._refresh(name, trainer)
            clock["t"] = time.perf_counter()  # the refresh itself is not training time

        return on_step

    @property
    def overhead(self) -> float:
        """Measured share of the time spent refreshing: refresh seconds / (training + refresh seconds)."""
        train = sum(r.seconds for r in self.runs.values())
        total = train + self.refresh_seconds
        return self.refresh_seconds / total if total > 0 else 0.0

    def _refresh(self, name: str, trainer) -> None:
        t0 = time.perf_counter()
        run = self.runs[name]
        trainer.check()  # the losses of the steps not checked yet (GPU: every few steps)
        run.losses = list(trainer.history)
        run.step = trainer.step_count
        run.samples = self._samples(trainer.ema)
        self._draw(self.fig)
        self._show()
        self._cost = time.perf_counter() - t0
        self.refresh_seconds += self._cost
        self.refreshes += 1

    def _samples(self, model) -> np.ndarray:
        shape = tuple(model.shape) if getattr(model, "shape", None) else (2,)
        n = self.n_images if len(shape) > 1 else self.n_samples
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        key = (n, *shape, str(device))
        if key not in self._noise:  # the same noise at every refresh, so the panels show learning only
            g = torch.Generator().manual_seed(self.seed)
            self._noise[key] = torch.randn(n, *shape, generator=g).to(device)
        was_training = model.training
        model.eval()
        try:
            out = sample(model, self._noise[key], "euler", self.nfe).samples
        finally:
            model.train(was_training)
        return out.detach().float().cpu().numpy()

    # ---- drawing -------------------------------------------------------------------------------
    def _figure(self, live: bool) -> Figure:
        ncols = len(self.runs) + 1
        size = (self.panel * ncols, self.panel)
        if live:
            from .explorer import live_figure
            fig = live_figure(size, self.dpi)
        else:
            import matplotlib.pyplot as plt
            fig = plt.figure(figsize=size, layout="constrained")
            plt.close(fig)  # shown when returned or displayed, never twice
        fig._fmlearn_artists = self._build(fig)  # drawn once; refreshes only move them
        return fig

    def _build(self, fig: Figure) -> dict:
        """The panels and their artists: a scatter (or image) per run, a line per run in the loss panel."""
        axes = fig.subplots(1, len(self.runs) + 1, squeeze=False)[0]
        art = {"axes": axes, "points": {}, "images": {}, "lines": {}}
        for ax, name in zip(axes, self.runs):
            if name in self.reference:
                P.scatter(ax, self.reference[name], color="#bbbbbb", alpha=0.4, lim=self.lim)
            art["points"][name] = P.scatter(ax, np.zeros((0, 2)), lim=self.lim)
            P.style_axes(ax, self.lim, f"{name}: waiting")
        loss = axes[-1]
        for i, name in enumerate(self.runs):
            art["lines"][name], = loss.plot([], [], color=f"C{i}", lw=1, label=name)
        loss.set_xlabel("step", fontsize=8)
        loss.set_title("loss (running mean)", fontsize=9)
        loss.tick_params(which="both", labelsize=7)
        loss.grid(True, alpha=0.3)
        loss.legend(fontsize=7, loc="upper right")
        return art

    def _draw(self, fig: Figure) -> None:
        """Move every artist to the runs' current state (the live view and its static twin alike)."""
        art = fig._fmlearn_artists
        for ax, (name, run) in zip(art["axes"], self.runs.items()):
            if run.samples is None:
                continue
            ax.set_title(f"{name}: step {run.step}", fontsize=9)
            if run.samples.ndim > 2:  # images (N, 1, H, W) in [-1, 1]: a tile (values in [0, 1]) replaces the scatter
                from .digits import CMAP, tile
                picture = tile(run.samples, ncol=int(np.ceil(np.sqrt(len(run.samples)))))
                if name not in art["images"]:
                    ax.clear()
                    ax.set_axis_off()
                    art["images"][name] = ax.imshow(picture, cmap=CMAP, vmin=0, vmax=1, interpolation="nearest")
                    ax.set_title(f"{name}: step {run.step}", fontsize=9)
                art["images"][name].set_data(picture)
            else:
                art["points"][name].set_offsets(run.samples)
        ax, top, low = art["axes"][-1], 0.0, np.inf
        for name, run in self.runs.items():
            if run.losses:
                y = np.asarray(run.losses, dtype=np.float64)
                k = max(1, min(self.smooth, len(y) // 10))  # short runs: a shorter window
                mean = np.convolve(y, np.ones(k) / k, mode="valid")  # running mean over k steps
                art["lines"][name].set_data(np.arange(k, len(y) + 1), mean)
                top, low = max(top, mean.max()), min(low, mean[mean > 0].min(initial=np.inf))
        if top > 0 and np.isfinite(low):
            ax.set_yscale("log")
            ax.set_ylim(low / 1.2, top * 1.2)
            ax.set_xlim(0, max(max(len(r.losses) for r in self.runs.values()), 1))

    def _png(self) -> bytes:
        """One Agg draw of the live figure, as PNG bytes (fast compression; the layout frozen after the first)."""
        from PIL import Image

        canvas = self.fig.canvas
        canvas.draw()
        self.fig.set_layout_engine("none")  # constrained layout once: later draws keep its positions
        w, h = canvas.get_width_height(physical=True)
        img = Image.frombuffer("RGBA", (w, h), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")
        buf = io.BytesIO()
        img.save(buf, format="png", compress_level=1)
        return buf.getvalue()

    def _image_widget(self):
        try:
            import ipywidgets
        except ImportError:  # plain Python: the view still records and draws, there is just nothing to show
            return None
        return ipywidgets.Image(format="png")

    def _show(self) -> None:
        if self.image is not None:
            self.image.value = self._png()

    def static(self) -> Figure:
        """The static twin: the current (after training, the final) frame as a plain Figure."""
        fig = self._figure(live=False)
        self._draw(fig)
        return fig

    def _ipython_display_(self):  # ipywidgets 7 and 8 alike
        from IPython.display import display
        display(self.image if self.image is not None else self.static())
