# %% [markdown]
# # 04 · Two sides of one coin
#
# Notebook 02 trained a diffusion model (cosine path, predicts noise); notebook 03 a flow matching model
# (linear path, predicts velocity). They look like different inventions. They are one kind of object: a
# network that estimates an average over a Gaussian path, `E[x_1 | x_t]` in one disguise or another.
# This notebook converts one into the other, samples each with the other's samplers, and pins down
# what actually differs.
#
# **Learning goals.** After this notebook you can
# 1. convert a noise prediction into a velocity, a score and a data prediction, on any path;
# 2. sample a diffusion model with a flow's ODE solver, and a flow model with a stochastic sampler;
# 3. show that DDIM is an Euler step on a linear path in disguise;
# 4. express both training losses as one loss with different time weightings;
# 5. list what really differs between the two families: schedule, parametrization, weighting, sampler.
#
# *Runtime: about 30 s on a laptop CPU.*

# %%
# Setup. On Colab this installs fmlearn first (elsewhere `python course.py lab` did). Then: seed, device, quick mode.
import sys
if "google.colab" in sys.modules:
    import subprocess
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/fmlearn/fmlearn"], check=True)

import copy
import math
import torch

from fmlearn import config, data, losses, metrics, plotting
from fmlearn.exercises import check
from fmlearn.models import MLP, PathModel
from fmlearn.parametrizations import convert
from fmlearn.samplers import ddim_as_euler, sample
from fmlearn.schedules import get_schedule
from fmlearn.training import train

SEED, DEVICE, QUICK = config.notebook_setup(seed=0)

# %% [markdown]
# ## 1. Two models, same network, same data, same budget
#
# *About 6 s on a laptop CPU.*

# %%
DATASET, N = "moons", (1000 if QUICK else 2000)
torch.manual_seed(SEED)
fm = train(PathModel(MLP(dim=2), "linear", "velocity"), DATASET, "fm", seed=SEED, progress=False).ema
torch.manual_seed(SEED)
dm = train(PathModel(MLP(dim=2), "cosine", "noise"), DATASET, "diffusion", seed=SEED, progress=False).ema
fresh = data.sample_data(DATASET, N, seed=SEED + 1)
floor = metrics.data_floor(DATASET, N, generator=torch.Generator().manual_seed(SEED + 2))
print(f"flow matching: {fm.schedule}, predicts {fm.parametrization}")
print(f"diffusion:     {dm.schedule}, predicts {dm.parametrization}")

# %% [markdown]
# ## 2. One prediction, four names
#
# On a path `x_t = alpha_t x_1 + sigma_t x_0`, knowing `x_t` and **any one** of
#
# | prediction | formula |
# |---|---|
# | data `x1_hat` | |
# | noise `eps_hat = x0_hat` | `x_t = alpha_t x1_hat + sigma_t eps_hat` |
# | velocity `v_hat` | `v_hat = alpha_t' x1_hat + sigma_t' eps_hat` |
# | score | `score = -eps_hat / sigma_t` |
#
# gives the other three: two linear equations, two unknowns. So the diffusion model *has* a velocity
# field, and the flow model *has* a score. `fmlearn.parametrizations.convert` does this on any path.
# For the cosine path, the velocity of a noise prediction is (exercise 4.1 asks for it):
#
# $$\hat v = \alpha_t' \frac{x_t - \sigma_t \hat\epsilon}{\alpha_t} + \sigma_t' \hat\epsilon .$$

# %%
x = torch.randn(5, 2)
t = torch.full((5,), 0.7)
with torch.no_grad():
    eps_hat = dm(x, t)
    v_hat = convert(eps_hat, "noise", "velocity", x, t, dm.schedule)
    a, s = math.sin(0.35 * math.pi), math.cos(0.35 * math.pi)
    da, ds = 0.5 * math.pi * s, -0.5 * math.pi * a
    by_hand = da * (x - s * eps_hat) / a + ds * eps_hat
print("largest difference, package vs formula:", (v_hat - by_hand).abs().max().item())
assert torch.allclose(v_hat, by_hand, atol=1e-5)

