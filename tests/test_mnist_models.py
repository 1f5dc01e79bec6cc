"""MNIST training entry point: a tiny run writes a checkpoint, resumes, and reloads as a UNet PathModel."""
import os
from pathlib import Path

import pytest
import torch

from fmlearn import mnist
from fmlearn.checkpoints import load_checkpoint
from fmlearn.mnist_models import build_mnist_model, train_mnist


@pytest.fixture(scope="module")
def root() -> Path:
    env = os.environ.get("FMLEARN_DATA")
    folder = (Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data") / "mnist"
    if not all((folder / name).is_file() for name in mnist.FILES):
        pytest.skip(f"the MNIST files are not in {folder} (set FMLEARN_DATA to the folder holding mnist/)")
    return folder


@pytest.mark.parametrize("kind, schedule, parametrization", [("fm", "linear", "velocity"),
                                                             ("diffusion", "cosine", "noise")])
def test_train_resume_and_load(root, tmp_path, kind, schedule, parametrization):
    out = tmp_path / f"{kind}.pt"
    small = dict(batch_size=4, checkpoint_every=2, progress=False, channels=(8, 8, 16), root=root, device="cpu")
    first = train_mnist(kind, 3, out, **small)
    assert first.steps == 3 and out.exists()
    again = train_mnist(kind, 5, out, **small)  # resumes: only 2 more steps
    assert again.steps == 5 and len(again.history) == 5
    loaded = load_checkpoint(out)
    assert loaded.model.schedule.name == schedule and loaded.model.parametrization == parametrization
    x = torch.zeros(2, 1, 28, 28)
    assert loaded.ema(x, torch.rand(2)).shape == (2, 1, 28, 28)


def test_bad_kind():
    with pytest.raises(ValueError, match="unknown model 'gan'"):
        build_mnist_model("gan")


def test_evaluate_model_counts_and_scores(root):
    from fmlearn.mnist_models import evaluate_model
    model = build_mnist_model("fm", channels=(8, 8, 16))
    out = evaluate_model(model, "euler", 2, n=20, batch_size=10)
    assert out["nfe"] == 2 and out["n"] == 20
    assert out["fd"] > 0 and 0 <= out["confident"] <= 1 and 0 <= out["entropy"] <= 2.31
