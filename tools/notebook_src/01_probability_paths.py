# %% [markdown]
# # 01 · Probability paths: from noise to data
#
# Both flow matching and diffusion models learn to move samples of plain Gaussian noise into samples
# of the data. Before any network appears, this notebook looks at *what* moves: a **probability path**
# `p_t`, a family of distributions that starts at noise (`t = 0`) and ends at the data (`t = 1`).
#
# **Learning goals.** After this notebook you can
# 1. write the affine path `x_t = alpha_t x_1 + sigma_t x_0` and sample any `p_t` with it;
# 2. tell the linear (flow matching) path from the variance-preserving (diffusion) paths by their
#    `alpha_t`, `sigma_t` and signal-to-noise ratio;
# 3. distinguish the *conditional* path of one data point from the *marginal* path of the whole data set.
#
# *Runtime: about 10 s on a laptop CPU; nothing is trained here.*

# %%
# Setup. On Colab this installs fmlearn first (elsewhere `python course.py lab` did). Then: seed, device, quick mode.
# <colab-install>

import math
import matplotlib.pyplot as plt
import torch

from fmlearn import config, data
from fmlearn.schedules import get_schedule
from fmlearn.teaching import animation, plotting, widgets
from fmlearn.teaching.exercises import check

SEED, DEVICE, QUICK = config.notebook_setup(seed=0)

# %% [markdown]
# > **Notation used in every notebook** (come back here when a paper seems to say the opposite).
# > * Time runs from **noise at `t = 0` to data at `t = 1`**. Diffusion papers run it the other way: in
# >   DDPM (Ho et al. 2020) `x_0` is the *data* and `x_T` the noise; here `x_0` is the **noise** and `x_1`
# >   the data. SD3 (Esser et al. 2024) and Gao et al. (2024) also put data at `t = 0`, which flips the sign of
# >   the velocity: their `v` is our `-v`.
# > * `x0_hat` is the model's estimate of the *noise* `E[x_0 | x_t]` (diffusion's "epsilon prediction");
# >   `x1_hat` its estimate of the *data* (diffusion papers' "x0-prediction").
# > * `alpha_t` multiplies the data, `sigma_t` the noise: `x_t = alpha_t x_1 + sigma_t x_0`. The log-SNR is
# >   `lambda = log(alpha_t^2 / sigma_t^2)`, increasing towards the data.
# > * The **variance-exploding / EDM** parametrization (Song et al. 2021; Karras et al. 2022) writes
# >   `x = y + s eps` with the data `y` unscaled and a noise level `s` from about 0.002 to 80. It is the same
# >   family in other coordinates: `x = x_t / alpha_t` with `s = sigma_t / alpha_t` (so `lambda = -2 log s`),
# >   and EDM's Heun sampler, time grid and preconditioning translate to any of our paths this way.

# %% [markdown]
# ## 1. Two ends: noise and data
#
# The source is standard Gaussian noise `x_0 ~ N(0, I)`; the target is a 2D toy data set. Every data
# set of the course is centred and scaled to about unit size so that the same settings work for all.

# %%
N = 1000 if QUICK else 3000
names = data.dataset_names()
fig, axes = plotting.new_figure(1, len(names) + 1, panel=1.8)
axes = axes[0]
plotting.scatter(axes[0], torch.randn(N, 2), color=plotting.NOISE_COLOR)
axes[0].set_title("noise x0")
for ax, name in zip(axes[1:], names):
    plotting.scatter(ax, data.sample_data(name, N, seed=SEED))
    ax.set_title(name)
fig

# %% [markdown]
# ## 2. The affine path
#
# Draw a noise sample `x_0` and a data sample `x_1` independently, and mix them:
#
# $$x_t = \alpha_t\, x_1 + \sigma_t\, x_0, \qquad \alpha_0 = 0,\ \sigma_0 = 1,\quad \alpha_1 = 1,\ \sigma_1 = 0 .$$
#
# The distribution of `x_t` is `p_t`. At `t = 0` it is the noise, at `t = 1` the data. Flow matching's
# **linear path** takes `alpha_t = t, sigma_t = 1 - t`. Here it is, written out exactly as the package
# does it (a test checks that this cell and `fmlearn` agree):

# %%
# core: interpolate
def interpolate(x0, x1, t):
    """x_t on the linear path. x0, x1: (B, D); t: (B,)."""
    t = t[:, None]                      # (B, 1) broadcasts against (B, D)
    return t * x1 + (1 - t) * x0        # (B, D)


