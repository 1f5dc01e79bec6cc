"""Speed benchmark: ``python -m fmlearn bench [--json PATH] [--quick]``.

Every figure is printed beside a plain PyTorch (or plain scipy) reference measured in the same
run, on the same machine, at the same moment: the ratio ``value / reference`` says what the
package's conveniences cost (or save) there, whatever the machine. Times are medians over
repeats; the package's code and the reference run in alternating blocks, so that other work on
the machine slows both alike.

Figures (targets are for a 2-core laptop-class CPU):

* ``train_step_ms``: one step of :class:`fmlearn.training.Trainer` (the code :func:`~fmlearn.training.train`
  runs), MLP 3 x 64, batch 256, flow matching, moons sampled fresh each step. Reference: a plain
  loop (default threads, default Adam, one fixed data batch).
* ``train_step_ot_ms``: the same with minibatch exact OT (``fm-ot``). Reference: the plain loop
  plus ``scipy.optimize.linear_sum_assignment`` on ``cdist(x1, x0)^2``.
* ``data_ms_per_256_<name>``: ``sample_data(name, 256)``. Reference: ``torch.randn(256, 2)``.
* ``euler_points_per_s``: ``samplers.sample(model, x0 (10000, 2), "euler", nfe=100)``.
  Reference: a plain loop of 100 ``x = x + dt * net(x, t)``.
* ``w2_2000_s``: ``metrics.wasserstein2`` between two 2000-point samples of moons. Reference:
  ``linear_sum_assignment`` on the precomputed cost matrix.
* ``widget_callback_ms_<name>`` for ``path_explorer``, ``trajectory_explorer`` and ``field_explorer``
  of :mod:`fmlearn.teaching.widgets`, ``conversion_explorer`` (:mod:`~fmlearn.teaching.conversions`) and
  ``density_explorer`` (:mod:`~fmlearn.teaching.densities`): the median time of one callback (set a control,
  redraw, PNG into the image), over every control (:func:`~fmlearn.teaching.explorer.measure_callbacks`;
  per-control medians in ``per_control_ms``). Inputs are small and realistic: 1000 points per data set;
  1000 samples of an untrained model with two samplers at three budgets; a marginal field of 1000 moons
  points at 11 times with 500 particles (one data set, so only its t slider is timed); four untrained
  models (two paths x two parametrizations) at 200 points and 49 times; two untrained models' densities
  on a 40 x 40 grid at 3 times. Reference: one plain full
  redraw, ``fig.canvas.draw()`` + the same PNG encoding, of a scatter figure of the same size, dpi
  and panels, 1000 points per panel (the ratio says what the in-place update saves).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import torch

from .._io import one_thread
from ..config import seeded
__all__ = ["run_benchmarks", "main", "TARGETS"]

#: name -> (target, "max" (value must be at most the target) or "min" (at least))
TARGETS = {"train_step_ms": (1.0, "max"), "train_step_ot_ms": (4.0, "max"), "data_ms_per_256": (0.1, "max"),
           "euler_points_per_s": (25_000.0, "min"), "w2_2000_s": (2.0, "max"), "widget_callback_ms": (50.0, "max")}


def _timed(fn: Callable[[], object], n: int) -> list[float]:
    """Wall-clock seconds of ``n`` calls of ``fn``, one by one."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _alternate(mine: Callable, ref: Callable, *, blocks: int, per_block: int, warmup: int = 0,
               mine_ctx=nullcontext, ref_ctx=nullcontext, max_seconds: float = 20.0) -> tuple[float, float]:
    """Medians (seconds) of ``mine()`` and ``ref()``, timed in alternating blocks of ``per_block`` calls.

    Stops after fewer blocks when ``max_seconds`` have passed (a busy machine), keeping the bench short.
    """
    start = time.perf_counter()
    with mine_ctx():
        _timed(mine, warmup)
    with ref_ctx():
        _timed(ref, warmup)
    a, b = [], []
    for _ in range(blocks):
        with mine_ctx():
            a += _timed(mine, per_block)
        with ref_ctx():
            b += _timed(ref, per_block)
        if time.perf_counter() - start > max_seconds:
            break
    return statistics.median(a), statistics.median(b)


