"""Checkpoints: round trips, refusals with clear messages, atomic saves."""
import os

import pytest
import torch
from torch import nn

from fmlearn.checkpoints import (CheckpointError, config_differences, config_matches, load_checkpoint,
                                 save_checkpoint)
from fmlearn.losses import Objective
from fmlearn.models import MLP, PathModel


def _model(width=16, seed=0, schedule="linear", parametrization="velocity"):
    torch.manual_seed(seed)
    return PathModel(MLP(2, width, 2), schedule, parametrization)


@pytest.fixture
def saved(tmp_path):
    model, ema = _model(seed=0), _model(seed=1)
    path = save_checkpoint(tmp_path / "ckpt.pt", model, ema=ema, objective="fm",
                           history=torch.linspace(2, 1, 7), step=7, training={"lr": 1e-3})
    return path, model, ema


def test_round_trip_gives_identical_outputs(saved):
    path, model, ema = saved
    ckpt = load_checkpoint(path, device="cpu")
    x, t = torch.randn(32, 2), torch.rand(32)
    assert torch.equal(ckpt.model(x, t), model(x, t))
    assert torch.equal(ckpt.ema(x, t), ema(x, t))
    assert not torch.equal(ckpt.ema(x, t), ckpt.model(x, t))
    assert ckpt.step == 7 and torch.equal(ckpt.history, torch.linspace(2, 1, 7))
    assert ckpt.config["model"] == model.describe()
    assert ckpt.config["objective"] == Objective.preset("fm").config()
    assert ckpt.config["training"] == {"lr": 1e-3}


def test_round_trip_keeps_schedule_and_parametrization(tmp_path):
    model = _model(schedule="cosine", parametrization="noise")
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "d.pt", model, objective="diffusion"), device="cpu")
    assert ckpt.model.schedule == model.schedule and ckpt.model.parametrization == "noise"
    assert ckpt.ema is None
    x = torch.randn(8, 2)
    assert torch.equal(ckpt.model.velocity(x, 0.5), model.velocity(x, 0.5))


def test_expected_config_mismatch_names_each_key(saved):
    path, model, _ = saved
    assert load_checkpoint(path, expected={"model": model.describe()}, device="cpu").step == 7
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, expected={"model": _model(width=32).describe(),
                                        "training": {"lr": 1e-2}}, device="cpu")
    msg = str(err.value)
    assert "model.net.width: file has 16, expected 32" in msg
    assert "training.lr: file has 0.001, expected 0.01" in msg
    assert "depth" not in msg  # equal keys are not listed


def test_config_differences_reports_missing_keys():
    assert config_differences({"a": {"b": 1}}, {"a": {"b": 1}}) == []
    assert config_differences({"a": {"b": 1}}, {"a": {"c": 2}}) == ["a.c: file has nothing, expected 2"]
    assert config_differences({"shape": [2]}, {"shape": (2,)}) == []  # tuples compare as JSON lists


def test_truncated_file_is_refused(saved):
    path, _, _ = saved
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupted or truncated") as err:
        load_checkpoint(path, device="cpu")
    assert "delete it and retrain" in str(err.value)
    assert not config_matches(path, {})


@pytest.mark.parametrize("content", [os.urandom(4096), b""], ids=["random", "empty"])
def test_random_bytes_are_refused(tmp_path, content):
    path = tmp_path / "junk.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        load_checkpoint(path, device="cpu")


def test_other_torch_files_are_refused(tmp_path):
    torch.save({"weights": torch.ones(3)}, tmp_path / "dict.pt")
    with pytest.raises(CheckpointError, match="not an fmlearn checkpoint"):
        load_checkpoint(tmp_path / "dict.pt", device="cpu")
    torch.save(nn.Linear(2, 2), tmp_path / "module.pt")  # a pickled module: never unpickled
    with pytest.raises(CheckpointError, match="not an fmlearn checkpoint.*weights_only"):
        load_checkpoint(tmp_path / "module.pt", device="cpu")


def test_other_version_is_refused(saved):
    path, _, _ = saved
    raw = torch.load(path, weights_only=True)
    raw["version"] = 99
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match="version 99"):
        load_checkpoint(path, device="cpu")


def test_weights_that_do_not_fit_the_config_are_refused(saved):
    path, _, _ = saved
    raw = torch.load(path, weights_only=True)
    raw["config"]["model"]["net"]["width"] = 8  # config says 8 units, weights have 16
    raw["state_dict"]["extra.weight"] = torch.ones(1)
    torch.save(raw, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, device="cpu")
    msg = str(err.value)
    assert "net.net.0.weight: file has shape (16, 18), network has (8, 18)" in msg
    assert "unexpected ['extra.weight']" in msg


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nope.pt")
    assert not config_matches(tmp_path / "nope.pt", {})


def test_config_matches(saved):
    path, model, _ = saved
    assert config_matches(path, {"model": model.describe(), "objective": Objective.preset("fm").config()})
    assert not config_matches(path, {"objective": Objective.preset("fm-ot").config()})


def test_config_must_be_plain_json(tmp_path):
    with pytest.raises(TypeError, match="plain JSON"):
        save_checkpoint(tmp_path / "x.pt", _model(), training={"lr": torch.tensor(1.0)})


def test_interrupted_save_keeps_the_old_file(saved, monkeypatch):
    path, model, _ = saved
    before = path.read_bytes()
    real_save = torch.save

    def crash_midway(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a zip file")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, _model(seed=5), step=99)
    monkeypatch.setattr(torch, "save", real_save)
    assert path.read_bytes() == before
    assert load_checkpoint(path, device="cpu").step == 7
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
