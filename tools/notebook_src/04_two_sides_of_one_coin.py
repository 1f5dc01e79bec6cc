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
# *Runtime: about 20 s on a laptop CPU (10 s in quick mode).*
#
# *Notation (time from noise to data, `x_0` = noise, `x0_hat`, log-SNR): the box at the top of
# [notebook 01](01_probability_paths.ipynb).*

# %%
# Setup. On Colab this installs fmlearn first (elsewhere `python course.py lab` did). Then: seed, device, quick mode.
# <colab-install>

import copy
import math
import numpy as np
import torch

from fmlearn import config, data, gaussians, losses, metrics
from fmlearn.models import MLP, PathModel
from fmlearn.parametrizations import convert
from fmlearn.samplers import ddim_as_euler, sample
from fmlearn.schedules import get_schedule
from fmlearn.training import train
from fmlearn.teaching import conversions, plotting
from fmlearn.teaching.exercises import check

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
# gives the other three: two linear equations, two unknowns (`fmlearn.parametrizations.convert` does this on
# any path). So the diffusion model *has* a velocity field, and the flow model *has* a score — of its
# marginals `p_t` only because its noise is drawn independently of the data, as here: then `eps_hat`
# estimates `E[x_0 | x_t]` and Tweedie's formula turns it into `grad log p_t`. With a coupling that pairs
# noise with data (minibatch OT, reflow: notebook 06) the same formula gives no score, and the stochastic
# samplers that rely on it go wrong (notebook 05).
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
# **One output in four coordinates.** The explorer below evaluates one network at points `x_t` of its path
# (moons data, fresh noise) and draws its single output in all four coordinates, converted by
# `fmlearn.parametrizations.convert`: velocity and score as arrows at `x_t`, the noise and data predictions
# as points (grey lines join a few points `x_t` to their prediction; a red ring follows one point through
# the four panels). To see what a conversion does to a network's *errors*, the same MLP is trained, with
# the same budget, to predict velocity, noise or data on each of the two paths: the two models above and
# four more (*about 10 s on a laptop CPU, 3 s in quick mode*). Pick the path and what the network predicts;
# slide t. What to look for:
#
# * **Near t = 0** the data prediction of the velocity and data networks is a tight blob at the mean of the
#   data: seen from pure noise, the best guess of `x_1` is the average of everything `x_t` could become.
#   The noise networks' data prediction instead scatters over and off the panel: `x1_hat = (x_t - sigma_t
#   eps_hat) / alpha_t` divides the network's error by `alpha_t` (0.02 on the linear path at t = 0.02).
# * **Near t = 1** the velocity and noise networks predict noise close to 0: once `sigma_t` is below the
#   data's own width (about 0.07 for moons), `x_t` no longer tells which noise was added. The data networks'
#   noise prediction, `eps_hat = (x_t - alpha_t x1_hat) / sigma_t`, divides their error by `sigma_t` and
#   flies off the panel; their score, divided by `sigma_t` once more, is many times larger than the others'.
# * In between, the three networks of one path nearly agree, in all four panels: one field, four
#   coordinates. Only where a conversion divides by a small `alpha_t` or `sigma_t` does it matter which of
#   the four the network itself outputs.

# %%
nets = {("linear", "velocity"): fm, ("cosine", "noise"): dm}
for schedule in ("linear", "cosine"):
    for parametrization in ("velocity", "noise", "data"):
        if (schedule, parametrization) not in nets:
            torch.manual_seed(SEED)
            net = PathModel(MLP(dim=2), schedule, parametrization)
            nets[schedule, parametrization] = train(net, DATASET, None, seed=SEED, progress=False).ema
explorer = conversions.conversion_explorer(list(nets.values()), fresh, seed=SEED)
explorer

# %% [markdown]
# The static twin, for pages where widgets do not run: the data network on the linear path at t = 0.98. Its
# own output, the data prediction, sits on the moons; its converted noise prediction is spread over the
# whole panel and beyond (the caption counts the points off it), where the velocity and noise networks put
# theirs close to 0.

