# %% [markdown]
# # 02 · Diffusion: learn to remove noise
#
# A diffusion model learns to *predict the noise* that was mixed into a data point. This notebook
# trains one on a 2D data set in a few seconds and samples it in two ways.
#
# **Learning goals.** After this notebook you can
# 1. describe the forward noising process on a variance-preserving path and write its training loss;
# 2. train a noise-predicting network and sample it with DDPM's ancestral sampler;
# 3. turn the predicted noise into the **score** `grad log p_t`;
# 4. sample the same model with a reverse SDE and with the probability-flow ODE, and compare them.
#
# *Runtime: about 30 s on a laptop CPU (training takes a few seconds).*
#
# *Notation (time from noise to data, `x_0` = noise, `x0_hat`, log-SNR): the box at the top of
# [notebook 01](01_probability_paths.ipynb).*

# %%
# Setup. On Colab this installs fmlearn first (elsewhere `python course.py lab` did). Then: seed, device, quick mode.
# <colab-install>

import math
import torch

from fmlearn import config, data, metrics
from fmlearn.models import MLP, PathModel
from fmlearn.samplers import sample
from fmlearn.training import train
from fmlearn.teaching import plotting, widgets
from fmlearn.teaching.exercises import check

SEED, DEVICE, QUICK = config.notebook_setup(seed=0)

# %% [markdown]
# ## 1. The forward process: add noise
#
# Diffusion destroys data gradually. In our time direction (noise at `t = 0`, data at `t = 1`) the noisy
# version of a data point `x_1` at time `t` is, on the cosine variance-preserving path,
#
# $$x_t = \alpha_t x_1 + \sigma_t \epsilon, \qquad \alpha_t = \sin(\pi t/2),\ \sigma_t = \cos(\pi t/2),\ \epsilon \sim N(0, I).$$
#
# (Diffusion papers write the same thing with time reversed, `s = 1 - t`, and call the noise `epsilon`;
# here the noise is `x_0` and plays the role of `epsilon`.) Read from right to left, this is the data
# being noised; a diffusion model learns to walk it back, from left to right.

# %%
N = 1000 if QUICK else 2000
x1 = data.sample_data("moons", N, seed=SEED)
plotting.plot_path_snapshots(x1, "cosine")

# %% [markdown]
# ## 2. The loss: predict the noise
#
# Draw a data point, a noise sample and a time; build `x_t`; ask the network `eps_theta(x_t, t)` for the
# noise. That is the whole DDPM objective (Ho et al. 2020), written exactly as `fmlearn.losses` does:

# %%
# core: diffusion_loss
def diffusion_loss(net, x0, x1, t):
    """Noise regression on the cosine path. x0 (noise), x1 (data): (B, D); t: (B,)."""
    alpha = torch.sin(0.5 * math.pi * t)[:, None]   # (B, 1)
    sigma = torch.cos(0.5 * math.pi * t)[:, None]   # (B, 1)
    xt = alpha * x1 + sigma * x0                     # (B, D): the noisy point
    return ((net(xt, t) - x0) ** 2).mean()           # predict the noise that was added


# A training loop in five lines, to see that there is nothing more to it:
torch.manual_seed(SEED)
net = MLP(dim=2, width=64, depth=3)
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
g = torch.Generator().manual_seed(SEED)
losses = []
for step in range(200 if QUICK else 500):
    batch = data.sample_data("moons", 256, generator=g)
    loss = diffusion_loss(net, torch.randn(256, 2, generator=g), batch, 0.02 + 0.98 * torch.rand(256, generator=g))
    opt.zero_grad(); loss.backward(); opt.step()
    losses.append(loss.item())
first, last = sum(losses[:50]) / 50, sum(losses[-50:]) / 50
print(f"mean loss over the first 50 steps {first:.3f}, over the last 50 {last:.3f}")
assert last < first

