"""MNIST models: a tiny run writes a checkpoint, resumes, reloads as a UNet PathModel; conditional
training; shipping into the package with an evaluated record; the shipped models; mnist-eval."""
import json
import math

import pytest
import torch

from fmlearn.mnist import models as mnist_models
from fmlearn.checkpoints import CheckpointError, load_checkpoint
from fmlearn.mnist.models import build_mnist_model, train_mnist


@pytest.fixture
def root(mnist_root):
    return mnist_root


@pytest.mark.parametrize("objective, schedule, parametrization", [("fm", "linear", "velocity"),
                                                             ("diffusion", "cosine", "noise")])
def test_train_resume_and_load(root, tmp_path, objective, schedule, parametrization):
    out = tmp_path / f"{objective}.pt"
    small = dict(batch_size=4, checkpoint_every=2, progress=False, channels=(8, 8, 16), root=root, device="cpu")
    first = train_mnist(objective, 3, out, **small)
    assert first.steps == 3 and out.exists()
    again = train_mnist(objective, 5, out, **small)  # resumes: only 2 more steps
    assert again.steps == 5 and len(again.history) == 5
    loaded = load_checkpoint(out)
    assert loaded.model.schedule.name == schedule and loaded.model.parametrization == parametrization
    x = torch.zeros(2, 1, 28, 28)
    assert loaded.ema(x, torch.rand(2)).shape == (2, 1, 28, 28)


def test_time_distribution_is_stored_and_binds_the_resume(root, tmp_path):
    out = tmp_path / "ln.pt"
    small = dict(batch_size=2, progress=False, channels=(8, 8, 16), root=root, device="cpu")
    train_mnist("fm", 1, out, time_distribution="logit-normal", **small)
    assert load_checkpoint(out).config["objective"]["time_distribution"] == "logit-normal"
    with pytest.raises(ValueError, match="time_distribution"):
        train_mnist("fm", 2, out, **small)  # uniform times: another run, refused
    with pytest.raises(ValueError, match="unknown time distribution"):
        train_mnist("fm", 1, tmp_path / "x.pt", time_distribution="beta", **small)


def test_unknown_objective_is_refused():
    with pytest.raises(ValueError, match="unknown objective .gan."):
        build_mnist_model("gan")


def test_evaluate_model_counts_and_scores(root):
    from fmlearn.mnist.models import evaluate_model
    model = build_mnist_model("fm", channels=(8, 8, 16))
    out = evaluate_model(model, "euler", 2, n=20, batch_size=10)
    assert out["nfe"] == 2 and out["n"] == 20
    assert out["fd"] > 0 and 0 <= out["confident"] <= 1 and 0 <= out["entropy"] <= 2.31


def test_conditional_run_ships_with_a_record(root, tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_models, "CHECKPOINTS", tmp_path / "pkg")
    out = tmp_path / "cond.pt"
    result = train_mnist("fm", 4, out, conditional=True, batch_size=4, channels=(8, 8, 16), root=root,
                         progress=False, device="cpu", checkpoint_every=2)
    assert load_checkpoint(out).config["training"]["label_dropout"] == 0.1
    dst = mnist_models.ship("fm-cond", out, result=result, command="python -m fmlearn train-mnist ...")
    assert dst == tmp_path / "pkg" / "mnist_fm_cond.pt"
    record = json.loads(dst.with_suffix(".json").read_text())
    assert record["steps"] == 4 and record["conditional"] and record["command"].startswith("python -m fmlearn")
    assert record["training"]["seconds"] >= 0 and record["bytes"] == dst.stat().st_size  # 4 tiny steps: may round to 0.0
    model = mnist_models.load_shipped("fm-cond", device="cpu")
    assert model.net.num_classes == 10 and not any(p.requires_grad for p in model.parameters())
    with pytest.raises(CheckpointError, match="num_classes"):  # a conditional file where fm belongs
        (tmp_path / "pkg" / "mnist_fm.pt").write_bytes(dst.read_bytes())
        mnist_models.load_shipped("fm", device="cpu")