# %%
explorer.static(schedule="linear", parametrization="data", t=0.98)

# %% [markdown]
# Measured on 500 points: at t = 0.02 the median distance of the data prediction from the data mean, at
# t = 0.98 the median size of the noise prediction, and at t = 0.5 the median distance between the data
# predictions of the velocity network and of each other network on its path.

# %%
noise0 = torch.randn(500, 2, generator=torch.Generator().manual_seed(SEED + 3))
centre = fresh.mean(0).numpy()
at = {key: conversions.predictions(net, noise0, fresh[:500], [0.02, 0.5, 0.98]).values for key, net in nets.items()}
spread = {key: float(np.median(np.linalg.norm(p["data"][0] - centre, axis=1))) for key, p in at.items()}
size = {key: float(np.median(np.linalg.norm(p["noise"][2], axis=1))) for key, p in at.items()}
gap = {key: float(np.median(np.linalg.norm(p["data"][1] - at[key[0], "velocity"]["data"][1], axis=1)))
       for key, p in at.items()}
own = float(np.median(np.linalg.norm(fresh.numpy() - centre, axis=1)))
print(f"the data themselves: median distance from their mean {own:.2f}")
for key in nets:
    print(f"{key[0]:6s} path, predicts {key[1]:8s}: data prediction {spread[key]:.2f} from the mean at t = 0.02, "
          f"{gap[key]:.2f} from the velocity network's at t = 0.5; noise prediction {size[key]:.2f} at t = 0.98")
assert all(spread[s, p] < 0.3 for s in ("linear", "cosine") for p in ("velocity", "data"))  # a blob at the mean
assert all(spread[s, "noise"] > 1.0 for s in ("linear", "cosine"))                          # error / alpha_t
assert min(size[s, "data"] for s in ("linear", "cosine")) > 3 * max(size[s, p] for s in ("linear", "cosine")
                                                                    for p in ("velocity", "noise"))  # error / sigma_t
assert max(gap.values()) < 0.2 * own                                                          # one field

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
# part of the sampler. On the cosine path `dr/dt = (pi/2) / (1 + sin(pi t))`: it is `pi/2` at both ends and
# `pi/4` in the middle, so `r_t` moves *fastest* near noise and near data, and a grid uniform in `t` takes
# its biggest steps in `r` there:

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
# ## 5. One flow, two clocks: the linear path is not straighter, only rescaled
#
# The same change of variables says more than "DDIM is Euler". Take the *exact* models of one data set
# (the Gaussian mixture of `fmlearn.gaussians`, whose `E[x_1 | x_t]` is known in closed form) on the linear
# and on the cosine path, with the same independent coupling. Since `x_t / c_t` *is* the linear path at
# time `r_t`, the cosine marginals are the linear ones, rescaled: `p^cos_t(x) = p^lin_{r_t}(x / c_t) / c_t^D`.
# Then the probability-flow ODEs have the same solutions up to that map (Kingma & Gao 2023; Gao et al.
# 2024; Lipman et al. 2024, section 4.8): if `x(t)` solves the cosine ODE, `y(r) = x(t) / c_t` at `r = r_t`
# solves the linear one. **The two families' ideal trajectories are the same curves once every point is
# divided by `c_t`, travelled on another clock.** Checked: RK4 with 400 steps on each ODE, float64, from the
# same points (the cosine ODE stops at `t = 0.98`, before the data model's singular end).

# %%
mix = gaussians.default_mixture()
exact = {name: gaussians.optimal_model(mix, name) for name in ("linear", "cosine")}
cs = exact["cosine"].schedule
t_grid = torch.linspace(cs.t_min, 0.98, 401, dtype=torch.float64)  # stop before sigma = 0 (a data model's end)
c_t = cs.alpha(t_grid) + cs.sigma(t_grid)                            # the scale
r_t = cs.alpha(t_grid) / c_t                                         # the clock: time on the linear path
start = torch.randn(64, 2, generator=torch.Generator().manual_seed(SEED), dtype=torch.float64)
with torch.no_grad():
    on_cosine = sample(exact["cosine"], start, "rk4", times=t_grid, return_trajectory=True).trajectory
    on_linear = sample(exact["linear"], start / c_t[0], "rk4", times=r_t, return_trajectory=True).trajectory
