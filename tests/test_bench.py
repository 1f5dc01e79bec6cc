"""The benchmark's widget section: the figures it returns are well formed (timing targets are not tested)."""
import json
import math

import pytest

from fmlearn.teaching import bench

EXPLORERS = ("path_explorer", "trajectory_explorer", "field_explorer", "conversion_explorer", "density_explorer")
KEYS = {"value", "unit", "reference", "reference_what", "ratio", "target", "target_is", "meets_target",
        "per_control_ms", "build_s", "callbacks_per_control"}


@pytest.fixture(scope="module")
def widget_figures():
    return bench._widgets(quick=True)


def test_widget_target_is_registered():
    assert bench.TARGETS["widget_callback_ms"] == (50.0, "max")


def test_widget_figures_structure(widget_figures):
    assert set(widget_figures) == {f"widget_callback_ms_{name}" for name in EXPLORERS}
    for name, fig in widget_figures.items():
        assert KEYS <= set(fig), f"{name} lacks {KEYS - set(fig)}"
        assert fig["unit"] == "ms" and fig["target"] == 50.0 and fig["target_is"] == "at most"
        for key in ("value", "reference", "ratio", "build_s"):
            assert math.isfinite(fig[key]) and fig[key] > 0, (name, key, fig[key])
        assert fig["ratio"] == pytest.approx(fig["value"] / fig["reference"])
        assert isinstance(fig["meets_target"], bool)
        assert fig["per_control_ms"] and all(v > 0 for v in fig["per_control_ms"].values())
        assert fig["callbacks_per_control"] > 0
        bench._line(name, fig)  # the printed line formats
    assert set(widget_figures["widget_callback_ms_path_explorer"]["per_control_ms"]) == {"t", "schedule", "dataset"}
    assert set(widget_figures["widget_callback_ms_trajectory_explorer"]["per_control_ms"]) == {"sampler", "nfe"}
    assert set(widget_figures["widget_callback_ms_conversion_explorer"]["per_control_ms"]) == {
        "schedule", "parametrization", "t"}
    assert set(widget_figures["widget_callback_ms_density_explorer"]["per_control_ms"]) == {"model", "t"}
    json.dumps(widget_figures)  # what --json writes


def test_widgets_are_part_of_run_benchmarks(monkeypatch):
    """run_benchmarks merges the section's figures (the other sections stubbed out, to stay quick)."""
    stub = {"value": 1.0, "unit": "ms", "reference": 1.0, "reference_what": "", "ratio": 1.0, "target": 1.0,
            "target_is": "at most", "meets_target": True}
    monkeypatch.setattr(bench, "_train_step", lambda objective, quick: stub)
    monkeypatch.setattr(bench, "_data", lambda quick: {})
    monkeypatch.setattr(bench, "_euler", lambda quick: stub)
    monkeypatch.setattr(bench, "_w2", lambda quick: stub)
    monkeypatch.setattr(bench, "_widgets", lambda quick: {"widget_callback_ms_x": stub})
    figures = bench.run_benchmarks(quick=True)["figures"]
    assert "widget_callback_ms_x" in figures and "widgets" not in figures
