# %% [markdown]
# # 07 · Likelihood: how probable is a data point?
#
# A model defined by an ODE is a continuous **normalizing flow**: it maps noise to data invertibly, so it
# assigns every point an exact probability density. This notebook computes it for a trained flow, checks
# it against a density we know in closed form, estimates the expensive part cheaply, and shows that a
# diffusion model has an exact density too.
#
# **Learning goals.** After this notebook you can
# 1. write the instantaneous change of variables `d/dt log p_t(x_t) = -div v(x_t, t)` and use it;
# 2. compute the divergence exactly (autograd) and estimate it with Hutchinson's trick, and say when each fits;
# 3. compare models by the negative log-likelihood (NLL) of held-out data;
# 4. explain why density estimation is not a privilege of flow matching.
#
# *Runtime: about 15 s on a laptop CPU.*
#
# *Notation (time from noise to data, `x_0` = noise, `x0_hat`, log-SNR): the box at the top of
# [notebook 01](01_probability_paths.ipynb).*

# %%
# Setup. On Colab this installs fmlearn first (elsewhere `python course.py lab` did). Then: seed, device, quick mode.
# <colab-install>

import math
import torch

from fmlearn import config, data
from fmlearn.gaussians import default_mixture
from fmlearn.likelihood import divergence_exact, divergence_hutchinson, log_likelihood
from fmlearn.models import MLP, PathModel
from fmlearn.training import train
from fmlearn.teaching import densities, plotting
from fmlearn.teaching.exercises import check

SEED, DEVICE, QUICK = config.notebook_setup(seed=0)

# %% [markdown]
# ## 1. Data with a known density
#
# The data set `gmm` is a mixture of three Gaussians, so its log-density `log p(x)` is known exactly
# (`fmlearn.gaussians.default_mixture().log_prob`). We train a flow matching model and a diffusion model
# on it, with the same network and budget. *About 5 s on a laptop CPU.*

# %%
mixture = default_mixture()
models = {}
for name, schedule, parametrization in (("fm", "linear", "velocity"), ("diffusion", "cosine", "noise")):
    torch.manual_seed(SEED)
    run = train(PathModel(MLP(dim=2), schedule, parametrization), "gmm", name, seed=SEED, progress=False)
    models[name] = run.ema
    print(f"{name:10s} trained {run.steps} steps in {run.seconds:.1f} s")

# %% [markdown]
# ## 2. The change of variables, continuously
#
# Follow a point along the ODE `dx/dt = v(x, t)`. Where the flow spreads points apart (positive divergence),
# density drops; where it squeezes them, density rises:
#
# $$\frac{d}{dt} \log p_t(x_t) = -\nabla\cdot v(x_t, t)
# \quad\Longrightarrow\quad
# \log p_1(x) = \log N(z; 0, I) - \int_0^1 \nabla\cdot v(x_t, t)\, dt,$$
#
# where `z` is where the data point `x` lands when the ODE is run *backwards* to `t = 0` (Chen et al. 2018).
# `fmlearn.likelihood.log_likelihood` integrates `x` and the log-density together with an adaptive solver.
# The log-density of the trained flow on a grid, next to the true one:

# %%
n_grid = 41 if QUICK else 81
g = torch.linspace(-3.5, 3.5, n_grid)
xx, yy = torch.meshgrid(g, g, indexing="ij")
grid = torch.stack([xx.ravel(), yy.ravel()], dim=1)              # (n_grid^2, 2)
cell = (g[1] - g[0]).item() ** 2
true_logp = mixture.log_prob(grid.double()).float()
fm_grid = log_likelihood(models["fm"], grid)
mass = fm_grid.log_prob.exp().sum().item() * cell
print(f"flow: {fm_grid.nfe} network calls for {len(grid)} points; total probability on the grid {mass:.3f}")
assert abs(mass - 1) < 0.05                                        # a density: it integrates to 1

fig, axes = plotting.new_figure(1, 2, panel=3.2)
for ax, logp, title in ((axes[0, 0], true_logp, "true log p(x)"), (axes[0, 1], fm_grid.log_prob, "flow's log p(x)")):
    im = ax.imshow(logp.reshape(n_grid, n_grid).T.clamp(min=-8), origin="lower", extent=(-3.5, 3.5, -3.5, 3.5),
                   vmin=-8, vmax=0, cmap="magma")
    ax.set_title(title)
fig.colorbar(im, ax=axes[0, :].tolist(), shrink=0.8)
fig

# %% [markdown]
# ## 3. The divergence: exact or estimated
#
# The exact divergence `sum_i d v_i / d x_i` costs one backward pass **per dimension**: two here, 784 for an
# MNIST image. Hutchinson's estimator `E[e^T (dv/dx) e] = div v`, with random `e` of entries `+-1`, costs one
# backward pass per probe `e`, whatever the dimension, and is unbiased; its standard deviation falls like
# `1 / sqrt(probes)`. At one time, on held-out points:

