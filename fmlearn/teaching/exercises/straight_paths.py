"""Notebook 06, straight paths: the optimal-transport pairing of a minibatch, straightness and path energy."""
from __future__ import annotations

import torch

from ... import couplings, metrics
from .inputs import F64, pair, trajectories
from .registry import exercise


def _lsa_perm(a, b, squared=True):
    from scipy.optimize import linear_sum_assignment
    cost = torch.cdist(b, a)
    rows, cols = linear_sum_assignment((cost ** 2 if squared else cost).numpy())
    perm = torch.empty(len(cols), dtype=torch.long)
    perm[torch.as_tensor(rows)] = torch.as_tensor(cols)
    return perm


@exercise("6.1", "ot_pair(x0, x1) -> x0 reordered so that x0[i] is paired with x1[i] at least total squared distance",
          lambda g: pair(g, n=12)[:2],
          {"Reorder the noise x0 to match the data, not the data to match the noise.":
               lambda x0, x1: x1[_lsa_perm(x1, x0)],
           "The cost is the SQUARED distance, |x0_j - x1_i|^2.":
               lambda x0, x1: x0[_lsa_perm(x0, x1, squared=False)]})
def ot_pair(x0, x1):
    return couplings.ot_coupling(x0, x1)[0]


def _length_over_chord(traj):
    length = (traj[1:] - traj[:-1]).norm(dim=-1).sum(0)
    return float((length / (traj[-1] - traj[0]).norm(dim=-1)).mean())


@exercise(None, "straightness(trajectory) -> float  # trajectory (K+1, N, D): mean of |x_K - x_0| / path length",
          trajectories,
          {"Divide the straight distance by the path length, not the other way round (1 = straight, < 1 curved).":
               _length_over_chord})
def straightness(traj):
    return metrics.straightness(traj)


@exercise("6.2", "path_energy(trajectory, times) -> float  # mean over samples of sum_k |dx_k|^2 / dt_k",
          lambda g: (trajectories(g)[0], torch.linspace(0, 1, 9, dtype=F64) ** 1.5),
          {"Divide each squared step by its duration dt_k: energy = int |v|^2 dt with v = dx / dt.":
               lambda traj, times: float(((traj[1:] - traj[:-1]) ** 2).sum(-1).sum(0).mean())})
def path_energy(traj, times):
    return metrics.path_energy(traj, times)
