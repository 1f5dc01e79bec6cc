"""Notebook 04, two sides of one coin: a noise prediction as a velocity, the weights that relate the losses,
and the linear-path time of a cosine-path point."""
from __future__ import annotations

import math

import torch

from ... import losses, parametrizations
from .inputs import COS, F64, LIN, col, eps_batch, times
from .registry import exercise


@exercise("4.1", "velocity_from_noise(eps_hat, x, t)  # cosine path", eps_batch,
          {"Recover x1_hat = (x - sigma_t eps) / alpha_t first, then v = d_alpha x1_hat + d_sigma eps.":
               lambda eps, x, t: (col(0.5 * math.pi * torch.cos(0.5 * math.pi * t)) * x
                                  - col(0.5 * math.pi * torch.sin(0.5 * math.pi * t)) * eps)})
def velocity_from_noise(eps, x, t):
    return parametrizations.convert(eps, "noise", "velocity", x, t, COS)


@exercise("4.2", "noise_weight_linear(t)  # w(t) with |v_hat - v|^2 = w(t) |eps_hat - eps|^2 on the linear path",
          times,
          {"v - v_hat = (eps_hat - eps) / t, so the weight is 1 / t^2 (squared).": lambda t: 1 / t,
           "It is 1 / t^2, not 1 / (1 - t)^2: v = (x - eps) / t.": lambda t: 1 / (1 - t) ** 2})
def noise_weight_linear(t):
    return losses.equivalent_weight(t, LIN, "noise", "velocity")


@exercise("4.3", "linear_path_time(t) -> (r, c)  # cosine path: x_t / c lies on the linear path at time r",
          lambda g: (COS.t_min + (1 - COS.t_min) * torch.rand(50, generator=g, dtype=F64),),
          {"r = alpha / (alpha + sigma), not sigma / (alpha + sigma): r must be 0 at the noise end.":
               lambda t: (COS.sigma(t) / (COS.alpha(t) + COS.sigma(t)), COS.alpha(t) + COS.sigma(t)),
           "The scale is c = alpha + sigma, so that x / c = r x1 + (1 - r) x0.":
               lambda t: (COS.alpha(t) / (COS.alpha(t) + COS.sigma(t)), torch.ones_like(t))})
def linear_path_time(t):
    return COS.alpha(t) / (COS.alpha(t) + COS.sigma(t)), COS.alpha(t) + COS.sigma(t)