# %% [markdown]
# ## 3. Sample the diffusion model with a flow sampler, and the flow with diffusion samplers
#
# Every sampler in `fmlearn.samplers` asks the model for the prediction it needs and converts, so any
# sampler runs on any model:

# %%
gen = torch.Generator().manual_seed(SEED)
x0 = torch.randn(N, 2, generator=gen)
runs = {
    "diffusion + Euler ODE": sample(dm, x0, "euler", nfe=100),
    "diffusion + DDPM": sample(dm, x0, "ddpm", nfe=100, generator=torch.Generator().manual_seed(1)),
    "flow + Euler ODE": sample(fm, x0, "euler", nfe=100),
    "flow + reverse SDE": sample(fm, x0, "em", nfe=100, noise=1.0, generator=torch.Generator().manual_seed(1)),
}
for name, r in runs.items():
    w2 = metrics.wasserstein2(r.samples, fresh)
    print(f"{name:22s} NFE {r.nfe:3d}   W2 = {w2:.3f}  (floor {floor:.3f})")
    assert w2 < 5 * floor
plotting.plot_samples_grid(runs, ncols=4, reference=fresh)

# %% [markdown]
# All four work. **Deterministic vs stochastic is a choice of sampler, not of model family.**
#
# ## 4. DDIM is Euler in disguise
#
# DDIM's deterministic update (Song et al. 2021) goes from time `t` to a later time `u` by estimating the
# clean point and putting the same noise back at level `u`:

# %%
# core: ddim_step
def ddim_step(x, eps_hat, t, u):
    """One DDIM step (eta = 0) on the cosine path, from t to u > t. x, eps_hat: (B, D); t, u: scalars."""
    a_t, s_t = torch.sin(0.5 * math.pi * t), torch.cos(0.5 * math.pi * t)
    a_u, s_u = torch.sin(0.5 * math.pi * u), torch.cos(0.5 * math.pi * u)
    x1_hat = (x - s_t * eps_hat) / a_t        # the clean point the noise prediction implies
    return a_u * x1_hat + s_u * eps_hat       # the same noise, at the noise level of time u


# %% [markdown]
# Divide the path by `c_t = alpha_t + sigma_t`: `x_t / c_t = r_t x_1 + (1 - r_t) x_0` with
# `r_t = alpha_t / (alpha_t + sigma_t)`. That is the **linear** path, at time `r_t`. On it the model's
# velocity is `x1_hat - eps_hat`, and one Euler step from `r_t` to `r_u` lands exactly on
# `r_u x1_hat + (1 - r_u) eps_hat`, which is the DDIM step divided by `c_u`. So DDIM is Euler's method on the
# linear path, with the time grid mapped by `r` and the state rescaled by `c`. Checked numerically
# (in float64, so that only rounding separates them), with `fmlearn.samplers.ddim_as_euler` implementing
# the Euler side:

# %%
dm64, x0_64 = copy.deepcopy(dm).double(), x0.double()
for steps in (1, 4, 10, 50):
    ddim = sample(dm64, x0_64, "ddim", nfe=steps).samples
    euler_in_disguise = ddim_as_euler(dm64, x0_64, steps)
    plain_euler = sample(dm64, x0_64, "euler", nfe=steps).samples
    gap = (ddim - euler_in_disguise).abs().max().item()
    print(f"{steps:3d} steps: |DDIM - Euler on the mapped linear path| = {gap:.1e};  "
          f"|DDIM - Euler in t| = {(ddim - plain_euler).abs().max().item():.2f}")
    assert gap < 1e-5

# %% [markdown]
# DDIM and the disguised Euler agree to rounding; Euler in the *original* time `t` does not (it converges
# to the same answer only as the steps shrink). The time change matters: how the time grid is laid out is
# part of the sampler, and on the cosine path `r_t` moves slowly at both ends:

# %%
tt = torch.linspace(0, 1, 201)
cos = get_schedule("cosine")
fig, axes = plotting.new_figure(1, 1, panel=3.2)
axes[0, 0].plot(tt, cos.alpha(tt) / (cos.alpha(tt) + cos.sigma(tt)), label="cosine path: r_t")
axes[0, 0].plot(tt, tt, "--", label="linear path: r_t = t")
axes[0, 0].set(xlabel="t", ylabel="time on the linear path", title="the time change behind DDIM")
axes[0, 0].legend()
fig

# %% [markdown]
# ## 5. One loss, different weightings
#
# Because the conversions are affine in the prediction, an error in one parametrization is a *scaled*
# error in another: on the linear path `v - v_hat = (eps_hat - eps) / t`. So the noise loss equals the
# velocity loss weighted by `t^2`, and every objective of both families is
#
# $$L = E_t\, w(t)\, E\,\| \hat x_1(x_t, t) - x_1 \|^2$$
#
# for some weight `w(t)` on the error of the implied data prediction (Kingma & Gao 2023). The two
# objectives differ in this weight and in which times they sample. Checked on the trained diffusion
# model: its noise loss, weighted, *is* a velocity loss:

# %%
g = torch.Generator().manual_seed(SEED)
b0, b1 = torch.randn(4096, 2, generator=g), data.sample_data(DATASET, 4096, generator=g)
tb = losses.sample_time(4096, dm.schedule, generator=g)
with torch.no_grad():
    weighted_noise = losses.path_loss(dm.net, b0, b1, tb, dm.schedule, "noise", weighting="velocity")
    xt = dm.schedule.interpolate(b0, b1, tb)
    v_hat = convert(dm.net(xt, tb), "noise", "velocity", xt, tb, dm.schedule)
    velocity_loss = ((v_hat - dm.schedule.velocity(b0, b1, tb)) ** 2).mean()
print(f"weighted noise loss {weighted_noise:.4f} = velocity loss {velocity_loss:.4f}")
assert torch.allclose(weighted_noise, velocity_loss, rtol=1e-4)

# %% [markdown]
# Where does each objective spend its effort? Its weight on the data-prediction error, times how often
# training visits each noise level (times are uniform in `t`, so log-SNR `lambda` has density
# `1 / |d lambda / dt|`), gives the effective weighting over noise levels (Kingma & Gao 2023), normalized
# here to area 1:

# %%
fig, axes = plotting.new_figure(1, 1, panel=3.6)
for name, sched, par in (("flow matching (linear, velocity)", "linear", "velocity"),
                         ("diffusion (cosine, noise)", "cosine", "noise")):
    sc = get_schedule(sched)
    t = torch.linspace(max(sc.t_min, 0.01), 0.99, 400, dtype=torch.float64)
    lam = sc.log_snr(t)                                   # increasing in t
    w = losses.equivalent_weight(t, sc, "data", par)       # |pred error|^2 = w(t) |x1_hat error|^2
    density = 1 / torch.gradient(lam, spacing=(t,))[0]     # p(lambda) for t uniform
    effective = w * density
    effective = effective / torch.trapezoid(effective, lam)
    axes[0, 0].plot(lam, effective, label=name)
axes[0, 0].set(xlabel="log SNR  (noise <- -> data)", ylabel="effective weight", yscale="log",
               title="where each loss spends its effort")
axes[0, 0].legend(fontsize=8)
fig

# %% [markdown]
# Both objectives care most about the nearly clean end (high SNR), where the data prediction must be
# exact; but flow matching's velocity loss puts far more weight on the noisy end (low SNR) than the
# noise loss does, which barely trains there. That is one concrete, measurable difference between the two
# default objectives, and it is a *choice*: `fmlearn.losses.path_loss(..., weighting=...)` can give either
# model the other's weighting.

