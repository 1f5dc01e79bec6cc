"""The live training view: it follows the run, its final frame is its static twin, and it keeps to its budget."""
import numpy as np
import pytest
import torch
from torch import nn

from fmlearn.data import sample_data
from fmlearn.models import MLP, PathModel
from fmlearn.samplers import sample
from fmlearn.teaching import live
from fmlearn.teaching.live import LiveTraining
from fmlearn.training import train


def _model(seed=0):
    torch.manual_seed(seed)
    return PathModel(MLP(2, 16, 2), "linear", "velocity")


def test_the_final_frame_shows_the_trained_model_and_is_the_static_twin():
    points = sample_data("moons", 300, seed=0)
    view = LiveTraining(["fm", "diffusion"], reference=points, n_samples=200, nfe=8)
    assert view.image.value[:8] == b"\x89PNG\r\n\x1a\n"  # a panel exists before training starts
    first = view.image.value
    run = train(_model(), points, "fm", steps=120, progress=False, callback=view.callback("fm"))
    state = view.runs["fm"]
    assert state.step == 120 and len(state.losses) == 120 and view.runs["diffusion"].samples is None
    x0 = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    expected = sample(run.ema, x0, "euler", 8).samples.numpy()  # the view's fixed noise, the EMA model
    np.testing.assert_allclose(state.samples, expected, atol=1e-6)
    assert view.image.value != first
    twin = view.static()
    offsets = twin._fmlearn_artists["points"]["fm"].get_offsets()
    np.testing.assert_allclose(np.asarray(offsets), expected, atol=1e-6)
    line = twin._fmlearn_artists["lines"]["fm"]
    assert len(line.get_xdata()) == 120 - 12 + 1  # running mean over a tenth of the 120 steps
    assert twin.axes[0].get_title() == "fm: step 120"


def test_refreshes_keep_to_the_budget_and_still_show_progress(monkeypatch):
    """A fake clock: each training step takes 10 ms, each refresh 100 ms."""
    clock = {"t": 0.0}
    monkeypatch.setattr(live.time, "perf_counter", lambda: clock["t"])
    view = LiveTraining(["run"], n_samples=10, nfe=1, budget=0.05)

    def slow_show():
        clock["t"] += 0.1

    monkeypatch.setattr(view, "_show", slow_show)

    class FakeTrainer:
        history, step_count, ema = [], 0, _model()

        def check(self):
            pass

    trainer, callback = FakeTrainer(), view.callback("run")
    for i in range(2000):  # 20 s of training: 5% is 1 s, room for ten 0.1 s refreshes
        clock["t"] += 0.01
        trainer.step_count, trainer.history = i + 1, trainer.history + [1.0]
        callback(trainer, False)
    callback(trainer, True)
    assert 5 <= view.refreshes <= 11
    assert view.overhead <= 0.05 + 1e-9
    assert view.runs["run"].step == 2000


def test_image_models_are_shown_as_a_tile():
    class Conv(nn.Module):
        shape = (1, 8, 8)

        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(1, 1, 3, padding=1)

        def forward(self, x, t):
            return self.c(x) + t.view(-1, 1, 1, 1)

    model = PathModel(Conv(), "linear", "velocity")
    def data(n, g):  # (n, 1, 8, 8) pictures in [-1, 1]
        return torch.rand(n, 1, 8, 8, generator=g) * 2 - 1

    view = LiveTraining(["digits"], n_images=9, nfe=2)
    train(model, data, "fm", steps=5, progress=False, callback=view.callback("digits"))
    assert view.runs["digits"].samples.shape == (9, 1, 8, 8)
    image = view.static()._fmlearn_artists["images"]["digits"]
    assert image.get_array().shape[:2] == (3 * 9 - 1, 3 * 9 - 1)  # 3 x 3 tile, 1-pixel padding between


def test_bad_arguments_are_refused_clearly():
    with pytest.raises(ValueError, match="distinct names"):
        LiveTraining(["a", "a"])
    with pytest.raises(ValueError, match="share of the training time"):
        LiveTraining(["a"], budget=0)
    with pytest.raises(ValueError, match="unknown run 'b'"):
        LiveTraining(["a"]).callback("b")


def test_each_run_may_have_its_own_reference():
    a, b = torch.zeros(5, 2), torch.ones(7, 2)
    view = LiveTraining(["a", "b"], reference={"a": a, "b": b})
    assert view.reference["a"].shape == (5, 2) and view.reference["b"].shape == (7, 2)
    grey = [c for c in view.fig.axes[1].collections if len(c.get_offsets()) == 7]
    assert grey, "run b's panel shows its own reference"
    with pytest.raises(ValueError, match="unknown run"):
        LiveTraining(["a"], reference={"c": a})
