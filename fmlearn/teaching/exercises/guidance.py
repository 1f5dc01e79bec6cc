"""Notebook 09, guidance: the guided prediction, the implicit classifier's gradient, guiding a noise prediction,
and label dropout."""
from __future__ import annotations

import torch

from ... import guidance, parametrizations
from .inputs import COS, F64, col, cos_ab, pair
from .registry import exercise


def _guidance_inputs(g):  # (conditional, unconditional, w)
    return (torch.randn(32, 2, generator=g, dtype=F64), torch.randn(32, 2, generator=g, dtype=F64),
            float(8 * torch.rand((), generator=g)))


@exercise(None, "guided_velocity(v_cond, v_uncond, w)  # classifier-free guidance with scale w (w = 0: conditional)",
          _guidance_inputs,
          {"Guidance extrapolates beyond the conditional prediction: (1 + w) v_cond - w v_uncond, "
           "not an interpolation between the two.": lambda c, u, w: (1 - w) * c + w * u,
           "In this course w = 0 is the plain conditional model, so the weights are (1 + w) and -w "
           "(papers that write w v_cond + (1 - w) v_uncond use w' = 1 + w).": lambda c, u, w: w * c + (1 - w) * u})
def guided_velocity(c, u, w):
    return guidance.guided_prediction(c, u, w)


def _implicit_inputs(g):
    eps_c = torch.randn(32, 2, generator=g, dtype=F64)
    eps_u = torch.randn(32, 2, generator=g, dtype=F64)
    return eps_c, eps_u, 0.05 + 0.9 * torch.rand(32, generator=g, dtype=F64)


@exercise("9.1", "implicit_classifier_score(eps_cond, eps_uncond, t)  # grad_x log p_t(y | x) on the cosine path; "
                 "t (B,)", _implicit_inputs,
          {"Bayes: grad log p(y | x) = grad log p(x | y) - grad log p(x); with score = -eps / sigma that is "
           "-(eps_cond - eps_uncond) / sigma: you have the sign the other way.":
               lambda c, u, t: (c - u) / col(cos_ab(t)[1]),
           "The score of a noise prediction divides by sigma_t, not alpha_t.":
               lambda c, u, t: -(c - u) / col(cos_ab(t)[0]),
           "A score is the noise prediction divided by -sigma_t: divide the difference by sigma_t.":
               lambda c, u, t: -(c - u)})
def implicit_classifier_score(c, u, t):
    return -(c - u) / col(cos_ab(t)[1])


def _guided_noise_inputs(g):  # (eps_cond, eps_uncond, x, t, w) on the cosine path
    c, u, w = _guidance_inputs(g)
    x0, x1, t = pair(g, n=32)
    return c, u, COS.interpolate(x0, x1, t), t, w


@exercise("9.2", "guided_velocity_from_noise(eps_cond, eps_uncond, x, t, w)  # cosine path: guide, then convert",
          _guided_noise_inputs,
          {"Convert the guided noise prediction to a velocity: "
           "v = (alpha'/alpha) x + (sigma' - alpha' sigma / alpha) eps.":
               lambda c, u, x, t, w: guidance.guided_prediction(c, u, w),
           "Guide with both predictions, (1 + w) eps_cond - w eps_uncond, before converting.":
               lambda c, u, x, t, w: parametrizations.convert(c, "noise", "velocity", x, t, COS)})
def guided_velocity_from_noise(c, u, x, t, w):
    return parametrizations.convert(guidance.guided_prediction(c, u, w), "noise", "velocity", x, t, COS)


@exercise(None, "drop_labels(y, u, p, null)  # label dropout: y (B,) -> null where the uniform draw u < p",
          lambda g: (torch.randint(0, 10, (64,), generator=g), torch.rand(64, generator=g, dtype=F64),
                     float(0.1 + 0.5 * torch.rand((), generator=g)), 10),
          {"Drop where u < p (probability p), keep the rest: u > p drops 1 - p of the labels.":
               lambda y, u, p, null: torch.where(u > p, torch.full_like(y, null), y)})
def drop_labels(y, u, p, null):
    return torch.where(u < p, torch.full_like(y, null), y)
