"""Figures of the shipped experiments: the 2D race (:func:`plot_quality`, :func:`plot_speed`) and the MNIST
race (:func:`plot_curves`), drawn from their result dicts (:mod:`fmlearn.experiments`)."""
from __future__ import annotations

from ..experiments.mnist_race import EVAL_SAMPLERS, rows_of
from ..experiments.race import MODELS, RACE_SAMPLERS
from .plotting import new_figure

__all__ = ["plot_quality", "plot_speed", "plot_curves"]


def _rows_by(result: dict, model: str, sampler: str) -> list[dict]:
    return sorted((r for r in result["rows"] if r["model"] == model and r["sampler"] == sampler
                   and r["w2"] is not None), key=lambda r: r["nfe"])


def plot_quality(result: dict, models=None, samplers=None, panel: float = 2.8, ncols: int = 3):
    """Quality against cost: W2 to fresh data (log) against counted NFE (log), one panel per model
    (``ncols`` to a row; the legend takes a free panel when there is one), one line per sampler
    (``dopri5``: a marker at its measured NFE), the data floor dashed.

    Args:
        result: a race result (:func:`~fmlearn.experiments.race.run_race` or
            :func:`~fmlearn.experiments.race.precomputed`).
        models, samplers: subsets to draw (default: all in the result).
        panel: width of one panel in inches (its height is 0.85 of it).
        ncols: panels per row.
    Returns:
        a matplotlib Figure.
    """
    models = [m for m in (models or MODELS) if any(r["model"] == m for r in result["rows"])]
    samplers = [s for s in (samplers or RACE_SAMPLERS) if any(r["sampler"] == s for r in result["rows"])]
    ncols = max(1, min(ncols, len(models)))
    nrows = -(-len(models) // ncols)
    fig, axes = new_figure(nrows, ncols, figsize=(panel * ncols, 0.85 * panel * nrows + 0.4), sharey=True)
    colors = {s: f"C{i}" for i, s in enumerate(RACE_SAMPLERS)}
    flat = list(axes.flat)
    handles, labels = [], []
    for ax, model in zip(flat, models):
        for sampler in samplers:
            rows = _rows_by(result, model, sampler)
            if rows:
                style = dict(marker="*", markersize=10, linestyle="none") if sampler == "dopri5" else dict(marker=".")
                ax.plot([r["nfe"] for r in rows], [r["w2"] for r in rows], color=colors[sampler], label=sampler,
                        **style)
        ax.axhline(result["floor_w2"], color="k", linestyle="--", linewidth=0.8, label="data floor")
        ax.set(xscale="log", yscale="log", title=model, xlabel="NFE (network calls)", xlim=(0.7, 600))
        ax.grid(True, which="both", alpha=0.3)
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h), labels.append(lab)
    for row in axes:
        row[0].set_ylabel("W2 to fresh data")
    spare = flat[len(models):]
    for ax in spare:
        ax.axis("off")
    if spare:
        spare[0].legend(handles, labels, loc="center", fontsize=9, ncols=2, title="sampler")
    else:
        fig.legend(handles, labels, loc="outside right center", fontsize=8)
    fig.suptitle(f"{result['data']}: quality vs NFE ({'quick' if result['quick'] else 'full'} budget, "
                 f"{result['n_eval']} points, {result.get('grid', 'uniform')} grid)", fontsize=10)
    return fig


def plot_speed(result: dict, models=None):
    """Quality against wall-clock time per 1000 samples, every row of the race as a point coloured by model.

    Returns:
        a matplotlib Figure.
    """
    fig, axes = new_figure(1, 1, panel=3.6, figsize=(5.2, 3.6))
    ax = axes[0, 0]
    for i, model in enumerate(models or MODELS):
        rows = [r for r in result["rows"] if r["model"] == model and r["w2"] is not None and r["seconds"]]
        if rows:
            ax.scatter([1000 * r["seconds"] / result["n_eval"] for r in rows], [r["w2"] for r in rows],
                       s=12, color=f"C{i}", label=model)
    ax.axhline(result["floor_w2"], color="k", linestyle="--", linewidth=0.8, label="data floor")
    ax.set(xscale="log", yscale="log", xlabel="seconds per 1000 samples (CPU)", ylabel="W2 to fresh data",
           title="quality vs wall-clock time")
    ax.legend(fontsize=8)
    return fig


def plot_curves(result: dict, models=None, samplers=None, panel: float = 3.2):
    """Quality against NFE: Fréchet distance (log scale, with the floor and blur references) and the
    confident share, one panel per model and metric, one line per sampler; returns the Figure."""
    models = list(dict.fromkeys(r["model"] for r in result["rows"])) if models is None else list(models)
    samplers = list(dict.fromkeys(r["sampler"] for r in result["rows"])) if samplers is None else list(samplers)
    fig, axes = new_figure(2, len(models), panel=panel)
    styles = dict(zip(EVAL_SAMPLERS, ("o-", "s-", "v--", "^-", "D-")))
    for j, m in enumerate(models):
        ax_fd, ax_c = axes[0, j], axes[1, j]
        for s in samplers:
            rows = rows_of(result, m, s)
            if rows:
                nfe = [r["nfe"] for r in rows]
                ax_fd.plot(nfe, [r["fd"] for r in rows], styles.get(s, "o-"), ms=3, label=s)
                ax_c.plot(nfe, [r["confident"] for r in rows], styles.get(s, "o-"), ms=3, label=s)
        ax_fd.axhline(result["floor_fd"], color="k", ls=":", lw=1, label="real digits (floor)")
        ax_fd.axhline(result["blur_fd"], color="#aa0000", ls=":", lw=1, label="blurred digits")
        ax_fd.set(xscale="log", yscale="log", title=f"{m}: Fréchet distance", xlabel="NFE")
        ax_c.axhline(0.9, color="k", ls=":", lw=1)
        ax_c.text(0.98, 0.91, "share 0.9", transform=ax_c.get_yaxis_transform(), fontsize=7, ha="right",
                  va="bottom", color="0.3")  # the line says what it is (the curves end below it)
        ax_c.set(xscale="log", ylim=(0, 1.04), title=f"{m}: confident share", xlabel="NFE",
                 ylabel="share with p ≥ 0.9" if j == 0 else None)
        for ax in (ax_fd, ax_c):
            ax.grid(alpha=0.3, which="both")
    handles, labels = axes[0, -1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8)  # outside: no curve hidden
    fig.suptitle(f"MNIST, {result['n_eval']} digits per point (lower FD is better)", fontsize=10)
    return fig
