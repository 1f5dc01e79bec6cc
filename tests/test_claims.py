"""The claims' experiments and verdicts: hand-made fields with known answers, verdict rules on synthetic
results, and the command line on the shipped results (quick budgets for the live experiment)."""
import json

import pytest
import torch
from torch import nn

from fmlearn.experiments.claims import (CLAIMS, VERDICTS, bottom_line, data_size, determinism, fidelity, hybrids,
                                        invertibility, scaling, transport, tuning)
from fmlearn.models import PathModel


class _Field(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn, self.dim = fn, 2
        self.p = nn.Parameter(torch.zeros(()))  # a parameter, so that dtype moves work

    def forward(self, x, t):
        return self.fn(x) + 0 * self.p


def test_jacobian_signs_of_known_fields():
    fold = PathModel(_Field(lambda x: torch.stack([x[:, 0] ** 2, x[:, 1]], 1)))  # det = 2 x_0: both signs
    signs = invertibility.jacobian_signs(fold, n=40)
    assert signs["positive"] == pytest.approx(0.5) and signs["negative"] == pytest.approx(0.5)
    rotate = PathModel(_Field(lambda x: torch.stack([-x[:, 1], x[:, 0]], 1)))  # det = 1 everywhere
    assert invertibility.jacobian_signs(rotate, n=11) == {"t": 0.5, "points": 121, "positive": 1.0, "negative": 0.0}


def test_round_trip_of_a_smooth_field_converges_at_rk4_order():
    a = torch.tensor([[0.0, -1.0], [1.0, -0.3]], dtype=torch.float64)
    model = PathModel(_Field(lambda x: torch.sin(x @ a.T)))
    out = invertibility.round_trip_errors(model, n=50, steps=(4, 8, 16, 32))
    assert out["errors"][-1] < out["errors"][0] / 100 and out["order"] > 3.5


def _inv_result(pos, neg, order, last):
    rt = {"steps": [16, 64], "errors": [1e-4, last], "order": order}
    return {"families": {"fm": {"jacobian": {"positive": pos, "negative": neg}, "round_trip": rt},
                         "diffusion": {"jacobian": {"positive": 1.0, "negative": 0.0}, "round_trip": rt}}}


def test_invertibility_verdict_rules():
    assert invertibility.verdict(_inv_result(0.8, 0.2, 4.8, 1e-10))["verdict"] == "does not hold"
    assert invertibility.verdict(_inv_result(1.0, 0.0, 4.8, 1e-10))["verdict"] == "partly"  # might be invertible
    assert invertibility.verdict(_inv_result(0.8, 0.2, 1.0, 1e-3))["verdict"] == "partly"  # flow not resolved


def test_determinism_verdict_rules():
    def row(model, nfe, winner):
        return {"model": model, "nfe": nfe, "ode": "euler", "ode_w2": 0.2, "sde": "ddpm", "sde_w2": 0.3,
                "ode_ms": 4.0, "sde_ms": 4.0, "winner": winner}
    base = {"floor_w2": 0.1}
    assert determinism.verdict({**base, "rows": [row("fm", 100, "ode"), row("diffusion", 100, "ode")]})[
        "verdict"] == "holds"
    assert determinism.verdict({**base, "rows": [row("fm", 100, "ode"), row("diffusion", 100, "sde")]})[
        "verdict"] == "partly"
    assert determinism.verdict({**base, "rows": [row("fm", 100, "sde"), row("diffusion", 100, "sde")]})[
        "verdict"] == "does not hold"


def test_transport_and_bottom_line_rules():
    def t(nfes):
        return {"models": {m: {"nfe": n, "straightness": [0.9]} for m, n in nfes.items()}}
    fast = {"fm": [4, 4], "fm-ot": [1, 2], "reflow": [1, 1], "distilled": [1, 1], "diffusion": [16, 32]}
    assert transport.verdict(t(fast))["verdict"] == "holds"
    assert transport.verdict(t({**fast, "reflow": [1, 8]}))["verdict"] == "partly"
    res = {"moons": {"uniform": {"fm": [4, 4], "diffusion": [8, 4]}}, "mnist": {"target_fd": 40, "fm": 16,
                                                                            "diffusion": None}}
    assert bottom_line.verdict(res)["verdict"] == "partly"
    res["moons"]["uniform"]["diffusion"] = [8, 8]
    assert bottom_line.verdict(res)["verdict"] == "holds"


def test_hybrids_verdict_is_judged_at_the_default_noise_only():
    def rows(sde_w2):  # the ODE scores 0.2 everywhere; noise 3 always looks best but is not the judged setting
        out = []
        for model in hybrids.WIDTHS:
            for nfe in hybrids.NFES:
                for noise, w2 in ((0.0, 0.2), (1.0, sde_w2(model, nfe)), (3.0, 0.01)):
                    out.append({"model": model, "seed": 0, "noise": noise, "nfe": nfe, "w2": w2})
        return {"seeds": [0], "floor_w2": 0.1, "rows": out}
    assert hybrids.verdict(rows(lambda m, k: 0.1))["verdict"] == "holds"
    assert hybrids.verdict(rows(lambda m, k: 0.3))["verdict"] == "does not hold"
    assert hybrids.verdict(rows(lambda m, k: 0.1 if k > 8 else 0.3))["verdict"] == "partly"


def test_tuning_verdict_counts_good_learning_rates_and_divergences():
    def result(fm, diffusion):  # W2 per learning rate (None: diverged)
        rows = [{"family": f, "lr": lr, "seed": 0, "w2": w} for f, ws in (("fm", fm), ("diffusion", diffusion))
                for lr, w in zip(tuning.LRS, ws)]
        return {"seeds": [0], "train_steps": 10, "floor_w2": 0.1, "rows": rows}
    wide, narrow = [0.2, 0.15, 0.15, 0.2, 0.25], [1.0, 0.4, 0.15, 0.5, None]
    assert tuning.verdict(result(wide, narrow))["verdict"] == "does not hold"
    assert tuning.verdict(result(narrow, wide))["verdict"] == "holds"
    assert tuning.verdict(result(narrow, narrow))["verdict"] == "does not hold"  # equally hard is not harder
    assert tuning.verdict(result([1.0, 0.15, 0.15, 0.5, 0.5], [0.2, 0.15, 0.15, 0.2, None]))["verdict"] == "partly"


def test_mode_scores_of_the_grid():
    mix = fidelity.grid_mixture()
    assert mix.means.shape == (25, 2) and float(mix.weights.sum()) == pytest.approx(1.0)
    exact = mix.sample(20000, generator=torch.Generator().manual_seed(0))
    good = fidelity.mode_scores(exact, mix)
    assert good["off_mode"] < 0.001 and good["kl"] < 0.01  # the mixture's own samples
    one_mode = mix.means[[24]].repeat(1000, 1)  # every sample on the heaviest mode: no diversity
    collapsed = fidelity.mode_scores(one_mode, mix)
    assert collapsed["off_mode"] == 0.0 and collapsed["kl"] > 2.0
    between = (mix.means[:24] + 0.5).repeat(10, 1)  # halfway between modes: nothing on a mode
    assert fidelity.mode_scores(between, mix)["off_mode"] == 1.0


def test_fidelity_verdict_needs_both_precision_and_mode_weights():
    def result(d_prec, d_kl):
        rows = []
        for times in fidelity.TIMES:
            for kind in fidelity.SAMPLERS:
                rows.append({"family": "fm", "times": times, "sampler": kind, "seed": 0, "precision": 0.6,
                             "recall": 1.0, "kl": 0.1})
                rows.append({"family": "diffusion", "times": times, "sampler": kind, "seed": 0,
                             "precision": d_prec(times, kind), "recall": 1.0, "kl": d_kl(times, kind)})
        return {"seeds": [0], "rows": rows, "reference": {"precision": 1.0, "recall": 1.0, "kl": 0.0}}
    assert fidelity.verdict(result(lambda t, k: 0.7, lambda t, k: 0.05))["verdict"] == "holds"
    assert fidelity.verdict(result(lambda t, k: 0.7, lambda t, k: 0.2))["verdict"] == "does not hold"
    assert fidelity.verdict(result(lambda t, k: 0.7 if k == "ODE" else 0.5, lambda t, k: 0.05))["verdict"] == "partly"


def test_data_size_verdict_compares_the_families_at_each_size():
    def result(fm_over_diffusion):  # W2 ratio fm / diffusion per size (None: fresh data)
        rows = []
        for size in (*data_size.SIZES, None):
            rows.append({"family": "diffusion", "n": size, "seed": 0, "w2": 0.2, "copies": 0.0})
            rows.append({"family": "fm", "n": size, "seed": 0, "w2": 0.2 * fm_over_diffusion(size), "copies": 0.0})
        base = [{"n": n, "seed": 0, "fresh": 0.01, "memorizer": 1.0} for n in data_size.SIZES]
        return {"seeds": [0], "train_steps": 10, "rows": rows, "baselines": base}
    assert data_size.verdict(result(lambda n: 1.0))["verdict"] == "does not hold"
    assert data_size.verdict(result(lambda n: 1.5 if n == 16 else 1.0))["verdict"] == "holds"
    assert data_size.verdict(result(lambda n: 1.5 if n == 16 else 0.5))["verdict"] == "partly"


def test_snapshots_of_one_run_equal_separate_runs():
    from fmlearn.experiments.claims.families import train_family, train_family_snapshots
    points = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
    snaps = train_family_snapshots("diffusion", points, at=(7, 20), seed=3, init=5, width=8)
    assert sorted(snaps) == [7, 20]
    for steps, snap in snaps.items():
        alone = train_family("diffusion", points, steps=steps, seed=3, init=5, width=8)
        for a, b in zip(snap.parameters(), alone.parameters()):
            assert torch.equal(a, b)


def test_memorization_text_reports_each_family_and_the_fresh_baseline():
    rows = [{"family": f, "n": 16, "seed": 0, "steps": k, "copies": c, "w2": 0.2}
            for f, cs in (("fm", (0.1, 0.5)), ("diffusion", (0.2, 0.9))) for k, c in zip((10, 100), cs)]
    memo = {"sizes": [16], "steps": [10, 100], "seeds": [0], "rows": rows, "fresh": [{"n": 16, "seed": 0, "fresh": 0.05}]}
    assert data_size.memorization_text(memo) == ("copies after 10/100 steps: n=16: fm 0.10/0.50, diffusion "
                                                 "0.20/0.90 (fresh 0.05)")


def test_scaling_verdict_compares_what_width_buys_each_family():
    def result(fm_gain, diffusion_gain):  # W2(16) / W2(256) per family
        rows = []
        for family, gain in (("fm", fm_gain), ("diffusion", diffusion_gain)):
            for w in scaling.WIDTHS:
                w2 = 0.3 if w == scaling.WIDTHS[0] else 0.3 / gain if w == scaling.WIDTHS[-1] else 0.25
                rows.append({"family": family, "width": w, "params": w * 10, "steps": 10, "seed": 0,
                             "w2_nfe100": w2, "w2_nfe8": w2})
        return {"budgets": [10], "seeds": [0], "floor_w2": 0.1, "rows": rows}
    assert scaling.verdict(result(2.0, 1.2))["verdict"] == "holds"
    assert scaling.verdict(result(1.3, 1.3))["verdict"] == "does not hold"


def test_command_line_runs_every_claim_and_writes_the_verdicts(tmp_path, capsys):
    from fmlearn.__main__ import main
    out = tmp_path / "claims.json"
    assert main(["claims", "--quick", "--no-progress", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert [c["id"] for c in result["claims"]] == list(CLAIMS)
    for c in result["claims"]:
        assert c["verdict"] in VERDICTS and c["verdict"].upper() in text
        assert (c["verdict"] == "not measured yet") == (CLAIMS[c["id"]][1] is None)
    # the shipped races decide claims 2, 7 and 9 the same way in quick and full mode
    by = {c["id"]: c["verdict"] for c in result["claims"]}
    assert by["1"] == "does not hold" and by["2"] == "does not hold" and by["7"] == "holds" and by["9"] == "partly"


def test_only_measures_the_named_claims_again_and_keeps_the_others(tmp_path):
    from fmlearn.experiments.claims import precomputed, run_claims
    shipped = precomputed()
    path = tmp_path / "claims.json"
    path.write_text(json.dumps(shipped))
    result = run_claims(quick=False, json_path=path, progress=False, only="9")  # from shipped races: no training
    by = {c["id"]: c for c in result["claims"]}
    assert [c["id"] for c in result["claims"]] == list(CLAIMS)
    assert all(by[c["id"]] == c for c in shipped["claims"] if c["id"] != "9")
    assert by["9"]["verdict"] == bottom_line.verdict(bottom_line.measure())["verdict"]
    assert json.loads(path.read_text())["claims"][8]["measured"] == by["9"]["measured"]
    with pytest.raises(ValueError, match="unknown claim"):
        run_claims(quick=False, json_path=path, progress=False, only="12")
    with pytest.raises(ValueError, match="quick=True"):
        run_claims(quick=True, json_path=path, progress=False, only="9")
    with pytest.raises(ValueError, match="run every claim once first"):
        run_claims(quick=False, json_path=tmp_path / "none.json", progress=False, only="9")


def test_shipped_verdicts_follow_from_their_shipped_measurements():
    from fmlearn.experiments.claims import precomputed, recompute_verdict
    result = precomputed()
    assert result["quick"] is False and [c["id"] for c in result["claims"]] == list(CLAIMS)
    for c in result["claims"]:
        assert recompute_verdict(c) == c["verdict"], c["id"]


def test_a_run_with_a_finite_loss_but_useless_samples_counts_as_failed():
    floor = 0.1
    assert tuning.failed({"w2": None}, floor) and tuning.failed({"w2": 45.0}, floor)
    assert not tuning.failed({"w2": 0.3}, floor)


def test_every_claim_figure_draws_from_the_shipped_results():
    from matplotlib.figure import Figure

    from fmlearn.experiments.claims import precomputed
    from fmlearn.teaching import claim_plots
    r = {c["id"]: c["result"] for c in precomputed()["claims"]}
    figures = {"2": claim_plots.plot_determinism(r["2"]), "3": claim_plots.plot_scaling(r["3"]),
               "4": claim_plots.plot_data_size(r["4"]), "5": claim_plots.plot_fidelity(r["5"]),
               "6": claim_plots.plot_hybrids(r["6"]), "7": claim_plots.plot_transport(r["7"]),
               "8": claim_plots.plot_tuning(r["8"])}
    for cid, fig in figures.items():
        assert isinstance(fig, Figure) and fig.axes, cid
        fig.canvas.draw()  # lays out and renders without error
    rt = {n: f["round_trip"] for n, f in r["1"]["families"].items()}
    fig = claim_plots.plot_invertibility(torch.ones(5, 5), 3.0, rt)
    assert len(fig.axes) == 2 and len(fig.axes[1].get_lines()) == len(rt) + 1  # one line per family and the guide
    # the data-size figure labels its x axis by training-set size, with fresh data last
    labels = [t.get_text() for t in figures["4"].axes[0].get_xticklabels()]
    assert labels[-1] == "fresh" and labels[0] == "16"


def test_sweep_explorer_switches_sweeps_and_has_a_static_twin():
    from fmlearn.experiments.claims import precomputed
    from fmlearn.teaching import claim_plots
    results = {c["id"]: c["result"] for c in precomputed()["claims"]}
    ex = claim_plots.sweep_explorer(results)
    ax = ex.view.ax
    for sweep in claim_plots.SWEEPS:
        ex.controls["sweep"].value = sweep
        assert ax.get_title() == sweep and ax.lines and ex.image.value[:4] == b"\x89PNG"
    ex.controls["sweep"].value = claim_plots.SWEEPS[2]  # learning rate: one line per family and the floor
    ex.controls["family"].value = "fm"
    assert [l.get_label() for l in ax.lines] == ["fm", "data floor"]
    twin = ex.static(sweep=claim_plots.SWEEPS[0], family="all")
    assert twin.axes[0].get_title() == claim_plots.SWEEPS[0] and len(twin.axes[0].lines) == 3
    with pytest.raises(ValueError, match="lacks the sweep"):
        claim_plots.sweep_explorer({"3": results["3"]})