# %% [markdown]
# The loss goes down, **but not to zero**: from a noisy `x_t` the noise cannot be recovered exactly
# (many pairs `(x_0, x_1)` give the same `x_t`), so the best network predicts the *average* noise
# `E[x_0 | x_t]`. That average is exactly what sampling needs.
#
# For the rest of the notebook we train with `fmlearn.training.train`: the same loss, plus an
# exponential moving average (EMA) of the weights, a progress bar, and a seed that fixes everything.
# *This takes about 5 s on a laptop CPU.*

# %%
torch.manual_seed(SEED)
diffusion = PathModel(MLP(dim=2, width=64, depth=3), schedule="cosine", parametrization="noise")
run = train(diffusion, "moons", "diffusion", seed=SEED, progress=not QUICK)
model = run.ema
fig, ax = plotting.new_figure(1, 1, panel=3.2)
ax[0, 0].plot(run.history.numpy(), lw=0.5)
ax[0, 0].set(xlabel="step", ylabel="loss", title=f"{run.steps} steps in {run.seconds:.1f} s")
fig

# %% [markdown]
# ## 3. DDPM: ancestral sampling
#
# Start from pure noise and step towards the data. At each step, the network's noise prediction gives a
# guess of the clean point, `x1_hat = (x_t - sigma_t eps_hat) / alpha_t`, and DDPM draws the next, less
# noisy point from the Gaussian `q(x_u | x_t, x1_hat)` that the forward process implies. It adds fresh
# noise at every step. Quality is measured by the exact 2-Wasserstein distance `W2` to fresh data. The
# *floor* is the W2 between two independent data samples of the same size: what a perfect model scores
# on average. It is an expectation, not a bound: finite samples scatter (the shipped race's five draws of
# the floor on moons at 2000 points span 0.068 to 0.144), so a model can land below it by chance, and
# differences smaller than that spread mean little.

# %%
fresh = data.sample_data("moons", N, seed=SEED + 1)
floor = metrics.data_floor("moons", N, generator=torch.Generator().manual_seed(SEED + 2))
ddpm = sample(model, N, "ddpm", nfe=100, generator=torch.Generator().manual_seed(SEED), return_trajectory=True)
w2_ddpm = metrics.wasserstein2(ddpm.samples, fresh)
print(f"DDPM, {ddpm.nfe} network calls: W2 = {w2_ddpm:.3f} (data floor {floor:.3f})")
assert w2_ddpm < 5 * floor
plotting.plot_samples_grid({"data": fresh, "DDPM": ddpm}, ncols=2)

# %% [markdown]
# ## 4. The score
#
# The noise prediction is a disguised **score**, the gradient of the log-density of `p_t`:
# `grad log p_t(x) = -E[x_0 | x_t = x] / sigma_t`. Why, in two lines (Tweedie's formula): the noisy density
# is a blur of the data, `p_t(x) = E_{x_1} N(x; alpha_t x_1, sigma_t^2 I)`, and the gradient of one Gaussian
# is `-(x - alpha_t x_1) / sigma_t^2 = -x_0 / sigma_t` times that Gaussian; so
# `grad p_t(x) = -E[x_0 1{x_t = x}] / sigma_t`, and dividing by `p_t(x)` gives the conditional mean. The
# network that minimizes the noise loss outputs exactly `E[x_0 | x_t]` (the squared error's minimizer is the
# conditional mean), so it is a score model: this is **denoising score matching** (Vincent 2011).
#
# How this loss relates to the likelihood: the ELBO of a diffusion model is the same regression weighted
# by the speed of the log-SNR, `(1/2) E_t [lambda'(t) ||eps_hat - eps||^2]` plus constants, with
# `lambda = log(alpha^2 / sigma^2)` increasing in our time (Kingma et al. 2021): a weight that is flat in
# `lambda`. DDPM's `L_simple`, used here, drops that weight, so it is a **reweighted ELBO** that spends more
# effort at middle noise levels (notebook 04, section 6, draws the weights).
#
# Here is the learned score at three times (early, it points to the centre; late, onto the moons):

# %%
fig, axes = plotting.new_figure(1, 3, panel=3.0)
for ax, t in zip(axes[0], (0.3, 0.6, 0.9)):
    plotting.scatter(ax, x1, color="#cccccc")
    plotting.plot_vector_field(ax, lambda x, t: model.predict(x, t, "score"), t, n=18)
    ax.set_title(f"score at t = {t}")