# %% [markdown]
# The exact divergence, written out as `fmlearn.likelihood.divergence_exact` computes it:

# %%
# core: exact_divergence
def exact_divergence(f, x):
    """div f = sum_i d f_i / d x_i by autograd, one backward pass per dimension. f: (B, D) -> (B, D)."""
    x = x.detach().requires_grad_(True)
    fx = f(x)                                                     # (B, D)
    div = torch.zeros(x.shape[0], dtype=x.dtype)
    for i in range(x.shape[1]):                                   # rows are independent: one pass serves all
        div = div + torch.autograd.grad(fx[:, i].sum(), x, retain_graph=True)[0][:, i]
    return div                                                    # (B,)


# %%
x_test = data.sample_data("gmm", 500 if QUICK else 2000, seed=SEED + 1)
velocity = models["fm"].velocity
t_mid = torch.tensor(0.5)
_, exact = divergence_exact(velocity, x_test, t_mid)
gen = torch.Generator().manual_seed(SEED)
print(" probes   mean error of the estimate   std of the estimate")
spread = {}
for probes in (1, 4, 16, 64):
    e = torch.randint(0, 2, (probes, *x_test.shape), generator=gen).float() * 2 - 1
    _, est = divergence_hutchinson(velocity, x_test, t_mid, e)
    spread[probes] = (est - exact).std().item()
    print(f"{probes:6d}   {(est - exact).mean().item():+.4f}                     {spread[probes]:.4f}")
assert spread[64] < spread[1] / 4                                   # ~ 1/sqrt(64) = 1/8 in theory

# %% [markdown]
# In 2D the exact divergence is cheap, and Hutchinson adds noise for nothing; in high dimension the
# trade reverses. The whole log-likelihood with one probe is unbiased too, but noisy per point:

# %%
exact_ll = log_likelihood(models["fm"], x_test)
hutch_ll = log_likelihood(models["fm"], x_test, divergence="hutchinson", n_probes=1, generator=gen)
diff = hutch_ll.log_prob - exact_ll.log_prob
print(f"mean log-likelihood: exact {exact_ll.log_prob.mean():.4f}, Hutchinson {hutch_ll.log_prob.mean():.4f} "
      f"(per-point std of the difference {diff.std():.3f}, standard error of the mean {diff.std() / len(diff) ** 0.5:.4f})")
assert abs(diff.mean()) < 4 * diff.std() / len(diff) ** 0.5 + 1e-3

# %% [markdown]
# ## 4. The diffusion model has an exact density too
#
# Nothing above used what the network predicts: `log_likelihood` asks the model for its velocity, and the
# diffusion model has one (notebook 04 converted its noise prediction). Its **probability-flow ODE** is a
# normalizing flow like any other (Song et al. 2021). *(Its path starts at `t_min = 0.02`, so the Gaussian at
# the start is an approximation, a small one.)* Held-out negative log-likelihood, in nats per point
# (lower is better; the true density sets the floor):

# %%
nll = {"true density": -mixture.log_prob(x_test.double()).mean().item()}
for name, model in models.items():
    nll[name] = -log_likelihood(model, x_test).log_prob.mean().item()
for name, value in nll.items():
    print(f"{name:13s} NLL = {value:.3f} nats")
assert all(value > nll["true density"] - 0.1 for value in nll.values())   # no model beats the truth (up to noise)
assert nll["diffusion"] < nll["true density"] + 0.5 and nll["fm"] < nll["true density"] + 0.5

# %% [markdown]
# Both models come close to the true density's NLL. Exact likelihoods are a property of **deterministic
# flows**, and every model here, diffusion included, has one.
#
# ## 5. The density at every time, not only at the data
#
# The same integral, stopped earlier, gives the model's density of every marginal `p_t`: run the ODE back
# from `x` at time `t` (not 1) to `t_min`,
#
# $$\log p_t(x) = \log N(z; 0, I) - \int_{t_{min}}^{t} \nabla\cdot v(x_s, s)\, ds .$$
#
# For the mixture the true `p_t` is known too: a mixture of `N(alpha_t mu_k, alpha_t^2 Sigma_k + sigma_t^2 I)`
# (`GaussianMixture.at_time`). The explorer shows both on a grid (`fmlearn.teaching.densities`, which calls
# `log_likelihood` on a clock that ends at `t`), and their difference, titled with `KL(p_t || model)` on the
# grid; pick the model and slide `t` (*about 2 s on a laptop CPU*). What to look for:
#
# * The flow's density is almost exact near noise (KL about 0.000 nats at t = 0.2) and its error grows
#   towards the data, where `p_t` has the most structure.
# * The errors sit where `p_t` is small: at the rims of the density and in the gaps between the modes, the
#   models put mostly too much density (red), a smoothed version of the truth; inside the modes they are
#   within a few tenths of a nat.
# * The diffusion model is off already at t = 0.2, many times more than the flow: near noise its velocity
#   comes from a noise prediction divided by a small `alpha_t`, which notebook 04's conversion explorer
#   shows flying apart.