mapped = on_cosine / c_t[:, None, None]  # (K+1, N, 2): the cosine trajectories, rescaled
gap = (mapped - on_linear).abs().max().item()
print(f"max |x_cos(t) / c_t - y_lin(r_t)| over 64 trajectories x 401 times: {gap:.1e}")
assert gap < 1e-6
bent = {name: metrics.straightness(traj) for name, traj in (("cosine", on_cosine), ("linear", on_linear))}
print(f"chord / arc length as drawn (notebook 06's straightness): cosine {bent['cosine']:.2f}, "
      f"linear {bent['linear']:.2f}")
assert bent["cosine"] > bent["linear"]

fig, axes = plotting.new_figure(1, 2, panel=3.2)
for k in range(12):
    axes[0, 0].plot(on_cosine[:, k, 0], on_cosine[:, k, 1], color="C1", lw=0.8)
    axes[0, 0].plot(on_linear[:, k, 0], on_linear[:, k, 1], color="C0", lw=0.8)
    axes[0, 1].plot(mapped[:, k, 0], mapped[:, k, 1], color="C1", lw=2.5, alpha=0.5)
    axes[0, 1].plot(on_linear[:, k, 0], on_linear[:, k, 1], color="C0", lw=0.8)
axes[0, 0].set(title="as drawn")
axes[0, 0].legend(axes[0, 0].lines[:2], ["cosine", "linear"], fontsize=8, loc="lower right")
axes[0, 1].set(title="cosine divided by c_t")
fig

# %% [markdown]
# So "flow matching is faster because its paths are straighter" is not what separates the two families:
# with the same coupling their ideal trajectories coincide after this map. As drawn, in their own
# coordinates, the cosine trajectories even score *higher* on notebook 06's chord-over-arc straightness
# (printed above; the race's trained models agree: 0.75 for diffusion, 0.55 for flow matching), which only
# shows that such a measure depends on the coordinates. What does differ:
#
# * **the time grid**: a grid uniform in `t` on the cosine path is a non-uniform grid in `r` (the plot above),
#   so the same number of steps lands in different places (notebook 05 races a log-SNR grid against it);
# * **the conditioning of the prediction**: a noise prediction must be divided by `alpha_t` to give the data,
#   which amplifies its error near noise (notebook 05, section 2); a velocity prediction does not;
# * **the loss weighting** over noise levels (next section);
# * **the learned network's error**, which the training choices above shape.
#
# Trajectories that are straighter *in fact* come from another coupling, not another path: minibatch
# optimal transport, reflow and distillation (notebook 06).
#
# ## 6. One loss, different weightings
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
# Where does each objective spend its effort? Measure every loss in one frame, the noise-prediction error
# (Kingma & Gao 2023): a loss is `E_lambda w(lambda) ||eps_hat - eps||^2` for some weight over the log-SNR
# `lambda = log(alpha_t^2 / sigma_t^2)`. The weight is the conversion factor to the noise error (section 2)
# times how often training visits each `lambda` (times uniform in `t`: density `1 / |d lambda / dt|`). The
# ELBO, the likelihood bound, weighs every `lambda` equally. Closed forms: `w = e^(-lambda/2) / 2` for flow
# matching's velocity loss on the linear path, `w = sech(lambda/2) / (2 pi)` for the noise loss on the cosine
# path (dashed; the code computes the solid lines from the conversions):

