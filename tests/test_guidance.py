"""Classifier-free guidance and conditional training: the guided field, its equivalence across
parametrizations, label dropout, and the fidelity/diversity measure."""
import pytest
import torch
from torch import nn

from fmlearn.guidance import GuidedNet, guided_model, guided_prediction
from fmlearn.mnist.fidelity import fidelity_diversity
from fmlearn.models import MLP, PathModel
from fmlearn.parametrizations import convert
from fmlearn.schedules import get_schedule
from fmlearn.training import Labeled, Trainer, train


class TinyConditional(nn.Module):
    """net(x (B, 2), t (B,), y (B,) | None): an MLP plus a label embedding (null label = num_classes)."""

    def __init__(self, num_classes=3):
        super().__init__()
        self.num_classes, self.dim = num_classes, 2
        self.mlp = MLP(2, 16, 2)
        self.embed = nn.Embedding(num_classes + 1, 2)
        self.calls = []

    def forward(self, x, t, y=None):
        if y is None:
            y = torch.full((x.shape[0],), self.num_classes, dtype=torch.long)
        self.calls.append(y.clone())
        return self.mlp(x, t) + self.embed(y)


def _labelled(n, generator):
    y = torch.randint(0, 3, (n,), generator=generator)
    x = torch.stack([y.float() - 1.0, torch.zeros(n)], 1) + 0.1 * torch.randn(n, 2, generator=generator)
    return Labeled(x, y)


def test_guided_prediction_formula():
    c, u = torch.randn(4, 3), torch.randn(4, 3)
    torch.testing.assert_close(guided_prediction(c, u, 0.0), c)
    torch.testing.assert_close(guided_prediction(c, u, 2.5), c + 2.5 * (c - u))


def test_guided_net_matches_two_separate_calls():
    torch.manual_seed(0)
    net = TinyConditional()
    x, t = torch.randn(5, 2), torch.rand(5)
    y = torch.tensor([0, 1, 2, 0, 1])
    want = 4.0 * net(x, t, y) - 3.0 * net(x, t, None)
    torch.testing.assert_close(GuidedNet(net, y, 3.0)(x, t), want)
    torch.testing.assert_close(GuidedNet(net, 2, 0.0)(x, t), net(x, t, torch.full((5,), 2)))


@pytest.mark.parametrize("schedule, parametrization", [("cosine", "noise"), ("linear", "data"), ("cosine", "score")])
def test_guidance_is_the_same_in_every_parametrization(schedule, parametrization):
    """Conversions are affine in the prediction and the weights (1 + w, -w) sum to 1: guiding then
    converting equals converting then guiding."""
    torch.manual_seed(1)
    sched = get_schedule(schedule)
    c, u = torch.randn(6, 2, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64)
    x, t = torch.randn(6, 2, dtype=torch.float64), torch.rand(6, 1, dtype=torch.float64) * 0.9 + 0.05
    w = 3.0
    guided_then = convert(guided_prediction(c, u, w), parametrization, "velocity", x, t, sched)
    then_guided = guided_prediction(convert(c, parametrization, "velocity", x, t, sched),
                                    convert(u, parametrization, "velocity", x, t, sched), w)
    torch.testing.assert_close(guided_then, then_guided, rtol=1e-10, atol=1e-10)


def test_guided_model_samples_and_shares_weights():
    from fmlearn.samplers import sample
    torch.manual_seed(0)
    model = PathModel(TinyConditional(), "linear", "velocity")
    g = guided_model(model, 1, 2.0)
    assert g.net.net is model.net and g.schedule == model.schedule
    out = sample(g, torch.randn(7, 2), "euler", 4)
    assert out.samples.shape == (7, 2) and out.nfe == 4
    assert all(c.shape == (14,) for c in model.net.calls[-4:])  # one batch of 2B per evaluation


def test_guidance_refuses_bad_input():
    net = TinyConditional()
    with pytest.raises(ValueError, match="class-conditional"):
        GuidedNet(MLP(2, 8, 1), 0, 1.0)
    with pytest.raises(ValueError, match="labels must lie in 0..2"):
        GuidedNet(net, 3, 1.0)
    with pytest.raises(ValueError, match="scale must be a number >= 0"):
        GuidedNet(net, 0, -1.0)
    with pytest.raises(TypeError, match="int or an integer Tensor"):
        GuidedNet(net, "7", 1.0)
    with pytest.raises(ValueError, match="holds 2 labels but the batch has 3"):
        GuidedNet(net, torch.tensor([0, 1]), 1.0)(torch.randn(3, 2), torch.rand(3))


def test_conditional_training_with_label_dropout():
    torch.manual_seed(0)
    model = PathModel(TinyConditional(), "linear", "velocity")
    trainer = Trainer(model, _labelled, "fm", batch_size=2000, label_dropout=0.25, device="cpu")
    trainer.step()
    y = model.net.calls[-1]
    share = float((y == 3).double().mean())
    assert abs(share - 0.25) < 0.03  # about a quarter of the labels became the null label
    assert trainer.run_config()["training"]["label_dropout"] == 0.25
    result = train(PathModel(TinyConditional(), "linear", "velocity"), _labelled, "fm", steps=200, batch_size=128,
                   label_dropout=0.1, progress=False, device="cpu")
    assert result.history[-20:].mean() < result.history[:20].mean()


def test_conditional_training_refuses_mismatches():
    cond = PathModel(TinyConditional(), "linear", "velocity")
    plain = PathModel(MLP(2, 8, 1), "linear", "velocity")
    with pytest.raises(ValueError, match="needs a class-conditional network"):
        Trainer(plain, _labelled, "fm", label_dropout=0.1)
    with pytest.raises(ValueError, match="the network takes none"):
        Trainer(plain, _labelled, "fm").step()
    with pytest.raises(ValueError, match="needs labelled data"):
        Trainer(cond, "moons", "fm", label_dropout=0.1).step()
    with pytest.raises(ValueError, match="label_dropout must lie in"):
        Trainer(cond, _labelled, "fm", label_dropout=1.0)
    bad = lambda n, g: Labeled(torch.randn(n, 2), torch.full((n,), 5))  # noqa: E731
    with pytest.raises(ValueError, match=r"labels must lie in 0..2"):
        Trainer(cond, bad, "fm").step()


def test_fidelity_diversity_on_real_digits(mnist_root):
    from fmlearn.mnist.data import mnist_tensors
    x, y = mnist_tensors("test", 3000, root=mnist_root)
    real = fidelity_diversity(x[2000:], y[2000:])
    assert real["accuracy"] > 0.98 and real["fidelity"] > 0.95
    assert 0.9 < real["diversity"] < 1.1  # other real digits are about as varied as the reference
    same = fidelity_diversity(x[2000:2001].repeat(50, 1, 1, 1), y[2000:2001].repeat(50))
    assert same["diversity"] == pytest.approx(0.0, abs=1e-6)
    wrong = fidelity_diversity(x[2000:2100], (y[2000:2100] + 1) % 10)
    assert wrong["fidelity"] < 0.05
    with pytest.raises(ValueError, match="labels must have shape"):
        fidelity_diversity(x[:5], y[:4])
