"""The training loop: learning, determinism, EMA, NaN guard, checkpoints and exact resumption."""
import pytest
import torch

from fmlearn.checkpoints import CheckpointError, load_checkpoint
from fmlearn.data import moons, sample_data
from fmlearn.models import MLP, PathModel
from fmlearn.training import Trainer, TrainingDiverged, train


@pytest.fixture(autouse=True)
def _on_cpu(monkeypatch):
    """Run on the CPU whatever the machine has: the bit-exact comparisons here assume it."""
    monkeypatch.setenv("FMLEARN_DEVICE", "cpu")


def _model(seed=0, width=32, depth=2, schedule="linear", parametrization="velocity"):
    torch.manual_seed(seed)
    return PathModel(MLP(2, width, depth), schedule, parametrization)


def _weights(model):
    return [p.detach().clone() for p in model.parameters()]


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("objective, schedule, parametrization",
                         [("fm", "linear", "velocity"), ("diffusion", "cosine", "noise")])
def test_loss_decreases_on_moons(objective, schedule, parametrization):
    model = _model(schedule=schedule, parametrization=parametrization)
    result = train(model, "moons", objective, steps=300, lr=3e-3, progress=False)
    h = result.history
    assert h.shape == (300,) and result.steps == 300 and result.device == "cpu" and result.seconds > 0
    assert h[-50:].mean() < 0.9 * h[:50].mean()
    assert result.model is model and not model.training
    assert not _same(_weights(result.ema), _weights(model))  # the EMA lags behind the raw weights


def test_same_seed_same_history_and_weights():
    a = train(_model(), "moons", steps=60, seed=7, progress=False)
    b = train(_model(), "moons", steps=60, seed=7, progress=False)
    c = train(_model(), "moons", steps=60, seed=8, progress=False)
    assert torch.equal(a.history, b.history)
    assert _same(_weights(a.model), _weights(b.model)) and _same(_weights(a.ema), _weights(b.ema))
    assert not torch.equal(a.history, c.history)


def test_ema_matches_a_hand_computed_average():
    torch.manual_seed(0)
    model = PathModel(MLP(2, 4, 1, time_dim=2))
    decay = 0.15  # below the warm-up (2/11, 3/12) from step 1 on, above it (1/10) at step 0
    trainer = Trainer(model, "moons", batch_size=8, lr=0.1, ema_decay=decay, device="cpu")
    ema = [w.double() for w in _weights(model)]
    with trainer.threads():
        for n in range(3):
            trainer.step()
            d = min(decay, (1 + n) / (10 + n))
            ema = [d * e + (1 - d) * w.double() for e, w in zip(ema, _weights(model))]
    for mine, theirs in zip(_weights(trainer.ema), ema):
        torch.testing.assert_close(mine.double(), theirs, rtol=1e-6, atol=1e-7)
    assert not _same(_weights(trainer.ema), _weights(model))


def test_nan_data_is_named_and_weights_are_kept():
    calls = []

    def data(n, generator):
        calls.append(n)
        x = moons(n, generator)
        if len(calls) == 6:
            x[3, 0] = float("nan")
        return x

    model = _model()
    trainer = Trainer(model, data, device="cpu")
    with trainer.threads():
        for _ in range(5):
            trainer.step()
        before = _weights(model)
        with pytest.raises(ValueError, match=r"data batch of step 5 from data .*data.* contains NaN"):
            trainer.step()
    assert _same(_weights(model), before)  # the weights before the bad step
    assert trainer.step_count == 5 and len(trainer.history) == 5


def test_divergence_stops_with_advice_and_restores_weights():
    model = _model()
    trainer = Trainer(model, "moons", lr=1e6, device="cpu")
    with trainer.threads(), pytest.raises(TrainingDiverged, match=r"diverged at step \d+.*Lower the learning "
                                                                  r"rate \(lr=1e\+06; try lr=100000\)") as err:
        for _ in range(100):
            before = _weights(model)
            trainer.step()
    assert isinstance(err.value, FloatingPointError)
    assert err.value.last_loss is not None and err.value.last_loss == err.value.last_loss  # finite, not NaN
    assert _same(_weights(model), before)
    assert all(torch.isfinite(w).all() for w in _weights(model))