def test_a_run_shipped_without_its_command_records_one_that_repeats_it(root, tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_models, "CHECKPOINTS", tmp_path / "pkg")
    settings = dict(objective="fm", steps=2, conditional=True, label_dropout=0.2, batch_size=3, lr=2e-3, seed=5,
                    channels=(8, 8, 16), lr_decay=True, time_distribution="logit-normal", patch=2, precision="bf16")
    out = tmp_path / "run.pt"
    train_mnist(**settings, out=out, root=root, progress=False, device="cpu")
    mnist_models.ship("fm-cond", out)  # no command given (a Python session): derived from the run's config
    command = mnist_models.shipped_record("fm-cond")["command"]
    assert "--lr-decay" in command and "--channels 8 8 16" in command and "--seed 5" in command
    assert "--patch 2" in command and "--precision bf16" in command
    assert mnist_models.recipe("fm-cond") == {**settings, "ema_decay": 0.999,
                                              "checkpoint_every": mnist_models.DEFAULTS["checkpoint_every"]}


def test_missing_shipped_checkpoint_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_models, "CHECKPOINTS", tmp_path)
    with pytest.raises(FileNotFoundError, match="python -m fmlearn train-mnist --objective diffusion"):
        mnist_models.load_shipped("diffusion")
    with pytest.raises(ValueError, match="unknown shipped model"):
        mnist_models.load_shipped("gan")


def test_unet_training_uses_all_threads_and_mlp_one(monkeypatch):
    """Work = parameters x batch x positions: the UNet's convolutions reuse weights at 784 pixels."""
    from fmlearn.models import MLP, PathModel
    from fmlearn.training import Trainer
    seen = {}
    for name, model in (("unet", build_mnist_model("fm")), ("mlp", PathModel(MLP(2, 64, 3), "linear", "velocity"))):
        trainer = Trainer(model, lambda n, g: torch.zeros(n, *model.shape), "fm", batch_size=64, device="cpu")
        torch.set_num_threads(2)
        with trainer.threads():
            seen[name] = torch.get_num_threads()
    torch.set_num_threads(1)
    assert seen == {"unet": 2, "mlp": 1}


def test_mnist_eval_rows_and_json(root, tmp_path):
    from fmlearn.experiments.mnist_race import format_table, run_mnist_eval
    model = build_mnist_model("diffusion", channels=(8, 8, 16))
    path = tmp_path / "eval.json"
    result = run_mnist_eval(True, loaded={"diffusion": model}, samplers=["euler", "heun", "ddim"], nfes=(1, 2),
                            n_eval=12, json_path=path, progress=False)
    assert json.loads(path.read_text())["rows"] == result["rows"]
    assert [(r["sampler"], r["nfe"]) for r in result["rows"]] == [("euler", 1), ("euler", 2), ("heun", 2),
                                                                  ("ddim", 1), ("ddim", 2)]
    assert set(result["rows"][0]) >= {"model", "sampler", "nfe", "fd", "confident", "entropy", "seconds"}
    assert result["n_eval"] == 12 and result["floor_fd"] < result["blur_fd"]
    assert "floor_fd" in format_table(result)
    with pytest.raises(ValueError, match="unknown sampler"):
        run_mnist_eval(True, loaded={"diffusion": model}, samplers=["nope"], progress=False)


