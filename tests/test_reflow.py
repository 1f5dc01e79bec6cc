"""Reflow and one-step distillation: fixed pairs, training on them, the t = 0 objective, fingerprints."""
import pytest
import torch

from fmlearn.metrics import straightness
from fmlearn.models import MLP, PathModel
from fmlearn.reflow import OneStepObjective, Pairs, distill, fingerprint, make_pairs, rectify
from fmlearn.samplers import sample
from fmlearn.training import Trainer, train
from helpers import CountingNet


@pytest.fixture(autouse=True)
def _on_cpu(monkeypatch):
    monkeypatch.setenv("FMLEARN_DEVICE", "cpu")




def _model(seed=0, width=32, depth=2):
    torch.manual_seed(seed)
    return PathModel(MLP(2, width, depth), "linear", "velocity")


def test_pairs_draw_partners_together():
    x0 = torch.randn(50, 2)
    pairs = Pairs(x0, 3 * x0 + 1)
    a0, a1 = pairs(200, torch.Generator().manual_seed(0))
    assert a0.shape == a1.shape == (200, 2) and len(pairs) == 50
    torch.testing.assert_close(a1, 3 * a0 + 1)  # each x0 comes with its own partner
    b0, _ = pairs(200, torch.Generator().manual_seed(0))
    assert torch.equal(a0, b0)
    with pytest.raises(ValueError, match="same shape"):
        Pairs(torch.randn(5, 2), torch.randn(6, 2))
    with pytest.raises(ValueError, match="NaN"):
        Pairs(torch.full((5, 2), float("nan")), torch.randn(5, 2))


def test_make_pairs_are_noise_and_its_ode_solution():
    model = _model().eval()
    g = torch.Generator().manual_seed(3)
    pairs = make_pairs(model, 64, sampler="rk4", nfe=100, generator=g)
    assert pairs.nfe == 100 and pairs.x0.shape == (64, 2)
    torch.testing.assert_close(pairs.x0, torch.randn(64, 2, generator=torch.Generator().manual_seed(3)))
    direct = sample(model, pairs.x0[:5].clone(), "rk4", 100).samples  # the same ODE solve, one call per pair set
    torch.testing.assert_close(pairs.x1[:5], direct, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="stochastic"):
        make_pairs(model, 8, sampler="ddpm")


def test_training_on_pairs_uses_their_noise_not_fresh_noise():
    # Pairs (x0, x0 + c): the coupling's velocity is c everywhere. With fresh noise instead of the pairs'
    # own x0, the target x1 - x0 would vary with x and the learned field would not be constant.
    c = torch.tensor([1.5, -0.5])
    x0 = torch.randn(4096, 2, generator=torch.Generator().manual_seed(0))
    result = train(_model(), Pairs(x0, x0 + c), "fm", steps=300, progress=False)
    x = torch.randn(256, 2)
    with torch.no_grad():
        v = result.ema.velocity(x, 0.5)
    assert (v - c).abs().max() < 0.15
    assert result.history[-20:].mean() < 0.01


def test_paired_data_is_checked_and_its_nan_is_caught():
    bad_len = lambda n, g: (torch.randn(n, 2), torch.randn(n, 2), torch.randn(n, 2))  # noqa: E731
    with pytest.raises(ValueError, match="tuple of 3"):
        Trainer(_model(), bad_len, "fm", device="cpu").step()
    bad_shape = lambda n, g: (torch.randn(n, 3), torch.randn(n, 2))  # noqa: E731
    with pytest.raises(ValueError, match="shape"):
        Trainer(_model(), bad_shape, "fm", device="cpu").step()
    calls = []

    def nan_noise(n, g):
        calls.append(n)
        x0 = torch.randn(n, 2, generator=g)
        if len(calls) == 3:
            x0[0, 0] = float("nan")
        return x0, torch.randn(n, 2, generator=g)

    trainer = Trainer(_model(), nan_noise, "fm", device="cpu")
    trainer.step()
    trainer.step()
    with pytest.raises(ValueError, match="NaN"):
        trainer.step()
    assert trainer.step_count == 2


def test_one_step_objective_is_the_fm_loss_at_t0():
    torch.manual_seed(1)
    net = MLP(2, 16, 1)
    x0, x1 = torch.randn(32, 2), torch.randn(32, 2)
    obj = OneStepObjective()
    want = (net(x0, torch.zeros(32)) - (x1 - x0)).square().mean()
    torch.testing.assert_close(obj.loss(net, x0, x1), want)
    assert obj.config()["time_distribution"] == "t_min"


def test_distilled_model_jumps_in_one_network_call():
    c = torch.tensor([2.0, 1.0])
    x0 = torch.randn(2048, 2, generator=torch.Generator().manual_seed(0))
    teacher = _model()
    result, _ = distill(teacher, Pairs(x0, 2 * x0 + c), steps=300, progress=False)
    counted = CountingNet(result.ema.net)
    model = PathModel(counted, "linear", "velocity")
    z = torch.randn(500, 2)
    out = sample(model, z, "euler", nfe=1)
    assert out.nfe == 1 and counted.calls == 1
    assert (out.samples - (2 * z + c)).norm(dim=1).mean() < 0.2  # the map x0 -> 2 x0 + c in one step


def test_rectify_straightens_a_flow():
    torch.manual_seed(0)
    teacher = train(_model(), "moons", "fm", steps=300, progress=False).ema
    student, pairs = rectify(teacher, n_pairs=2000, steps=300, progress=False)
    assert len(pairs) == 2000 and pairs.nfe == 100
    z = torch.randn(1000, 2, generator=torch.Generator().manual_seed(5))
    s_teacher = straightness(sample(teacher, z, "euler", 32, return_trajectory=True).trajectory)
    s_student = straightness(sample(student.ema, z, "euler", 32, return_trajectory=True).trajectory)
    assert s_student > s_teacher and s_student > 0.98
    # one Euler step of the student lands closer to its own ODE solution than the teacher's does
    err = {}
    for name, m in (("teacher", teacher), ("student", student.ema)):
        err[name] = (sample(m, z, "euler", 1).samples - sample(m, z, "rk4", 100).samples).norm(dim=1).mean()
    assert err["student"] < 0.5 * err["teacher"]


def test_fingerprint_follows_the_weights():
    a, b = _model(0), _model(0)
    assert fingerprint(a) == fingerprint(b) and len(fingerprint(a)) == 16
    with torch.no_grad():
        next(b.parameters())[0, 0] += 1e-6
    assert fingerprint(a) != fingerprint(b)