def test_nan_weights_fall_back_to_the_last_weights_with_a_finite_loss():
    model = _model()
    trainer = Trainer(model, "moons", device="cpu")
    with trainer.threads():
        for _ in range(3):
            trainer.step()
        good = _weights(model)
        trainer.step()  # step 3: finite loss
        with torch.no_grad():
            next(model.parameters())[0, 0] = float("nan")  # as if step 3's update had produced a NaN
        with pytest.raises(TrainingDiverged, match="loss became nan.*before step 3"):
            trainer.step()
    assert _same(_weights(model), good) and trainer.step_count == 3 and len(trainer.history) == 3


def test_train_leaves_no_nan_in_the_callers_model():
    model = _model()
    with pytest.raises(TrainingDiverged):
        train(model, "moons", lr=1e6, steps=100, progress=False)
    assert all(torch.isfinite(w).all() for w in _weights(model))


def test_resume_equals_uninterrupted(tmp_path):
    path = tmp_path / "run.pt"
    straight = train(_model(), "moons", steps=120, seed=3, progress=False)
    train(_model(), "moons", steps=60, seed=3, progress=False, checkpoint=path)
    assert load_checkpoint(path, device="cpu").step == 60
    resumed = train(_model(seed=99), "moons", steps=120, seed=3, progress=False, checkpoint=path)
    assert resumed.steps == 120 and torch.equal(resumed.history, straight.history)
    assert _same(_weights(resumed.model), _weights(straight.model))
    assert _same(_weights(resumed.ema), _weights(straight.ema))
    assert load_checkpoint(path, device="cpu").step == 120


def test_interrupted_run_resumes_from_its_last_checkpoint(tmp_path):
    path = tmp_path / "run.pt"
    crash = {"at": 130, "calls": 0}

    def data(n, generator):
        crash["calls"] += 1
        if crash["calls"] == crash["at"]:
            raise KeyboardInterrupt  # the user stops the run in its 130th step
        return moons(n, generator)

    with pytest.raises(KeyboardInterrupt):
        train(_model(), data, steps=200, progress=False, checkpoint=path, checkpoint_every=50)
    assert load_checkpoint(path, device="cpu").step == 100  # lost at most one interval
    resumed = train(_model(seed=5), data, steps=200, progress=False, checkpoint=path, checkpoint_every=50)
    crash["at"] = -1
    straight = train(_model(), data, steps=200, progress=False)
    assert torch.equal(resumed.history, straight.history)
    assert _same(_weights(resumed.model), _weights(straight.model))


def test_resume_refuses_a_checkpoint_of_another_run(tmp_path):
    path = tmp_path / "run.pt"
    train(_model(), "moons", steps=20, progress=False, checkpoint=path)
    with pytest.raises(CheckpointError, match=r"training.lr: file has 0.003, expected 0.01"):
        train(_model(), "moons", steps=40, lr=1e-2, progress=False, checkpoint=path)
    result = train(_model(), "moons", steps=10, lr=1e-2, progress=False, checkpoint=path, resume=False)
    assert result.steps == 10 and load_checkpoint(path, device="cpu").config["training"]["lr"] == 1e-2


def test_objective_must_match_the_model():
    with pytest.raises(ValueError, match="PathModel\\(net, \\{'name': 'cosine'\\}, 'noise'\\)"):
        train(_model(), "moons", "diffusion", steps=5, progress=False)
    result = train(_model(schedule="cosine", parametrization="noise"), "moons", None, steps=5, progress=False)
    assert result.steps == 5


def test_array_data_and_callables_are_data_sources():
    from fmlearn.data import ArrayData

    points = sample_data("moons", 500, seed=0)
    a = train(_model(), ArrayData(points), steps=20, progress=False)
    b = train(_model(), ArrayData(points), steps=20, progress=False)
    c = train(_model(), lambda n, g: points[torch.randint(500, (n,), generator=g)], steps=20, progress=False)
    assert torch.equal(a.history, b.history)  # seeded like every other data source
    assert c.history.shape == (20,) and torch.isfinite(c.history).all()


def test_bad_data_shape_is_refused():
    with pytest.raises(ValueError, match=r"returned shape \(256, 3\)"):
        train(_model(), lambda n, g: torch.randn(n, 3, generator=g), steps=5, progress=False)


def test_thread_count_and_progress_bar(capsys):
    threads = torch.get_num_threads()
    train(_model(), "moons", steps=30, progress=True)
    assert torch.get_num_threads() == threads
    assert "loss=" in capsys.readouterr().err


