r"""Samplers: from noise ``x_0`` at ``t_min`` to data at ``t_max`` with any :class:`~fmlearn.models.PathModel`.

Every sampler consumes the model through a conversion of its prediction (see
:mod:`fmlearn.parametrizations`), so any model can be sampled by any sampler:

=============  ====================================================  ==============  ========
name           update (from time ``t`` to the next time ``u > t``)   kind            NFE/step
=============  ====================================================  ==============  ========
``euler``      ``x + h v(x, t)``                                     ODE, order 1    1
``heun``       explicit trapezoid                                    ODE, order 2    2
``midpoint``   explicit midpoint                                     ODE, order 2    2
``rk4``        classic Runge-Kutta                                   ODE, order 4    4
``dopri5``     adaptive Dormand-Prince (torchdiffeq)                 ODE, adaptive   counted
``ddpm``       ancestral: a draw from ``q(x_u | x_t, x1_hat)``,      SDE             1
               its mean on the last step (Ho et al. 2020, Alg. 2)
``ddim``       ``a_u x1_hat + sqrt(s_u^2 - c^2) x0_hat + c z``       ODE (eta = 0)   1
``em``         Euler-Maruyama on a reverse-time SDE                  SDE             1
``dpm++2m``    DPM-Solver++(2M), multistep in log-SNR, first-order   ODE, order 2    1
               first and last steps (Lu et al. 2022)
=============  ====================================================  ==============  ========

**NFE is counted, not claimed.** :func:`sample` wraps the model in a counter; every network call,
including those made inside torchdiffeq, is counted and reported in :class:`SampleResult`.

**Singular ends.** A network that predicts the data gives no velocity where ``sigma_t = 0`` (the
linear path at ``t = 1``): ``x0_hat = (x - alpha x1_hat) / sigma`` is 0/0. The ODE solvers
therefore never evaluate the network there. As EDM's Heun sampler does (Karras et al. 2022,
Alg. 1), the last step changes: ``heun`` ends with a ``midpoint`` step and ``rk4`` with a
third-order Ralston step, which evaluate only inside the step and keep the method's global order
(such an ``rk4`` run reports ``4 * steps - 1`` NFE); ``dopri5`` stops ``1e-3`` of the time span
early and crosses that gap with one second-order step evaluated in its middle. Noise and score
predictions give no data where ``alpha_t = 0`` (the linear path at ``t = 0``); no sampler can
start there, so :func:`sample` refuses and asks for a later start time.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch
from torch import Tensor

from ._checks import check_choice, check_positive_int, check_tensor, like_model
from .ode import INTEGRATORS, CountedModel, integrate, odeint_bridged, singular_at
from .parametrizations import to_data_and_noise

if TYPE_CHECKING:
    from .models import PathModel

__all__ = ["SampleResult", "sample", "integrate", "ddim_as_euler", "steps_for", "SAMPLERS",
           "EVALS_PER_STEP", "INTEGRATORS"]

EVALS_PER_STEP = {"euler": 1, "heun": 2, "midpoint": 2, "rk4": 4, "ddpm": 1, "ddim": 1, "em": 1, "dpm++2m": 1}
DEFAULT_NFE = 100


@dataclass
class SampleResult:
    """What :func:`sample` returns.

    Attributes:
        samples: the final states x at ``times[-1]``, shape (N, ...).
        nfe: number of network evaluations, counted by a wrapper around the model.
        trajectory: states at ``times``, shape (K+1, N, ...), when ``return_trajectory``; else None.
        times: the time grid used, shape (K+1,) (for ``dopri5``: the output times).
    """

    samples: Tensor
    nfe: int
    trajectory: Tensor | None = None
    times: Tensor | None = None


def _coefficients(schedule, times: Tensor) -> tuple[list[float], ...]:
    """``alpha, sigma, d_alpha, d_sigma`` at each grid time, as float64 Python scalars."""
    t = times.detach().to("cpu", torch.float64)
    return tuple(f(t).tolist() for f in (schedule.alpha, schedule.sigma, schedule.d_alpha, schedule.d_sigma))


def _ode_fixed(method):
    def run(model: CountedModel, x: Tensor, times: Tensor, **_) -> list[Tensor]:
        end = None
        if method in ("heun", "rk4") and singular_at(model, times[-1], x.dtype):
            end = "midpoint" if method == "heun" else "ralston3"  # no evaluation at the singular end
        return list(integrate(model.velocity, x, times, method, end_method=end)[1])
    return run


def _dopri5(model: CountedModel, x: Tensor, times: Tensor, *, rtol: float, atol: float, **_) -> list[Tensor]:
    return list(odeint_bridged(model.velocity, x, times, rtol=rtol, atol=atol,
                        open_end=singular_at(model, times[-1], x.dtype)))


# ---- diffusion samplers ---------------------------------------------------------------------
def _randn(x: Tensor, generator) -> Tensor:
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)


def _posterior(a_t: float, s_t: float, a_u: float, s_u: float) -> tuple[float, float, float]:
    """Coefficients of ``q(x_u | x_t, x_1) = N(c_x x_t + c_1 x_1, var)`` for u > t (VDM, time reversed)."""
    a_tu = a_t / a_u
    s2_tu = max(s_t ** 2 - a_tu ** 2 * s_u ** 2, 0.0)
    return a_tu * s_u ** 2 / s_t ** 2, a_u * s2_tu / s_t ** 2, s2_tu * s_u ** 2 / s_t ** 2


def _ddpm(model: CountedModel, x: Tensor, times: Tensor, *, generator=None, **_) -> list[Tensor]:
    a, s, _, _ = _coefficients(model.schedule, times)
    traj = [x]
    last = len(times) - 2
    for k in range(len(times) - 1):
        x1, _ = model.data_and_noise(x, times[k])  # (N, ...)
        c_x, c_1, var = _posterior(a[k], s[k], a[k + 1], s[k + 1])
        x = c_x * x + c_1 * x1  # the posterior mean
        if var > 0 and k < last:  # Ho et al. 2020, Alg. 2: z = 0 on the last step, which returns the mean
            x = x + math.sqrt(var) * _randn(x, generator)
        traj.append(x)
    return traj


def _ddim(model: CountedModel, x: Tensor, times: Tensor, *, eta: float = 0.0, generator=None, **_) -> list[Tensor]:
    a, s, _, _ = _coefficients(model.schedule, times)
    traj = [x]
    last = len(times) - 2
    for k in range(len(times) - 1):
        x1, x0 = model.data_and_noise(x, times[k])  # (N, ...) each
        c = eta * math.sqrt(_posterior(a[k], s[k], a[k + 1], s[k + 1])[2])
        x = a[k + 1] * x1 + math.sqrt(max(s[k + 1] ** 2 - c ** 2, 0.0)) * x0  # the mean
        if c > 0 and k < last:  # no noise on the last step, as ddpm: with eta = 1 this stays exactly ddpm
            x = x + c * _randn(x, generator)
        traj.append(x)
    return traj


def _em(model: CountedModel, x: Tensor, times: Tensor, *, noise: float = 1.0, generator=None, **_) -> list[Tensor]:
    a, s, da, ds = _coefficients(model.schedule, times)
    grid = times.tolist()
    traj = [x]
    for k in range(len(times) - 1):
        h = grid[k + 1] - grid[k]
        x1, x0 = model.data_and_noise(x, times[k])  # (N, ...) each
        v = da[k] * x1 + ds[k] * x0  # velocity
        x = x + h * (v - noise * x0)  # w_t * score = noise * sigma_t * (-x0 / sigma_t)
        if noise > 0 and k < len(times) - 2:
            x = x + math.sqrt(2 * noise * s[k] * h) * _randn(x, generator)
        traj.append(x)
    return traj


def _dpmpp_2m(model: CountedModel, x: Tensor, times: Tensor, **_) -> list[Tensor]:
    a, s, _, _ = _coefficients(model.schedule, times)
    tol = math.sqrt(torch.finfo(x.dtype).eps)
    s = [0.0 if si <= tol else si for si in s]  # sigma numerically 0 (e.g. cos(pi/2)): take the exact limit
    lam = [math.log(ai / si) if ai > 0 and si > 0 else (math.inf if si == 0 else -math.inf)
           for ai, si in zip(a, s)]
    traj, d_prev, last = [x], None, len(times) - 1
    for i in range(1, len(times)):
        d = model.data_and_noise(x, times[i - 1])[0]  # D_{i-1} = x1_hat(x_{i-1}, t_{i-1})
        exp_neg_h = (s[i] * a[i - 1]) / (a[i] * s[i - 1])  # e^{-h_i}, exact 0 when sigma_i = 0 or alpha_{i-1} = 0
        # first order: on the first step (no history), on the last step (lower_order_final; see sample()),
        # and wherever a lambda is infinite (a step from alpha = 0 or to sigma = 0: the exact limit is D)
        first_order = d_prev is None or i == last or not all(map(math.isfinite, lam[i - 2:i + 1]))
        if not first_order:
            r = (lam[i - 1] - lam[i - 2]) / (lam[i] - lam[i - 1])  # h_{i-1} / h_i
            d_mix = (1 + 0.5 / r) * d - (0.5 / r) * d_prev
        else:
            d_mix = d
        x = (s[i] / s[i - 1]) * x + a[i] * (1 - exp_neg_h) * d_mix
        traj.append(x)
        d_prev = d
    return traj


SAMPLERS: dict[str, Callable] = {
    "euler": _ode_fixed("euler"), "heun": _ode_fixed("heun"), "midpoint": _ode_fixed("midpoint"),
    "rk4": _ode_fixed("rk4"), "dopri5": _dopri5, "ddpm": _ddpm, "ddim": _ddim, "em": _em, "dpm++2m": _dpmpp_2m,
}


def steps_for(sampler: str, nfe: int) -> int:
    """Number of steps a fixed-step ``sampler`` takes within a budget of ``nfe`` network evaluations.

    ``steps = nfe // EVALS_PER_STEP[sampler]``, e.g. ``steps_for("rk4", 100) == 25``.
    """
    check_choice("sampler", sampler, SAMPLERS)
    if sampler not in EVALS_PER_STEP:
        raise ValueError(f"sampler {sampler!r} is adaptive and has no step count; pass nfe=None.")
    check_positive_int("nfe", nfe)
    evals = EVALS_PER_STEP[sampler]
    if nfe < evals:
        raise ValueError(f"nfe={nfe} is too small for {sampler!r}, which needs {evals} evaluations per step.")
    return nfe // evals


def _check_times(times, dtype, device) -> Tensor:
    if not isinstance(times, Tensor) or times.ndim != 1 or times.numel() < 2:
        raise ValueError("times must be a 1-D tensor of at least 2 increasing times in [0, 1], got "
                         f"{times if not isinstance(times, Tensor) else tuple(times.shape)}.")
    times = check_tensor("times", times.to(torch.float64))
    if not bool((times[1:] > times[:-1]).all()):
        raise ValueError(f"times must be strictly increasing (t=0 noise to t=1 data), got {times.tolist()}.")
    if float(times[0]) < 0 or float(times[-1]) > 1:
        raise ValueError(f"times must lie in [0, 1], got from {float(times[0]):.4g} to {float(times[-1]):.4g}.")
    return times.to(dtype=dtype, device=device)


def sample(model: PathModel, x0: Tensor | int, sampler: str = "euler", nfe: int | None = None, *, eta: float = 0.0,
           noise: float = 1.0, rtol: float = 1e-5, atol: float = 1e-5, generator: torch.Generator | None = None,
           return_trajectory: bool = False, times: Tensor | None = None) -> SampleResult:
    r"""Draw samples by moving noise ``x_0`` from ``t_min`` to ``t_max`` with a :class:`~fmlearn.models.PathModel`.

    Runs under ``torch.no_grad()`` in the dtype and on the device of the model's parameters: ``x0`` is
    converted to them (float64 noise for a float32 network just works; the samples come back in float32).
    A model without parameters (e.g. :func:`fmlearn.gaussians.optimal_model`) runs in ``x0``'s.

    Notation: ``a, s`` are ``alpha, sigma`` at the current time t, ``a_u, s_u`` at the next time u > t,
    ``h = u - t``, and ``(x1_hat, x0_hat)`` the model's data and noise predictions at ``(x, t)``.

    * ODE samplers (``euler``, ``heun``, ``midpoint``, ``rk4``, ``dopri5``) solve ``dx/dt = v(x, t)``
      with the model's velocity; see :func:`integrate`.
    * ``ddpm``: ``x_u ~ N(c_x x + c_1 x1_hat, var)``, the posterior ``q(x_u | x_t, x_1)`` of
      Kingma et al. (2021) with time reversed: ``a_{t|u} = a / a_u``, ``s2_{t|u} = s^2 - a_{t|u}^2 s_u^2``,
      ``c_x = a_{t|u} s_u^2 / s^2``, ``c_1 = a_u s2_{t|u} / s^2``, ``var = s2_{t|u} s_u^2 / s^2``.
      **Last step:** as in Ho et al. (2020), Alg. 2 (``z = 0`` when ``t = 1``), the last step returns the
      mean ``c_x x + c_1 x1_hat`` without noise. Where the grid ends at ``sigma = 0`` (linear) its ``var``
      is 0 anyway; on ``linear-beta`` (``t_max = 0.999``, ``sigma = 0.0105``) this drops noise of std up
      to 0.0105 that the end of the grid would otherwise leave in every sample. On the cosine path
      ``sigma_1 = cos(pi/2)`` is 6e-17 in floating point, not 0: there the values are the same, but no
      noise batch is drawn any more, so later draws from the same generator change (the MNIST race's
      diffusion DDPM rows, sampled in batches from one generator, moved by up to 7%).
    * ``ddim`` (Song et al. 2021): ``x_u = a_u x1_hat + sqrt(s_u^2 - c^2) x0_hat + c z`` with
      ``c = eta sqrt(var)``; ``eta = 0`` is deterministic, ``eta = 1`` is exactly ``ddpm``, also on the last
      step, which (for ``eta > 0``) likewise returns the mean (no ``c z``).
    * ``em``: Euler-Maruyama on ``dx = [v + w_t score] dt + sqrt(2 w_t) dW`` with ``w_t = noise * sigma_t``
      (the "sigma" diffusion of SiT, Ma et al. 2024). Any ``w_t >= 0`` keeps the marginals ``p_t``
      (the extra drift and diffusion cancel in the Fokker-Planck equation). This one is finite at
      ``t = 0``, unlike the diffusion of the noising process, ``sigma_t^2 d lambda / dt``, which is
      infinite where ``alpha_t = 0``; and it vanishes at ``t = 1``, where the score ``-x0_hat / sigma_t``
      blows up, so that ``w_t score = -noise * x0_hat`` stays finite. ``noise = 0`` is the
      probability-flow ODE solved by Euler.
      Update: ``x_u = x + h (v - noise x0_hat) + sqrt(2 noise s h) z``; no noise on the last step.
    * ``dpm++2m`` (Lu et al. 2022, Alg. 2) with ``lambda = log(alpha / sigma)`` and ``D_i = x1_hat(x_i, t_i)``:
      ``x_i = (s_i / s_{i-1}) x_{i-1} + a_i (1 - e^{-h_i}) D`` with ``h_i = lambda_i - lambda_{i-1}`` and
      ``D = (1 + 1/(2r)) D_{i-1} - D_{i-2} / (2r)``, ``r = h_{i-1} / h_i``.
      **First order (``D = D_{i-1}``, the DDIM step)** on the first step (no history), wherever a lambda
      is infinite (a step from ``alpha = 0`` or to ``sigma = 0``, where ``x_i = D_{i-1}`` is the exact
      limit), and **on the last step, whatever the number of steps** ("lower order final": Lu et al.'s
      ``dpm_solver_pytorch.py`` does it below 10 steps, diffusers' ``DPMSolverMultistepScheduler`` below
      15 steps and whenever the last sigma is 0; fmlearn always, because on the uniform grid it measured the
      second-order last step worse at every NFE from 6 to 800; on the log-SNR grid, whose last step is no
      longer than the others, the two agree within 1% from NFE 20 on). On a grid uniform in t the last step
      jumps far in lambda (linear-beta, 10 steps: from 1.07 to 4.56, ``r = 0.21``), where the second-order
      formula extrapolates with weights 3.4 and -2.4. Measured with the exact model of Gaussian data on ``linear-beta``
      (error of the final mean + covariance, ``tools/sampler_convergence.py``): NFE 10: 0.124 (second-order
      last step: 0.518), NFE 20: 0.023 (0.214), NFE 100: 0.0021 (0.0103), NFE 400: 0.0002 (0.0006). On the
      linear and cosine paths the last step goes to ``sigma = 0`` and was first order already: nothing
      changes there.
      **Order.** Second order in lambda. On the log-SNR grid (:meth:`~fmlearn.schedules.Schedule.logsnr_grid`)
      the measured order is 2.00 on ``linear-beta`` (NFE 100-800) and 1.7 on cosine (whose grid's end moves
      on with the steps); on the uniform grid in t it is 1.6-1.8 at NFE 100-400 and still rising, because
      there the steps in lambda near the ends do not shrink (on the cosine path the step from
      ``t = 1 - 2/K`` to ``1 - 1/K`` spans ``log 2`` whatever K). Below ~20 NFE the error's sign changes
      (a negative low-NFE term meets the positive asymptotic one), so on the linear and cosine paths it is
      not monotone in NFE there (linear, uniform: 0.0078 at NFE 10, 0.0100 at 16, 0.0086 at 20).
      The uniform grid stays the default, as for every sampler, so that one race compares samplers on one
      grid; pass ``times=model.schedule.logsnr_grid(steps)`` for the authors' grid.

    Args:
        model: a :class:`~fmlearn.models.PathModel` (network, schedule and parametrization).
        x0: initial noise, shape (N, ...), or a number N of samples to draw with ``model.noise``.
        sampler: one of :data:`SAMPLERS`.
        nfe: budget of network evaluations for fixed-step samplers (default 100):
            ``steps = nfe // EVALS_PER_STEP[sampler]``. Must be None for ``dopri5``.
        eta: ``ddim`` stochasticity (0 deterministic, 1 ancestral).
        noise: ``em`` diffusion scale (0: probability-flow ODE).
        rtol, atol: ``dopri5`` tolerances.
        generator: random generator for x0 (when an int) and for the samplers' noise.
        return_trajectory: also return the states at every grid time.
        times: the time grid, shape (K+1,), increasing in [0, 1] (default: ``model.schedule.time_grid(steps)``,
            from ``t_min`` to ``t_max``; for ``dopri5`` the output times, default ``[t_min, t_max]``).

    Returns:
        :class:`SampleResult` with samples (N, ...), the counted nfe, and optionally the trajectory.
    """
    check_choice("sampler", sampler, SAMPLERS)
    if not (hasattr(model, "schedule") and hasattr(model, "parametrization")):
        raise TypeError(f"model must be a fmlearn.models.PathModel, got {type(model).__name__}; wrap a network "
                        "with PathModel(net, schedule, parametrization).")
    if isinstance(x0, int) and not isinstance(x0, bool):
        x0 = model.noise(x0, generator=generator)
    x0 = like_model(model, check_tensor("x0", x0, min_ndim=2))  # e.g. float64 noise for a float32 model
    if getattr(model, "shape", None) and tuple(x0.shape[1:]) != tuple(model.shape):
        raise ValueError(f"x0 must have shape (N, {', '.join(map(str, model.shape))}), got {tuple(x0.shape)}.")
    if not (isinstance(eta, (int, float)) and 0 <= eta <= 1):
        raise ValueError(f"eta must lie in [0, 1] (0: deterministic DDIM, 1: DDPM), got {eta!r}.")
    if not (isinstance(noise, (int, float)) and 0 <= noise < math.inf):
        raise ValueError(f"noise must be a finite number >= 0 (0: probability-flow ODE), got {noise!r}.")
    if sampler == "dopri5":
        if nfe is not None:
            raise ValueError(f"nfe must be None for the adaptive sampler 'dopri5' (got nfe={nfe}); "
                             "control its accuracy with rtol and atol.")
        grid = model.schedule.time_grid(1) if times is None else times
    elif times is None:
        grid = model.schedule.time_grid(steps_for(sampler, DEFAULT_NFE if nfe is None else nfe))
    else:
        grid = times
        if nfe is not None and steps_for(sampler, nfe) != len(times) - 1:
            raise ValueError(f"nfe={nfe} gives {steps_for(sampler, nfe)} steps of {sampler!r} but times has "
                             f"{len(times) - 1}; pass only one of them.")
    grid = _check_times(grid, x0.dtype, x0.device)
    if singular_at(model, grid[0], x0.dtype):
        raise ValueError(f"times starts at t={float(grid[0]):.4g}, where alpha_t = 0 and a "
                         f"{model.parametrization!r} prediction says nothing about the data; "
                         f"start later, e.g. times=torch.linspace(1e-3, 1, 101).")
    counted = CountedModel(model)
    with torch.no_grad():
        traj = SAMPLERS[sampler](counted, x0, grid, eta=eta, noise=noise, generator=generator, rtol=rtol, atol=atol)
    bad = int((~torch.isfinite(traj[-1])).flatten(1).any(dim=1).sum()) if traj[-1].numel() else 0
    if bad:  # never a silent NaN: say so (the races then mark the row as diverged)
        warnings.warn(f"sample: {bad} of {traj[-1].shape[0]} samples are non-finite (NaN or inf): the {sampler!r} "
                      f"sampler diverged (too few steps near a singular end, or a network that overflows on x0 "
                      f"with values up to {float(x0.abs().max()):.3g}).", RuntimeWarning, stacklevel=2)
    return SampleResult(samples=traj[-1], nfe=counted.nfe,
                        trajectory=torch.stack(traj) if return_trajectory else None, times=grid)


def ddim_as_euler(model: PathModel, x0: Tensor, steps: int) -> Tensor:
    r"""Deterministic DDIM (``eta = 0``) computed as Euler steps on a linear path in disguise.

    Derivation, one line each (``a, s`` = ``alpha_t, sigma_t``):

    1. ``x = a x1 + s x0``, so ``y = x / (a + s) = r x1 + (1 - r) x0`` with ``r = a / (a + s)``: a linear path in r.
    2. On it the model's velocity is ``dy/dr = u = x1_hat - x0_hat`` (both from one call at (x, t)).
    3. Euler: ``y + (r_u - r) u = r_u x1_hat + (1 - r_u) x0_hat``, using ``y = r x1_hat + (1 - r) x0_hat``.
    4. Times ``(a_u + s_u)``: ``x_u = a_u x1_hat + s_u x0_hat``, which is exactly the DDIM update.

    Args:
        model: a :class:`~fmlearn.models.PathModel`.
        x0: initial noise at ``t_min``, shape (N, ...).
        steps: number of steps on ``model.schedule.time_grid(steps)``.

    Returns:
        samples at ``t_max``, shape (N, ...).
    """
    x0 = like_model(model, check_tensor("x0", x0, min_ndim=2))
    check_positive_int("steps", steps)
    times = model.schedule.time_grid(steps).to(dtype=x0.dtype, device=x0.device)
    a, s, _, _ = _coefficients(model.schedule, times)
    r = [ai / (ai + si) for ai, si in zip(a, s)]  # time on the linear path
    with torch.no_grad():
        y = x0 / (a[0] + s[0])  # (N, ...)
        for k in range(steps):
            x = (a[k] + s[k]) * y
            x1, x0_hat = to_data_and_noise(model(x, times[k]), model.parametrization, x, times[k], model.schedule,
                                           check=False)
            y = y + (r[k + 1] - r[k]) * (x1 - x0_hat)  # Euler step on the linear path
        return (a[-1] + s[-1]) * y
