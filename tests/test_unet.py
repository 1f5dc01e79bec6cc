"""The small UNet: shapes, zero-initialised head, time and label conditioning, rebuild from config,
parameter budget, and use with PathModel, samplers and losses."""
import io

import pytest
import torch

from fmlearn.losses import Objective
from fmlearn.models import PathModel
from fmlearn.networks import NETS, build_net
from fmlearn.samplers import sample
from fmlearn.unet import UNet


def _inputs(b: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 1, 28, 28, generator=g), torch.rand(b, generator=g)


def _perturbed(net: UNet, seed: int = 1) -> UNet:
    """Give the zero-initialised head random weights, so the output depends on the inputs."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        net.out_conv.weight.copy_(0.1 * torch.randn(net.out_conv.weight.shape, generator=g))
    return net


@pytest.mark.parametrize("num_classes", [None, 10])
def test_output_shape_and_zero_init(num_classes):
    torch.manual_seed(0)
    net = UNet(num_classes=num_classes)
    x, t = _inputs()
    out = net(x, t)
    assert out.shape == x.shape
    assert torch.count_nonzero(out) == 0  # zero-initialised output conv
    if num_classes is not None:
        assert net(x, t, torch.tensor([0, 3, 9, 10])).shape == x.shape
    assert net.shape == (1, 28, 28) and not hasattr(net, "dim")


def test_one_step_from_zero_init_makes_the_output_depend_on_t():
    torch.manual_seed(0)
    net = UNet()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x, t = _inputs(8)
    loss = (net(x, t) - torch.randn_like(x)).square().mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    x1 = x[:1].expand(2, -1, -1, -1)
    out = net(x1, torch.tensor([0.1, 0.9]))
    assert (out[0] - out[1]).abs().max() > 1e-4


def test_output_depends_on_t_and_y():
    torch.manual_seed(0)
    net = _perturbed(UNet(num_classes=10)).eval()
    x = _inputs(1)[0].expand(3, -1, -1, -1)
    with torch.no_grad():
        by_t = net(x, torch.tensor([0.0, 0.5, 1.0]), torch.tensor([3, 3, 3]))
        by_y = net(x, torch.full((3,), 0.5), torch.tensor([1, 7, 10]))
        null = net(x, torch.full((3,), 0.5))  # y=None is the null label
    assert (by_t[0] - by_t[1]).abs().max() > 1e-3 and (by_t[1] - by_t[2]).abs().max() > 1e-3
    assert (by_y[0] - by_y[1]).abs().max() > 1e-3 and (by_y[1] - by_y[2]).abs().max() > 1e-3
    torch.testing.assert_close(null, by_y[2:].expand(3, -1, -1, -1))


@pytest.mark.parametrize("kwargs", [{}, {"num_classes": 10, "channels": (8, 16, 16), "attention": False},
                                    {"channels": (8, 16, 32), "patch": 2}])
def test_rebuild_from_config(kwargs):
    torch.manual_seed(0)
    net = _perturbed(UNet(**kwargs)).eval()
    cfg = net.config()
    assert cfg["kind"] == "unet" and NETS["unet"] is UNet
    copy = build_net(cfg)
    assert copy.config() == cfg
    copy.load_state_dict(net.state_dict())
    x, t = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(copy.eval()(x, t), net(x, t), rtol=0, atol=0)


def test_parameter_budget():
    net = UNet()
    n = sum(p.numel() for p in net.parameters())
    assert n <= 1_200_000
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    assert buf.tell() <= 5_000_000
    assert sum(p.numel() for p in UNet(num_classes=10).parameters()) == n + 11 * 4 * net.channels[0]


def test_works_with_path_model_sampler_and_loss():
    torch.manual_seed(0)
    model = PathModel(_perturbed(UNet()), "linear", "velocity")
    assert model.shape == (1, 28, 28)
    res = sample(model, 4, "euler", nfe=2, generator=torch.Generator().manual_seed(0))
    assert res.samples.shape == (4, 1, 28, 28) and res.nfe == 2
    assert torch.isfinite(res.samples).all()

    g = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(8, 1, 28, 28, generator=g), torch.randn(8, 1, 28, 28, generator=g)
    loss = Objective.preset("fm").loss(model.net, x0, x1, generator=g)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.net.parameters()]
    assert all(gr is not None for gr in grads) and any(gr.abs().sum() > 0 for gr in grads)


@pytest.mark.parametrize("shape", [(4, 28, 28), (4, 1, 32, 32), (4, 3, 28, 28), (4, 784)])
def test_bad_x_shape_raises(shape):
    with pytest.raises(ValueError, match=r"x must have shape \(B, 1, 28, 28\)"):
        UNet()(torch.randn(shape), torch.rand(4))


def test_bad_t_and_labels_raise():
    net = UNet(num_classes=10)
    x, t = _inputs()
    with pytest.raises(ValueError, match="t must have shape"):
        net(x, torch.rand(3))
    with pytest.raises(ValueError, match="t must have shape"):
        net(x, torch.rand(4, 1))
    for bad in ([0, 1, 2, 11], [-1, 0, 0, 0]):
        with pytest.raises(ValueError, match="y must hold labels in 0..9"):
            net(x, t, torch.tensor(bad))
    with pytest.raises(ValueError, match="y must have shape"):
        net(x, t, torch.tensor([1, 2]))
    with pytest.raises(TypeError, match="integer labels"):
        net(x, t, torch.rand(4))
    with pytest.raises(ValueError, match="unconditional"):
        UNet()(x, t, torch.tensor([0, 1, 2, 3]))


@pytest.mark.parametrize("kwargs", [{"channels": (16, 32)}, {"image_size": 0}, {"time_dim": 15},
                                    {"dropout": 1.0}, {"num_classes": 0}, {"patch": 0}])
def test_bad_constructor_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        UNet(**kwargs)


def test_the_network_table_lists_both_networks_and_models_does_not_import_the_unet():
    import subprocess
    import sys
    assert set(NETS) >= {"mlp", "unet"}
    code = ("import fmlearn.models, sys; assert 'fmlearn.unet' not in sys.modules; "
            "from fmlearn.networks import build_net; print(type(build_net({'kind': 'unet', 'channels': [8, 16, 16]})).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "UNet"


def test_checkpoint_round_trip(tmp_path):
    from fmlearn.checkpoints import load_checkpoint, save_checkpoint
    torch.manual_seed(0)
    model = PathModel(_perturbed(UNet(num_classes=10)), "linear", "velocity")
    path = save_checkpoint(tmp_path / "unet.pt", model, objective="fm")
    assert path.stat().st_size <= 5_000_000
    loaded = load_checkpoint(path, expected={"model": model.describe()}, device="cpu")
    x, t = _inputs()
    y = torch.tensor([0, 1, 2, 10])
    with torch.no_grad():
        torch.testing.assert_close(loaded.model.net(x, t, y), model.net.eval()(x, t, y), rtol=0, atol=0)


def _by_hand(net: UNet, x, t, pad: int, patch: int):
    """The patched UNet computed independently: the same layers on a padded, unshuffled input."""
    inner = UNet(net.channels, net.time_dim, net.num_classes, net.dropout, in_channels=patch * patch,
                 image_size=(x.shape[-1] + 2 * pad) // patch, attention=net.attention)  # patch 1, no padding
    inner.load_state_dict(net.state_dict())
    h = torch.nn.functional.pixel_unshuffle(torch.nn.functional.pad(x, (pad,) * 4), patch)
    out = torch.nn.functional.pixel_shuffle(inner.eval()(h, t), patch)
    return out[..., pad:pad + x.shape[-1], pad:pad + x.shape[-1]]


def test_patch_2_equals_pad_unshuffle_unet_shuffle_crop():
    torch.manual_seed(0)
    net = _perturbed(UNet((8, 16, 32), patch=2)).eval()
    assert net.pad == (2, 2) and net.stem.in_channels == 4 and net.out_conv.out_channels == 4
    x, t = _inputs()
    with torch.no_grad():
        out = net(x, t)
        assert out.shape == x.shape
        torch.testing.assert_close(out, _by_hand(net, x, t, pad=2, patch=2), rtol=0, atol=0)
    assert "patch=2" in repr(net) and net.config()["patch"] == 2


def test_patch_2_budget_and_padding_of_other_sizes():
    net = UNet((32, 64, 128), patch=2)
    assert sum(p.numel() for p in net.parameters()) == 1_082_532  # <= 2M, 4.3 MB in float32
    odd = UNet((8, 8, 8), image_size=30, patch=1)  # 30 -> 32: one pixel of padding on each side
    assert odd.pad == (1, 1)
    x = torch.randn(2, 1, 30, 30)
    assert odd(x, torch.rand(2)).shape == x.shape
    assert UNet((8, 8, 8), image_size=29).pad == (1, 2)  # an odd total: the extra row after


def test_configs_without_patch_build_the_unpatched_unet():
    cfg = UNet().config()
    assert "patch" not in cfg  # the configs of checkpoints written before patches existed
    assert build_net(cfg).patch == 1