x1 = data.sample_data("moons", N, seed=SEED)
x0 = torch.randn(N, 2, generator=torch.Generator().manual_seed(SEED))
xt = interpolate(x0, x1, torch.full((N,), 0.5))
print("x_t at t = 0.5:", tuple(xt.shape))

# %% [markdown]
# Diffusion models use **variance-preserving** (VP) paths, with `alpha_t^2 + sigma_t^2 = 1`. The course
# uses two: the cosine path `alpha_t = sin(pi t / 2), sigma_t = cos(pi t / 2)` and DDPM's schedule in
# continuous time (`linear-beta`). *Papers on diffusion run time the other way (data at 0); here time
# always runs from noise to data, and `fmlearn.schedules` converts DDPM's formula in one place.*
#
# Same data, same noise, three paths:

# %%
plotting.compare_paths(x1, ["linear", "cosine", "linear-beta"], x0=x0)

# %% [markdown]
# The three rows end in the same place but travel differently. The linear path passes through a
# *shrunken* mixture in the middle; the VP paths keep the overall scale fixed (`alpha^2 + sigma^2 = 1`).
# How long the data stays drowned depends on the schedule, not on the family: DDPM's `linear-beta` keeps it
# in noise much longer, while the cosine path's SNR `tan^2(pi t / 2)` is about 2.5 times the linear path's
# `t^2 / (1 - t)^2` near noise and 0.4 times it near data (they cross at `t = 1/2`). The schedules
# themselves, and the **signal-to-noise ratio** `SNR_t = alpha_t^2 / sigma_t^2` that tells how much of
# the data is visible at time `t`:

# %%
plotting.plot_schedules()

# %% [markdown]
# Reading the plots: at `t = 0.5` the linear path has `SNR = 1` (half data, half noise), the cosine
# path also `SNR = 1`, while DDPM's `linear-beta` schedule still has `SNR ~ 0.08`: it spends most of its
# time at high noise. **The schedule is one of the few real differences between the two families.**
#
# A check you can do by hand: for data with unit variance per coordinate, `Var(x_t) = alpha_t^2 + sigma_t^2`,
# which is 1 for every VP path but `t^2 + (1 - t)^2 = 0.5` at `t = 0.5` on the linear path. Measured:

# %%
white = (x1 - x1.mean(0)) / x1.std(0)              # unit variance per coordinate
half = torch.full((N,), 0.5)
for name in ["linear", "cosine"]:
    s = get_schedule(name)
    var = s.interpolate(x0, white, half).var(0).mean().item()
    a, sg = s.alpha(torch.tensor(0.5)).item(), s.sigma(torch.tensor(0.5)).item()
    print(f"{name:7s} Var(x_t) at t=0.5: measured {var:.3f}, predicted {a**2 + sg**2:.3f}")
    assert abs(var - (a ** 2 + sg ** 2)) < 0.1

# %% [markdown]
# ## 3. Conditional path vs marginal path
#
# Fix **one** data point `x_1`. Then `x_t` is Gaussian, `p_t(x | x_1) = N(alpha_t x_1, sigma_t^2 I)`: a blob
# of noise that shrinks onto the point. This *conditional* path is all a training step ever sees.
# The *marginal* path `p_t` is the average of these blobs over all data points. The networks of both
# families learn about the marginal path by regressing on conditional ones (notebooks 02 and 03).

# %%
plotting.plot_conditional_vs_marginal(x1, "linear", index=0, x0=x0)

# %% [markdown]
# ## 4. Explore
#
# Move the time slider, change the schedule and the data set. Everything is precomputed, so each
# change only recombines `x_0` and `x_1`. (Where widgets do not run, e.g. on GitHub, the static
# figure below shows the same view.)

# %%
explorer = widgets.path_explorer(n=N, seed=SEED)
explorer

# %%
# The static twin: the same drawing code for fixed values.
explorer.static(t=0.3, schedule="cosine", dataset="8gaussians")

# %% [markdown]
# An animation of the marginal path of the linear schedule (press play, or drag the slider):

# %%
animation.animate_path(x1, "linear", n_frames=20 if QUICK else 30, x0=x0)