# %%
grids = densities.density_grids(models, mixture, times=(0.2, 0.4, 0.6, 0.8, 0.9, 1.0), n=30 if QUICK else 40)
explorer = densities.density_explorer(grids, model="fm", t=0.9)
explorer

# %% [markdown]
# The static twin, for pages where widgets do not run: the flow at t = 0.9. Red in the gap between the two
# lower modes, between them and the upper one, and along the rims; white inside the modes.

# %%
explorer.static(model="fm", t=0.9)

# %%
kl = {name: g.kl for name, g in grids.items()}
print("KL(p_t || model) on the grid, nats, at t = " + ", ".join(f"{s:.1f}" for s in grids["fm"].times))
for name, values in kl.items():
    print(f"{name:10s}", "  ".join(f"{v:.3f}" for v in values))
assert kl["fm"][0] < 0.005 and kl["fm"][0] < kl["fm"][-1] / 3     # nearly exact near noise, worse at the data
assert kl["diffusion"][0] > 3 * kl["fm"][0]                          # the diffusion model errs from the start
assert kl["diffusion"][-1] > kl["diffusion"][0]

# %% [markdown]
# ## 6. Exercises
#
# **Exercise 7.1.** The log-density of the standard normal prior, per row.

# %%
def standard_normal_log_prob(z):
    """z: (B, D) -> log N(z; 0, I), (B,)."""
    ### BEGIN SOLUTION 7.1
    return -0.5 * (z ** 2).sum(1) - 0.5 * z.shape[1] * math.log(2 * math.pi)
    ### END SOLUTION


check("7.1", standard_normal_log_prob)

# %% [markdown]
# **Exercise 7.2.** The whole computation with a fixed-step solver: Euler steps *backwards* from `t = 1` to
# `t = 0`, moving `x` against the velocity and accumulating the divergence; then
# `log p(x) = log N(z; 0, I) - int_0^1 div v dt`. (`velocity(x, t)` and `divergence(x, t)` take a 0-d time.)

# %%
def log_likelihood_euler(velocity, divergence, x, steps):
    """x: data (B, D) -> log p(x), (B,)."""
    ### BEGIN SOLUTION 7.2
    times = torch.linspace(1, 0, steps + 1, dtype=x.dtype)
    integral = torch.zeros(x.shape[0], dtype=x.dtype)
    for t, t_next in zip(times[:-1], times[1:]):
        dt = t - t_next
        integral = integral + dt * divergence(x, t)               # accumulates int div v dt
        x = x - dt * velocity(x, t)                               # one Euler step back in time
    return standard_normal_log_prob(x) - integral
    ### END SOLUTION


check("7.2", log_likelihood_euler)

# %% [markdown]
# **Exercise 7.3.** Hutchinson's estimate with one probe `e`: `e^T (df/dx) e`, from one vector-Jacobian product.

# %%
def hutchinson_divergence(f, x, probe):
    """f: (B, D) -> (B, D); x, probe: (B, D) -> estimate (B,)."""
    ### BEGIN SOLUTION 7.3
    x = x.detach().requires_grad_(True)
    vjp = torch.autograd.grad(f(x), x, grad_outputs=probe)[0]     # e^T J, (B, D)
    return (vjp * probe).sum(1)
    ### END SOLUTION


check("7.3", hutchinson_divergence)

# %% [markdown]
# ## Summary
#
# * An ODE model is a continuous normalizing flow: `log p(x) = log N(z; 0, I) - int div v dt` along the path
#   from the data point back to its noise.
# * The divergence is exact by autograd at O(D) backward passes, or estimated without bias by Hutchinson's
#   trick at O(probes); the estimate's spread falls like `1/sqrt(probes)`.
# * The diffusion model's probability-flow ODE gives it an exact likelihood too: density estimation is a
#   property of deterministic flows, not of flow matching.
# * Stopped at any time t, the same integral gives the model's `log p_t`; against the closed form of the
#   mixture's `p_t`, the flow is nearly exact near noise and errs most at the data, in the tails and between modes.
#
# ## References
# * Chen, Rubanova, Bettencourt, Duvenaud. *Neural Ordinary Differential Equations.* NeurIPS 2018.
# * Grathwohl, Chen, Bettencourt, Sutskever, Duvenaud. *FFJORD: Free-form Continuous Dynamics for Scalable Reversible Generative Models.* ICLR 2019.
# * Hutchinson. *A Stochastic Estimator of the Trace of the Influence Matrix for Laplacian Smoothing Splines.* Communications in Statistics, 1989.
# * Song, Sohl-Dickstein, Kingma, Kumar, Ermon, Poole. *Score-Based Generative Modeling through Stochastic Differential Equations.* ICLR 2021.
# * Lipman, Chen, Ben-Hamu, Nickel, Le. *Flow Matching for Generative Modeling.* ICLR 2023.
