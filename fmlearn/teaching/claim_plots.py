"""Figures of notebook 10, one per measured claim, drawn from the results of :mod:`fmlearn.experiments.claims`."""
from __future__ import annotations

import numpy as np

from ..experiments.claims import determinism, hybrids
from .plotting import new_figure, to_numpy

__all__ = ["plot_invertibility", "plot_determinism", "plot_hybrids", "plot_transport", "plot_tuning", "plot_fidelity",
           "plot_data_size", "plot_scaling", "SWEEPS", "sweep_explorer"]


def plot_invertibility(det_grid, lim: float, round_trips: dict):
    """Left: the sign of ``det dv/dx`` on the grid (two colours: the network folds the plane). Right: the flow's
    round-trip error against the number of RK4 steps, per family, with an ``N^-4`` guide."""
    fig, axes = new_figure(1, 2, panel=3.2)
    det = to_numpy(det_grid)
    ax = axes[0, 0]
    ax.imshow(np.sign(det).T, origin="lower", extent=(-lim, lim, -lim, lim), cmap="coolwarm", vmin=-1, vmax=1)
    ax.set(title="sign of det dv/dx at t = 0.5\n(red > 0, blue < 0)", xlabel="x_1", ylabel="x_2")
    ax = axes[0, 1]
    for name, rt in round_trips.items():
        ax.loglog(rt["steps"], rt["errors"], "o-", label=name)
    steps = np.asarray(next(iter(round_trips.values()))["steps"], dtype=float)
    last = min(rt["errors"][-1] for rt in round_trips.values())
    ax.loglog(steps, last * (steps / steps[-1]) ** -4.0, "k:", label="slope -4")
    ax.set(title="round trip noise -> data -> noise", xlabel="RK4 steps N", ylabel="mean |x0' - x0|")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_determinism(result: dict):
    """W2 against NFE for each family: its best deterministic and best stochastic sampler (means over seeds)."""
    fig, axes = new_figure(1, 2, panel=3.2, sharey=True)
    for ax, model in zip(axes[0], determinism.FAMILIES):
        rows = sorted((r for r in result["rows"] if r["model"] == model), key=lambda r: r["nfe"])
        nfe = [r["nfe"] for r in rows]
        ax.plot(nfe, [r["ode_w2"] for r in rows], "o-", label="best ODE sampler")
        ax.plot(nfe, [r["sde_w2"] for r in rows], "s--", label="best SDE sampler")
        ax.axhline(result["floor_w2"], color="k", ls=":", lw=0.8, label="data floor")
        ax.set(xscale="log", yscale="log", title=model, xlabel="NFE")
        ax.grid(True, which="both", alpha=0.3)
    axes[0, 0].set_ylabel("W2 to fresh data")
    axes[0, 0].legend(fontsize=8)
    return fig


