"""Quick mode, device choice, networks and PathModel."""
import pytest
import torch

from fmlearn import config
from fmlearn.models import MLP, PathModel
from fmlearn.networks import build_net


def test_quick_mode_and_budget(monkeypatch):
    monkeypatch.setenv("FMLEARN_QUICK", "1")
    assert config.quick_mode() and config.budget(1000, 10) == 10
    monkeypatch.setenv("FMLEARN_QUICK", "0")
    assert not config.quick_mode() and config.budget(1000, 10) == 1000
    monkeypatch.setenv("FMLEARN_QUICK", "maybe")
    with pytest.raises(ValueError, match="FMLEARN_QUICK"):
        config.quick_mode()


def test_device(monkeypatch):
    monkeypatch.delenv("FMLEARN_DEVICE", raising=False)
    assert config.get_device("cpu").type == "cpu"
    assert config.get_device().type in ("cpu", "cuda", "mps")
    monkeypatch.setenv("FMLEARN_DEVICE", "cpu")
    assert config.get_device().type == "cpu"
    with pytest.raises(ValueError, match="not a device name"):
        config.get_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            config.get_device("cuda")


def test_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("FMLEARN_DATA", str(tmp_path))
    assert config.data_dir() == tmp_path


def test_mlp_and_path_model():
    net = MLP(dim=3, width=32, depth=2)
    x, t = torch.randn(5, 3), torch.rand(5)
    assert net(x, t).shape == (5, 3)
    rebuilt = build_net(net.config())
    rebuilt.load_state_dict(net.state_dict())
    torch.testing.assert_close(rebuilt(x, t), net(x, t))
    model = PathModel(net, "linear", "velocity")
    # a scalar time is broadcast to the batch
    torch.testing.assert_close(model(x, 0.3), net(x, torch.full((5,), 0.3)))
    torch.testing.assert_close(model.velocity(x, 0.3), net(x, torch.full((5,), 0.3)))
    assert model.noise(4).shape == (4, 3)
    assert model.describe()["schedule"] == {"name": "linear", "sigma_min": 0.0}


def test_model_bad_input():
    net = MLP()
    with pytest.raises(ValueError, match=r"x must have shape \(B, 2\)"):
        net(torch.randn(4, 3), torch.rand(4))
    with pytest.raises(ValueError, match=r"t must have shape \(4,\)"):
        net(torch.randn(4, 2), torch.rand(4, 1))
    with pytest.raises(ValueError, match="width must be >= 1"):
        MLP(width=0)
    with pytest.raises(ValueError, match="unknown network kind 'unet9'"):
        build_net({"kind": "unet9"})
    with pytest.raises(ValueError, match="unknown parametrization"):
        PathModel(net, "linear", "flow")


def test_top_level_exports():
    import fmlearn
    for name in fmlearn.__all__:
        assert getattr(fmlearn, name) is not None, name
    assert fmlearn.sample is __import__("fmlearn.samplers", fromlist=["sample"]).sample
    import pytest as _pytest
    with _pytest.raises(AttributeError, match="no attribute 'nope'"):
        fmlearn.nope


def test_notebook_setup(capsys, monkeypatch):
    monkeypatch.setenv("FMLEARN_QUICK", "1")
    before = torch.get_num_threads()
    try:
        seed, device, quick = config.notebook_setup(seed=3, threads=1)
        assert (seed, quick) == (3, True) and torch.get_num_threads() == 1
        a = torch.rand(2)
        config.notebook_setup(seed=3, threads=1)
        assert torch.equal(a, torch.rand(2))  # seeded
        assert "quick mode: on" in capsys.readouterr().out
    finally:
        torch.set_num_threads(before)