def test_mnist_eval_in_two_processes_gives_the_rows_of_one(root, monkeypatch):
    # The shipped fm model in worker processes (one thread each) and here: the same draws, the same scores.
    # DDIM on the linear path is Euler: its rows are copies, marked as such, not sampled twice.
    from fmlearn.experiments.mnist_race import run_mnist_eval
    monkeypatch.setenv("FMLEARN_DATA", str(root.parent))
    kw = dict(models=["fm"], samplers=["euler", "ddim", "ddpm"], nfes=(2, 3), n_eval=16, progress=False)
    here = run_mnist_eval(True, workers=1, **kw)
    there = run_mnist_eval(True, workers=2, **kw)
    assert here["machine"]["score_workers"] == 1 and there["machine"]["score_workers"] == 2
    for a, b in zip(here["rows"], there["rows"]):
        assert (a["sampler"], a["nfe"]) == (b["sampler"], b["nfe"])
        assert a["fd"] == pytest.approx(b["fd"], rel=1e-4) and a["confident"] == b["confident"]
    copies = [r for r in here["rows"] if r.get("same_as")]
    assert [(r["sampler"], r["same_as"]) for r in copies] == [("ddim", "euler")] * 2
    euler = {r["nfe"]: r["fd"] for r in here["rows"] if r["sampler"] == "euler"}
    assert all(r["fd"] == euler[r["nfe"]] for r in copies)


# ---- the shipped artifacts ------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(mnist_models.SHIPPED))
def test_shipped_models_load_with_their_records(name):
    model = mnist_models.load_shipped(name, device="cpu")
    record = mnist_models.shipped_record(name)
    objective, conditional = mnist_models.SHIPPED[name]
    path = mnist_models._shipped_path(name)
    assert record["model"] == name and record["objective"] == objective and record["conditional"] == conditional
    assert record["command"].startswith("python -m fmlearn train-mnist") and "--ship" in record["command"]
    assert f"--objective {objective}" in record["command"] and ("--conditional" in record["command"]) == conditional
    assert record["bytes"] == path.stat().st_size <= 5e6
    assert record["parameters"] == sum(p.numel() for p in model.parameters())
    assert record["training"]["seconds"] <= 30 * 60  # the budget: 30 min on a 2-core CPU
    assert model.net.num_classes == (10 if conditional else None)
    if not conditional:
        native = "ddpm" if objective == "diffusion" else "euler"
        row = next(r for r in record["evaluation"] if r["sampler"] == native and r["nfe"] == 100)
        # the quality target (issue 11): n = 1000 at NFE 100 with the family's own sampler
        assert row["n"] == 1000 and row["confident"] >= (0.85 if objective == "fm" else 0.80)
        assert row["entropy"] >= 0.97 * math.log(10)
    with torch.no_grad():
        out = model(torch.zeros(2, 1, 28, 28), torch.full((2,), 0.5))
    assert out.shape == (2, 1, 28, 28) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(mnist_models.SHIPPED))
def test_recipe_repeats_the_recorded_training(name):
    record = mnist_models.shipped_record(name)
    kw = mnist_models.recipe(name)
    training = record["config"]["training"]
    assert (kw["objective"], kw["conditional"]) == mnist_models.SHIPPED[name]
    assert kw["steps"] == record["steps"] and kw["batch_size"] == training["batch_size"]
    assert kw["lr"] == training["lr"] and kw["seed"] == training["seed"]
    assert list(kw["channels"]) == record["config"]["model"]["net"]["channels"]
    assert training.get("lr_decay_steps") == (kw["steps"] if kw["lr_decay"] else None)
    assert kw["time_distribution"] == record["config"]["objective"]["time_distribution"]
    assert kw["patch"] == record["config"]["model"]["net"].get("patch", 1)
    assert kw["precision"] == training.get("precision", "fp32")


def test_recipe_refuses_a_bad_record(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_models, "CHECKPOINTS", tmp_path)
    record = tmp_path / "mnist_fm.json"
    record.write_text(json.dumps({"command": "python -m fmlearn train-mnist --objective diffusion --out a.pt"}))
    with pytest.raises(ValueError, match="another model"):
        mnist_models.recipe("fm")
    record.write_text(json.dumps({"command": "python -m fmlearn train-mnist --objective fm --steps many"}))
    with pytest.raises(ValueError, match="does not accept"):
        mnist_models.recipe("fm")
    record.unlink()  # no record: the default recipe
    assert mnist_models.recipe("fm")["steps"] == mnist_models.DEFAULTS["steps"]


