"""Shared test settings.

The course's networks are tiny: one CPU thread runs them faster than two (no hand-off between
threads), and it keeps timings stable when the machine is busy. Notebooks run in their own kernels.
"""
import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """The folder holding the four MNIST files ($FMLEARN_DATA/mnist, else ../shared/data/mnist); skips without it."""
    from fmlearn.mnist import data as mnist
    env = os.environ.get("FMLEARN_DATA")
    folder = (Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data") / "mnist"
    if not all((folder / name).is_file() for name in mnist.FILES):
        pytest.skip(f"the MNIST files are not in {folder} (set FMLEARN_DATA to the folder holding mnist/)")
    return folder