fig

# %% [markdown]
# ## 5. Same model, two samplers: reverse SDE and probability-flow ODE
#
# The same network defines a **stochastic** sampler and a **deterministic** one with the same marginals
# `p_t`. Why they agree, in three lines: the marginal velocity `v` moves the density by the continuity
# equation `d p_t / dt = -div(p_t v)`. Add any amount `w_t >= 0` of diffusion, `dx = [v + w_t grad log p_t] dt +
# sqrt(2 w_t) dW`: the Fokker–Planck equation gets `-div(p_t w_t grad log p_t) + w_t Laplacian p_t`, and
# since `p_t grad log p_t = grad p_t` the two new terms cancel. So there is a whole **family** of samplers,
# one for each `w_t`, all with the marginals `p_t`. `w_t = 0` is the probability-flow ODE; written with the
# score it is `v = (alpha'/alpha) x + (1/2) sigma^2 lambda' grad log p_t`, with `lambda = log(alpha^2 /
# sigma^2)` (Song et al. 2021 derive the same ODE from their time-reversed SDE). The `em` sampler here
# is the member `w_t = noise * sigma_t` (SiT's choice, Ma et al. 2024), integrated with Euler–Maruyama;
# Song et al.'s reverse-time SDE is the member `w_t = g_t^2 / 2`, where `g_t^2 = sigma_t^2 lambda'` is
# the noising process's diffusion (infinite where `alpha = 0`, which is why `em` does not use it). Neither
# is "the" diffusion sampler: the model is the same, only the way of walking it changes. Both reach the
# data; the SDE paths are jagged, the ODE paths smooth.

# %%
gen = torch.Generator().manual_seed(SEED)
x0 = model.noise(N, generator=gen)
sde = sample(model, x0, "em", nfe=100, noise=1.0, generator=gen, return_trajectory=True)
ode = sample(model, x0, "euler", nfe=100, return_trajectory=True)
w2_sde, w2_ode = metrics.wasserstein2(sde.samples, fresh), metrics.wasserstein2(ode.samples, fresh)
print(f"reverse SDE (Euler-Maruyama): W2 = {w2_sde:.3f};  probability-flow ODE (Euler): W2 = {w2_ode:.3f}")
assert w2_sde < 5 * floor and w2_ode < 5 * floor
fig, axes = plotting.new_figure(1, 2, panel=3.4)
plotting.plot_trajectories(axes[0, 0], sde, n=40)
axes[0, 0].set_title("reverse SDE: same start, random walk")
plotting.plot_trajectories(axes[0, 1], ode, n=40)
axes[0, 1].set_title("probability-flow ODE: deterministic")
fig

# %% [markdown]
# ## 6. Explore: sampler and number of steps
#
# Precomputed for a few samplers and budgets (network calls, NFE). Predict first: which needs fewer steps,
# the stochastic DDPM or the deterministic DDIM and Euler? On this diffusion model and this grid uniform in
# `t`, the shipped race (notebook 05) says **DDPM**: W2 at NFE 4 is 0.400 for DDPM against 0.655 for DDIM
# and 0.885 for Euler, at NFE 8 0.298 against 0.512 and 0.594. Each stochastic step adds fresh noise, which
# partly corrects the errors that the model and the large early steps made, while an ODE sampler carries
# them to the end (Karras et al. 2022, section 4). With the steps spaced in log-SNR instead, DDIM wins
# (notebook 05, section 5): "deterministic samplers need fewer steps" depends on the grid.

# %%
budgets = (2, 8, 32) if QUICK else (2, 4, 8, 16, 32, 100)
results = {}
for name in ("ddpm", "ddim", "em", "euler"):
    for nfe in budgets:
        results[name, nfe] = sample(model, x0, name, nfe=nfe, generator=torch.Generator().manual_seed(SEED),
                                    return_trajectory=True)
explorer = widgets.trajectory_explorer(results, reference=fresh)
explorer