def plot_hybrids(result: dict):
    """W2 against the SDE's noise scale (0 = the ODE), one line per NFE, for the well-trained and the weak model."""
    fig, axes = new_figure(1, 2, panel=3.2, sharey=True)
    for ax, model in zip(axes[0], hybrids.WIDTHS):
        for nfe in hybrids.NFES:
            means = [np.mean([r["w2"] for r in result["rows"] if (r["model"], r["noise"], r["nfe"]) == (model, z, nfe)])
                     for z in hybrids.NOISES]
            ax.plot(range(len(hybrids.NOISES)), means, "o-", label=f"NFE {nfe}")
        ax.axhline(result["floor_w2"], color="k", ls=":", lw=0.8, label="data floor")
        ax.set_xticks(range(len(hybrids.NOISES)), [f"{z:g}" for z in hybrids.NOISES])
        ax.set(yscale="log", title=f"{model} (width {hybrids.WIDTHS[model]})", xlabel="noise scale (0 = ODE)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0, 0].set_ylabel("W2 to fresh data")
    axes[0, 1].legend(fontsize=8)
    return fig


def plot_transport(result: dict):
    """For each race model: the NFE it needs to reach 3x the floor (median over seeds) against how straight its
    Euler paths are (chord over arc length)."""
    fig, axes = new_figure(1, 1, panel=3.6, figsize=(4.6, 3.4))
    ax = axes[0, 0]
    at_height: dict[float, int] = {}  # labels of points at the same NFE are stacked, not drawn over each other
    for i, (model, v) in enumerate(result["models"].items()):
        nfe = [n for n in v["nfe"] if n is not None]
        straight = [s for s in v["straightness"] if s is not None]
        if nfe and straight:
            x, y = float(np.mean(straight)), float(np.median(nfe))
            k = at_height[y] = at_height.get(y, -1) + 1
            ax.scatter([x], [y], s=40, color=f"C{i}")
            ax.annotate(model, (x, y), textcoords="offset points", xytext=(-8, 8 + 11 * k), fontsize=8, ha="right",
                        color=f"C{i}")
    ax.set(yscale="log", xlabel="straightness of the Euler paths (1 = straight)", ylabel="NFE to reach 3x floor",
           title="straighter transport, fewer steps?")
    ax.margins(x=0.15, y=0.2)
    ax.grid(True, which="both", alpha=0.3)
    return fig


def plot_tuning(result: dict):
    """W2 (Euler, NFE 100) against the learning rate for both families: one point per training seed and the
    mean of the usable ones; failed runs (diverged, or W2 above 10x the floor) are crosses at the top."""
    from ..experiments.claims import tuning

    fig, axes = new_figure(1, 1, panel=3.6, figsize=(4.8, 3.4))
    ax = axes[0, 0]
    floor = result["floor_w2"]
    top = tuning.FAILED * floor
    for i, family in enumerate(tuning.FAMILIES):
        rows = [r for r in result["rows"] if r["family"] == family]
        ok = [r for r in rows if not tuning.failed(r, floor)]
        ax.scatter([r["lr"] for r in ok], [r["w2"] for r in ok], s=12, color=f"C{i}", alpha=0.5)
        means = [np.mean([r["w2"] for r in ok if r["lr"] == lr]) if any(r["lr"] == lr for r in ok) else np.nan
                 for lr in tuning.LRS]
        ax.plot(tuning.LRS, means, "o-", color=f"C{i}", label=family)
        bad = [r["lr"] for r in rows if tuning.failed(r, floor)]
        if bad:
            ax.scatter(bad, [top] * len(bad), marker="x", s=40, color=f"C{i}", label=f"{family}: failed")
    ax.axhline(floor, color="k", ls=":", lw=0.8, label="data floor")
    ax.set(xscale="log", yscale="log", ylim=(floor / 2, top * 1.5), xlabel="learning rate",
           ylabel="W2 to fresh data (Euler, NFE 100)", title="one recipe, one knob")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_fidelity(result: dict):
    """Precision (fidelity) and the KL of the mode weights (diversity, lower is better) of both families in every
    setting (training times x sampler), means over seeds, with fresh data as the reference."""
    from ..experiments.claims import fidelity

    settings = [(t, k) for t in fidelity.TIMES for k in fidelity.SAMPLERS]
    fig, axes = new_figure(1, 2, panel=3.4)
    x = np.arange(len(settings))
    for j, (key, title) in enumerate((("precision", "precision (fidelity)"), ("kl", "KL of mode weights (diversity)"))):
        ax = axes[0, j]
        for i, family in enumerate(fidelity.FAMILIES):
            vals = [np.mean([r[key] for r in result["rows"] if (r["family"], r["times"], r["sampler"]) == (family, t, k)])
                    for t, k in settings]
            ax.bar(x + (i - 0.5) * 0.38, vals, width=0.38, color=f"C{i}", label=family)
        ax.axhline(result["reference"][key], color="k", ls=":", lw=0.8, label="fresh data")
        ax.set_xticks(x, [f"{t}\n{k}" for t, k in settings], fontsize=7)
        ax.set(title=title)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0, 1].set_yscale("log")
    axes[0, 0].set_ylim(0, 1.2)
    axes[0, 0].legend(fontsize=8, loc="upper center", ncols=3)
    return fig