def test_shipped_checkpoints_fit_the_budget():
    total = sum(mnist_models._shipped_path(n).stat().st_size for n in mnist_models.SHIPPED)
    total += (mnist_models.CHECKPOINTS / "mnist_classifier.pt").stat().st_size
    assert total <= 20e6


def test_truncated_shipped_checkpoint_is_refused(tmp_path, monkeypatch):
    src = mnist_models._shipped_path("fm")
    monkeypatch.setattr(mnist_models, "CHECKPOINTS", tmp_path)
    (tmp_path / src.name).write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        mnist_models.load_shipped("fm", device="cpu")


def test_shipped_mnist_eval_has_every_row():
    from fmlearn.experiments.mnist_race import EVAL_SAMPLERS, NFES, precomputed
    result = precomputed()
    assert result["quick"] is False and result["n_eval"] == 500
    assert result["floor_fd"] < result["blur_fd"]
    keys = {(r["model"], r["sampler"], r["nfe"]) for r in result["rows"]}
    want = {(m, s, n) for m in ("fm", "diffusion") for s in EVAL_SAMPLERS for n in NFES if not (s == "heun" and n < 2)}
    assert keys == want
    for r in result["rows"]:
        assert set(r) >= {"model", "sampler", "nfe", "fd", "fd_inf", "confident", "entropy", "seconds"}
    # the extrapolated FD removes most of the small-sample offset: real digits go from 12 to about 0
    assert result["floor_fd"] > 10 and abs(result["floor_fd_inf"]) < 3


def test_command_line_trains_resumes_and_refuses_another_run(root, tmp_path, monkeypatch, capsys):
    from fmlearn.__main__ import main
    monkeypatch.setenv("FMLEARN_DATA", str(root.parent))
    out = str(tmp_path / "a.pt")
    common = ["--batch-size", "2", "--out", out, "--device", "cpu", "--checkpoint-every", "1"]
    small = ["--channels", "8", "8", "16"]
    assert main(["train-mnist", "--objective", "fm", "--steps", "2", *small, *common]) == 0
    assert "trained fm: 2 steps" in capsys.readouterr().out
    assert main(["train-mnist", "--objective", "fm", "--steps", "3", *small, *common]) == 0  # resumes: one more step
    assert load_checkpoint(out).step == 3
    assert tuple(load_checkpoint(out).model.net.channels) == (8, 8, 16)
    assert main(["train-mnist", "--objective", "fm", "--steps", "4", *common]) == 2  # other widths: refused
    assert "belongs to another training run" in capsys.readouterr().err
    assert main(["train-mnist", "--objective", "diffusion", "--steps", "4", *small, *common]) == 2
    err = capsys.readouterr().err
    assert "belongs to another training run" in err and "schedule" in err
    assert load_checkpoint(out).step == 3  # the good checkpoint is kept


def test_shipped_checkpoints_reproduce_shipped_rows(mnist_root):
    """The moved package gives the shipped numbers: two rows of the MNIST race recomputed from the shipped
    checkpoints, classifier and the same noise (one thread, in this process; the shipped run used workers)."""
    from fmlearn.experiments.mnist_race import precomputed, run_mnist_eval
    shipped = {(r["model"], r["sampler"], r["nfe"]): r for r in precomputed()["rows"]}
    for model, sampler in (("fm", "euler"), ("diffusion", "dpm++2m")):
        row = run_mnist_eval(quick=False, models=[model], samplers=[sampler], nfes=[4], n_eval=500, workers=1,
                             progress=False)["rows"][0]
        want = shipped[(model, sampler, 4)]
        assert row["fd"] == pytest.approx(want["fd"], rel=1e-3), (model, sampler)
        assert row["confident"] == pytest.approx(want["confident"], abs=0.004), (model, sampler)
