"""Minibatch OT coupling: exact (equals brute force), a permutation, deterministic, straighter pairs."""
import itertools

import pytest
import torch

from fmlearn.couplings import get_coupling, independent_coupling, ot_coupling, ot_permutation


def test_ot_equals_brute_force():
    for seed in range(5):
        g = torch.Generator().manual_seed(seed)
        x0, x1 = torch.randn(7, 2, generator=g), torch.randn(7, 2, generator=g) + 1
        best = min(itertools.permutations(range(7)),
                   key=lambda p: ((x0[list(p)] - x1) ** 2).sum().item())
        perm = ot_permutation(x0, x1)
        assert ((x0[perm] - x1) ** 2).sum().item() == pytest.approx(((x0[list(best)] - x1) ** 2).sum().item())


def test_ot_is_a_permutation_and_lowers_cost():
    g = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(256, 2, generator=g), torch.randn(256, 2, generator=g) * 0.5
    c0, c1 = ot_coupling(x0, x1)
    assert torch.equal(c1, x1)
    assert sorted(map(tuple, c0.tolist())) == sorted(map(tuple, x0.tolist()))  # each noise sample used once
    assert ((c0 - x1) ** 2).sum() < 0.5 * ((x0 - x1) ** 2).sum()
    assert torch.equal(ot_coupling(x0, x1)[0], c0)  # deterministic


def test_images_and_errors():
    x0, x1 = torch.randn(5, 1, 3, 3), torch.randn(5, 1, 3, 3)
    assert ot_coupling(x0, x1)[0].shape == (5, 1, 3, 3)
    assert independent_coupling(x0, x1)[0] is x0
    with pytest.raises(ValueError, match="same shape"):
        ot_permutation(torch.randn(4, 2), torch.randn(5, 2))
    with pytest.raises(ValueError, match="NaN"):
        ot_coupling(torch.full((3, 2), float("nan")), torch.randn(3, 2))
    with pytest.raises(ValueError, match="unknown coupling 'OT'.*'ot'"):
        get_coupling("OT")