def plot_data_size(result: dict):
    """W2 to fresh data against the training-set size for both families (fresh data every step at the right),
    and the share of samples that copy a training point, beside fresh data and a perfect memorizer; with a
    memorization study in ``result``, a third panel: the copy share against the training steps."""
    from ..experiments.claims import data_size

    memo = result.get("memorization")
    fig, axes = new_figure(1, 3 if memo else 2, panel=3.3)
    sizes = list(data_size.SIZES)
    xs = sizes + [sizes[-1] * 4]  # fresh data drawn at the right, one step further
    for i, family in enumerate(data_size.FAMILIES):
        w2 = [np.mean([r["w2"] for r in result["rows"] if (r["family"], r["n"]) == (family, n)]) for n in sizes + [None]]
        axes[0, 0].plot(xs, w2, "o-", color=f"C{i}", label=family)
        copies = [np.mean([r["copies"] for r in result["rows"] if (r["family"], r["n"]) == (family, n)]) for n in sizes]
        axes[0, 1].plot(sizes, copies, "o-", color=f"C{i}", label=family)
    fresh = [np.mean([b["fresh"] for b in result["baselines"] if b["n"] == n]) for n in sizes]
    memorizer = [np.mean([b["memorizer"] for b in result["baselines"] if b["n"] == n]) for n in sizes]
    axes[0, 1].plot(sizes, fresh, "k:", label="fresh data")
    axes[0, 1].plot(sizes, memorizer, "k--", label="perfect memorizer")
    axes[0, 0].set(xscale="log", yscale="log", xlabel="training points", ylabel="W2 to fresh data",
                   title="quality against data")
    axes[0, 0].set_xticks(xs, [str(n) for n in sizes] + ["fresh"], fontsize=7)  # after the log scale, which resets them
    axes[0, 0].minorticks_off()
    axes[0, 1].set(xscale="log", ylim=(-0.05, 1.05), xlabel="training points", ylabel="share of copies",
                   title="memorization (copy share)")
    if memo:
        ax = axes[0, 2]
        for j, n in enumerate(memo["sizes"]):
            style = ("-", "--", "-.")[j % 3]
            for i, family in enumerate(data_size.FAMILIES):
                y = [np.mean([r["copies"] for r in memo["rows"] if (r["family"], r["n"], r["steps"]) == (family, n, k)])
                     for k in memo["steps"]]
                ax.plot(memo["steps"], y, "o" + style, color=f"C{i}", ms=3, label=f"{family}, n={n}")
            ax.axhline(np.mean([b["fresh"] for b in memo["fresh"] if b["n"] == n]), color="k", ls=style, lw=0.7,
                       alpha=0.5, label=f"fresh data, n={n}")
        ax.set(xscale="log", ylim=(-0.05, 1.05), xlabel="training steps", ylabel="share of copies",
               title="memorization grows with training")
    for ax in axes[0]:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7 if memo else 8)
    return fig


def plot_scaling(result: dict):
    """W2 (NFE 100 and Euler at NFE 8) against the parameter count for both families at each training budget,
    log-log, with the data floor."""
    from ..experiments.claims import scaling

    fig, axes = new_figure(1, 2, panel=3.3, sharey=True)
    for j, (key, title) in enumerate((("w2_nfe100", "best of Euler / Heun, NFE 100"), ("w2_nfe8", "Euler, NFE 8"))):
        ax = axes[0, j]
        for i, family in enumerate(scaling.FAMILIES):
            for steps, style in zip(result["budgets"], (":", "-")):
                pts = sorted({r["width"]: r["params"] for r in result["rows"]}.items())
                y = [np.mean([r[key] for r in result["rows"] if (r["family"], r["width"], r["steps"]) == (family, w, steps)])
                     for w, _ in pts]
                ax.plot([p for _, p in pts], y, "o" + style, color=f"C{i}", ms=3, label=f"{family}, {steps} steps")
        ax.axhline(result["floor_w2"], color="k", ls=":", lw=0.8, label="data floor")
        ax.set(xscale="log", yscale="log", xlabel="parameters", title=title)
        ax.grid(True, which="both", alpha=0.3)
    axes[0, 0].set_ylabel("W2 to fresh data")
    handles, labels = axes[0, 1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=7)  # outside: the curves cross the middle
    return fig