def _figure(value: float, unit: str, reference: float, what: str, target_key: str) -> dict:
    target, kind = TARGETS[target_key]
    return {"value": value, "unit": unit, "reference": reference, "reference_what": what,
            "ratio": value / reference if reference else float("nan"), "target": target,
            "target_is": "at most" if kind == "max" else "at least",
            "meets_target": bool(value <= target if kind == "max" else value >= target)}


# ---- figures ------------------------------------------------------------------------------------
def _plain_train_step(ot: bool) -> Callable[[], None]:
    """What a reader would write without the package: fixed data, default Adam, default threads."""
    from scipy.optimize import linear_sum_assignment

    from ..data import sample_data
    from ..models import MLP

    torch.manual_seed(0)
    net = MLP(2, 64, 3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x1 = sample_data("moons", 256, seed=0)

    def step():
        x0 = torch.randn_like(x1)
        if ot:
            _, cols = linear_sum_assignment(torch.cdist(x1, x0).square().numpy())
            x0 = x0[torch.from_numpy(cols)]
        t = torch.rand(256)
        xt = t[:, None] * x1 + (1 - t[:, None]) * x0
        loss = (net(xt, t) - (x1 - x0)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def _train_step(objective: str, quick: bool) -> dict:
    from ..models import MLP, PathModel
    from ..training import Trainer

    with seeded(0):
        trainer = Trainer(PathModel(MLP(2, 64, 3)), "moons", objective, batch_size=256, device="cpu")
    ot = objective == "fm-ot"
    per_block = (10 if quick else 25) if ot else (50 if quick else 100)
    mine, ref = _alternate(trainer.step, _plain_train_step(ot), blocks=4 if quick else 10, per_block=per_block,
                           warmup=10 if ot else 50, mine_ctx=trainer.threads)
    what = ("plain PyTorch step + scipy linear_sum_assignment, default Adam and threads, fixed batch" if ot else
            "plain PyTorch step, default Adam and threads, fixed batch")
    return _figure(mine * 1e3, "ms", ref * 1e3, what, "train_step_ot_ms" if ot else "train_step_ms")


def _data(quick: bool) -> dict[str, dict]:
    from ..data import DATASETS, sample_data

    g = torch.Generator().manual_seed(0)
    out = {}
    for name in DATASETS:
        mine, ref = _alternate(lambda: sample_data(name, 256, generator=g), lambda: torch.randn(256, 2, generator=g),
                               blocks=4 if quick else 10, per_block=50, warmup=20)
        out[f"data_ms_per_256_{name}"] = _figure(mine * 1e3, "ms", ref * 1e3, "torch.randn(256, 2)",
                                                 "data_ms_per_256")
    return out


def _euler(quick: bool) -> dict:
    from ..models import MLP, PathModel
    from ..samplers import sample

    with seeded(0):
        model = PathModel(MLP(2, 64, 3)).eval()
    net = model.net
    x0 = torch.randn(10_000, 2, generator=torch.Generator().manual_seed(0))
    nfe = 100

    @torch.no_grad()
    def plain():
        x, dt = x0, 1.0 / nfe
        for i in range(nfe):
            x = x + dt * net(x, torch.full((x.shape[0],), i * dt))
        return x

    mine, ref = _alternate(lambda: sample(model, x0, "euler", nfe=nfe), plain, blocks=2 if quick else 5,
                           per_block=1, warmup=1)
    n = x0.shape[0]
    return _figure(n / mine, "points/s", n / ref, "plain loop of 100 x = x + dt * net(x, t), no_grad",
                   "euler_points_per_s")


def _w2(quick: bool) -> dict:
    from scipy.optimize import linear_sum_assignment

    from ..data import sample_data
    from ..metrics import wasserstein2

    x, y = sample_data("moons", 2000, seed=1), sample_data("moons", 2000, seed=2)
    cost = torch.cdist(x.double(), y.double()).square().numpy()
    mine, ref = _alternate(lambda: wasserstein2(x, y), lambda: linear_sum_assignment(cost),
                           blocks=1 if quick else 3, per_block=1)
    return _figure(mine, "s", ref, "scipy linear_sum_assignment on the precomputed (2000, 2000) cost",
                   "w2_2000_s")


def _agg_backend() -> None:
    """The Agg backend, as under ``MPLBACKEND=Agg``, unless a backend is chosen already (env or pyplot)."""
    import matplotlib

    if not os.environ.get("MPLBACKEND") and "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")


def _widget_explorers() -> dict[str, Callable[[], object]]:
    """name -> a function that builds that explorer from small, realistic precomputed inputs."""
    from . import conversions, densities, widgets
    from ..data import sample_data
    from ..gaussians import default_mixture
    from ..models import MLP, PathModel
    from ..samplers import sample

    def path():
        return widgets.path_explorer(n=1000, seed=0)

    def trajectory():
        with seeded(0):
            model = PathModel(MLP(2), "linear", "velocity").eval()
        results = {(s, nfe): sample(model, 1000, s, nfe, return_trajectory=True,
                                    generator=torch.Generator().manual_seed(nfe))
                   for s in ("euler", "heun") for nfe in (4, 8, 16)}
        return widgets.trajectory_explorer(results, reference=sample_data("moons", 1000, seed=0))

    def field():
        points = sample_data("moons", 1000, seed=0)
        x0 = torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
        f = widgets.precompute_field(widgets.marginal_velocity_fn(points), torch.linspace(0, 1, 11), x0=x0)
        return widgets.field_explorer({"moons": f})

    def conversion():
        with seeded(0):
            models = [PathModel(MLP(2), s, p).eval() for s in ("linear", "cosine") for p in ("velocity", "noise")]
        return conversions.conversion_explorer(models, sample_data("moons", 200, seed=0))

    def density():
        with seeded(0):
            models = {"fm": PathModel(MLP(2), "linear", "velocity").eval(),
                      "diffusion": PathModel(MLP(2), "cosine", "noise").eval()}
        return densities.density_explorer(densities.density_grids(models, default_mixture(), (0.5, 0.8, 1.0), n=40))

    return {"path_explorer": path, "trajectory_explorer": trajectory, "field_explorer": field,
            "conversion_explorer": conversion, "density_explorer": density}


def _plain_redraw(explorer, n_points: int = 1000) -> Callable[[], bytes]:
    """A full redraw of a comparable scatter figure: same size, dpi and panels, n_points per panel."""
    import io

    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    live = explorer.figure
    fig = Figure(figsize=live.get_size_inches(), dpi=live.dpi, layout="constrained")
    canvas = FigureCanvasAgg(fig)
    rng = np.random.default_rng(0)
    collections = []
    panels = [ax for ax in live.axes if ax.get_label() != "<colorbar>"]  # colour bars are not panels
    for ax in fig.subplots(1, len(panels), squeeze=False)[0]:
        collections.append(ax.scatter(*rng.standard_normal((2, n_points)), s=3, alpha=0.6, linewidths=0))
        ax.set(xlim=(-3.5, 3.5), ylim=(-3.5, 3.5), aspect="equal")
        ax.set_title("t = 0.50", fontsize=9)

    def redraw() -> bytes:
        for c in collections:  # new data each time, as a callback would give
            c.set_offsets(rng.standard_normal((n_points, 2)))
        canvas.draw()
        w, h = canvas.get_width_height(physical=True)
        img = Image.frombuffer("RGBA", (w, h), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")
        buf = io.BytesIO()
        img.save(buf, format="png", compress_level=1)  # the encoding the explorers use
        return buf.getvalue()
    return redraw


def _widgets(quick: bool, names: tuple[str, ...] | None = None) -> dict[str, dict]:
    """``widget_callback_ms_<name>`` figures; ``names`` picks explorers (default: all of them)."""
    _agg_backend()
    builders = _widget_explorers()
    with one_thread():  # the inputs are tiny; two threads stall when other programs hold the CPUs
        return {f"widget_callback_ms_{name}": _widget_figure(builders[name], quick)
                for name in names or tuple(builders)}


def _widget_figure(build: Callable[[], object], quick: bool) -> dict:
    """Build one explorer, then time its callbacks and the plain redraw in alternating blocks."""
    from .explorer import measure_callbacks

    t_build = time.perf_counter()
    explorer = build()
    build_s = time.perf_counter() - t_build
    plain = _plain_redraw(explorer)
    n, blocks = (4, 2) if quick else (8, 3)
    measure_callbacks(explorer, 2)  # warm-up: caches (fonts, text layout) filled once
    _timed(plain, 2)
    per_block, refs, start = [], [], time.perf_counter()
    for _ in range(blocks):  # alternating blocks, as _alternate does
        per_block.append(measure_callbacks(explorer, n))
        refs += _timed(plain, n)
        if time.perf_counter() - start > (1.5 if quick else 3.0):
            break
    per_control = {k: statistics.median(b[k] for b in per_block) for k in per_block[0]}
    value = per_control.pop("all")
    fig = _figure(value, "ms", statistics.median(refs) * 1e3,
                  "one full redraw (fig.canvas.draw() + PNG) of a scatter figure of the same size, dpi "
                  "and panels, 1000 points per panel", "widget_callback_ms")
    fig.update(per_control_ms=per_control, build_s=build_s, callbacks_per_control=n * len(per_block))
    return fig


# ---- driver -------------------------------------------------------------------------------------
def _load() -> float | None:
    """1-minute load average (Unix): above the CPU count, other programs compete for the CPUs."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _machine(quick: bool) -> dict:
    import numpy
    import scipy

    from ..experiments.common import machine_info
    return machine_info(cpu=_cpu_name(), numpy=numpy.__version__, scipy=scipy.__version__,
                        load_average_1min_start=_load(), quick=quick)


def run_benchmarks(quick: bool = False, *, log: Callable[[str], None] | None = None) -> dict:
    """Measure every figure; returns ``{"machine": {...}, "figures": {name: {...}}}``.

    Each figure holds ``value``, ``unit``, ``reference`` (the plain version's value, same unit),
    ``reference_what``, ``ratio`` (value / reference), ``target``, ``target_is`` ("at most" or
    "at least") and ``meets_target``.
    """
    log = log or (lambda line: None)
    threads = torch.get_num_threads()
    machine = _machine(quick)
    figures: dict[str, dict] = {}
    steps = [("train_step_ms", lambda: _train_step("fm", quick)),
             ("train_step_ot_ms", lambda: _train_step("fm-ot", quick)),
             ("data", lambda: _data(quick)),
             ("euler_points_per_s", lambda: _euler(quick)),
             ("w2_2000_s", lambda: _w2(quick)),
             ("widgets", lambda: _widgets(quick))]
    try:
        for name, run in steps:
            result = run()
            new = result if name in ("data", "widgets") else {name: result}
            figures.update(new)
            for key, fig in new.items():
                log(_line(key, fig))
    finally:
        torch.set_num_threads(threads)
    machine["load_average_1min_end"] = _load()
    return {"machine": machine, "figures": figures}


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def _line(name: str, fig: dict) -> str:
    mark = "ok" if fig["meets_target"] else "MISSED"
    sign = "<=" if fig["target_is"] == "at most" else ">="
    return (f"{name:<38} {_fmt(fig['value']):>9} {fig['unit']:<8} reference {_fmt(fig['reference']):>9}  "
            f"ratio {fig['ratio']:5.2f}  target {sign} {_fmt(fig['target'])}  {mark}")


def main(args: argparse.Namespace) -> int:
    """Run the benchmark, print one line per figure, write JSON to ``args.json`` if given.

    Returns 0: missed targets are reported (``MISSED``), not treated as errors.
    """
    quick = bool(getattr(args, "quick", False))
    t0 = time.perf_counter()
    print(f"fmlearn bench{' (quick)' if quick else ''}: torch {torch.__version__}, {os.cpu_count()} CPUs, "
          f"{torch.get_num_threads()} threads. Medians; ratio = fmlearn / plain reference.", flush=True)
    result = run_benchmarks(quick, log=lambda line: print(line, flush=True))
    missed = [k for k, f in result["figures"].items() if not f["meets_target"]]
    load = result["machine"]["load_average_1min_end"]
    print(f"done in {time.perf_counter() - t0:.0f} s; {len(missed)} target(s) missed"
          + (f": {', '.join(missed)}" if missed else "")
          + (f". Load average {load:.1f} on {os.cpu_count()} CPUs: other work slows every figure."
             if load is not None and load > 0.5 * (os.cpu_count() or 1) else "."))
    if getattr(args, "json", None):
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {path}", file=sys.stderr)
    return 0
