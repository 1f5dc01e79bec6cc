"""Notebook 02, diffusion: the noise-prediction loss, the score of a noise prediction, one DDIM step."""
from __future__ import annotations

import torch

from ... import losses, parametrizations
from .inputs import COS, F64, LIN, col, cos_ab, eps_batch, net_batch
from .registry import exercise


@exercise("2.1", "diffusion_loss(net, x0, x1, t)  # cosine path, noise prediction", net_batch,
          {"The network predicts the noise x0, not the data x1.":
               lambda net, x0, x1, t: ((net(COS.interpolate(x0, x1, t), t) - x1) ** 2).mean(),
           "x_t is on the cosine path, alpha_t x1 + sigma_t x0, not the linear one.":
               lambda net, x0, x1, t: ((net(LIN.interpolate(x0, x1, t), t) - x0) ** 2).mean()})
def diffusion_loss(net, x0, x1, t):
    return losses.diffusion_loss(net, x0, x1, t, COS)


@exercise("2.2", "score_from_noise(eps_hat, x, t)  # cosine path", eps_batch,
          {"The score points towards the data, against the noise: it is -eps / sigma_t.":
               lambda eps, x, t: eps / col(cos_ab(t)[1]),
           "Divide by sigma_t, not alpha_t.": lambda eps, x, t: -eps / col(cos_ab(t)[0])})
def score_from_noise(eps, x, t):
    return parametrizations.convert(eps, "noise", "score", x, t, COS)


def _ddim_inputs(g):  # (x, eps_hat, t, u)
    eps, x, _ = eps_batch(g)
    t = 0.3 + 0.4 * torch.rand((), generator=g, dtype=F64)
    return x, eps, t, t + 0.1


@exercise("2.3", "ddim_step(x, eps_hat, t, u)  # cosine path, from time t to u > t, eta = 0", _ddim_inputs,
          {"Re-noise with the NEXT time's sigma_u and alpha_u, not the current ones.":
               lambda x, eps, t, u: ddim_step(x, eps, t, t)})
def ddim_step(x, eps, t, u):
    """``x_u = alpha_u x1_hat + sigma_u eps_hat`` with ``x1_hat = (x - sigma_t eps_hat) / alpha_t``."""
    a_t, s_t = cos_ab(t)
    a_u, s_u = cos_ab(u)
    x1 = (x - s_t * eps) / a_t
    return a_u * x1 + s_u * eps