# ---- an explorer of the sweeps --------------------------------------------------------------------
def _sweep_lines(results: dict, sweep: str) -> tuple[dict, str, bool]:
    """``({line label: (x values, mean W2 per x)}, x label, log x)`` of one sweep of the claims run."""
    from ..experiments.claims import data_size, hybrids, scaling, tuning

    def mean(rows, key="w2", **match):
        vals = [r[key] for r in rows if all(r[k] == v for k, v in match.items()) and r[key] is not None]
        return float(np.mean(vals)) if vals else np.nan

    if sweep == "model size (claim 3)":
        r = results["3"]
        top = r["budgets"][-1]
        params = {row["width"]: row["params"] for row in r["rows"]}
        return ({f: ([params[w] for w in scaling.WIDTHS],
                     [mean(r["rows"], "w2_nfe100", family=f, width=w, steps=top) for w in scaling.WIDTHS])
                 for f in scaling.FAMILIES}, f"parameters ({top} steps, NFE 100)", True)
    if sweep == "training points (claim 4)":
        r = results["4"]
        return ({f: (list(data_size.SIZES), [mean(r["rows"], family=f, n=n) for n in data_size.SIZES])
                 for f in data_size.FAMILIES}, "training points", True)
    if sweep == "learning rate (claim 8)":
        r = results["8"]
        return ({f: (list(tuning.LRS), [mean(r["rows"], family=f, lr=lr) for lr in tuning.LRS])
                 for f in tuning.FAMILIES}, "learning rate", True)
    r = results["6"]
    return ({f"{m}, NFE {k}": (list(range(len(hybrids.NOISES))), [mean(r["rows"], model=m, nfe=k, noise=z)
                                                                 for z in hybrids.NOISES])
             for m in hybrids.WIDTHS for k in hybrids.NFES}, "SDE noise scale (0 = the ODE)", False)


SWEEPS = ("model size (claim 3)", "training points (claim 4)", "learning rate (claim 8)", "SDE noise (claim 6)")


def sweep_explorer(results: dict, dpi: int = 100):
    """Browse the sweeps of the claims run: W2 to fresh data against the swept setting, one line per family (or
    model and NFE), with the data floor. ``results``: claim id -> its stored result (the ``result`` entries of
    :func:`fmlearn.experiments.claims.precomputed`). Static twin: ``ex.static(sweep="learning rate (claim 8)")``."""
    import io

    from .explorer import View, assemble, dropdown, live_figure

    missing = sorted({"3", "4", "6", "8"} - set(results))
    if missing:
        raise ValueError(f"results lacks the sweep(s) of claim(s) {missing}; pass every claim's result.")

    class _SweepView(View):
        figsize = (5.2, 3.6)

        def __init__(self, fig, live):
            super().__init__(fig, live)
            self.ax = fig.add_subplot(1, 1, 1)

        def draw(self, sweep, family="all"):
            ax = self.ax
            ax.clear()
            lines, xlabel, logx = _sweep_lines(results, sweep)
            for i, (label, (x, y)) in enumerate(lines.items()):
                if family == "all" or label.split(",")[0] == family:
                    ax.plot(x, y, "o-", color=f"C{i}", ms=3, label=label)
            floor = results[sweep.split("claim ")[1].rstrip(")")].get("floor_w2")
            if floor is not None:  # the data-size sweep scores against fresh data without a floor of its own
                ax.axhline(floor, color="k", ls=":", lw=0.8, label="data floor")
            if not ax.lines:
                ax.text(0.5, 0.5, f"no {family} lines in this sweep", transform=ax.transAxes, ha="center")
            ax.set(xscale="log" if logx else "linear", yscale="log", xlabel=xlabel, ylabel="W2 to fresh data",
                   title=sweep)
            if sweep == SWEEPS[3]:  # the noise scales are drawn at equal spacing
                from ..experiments.claims import hybrids
                ax.set_xticks(range(len(hybrids.NOISES)), [f"{z:g}" for z in hybrids.NOISES])
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)

        def render_png(self) -> bytes:  # the axes change with the sweep: redraw all, no cached background
            buf = io.BytesIO()
            self.fig.savefig(buf, format="png", dpi=self.fig.dpi)
            return buf.getvalue()

    families = ("all", "fm", "diffusion", "well-trained", "weak")
    drawn = {s: {label.split(",")[0] for label in _sweep_lines(results, s)[0]} for s in SWEEPS}
    keys = [(s, f) for s in SWEEPS for f in families if f == "all" or f in drawn[s]]  # only lines that exist
    controls = {"sweep": dropdown("sweep", SWEEPS, SWEEPS[0]), "family": dropdown("show", families, "all")}

    def make_view(fig, live):
        return _SweepView(fig, live)

    return assemble(controls, make_view(live_figure(_SweepView.figsize, dpi), True), make_view, keys=keys)