def test_trained_flow_samples_moons():
    from fmlearn.metrics import wasserstein2
    from fmlearn.samplers import sample

    result = train(_model(width=64, depth=3), "moons", steps=500, lr=1e-2, progress=False)
    x0 = torch.randn(2000, 2, generator=torch.Generator().manual_seed(1))
    x1 = sample_data("moons", 2000, seed=2)
    w2 = wasserstein2(sample(result.ema, x0, "euler", nfe=50).samples, x1)
    assert w2 < 0.35  # the noise x0 itself is 0.69 away from x1; another data sample 0.11


def test_cosine_lr_decay_schedule_and_exact_resume(tmp_path):
    trainer = Trainer(_model(), "moons", "fm", lr=1e-3, lr_decay_steps=10, device="cpu")
    lrs = []
    for _ in range(12):
        lrs.append(trainer.current_lr())
        trainer.step()
        assert trainer.optimizer.param_groups[0]["lr"] == lrs[-1]  # the step used the scheduled rate
    assert lrs[0] == 1e-3 and abs(lrs[5] - 0.5e-3) < 1e-12 and lrs[10] == lrs[11] == 0.0
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    assert trainer.run_config()["training"]["lr_decay_steps"] == 10
    assert "lr_decay_steps" not in Trainer(_model(), "moons", "fm").run_config()["training"]
    # an interrupted run with decay resumes to the same weights as an uninterrupted one
    path, crash = tmp_path / "run.pt", {"calls": 0}

    def data(n, generator):
        crash["calls"] += 1
        if crash["calls"] == 6:
            raise KeyboardInterrupt
        return moons(n, generator)

    with pytest.raises(KeyboardInterrupt):
        train(_model(), data, "fm", steps=8, lr_decay=True, progress=False, checkpoint=path, checkpoint_every=2)
    resumed = train(_model(), data, "fm", steps=8, lr_decay=True, progress=False, checkpoint=path)
    whole = train(_model(), data, "fm", steps=8, lr_decay=True, progress=False)
    assert resumed.steps == 8 and torch.equal(resumed.history, whole.history)
    assert _same(_weights(resumed.model), _weights(whole.model))
    with pytest.raises(CheckpointError, match="lr_decay_steps"):  # another total: another schedule
        train(_model(), data, "fm", steps=9, lr_decay=True, progress=False, checkpoint=path)


def test_bf16_mixed_precision_trains_float32_weights_and_is_part_of_the_run(tmp_path):
    trainer = Trainer(_model(), "moons", "fm", precision="bf16", device="cpu")
    x, t = torch.randn(8, 2), torch.rand(8)
    with trainer.autocast():
        assert trainer.model.net(x, t).dtype == torch.bfloat16  # the linear layers run in bfloat16
    assert trainer.model.net(x, t).dtype == torch.float32  # outside the context: float32 again
    with torch.no_grad(), trainer.autocast():
        half = trainer.model.net(x, t).float()
    torch.testing.assert_close(half, trainer.model.net(x, t), atol=0.05, rtol=0.05)  # bf16 keeps ~3 digits
    fp32 = train(_model(), "moons", steps=300, lr=1e-2, progress=False)
    bf16 = train(_model(), "moons", steps=300, lr=1e-2, progress=False, precision="bf16", checkpoint=tmp_path / "b.pt")
    assert all(p.dtype == torch.float32 for p in bf16.model.parameters())
    first, last = bf16.history[:30].mean(), bf16.history[-30:].mean()
    assert last < 0.8 * first and abs(last - fp32.history[-30:].mean()) < 0.1 * first  # learns like fp32
    assert load_checkpoint(tmp_path / "b.pt", device="cpu").config["training"]["precision"] == "bf16"
    assert "precision" not in trainer.run_config()["training"] or trainer.precision == "bf16"
    assert "precision" not in Trainer(_model(), "moons", "fm").run_config()["training"]  # older checkpoints match
    with pytest.raises(CheckpointError, match="precision"):  # resuming with other arithmetic is another run
        train(_model(), "moons", steps=310, lr=1e-2, progress=False, checkpoint=tmp_path / "b.pt")
    with pytest.raises(ValueError, match="precision"):
        Trainer(_model(), "moons", "fm", precision="fp16")