# %% [markdown]
# ## 6. The verdict: what differs, what does not
#
# | | flow matching (as usually set up) | diffusion (as usually set up) | tied to the family? |
# |---|---|---|---|
# | path | linear: `alpha_t = t, sigma_t = 1 - t` | variance-preserving: cosine, `linear-beta` | **no**: any schedule works with either loss (`fmlearn.losses.path_loss`) |
# | network predicts | velocity | noise | **no**: exact conversions (section 2) |
# | loss weighting over noise levels | implied by velocity regression | implied by noise regression | **no**: a choice of `w(t)` (section 5) |
# | sampler | ODE (Euler, Heun, ...) | DDPM, DDIM, DPM-Solver, SDEs | **no**: any sampler runs on any model (section 3) |
# | deterministic? | with an ODE sampler | with DDIM or an ODE sampler | **no**: a sampler property |
# | network architecture | any | any | **no**: the same MLP here |
#
# What remains is a *bundle of defaults*. The linear path with velocity prediction has a real advantage:
# its paths are straighter, so large steps lose less (notebooks 05 and 06 measure how much). But the
# popular claim that flow matching is fast "because it is deterministic" mixes up the model with the
# sampler: DDIM samples diffusion models deterministically, and is Euler's method in disguise.
#
# ## 7. Exercises
#
# **Exercise 4.1.** The velocity implied by a noise prediction on the cosine path.

# %%
def velocity_from_noise(eps_hat, x, t):
    """eps_hat, x: (B, D); t: (B,) -> velocity (B, D) on the cosine path."""
    ### BEGIN SOLUTION 4.1
    a, s = torch.sin(0.5 * math.pi * t)[:, None], torch.cos(0.5 * math.pi * t)[:, None]
    da, ds = 0.5 * math.pi * s, -0.5 * math.pi * a
    x1_hat = (x - s * eps_hat) / a
    return da * x1_hat + ds * eps_hat
    ### END SOLUTION


check("4.1", velocity_from_noise)

# %% [markdown]
# **Exercise 4.2.** On the linear path, a noise error becomes a velocity error: find `w(t)` with
# `|v_hat - v|^2 = w(t) |eps_hat - eps|^2` (hint: `x_t = t x_1 + (1 - t) eps` and `v = x_1 - eps`).

# %%
def noise_weight_linear(t):
    """t: (B,) -> w(t), (B,)."""
    ### BEGIN SOLUTION 4.2
    return 1 / t ** 2
    ### END SOLUTION


check("4.2", noise_weight_linear)

# %% [markdown]
# **Exercise 4.3.** The time change behind DDIM on the cosine path: return `(r_t, c_t)` such that
# `x_t / c_t = r_t x_1 + (1 - r_t) x_0`.

# %%
def linear_path_time(t):
    """t: (B,) -> (r_t, c_t), each (B,)."""
    ### BEGIN SOLUTION 4.3
    a, s = torch.sin(0.5 * math.pi * t), torch.cos(0.5 * math.pi * t)
    return a / (a + s), a + s
    ### END SOLUTION


check("4.3", linear_path_time)

# %% [markdown]
# ## Summary
#
# * A diffusion model and a flow matching model are both networks that estimate `E[x_1 | x_t]` on a
#   Gaussian path; noise, velocity, data and score predictions convert into each other exactly.
# * Any sampler runs on any model. DDIM is Euler's method on the linear path after a change of time and
#   scale; "deterministic" is a property of a sampler.
# * The two losses are one loss with different time weightings.
# * What differs in practice: the schedule (how noise is laid over time), the parametrization, the
#   weighting, and the sampler. Which of these make sampling fast is measured in notebook 05.
#
# ## References
# * Song, Meng, Ermon. *Denoising Diffusion Implicit Models.* ICLR 2021.
# * Kingma, Salimans, Poole, Ho. *Variational Diffusion Models.* NeurIPS 2021.
# * Karras, Aittala, Aila, Laine. *Elucidating the Design Space of Diffusion-Based Generative Models.* NeurIPS 2022.
# * Kingma, Gao. *Understanding Diffusion Objectives as the ELBO with Simple Data Augmentation.* NeurIPS 2023.
# * Gao, Hoogeboom, Heek, De Bortoli, Murphy, Salimans. *Diffusion Meets Flow Matching: Two Sides of the Same Coin.* Blog post, 2024.
# * Lipman, Havasi, Holderrieth, et al. *Flow Matching Guide and Code.* arXiv 2024.