# %%
# The static twin of the explorer:
explorer.static(sampler="ddpm", nfe=budgets[1])

# %% [markdown]
# ## 7. Exercises
#
# **Exercise 2.1.** Write the diffusion loss (cosine path, noise prediction) without looking above.

# %%
def diffusion_loss_mine(net, x0, x1, t):
    """x0 (noise), x1 (data): (B, D); t: (B,) -> scalar loss."""
    ### BEGIN SOLUTION 2.1
    alpha, sigma = torch.sin(0.5 * math.pi * t)[:, None], torch.cos(0.5 * math.pi * t)[:, None]
    return ((net(alpha * x1 + sigma * x0, t) - x0) ** 2).mean()
    ### END SOLUTION


check("2.1", diffusion_loss_mine)

# %% [markdown]
# **Exercise 2.2.** Turn a noise prediction `eps_hat` at the point `x` and time `t` into the score on the
# cosine path.

# %%
def score_from_noise(eps_hat, x, t):
    """eps_hat, x: (B, D); t: (B,) -> score (B, D)."""
    ### BEGIN SOLUTION 2.2
    return -eps_hat / torch.cos(0.5 * math.pi * t)[:, None]
    ### END SOLUTION


check("2.2", score_from_noise)

# %% [markdown]
# **Exercise 2.3.** One deterministic DDIM step (Song et al. 2021) from time `t` to a later time `u`:
# estimate the clean point from the noise prediction, then put the *same* noise back at the level of
# time `u`. (`t` and `u` are 0-d tensors.)

# %%
def ddim_step(x, eps_hat, t, u):
    """x, eps_hat: (B, D); t < u: scalars -> x_u (B, D)."""
    ### BEGIN SOLUTION 2.3
    a_t, s_t = torch.sin(0.5 * math.pi * t), torch.cos(0.5 * math.pi * t)
    a_u, s_u = torch.sin(0.5 * math.pi * u), torch.cos(0.5 * math.pi * u)
    x1_hat = (x - s_t * eps_hat) / a_t
    return a_u * x1_hat + s_u * eps_hat
    ### END SOLUTION


check("2.3", ddim_step)

# %% [markdown]
# ## Summary
#
# * A diffusion model is a network trained to predict the noise in `x_t = alpha_t x_1 + sigma_t x_0`;
#   the loss converges, but not to zero, because the best prediction is an average.
# * The noise prediction is the score in disguise: `score = -eps_hat / sigma_t`.
# * The same model can be sampled stochastically (DDPM, reverse SDE) or deterministically (DDIM,
#   probability-flow ODE). "Diffusion is stochastic" describes a sampler, not the model.
#
# **Next:** 03 trains a flow matching model the same way; 04 shows the two are one kind of object.
#
# ## References
# * Sohl-Dickstein, Weiss, Maheswaranathan, Ganguli. *Deep Unsupervised Learning using Nonequilibrium Thermodynamics.* ICML 2015.
# * Vincent. *A Connection Between Score Matching and Denoising Autoencoders.* Neural Computation, 2011.
# * Ho, Jain, Abbeel. *Denoising Diffusion Probabilistic Models.* NeurIPS 2020.
# * Kingma, Salimans, Poole, Ho. *Variational Diffusion Models.* NeurIPS 2021.
# * Karras, Aittala, Aila, Laine. *Elucidating the Design Space of Diffusion-Based Generative Models.* NeurIPS 2022.
# * Song, Sohl-Dickstein, Kingma, Kumar, Ermon, Poole. *Score-Based Generative Modeling through Stochastic Differential Equations.* ICLR 2021.
# * Song, Meng, Ermon. *Denoising Diffusion Implicit Models.* ICLR 2021.
# * Nichol, Dhariwal. *Improved Denoising Diffusion Probabilistic Models.* ICML 2021.
# * Ma, Goldstein, Albergo, Boffi, Vanden-Eijnden, Xie. *SiT: Exploring Flow and Diffusion-based Generative Models with Scalable Interpolant Transformers.* ECCV 2024.