# %%
fig, axes = plotting.new_figure(1, 1, panel=3.6)
closed = {"linear": lambda lam: 0.5 * torch.exp(-lam / 2), "cosine": lambda lam: 1 / (2 * math.pi * torch.cosh(lam / 2))}
for k, (name, sched, par) in enumerate((("flow matching (linear, velocity)", "linear", "velocity"),
                                        ("diffusion (cosine, noise)", "cosine", "noise"))):
    sc = get_schedule(sched)
    t = torch.linspace(0.02, 0.98, 400, dtype=torch.float64)
    lam = sc.log_snr(t)                                    # increasing in t
    w = losses.equivalent_weight(t, sc, "noise", par)      # |pred error|^2 = w(t) |eps_hat error|^2
    dlam_dt = 2 * (sc.d_alpha(t) / sc.alpha(t) - sc.d_sigma(t) / sc.sigma(t))
    effective = w / dlam_dt                                # times p(lambda) = 1 / (d lambda / dt) for t uniform
    torch.testing.assert_close(effective, closed[sched](lam), rtol=1e-10, atol=0)  # the closed form
    axes[0, 0].plot(lam, effective, label=name, color=f"C{k}")
    axes[0, 0].plot(lam, closed[sched](lam), "--", color=f"C{k}", lw=0.8)
axes[0, 0].axhline(0.5 / (2 * math.pi), color="k", lw=1, ls=":", label="ELBO (flat in lambda; any level)")
axes[0, 0].set(xlabel="log SNR  (noise <- -> data)", ylabel="weight on the noise error", yscale="log",
               title="where each loss spends its effort")
axes[0, 0].legend(fontsize=8, loc="lower left")
fig

# %% [markdown]
# In this frame the ELBO is flat; the diffusion loss (uniform times on the cosine path) is a bump around
# `lambda = 0` that falls off as `e^(-|lambda|/2)` towards *both* ends; flow matching's velocity loss grows
# without bound towards the noisy end (low SNR) and falls off towards the clean end as fast as the
# diffusion loss does. (Measured on the data prediction instead, both weights would look largest at the clean
# end: that frame multiplies every weight by `alpha^2 / sigma^2`.) That is one concrete, measurable
# difference between the two default objectives, and it is a *choice*:
# `fmlearn.losses.path_loss(..., weighting=...)` can give either model the other's weighting.

# %% [markdown]
# ## 7. The verdict: what differs, what does not
#
# | | flow matching (as usually set up) | diffusion (as usually set up) | tied to the family? |
# |---|---|---|---|
# | path | linear: `alpha_t = t, sigma_t = 1 - t` | variance-preserving: cosine, `linear-beta` | **no**: any schedule works with either loss (`fmlearn.losses.path_loss`) |
# | network predicts | velocity | noise | **no**: exact conversions (section 2) |
# | loss weighting over noise levels | implied by velocity regression | implied by noise regression | **no**: a choice of `w(t)` (section 6) |
# | sampler | ODE (Euler, Heun, ...) | DDPM, DDIM, DPM-Solver, SDEs | **no**: any sampler runs on any model (section 3) |
# | deterministic? | with an ODE sampler | with DDIM or an ODE sampler | **no**: a sampler property |
# | network architecture | any | any | **no**: the same MLP here |
#
# | ideal trajectories (same coupling) | the same curves, up to a scale and a clock | the same curves | **no**: `x -> x / c_t`, `t -> r_t` (section 5) |
#
# What remains is a *bundle of defaults*. The linear path with velocity prediction is not straighter than
# the cosine path with the same coupling (section 5); where it samples better with few steps, the reasons
# are the time grid its uniform steps amount to, a prediction that needs no division by a small `alpha`,
# its loss weighting, and the error of the trained network (notebooks 05 and 08 measure the result). The
# popular claim that flow matching is fast "because it is deterministic" mixes up the model with the
# sampler: DDIM samples diffusion models deterministically, and is Euler's method in disguise.
#
# ## 8. Exercises
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
# * With the same coupling, the exact models of the linear and the cosine path have the same trajectories,
#   up to the scale `c_t = alpha_t + sigma_t` and the clock `r_t = alpha_t / c_t`: neither path is straighter.
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
