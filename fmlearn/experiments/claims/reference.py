"""What the claims' moons experiments score against: one fresh reference sample and the data floor."""
from __future__ import annotations

import torch
from torch import Tensor

from ...data import sample_data
from ...metrics import wasserstein2
from ..common import derive_seed

__all__ = ["moons_reference"]


def moons_reference(purpose: str, seed: int, n: int, repeats: int = 3) -> tuple[Tensor, float]:
    """``(reference, floor)``: ``n`` fresh moons points drawn for ``purpose``, and the mean W2 between it and
    ``repeats`` other fresh samples of the same size (what a perfect model scores; W2 of finite samples is noisy,
    hence the mean)."""
    ref = sample_data("moons", n, generator=torch.Generator().manual_seed(derive_seed(seed, purpose, "ref")))
    floor_g = torch.Generator().manual_seed(derive_seed(seed, purpose, "floor"))
    others = [sample_data("moons", n, generator=floor_g) for _ in range(repeats)]
    return ref, sum(wasserstein2(o, ref) for o in others) / repeats