# %% [markdown]
# ## 5. Exercises
#
# Each exercise is a function to fill in; the cell below it checks your function against `fmlearn`
# on random inputs and names the mistake when it recognizes it.
#
# **Exercise 1.1 (derive).** The linear path passes through a *shrunken* cloud in the middle (section 3).
# Where exactly is it smallest? Take data and noise with unit variance per coordinate, drawn independently,
# and the linear path with a little noise left at the end, `sigma_t = 1 - (1 - sigma_min) t` (Lipman et al.
# use `sigma_min` around 1e-4). Write `Var(x_t)` as a function of `t`, set its derivative to zero, and return
# the time `t*` where it is smallest, for a tensor of `sigma_min` values. *Predict first:* is `t*` before or
# after `1/2` when `sigma_min > 0`? Then check it on samples in the cell after.

# %%
def least_spread_time(sigma_min):
    """sigma_min: (B,) in [0, 1) -> t* (B,), the time of smallest Var(x_t) on the linear path."""
    ### BEGIN SOLUTION 1.1
    # Var(x_t) = t^2 + (1 - (1 - s) t)^2;  d/dt = 2 t - 2 (1 - s) (1 - (1 - s) t) = 0
    return (1 - sigma_min) / (1 + (1 - sigma_min) ** 2)
    ### END SOLUTION


check("1.1", least_spread_time)

# %%
# Measured on samples: the spread of x_t over a fine grid of times, for sigma_min = 0.3.
sig = 0.3
tt = torch.linspace(0, 1, 1001)
z0, z1 = torch.randn(2, 20000, generator=torch.Generator().manual_seed(SEED))
spread = torch.stack([(t * z1 + (1 - (1 - sig) * t) * z0).var() for t in tt])
try:
    mine = f"{float(least_spread_time(torch.tensor([sig]))[0]):.3f}"
except NotImplementedError:
    mine = "(exercise 1.1 not done yet)"
print(f"smallest spread measured at t = {tt[spread.argmin()]:.3f}; your t* = {mine}")

# %% [markdown]
# **Exercise 1.2.** Return `(alpha_t, sigma_t)` of the cosine path for a tensor of times `t`.

# %%
def cosine_schedule(t):
    """t: (B,) -> (alpha_t, sigma_t), each (B,)."""
    ### BEGIN SOLUTION 1.2
    return torch.sin(0.5 * math.pi * t), torch.cos(0.5 * math.pi * t)
    ### END SOLUTION


check("1.2", cosine_schedule)

# %% [markdown]
# **Exercise 1.3.** The *conditional velocity* is the time derivative of `x_t` for a fixed pair
# `(x_0, x_1)`. Write it for the linear path. (Notebook 03 regresses a network onto exactly this.)

# %%
def conditional_velocity(x0, x1, t):
    """x0, x1: (B, D); t: (B,) -> d x_t / dt, (B, D)."""
    ### BEGIN SOLUTION 1.3
    return x1 - x0
    ### END SOLUTION


check("1.3", conditional_velocity)

# %% [markdown]
# ## Summary
#
# * A probability path is a family `p_t` from noise (`t = 0`) to data (`t = 1`); both families use
#   Gaussian paths `x_t = alpha_t x_1 + sigma_t x_0`.
# * Flow matching's linear path and diffusion's variance-preserving paths differ only in `(alpha_t, sigma_t)`:
#   in how fast the signal-to-noise ratio grows, and in whether the overall scale is preserved.
# * One data point gives a conditional path (a shrinking Gaussian blob); the data set gives the
#   marginal path, the average of the blobs. Training uses the first to learn the second.
#
# **Next:** 02 trains a diffusion model on such a path; 03 a flow matching model.
#
# ## References
# * Lipman, Chen, Ben-Hamu, Nickel, Le. *Flow Matching for Generative Modeling.* ICLR 2023.
# * Liu, Gong, Liu. *Flow Straight and Fast: Learning to Generate and Transfer Data with Rectified Flow.* ICLR 2023.
# * Albergo, Vanden-Eijnden. *Building Normalizing Flows with Stochastic Interpolants.* ICLR 2023.
# * Ho, Jain, Abbeel. *Denoising Diffusion Probabilistic Models.* NeurIPS 2020.
# * Nichol, Dhariwal. *Improved Denoising Diffusion Probabilistic Models.* ICML 2021.
# * Kingma, Salimans, Poole, Ho. *Variational Diffusion Models.* NeurIPS 2021.
# * Lipman, Havasi, Holderrieth, et al. *Flow Matching Guide and Code.* arXiv 2024.
