# %% [markdown]
# # 03 · Flow matching: learn a velocity field
#
# A flow matching model learns a **velocity field** `v(x, t)`: follow it from noise at `t = 0` and you
# arrive at the data at `t = 1`. Training needs no simulation: regress the network onto the velocity of
# a straight line between a noise sample and a data sample.
#
# **Learning goals.** After this notebook you can
# 1. write the conditional velocity of one pair `(x_0, x_1)` and the flow matching loss;
# 2. explain why regressing onto conditional velocities learns the *marginal* velocity field;
# 3. train a flow matching model and sample it by integrating an ODE with Euler steps;
# 4. read a velocity field and the trajectories of particles riding it.
#
# *Runtime: about 40 s on a laptop CPU (three small models train for a few seconds each).*
#
# *Notation (time from noise to data, `x_0` = noise, `x0_hat`, log-SNR): the box at the top of
# [notebook 01](01_probability_paths.ipynb).*

# %%
# Setup. On Colab this installs fmlearn first (elsewhere `python course.py lab` did). Then: seed, device, quick mode.
# <colab-install>

import torch
from IPython.display import display

from fmlearn import config, data, gaussians, metrics
from fmlearn.models import MLP, PathModel
from fmlearn.samplers import sample
from fmlearn.training import train
from fmlearn.teaching import animation, plotting, widgets
from fmlearn.teaching.exercises import check
from fmlearn.teaching.live import LiveTraining

SEED, DEVICE, QUICK = config.notebook_setup(seed=0)

# %% [markdown]
# ## 1. One pair: a straight line
#
# On the linear path `x_t = t x_1 + (1 - t) x_0`, a fixed pair moves along a straight line at constant
# speed; its **conditional velocity** is `d x_t / dt = x_1 - x_0`. Here are 40 random pairs:

# %%
N = 1000 if QUICK else 2000
DATASET = "moons"   # try "8gaussians", "checkerboard", "spirals", ...
x1 = data.sample_data(DATASET, N, seed=SEED)
x0 = torch.randn(N, 2, generator=torch.Generator().manual_seed(SEED))
pairs = torch.stack([x0[:40], x1[:40]])          # (2, 40, 2): a two-point "trajectory" per pair
fig, axes = plotting.new_figure(1, 1, panel=3.6)
plotting.plot_trajectories(axes[0, 0], pairs, n=40)
axes[0, 0].set_title("independent pairs: straight lines that cross")
fig

# %% [markdown]
# ## 2. Many pairs: the marginal velocity field
#
# Lines cross: a point `x` at time `t` lies on the lines of many pairs, each with its own velocity. A
# single field `v(x, t)` can only give one answer, and the best one (in squared error) is the **average**
# of the conditional velocities of all pairs passing through `x` at time `t`:
#
# $$v(x, t) = E[\,x_1 - x_0 \mid x_t = x\,].$$
#
# This marginal field moves the whole noise distribution onto the data distribution (Lipman et al. 2023,
# Theorem 1). The proof takes two lines. A field `v` moves a density `p_t` when the **continuity equation**
# `d p_t / dt + div(p_t v) = 0` holds (mass is neither made nor lost). Each pair's path satisfies it with its
# own density `p_t(x | x_1)` and velocity `u_t(x | x_1)`; average over the data:
# `d p_t / dt = E_{x_1}[d p_t(x | x_1) / dt] = -div E_{x_1}[p_t(x | x_1) u_t(x | x_1)] = -div(p_t v)`, since
# `E_{x_1}[p_t(x | x_1) u_t(x | x_1)] = p_t(x) E[u | x_t = x] = p_t(x) v(x, t)` by Bayes. So the marginal
# field carries the marginal path, from noise to data.
#
# A warning about a name: the linear path is often called the "conditional optimal-transport path". Each
# pair's straight line *is* the optimal transport between two points, but the marginal flow it induces is
# **not** the optimal transport between the noise and the data distributions: its trajectories bend
# (section 4) and its pairing of noise with data is not the OT pairing (notebook 06 measures both).
#
# For a finite point cloud the marginal field has a closed form (exercise 3.3); here it is for our data:

# %%
exact = widgets.marginal_velocity_fn(x1[:500])
fig, axes = plotting.new_figure(1, 4, panel=2.6)
for ax, t in zip(axes[0], (0.0, 0.4, 0.7, 0.9)):
    plotting.scatter(ax, x1, color="#cccccc")
    plotting.plot_vector_field(ax, exact, t, n=16)
    ax.set_title(f"exact marginal field, t = {t}")
fig

# %% [markdown]
# ## 3. The loss: regress onto the conditional velocity
#
# We cannot compute `E[x_1 - x_0 | x_t = x]` for a real data set, but we do not need to: regressing a
# network onto the *conditional* velocity `x_1 - x_0` has the same minimizer, because the squared error
# is minimized by the conditional mean. The flow matching loss, exactly as `fmlearn.losses` writes it:

# %%
# core: flow_matching_loss
def flow_matching_loss(net, x0, x1, t):
    """Velocity regression on the linear path. x0 (noise), x1 (data): (B, D); t: (B,)."""
    xt = t[:, None] * x1 + (1 - t[:, None]) * x0    # (B, D): a point on the straight line
    target = x1 - x0                                 # (B, D): the line's velocity
    return ((net(xt, t) - target) ** 2).mean()


torch.manual_seed(SEED)
net = MLP(dim=2)
print("loss of an untrained network:", flow_matching_loss(net, x0[:256], x1[:256], torch.rand(256)).item())

# %% [markdown]
# Compare with `diffusion_loss` of notebook 02: the same recipe, with another path (linear instead of
# cosine) and another target (velocity instead of noise). Now train, with the package's loop (EMA,
# progress bar, seed), on three data sets. *About 3 s per data set on a laptop CPU.* The panel below
# refreshes while they train (the samples each model draws from the same noise, and the loss). It refreshes
# only when that fits in 5% of the training time so far, but always draws each run's final frame, so runs of
# a second or less (quick mode) spend a larger share on it; the cell prints the share it measured.

# %%
names = ("moons", "8gaussians", "checkerboard")
view = LiveTraining(names, reference={name: data.sample_data(name, 1000, seed=SEED) for name in names}, seed=SEED)
display(view)
models = {}
for name in names:
    torch.manual_seed(SEED)
    run = train(PathModel(MLP(dim=2), "linear", "velocity"), name, "fm", seed=SEED, progress=False,
                callback=view.callback(name))
    models[name] = run.ema
    print(f"{name:12s} {run.steps} steps in {run.seconds:.1f} s, final loss {run.history[-100:].mean():.3f}")
print(f"live view: {view.refreshes} refreshes, {100 * view.overhead:.1f}% of the time")
model = models[DATASET]

# %%
view.static()  # the static twin: the final frame

# %% [markdown]
# The network has learned the marginal field. Compare it with the exact field of section 2 at `t = 0.5`,
# on points where the data actually go (the noisy samples `x_t`):

# %%
t_check = 0.5
probe = 0.5 * x1 + 0.5 * x0                         # samples of p_t at t = 0.5
with torch.no_grad():
    learned, truth = model.velocity(probe, t_check), exact(probe, t_check)
cosine = torch.nn.functional.cosine_similarity(learned, truth, dim=1).mean().item()
print(f"mean cosine similarity, learned vs exact field at t = {t_check}: {cosine:.3f}")
assert cosine > 0.8

# %% [markdown]
# ## 4. Sampling: integrate the ODE
#
# To sample, start from noise and follow the field: `dx/dt = v(x, t)`. The simplest integrator is
# Euler's method, one network call per step. Written out, as `fmlearn.samplers` does it:

# %%
# core: euler_sample
def euler_sample(velocity, x, times):
    """Euler's method for dx/dt = velocity(x, t). x: (B, D) at times[0]; times: (K+1,) increasing."""
    for t, t_next in zip(times[:-1], times[1:]):
        x = x + (t_next - t) * velocity(x, t)       # one step: follow the field for t_next - t
    return x


times = torch.linspace(0, 1, 51)
with torch.no_grad():
    mine = euler_sample(model.velocity, x0, times)
package = sample(model, x0, "euler", nfe=50, return_trajectory=True)
assert torch.allclose(mine, package.samples, atol=1e-5)     # the same computation
fresh = data.sample_data(DATASET, N, seed=SEED + 1)
floor = metrics.data_floor(DATASET, N, generator=torch.Generator().manual_seed(SEED + 2))
w2 = metrics.wasserstein2(package.samples, fresh)
print(f"Euler, {package.nfe} steps: W2 = {w2:.3f} (data floor {floor:.3f})")
assert w2 < 5 * floor
fig, axes = plotting.new_figure(1, 2, panel=3.4)
plotting.plot_trajectories(axes[0, 0], package, n=60)
axes[0, 0].set_title("ODE trajectories: noise (grey) to data (blue)")
plotting.scatter(axes[0, 1], package.samples)
axes[0, 1].set_title(f"samples, W2 = {w2:.2f}")
fig

# %% [markdown]
# The trajectories are **not** straight lines, although every training pair was: the marginal field
# averages crossing lines, so particles curve. Curved paths need many Euler steps; notebook 06 shows how
# to straighten them.
#
# ## 5. The field in motion
#
# Particles riding the learned field (press play):

# %%
frames = torch.linspace(0, 1, 21 if QUICK else 41)
ride = sample(model, x0[:300], "euler", times=frames, return_trajectory=True)
animation.animate_field(model, ride, n=15)

# %% [markdown]
# ## 6. Explore: the learned field over time, for each data set
#
# Fields and particles are precomputed on a grid at a few times; the slider only swaps images.

# %%
field_times = torch.linspace(0, 1, 11 if QUICK else 26)
fields = {name: widgets.precompute_field(m, field_times, x0=x0[:400]) for name, m in models.items()}
explorer = widgets.field_explorer(fields, dataset=DATASET)
explorer

# %%
# The static twin:
explorer.static(t=0.6, dataset="8gaussians")

# %% [markdown]
# ## 7. Exercises
#
# **Exercise 3.1 (derive).** "The loss converges, but not to zero." How far from zero? Take 1-D data
# `x_1 ~ N(0, s^2)` and noise `x_0 ~ N(0, 1)`, independent. Even the best network, `E[v | x_t]`, leaves the
# conditional variance `Var(v | x_t)` of the target `v = x_1 - x_0`. Since `v` and `x_t = t x_1 + (1 - t) x_0`
# are jointly Gaussian, `Var(v | x_t) = Var(v) - Cov(v, x_t)^2 / Var(x_t)`. Work out the three moments and
# return the floor of the loss at time `t`, for tensors `s` and `t` (simplify: the answer is short).
# *Predict first:* where in `t` is the floor largest for `s = 0.5`? The cell after measures it with the
# package's exact model.

# %%
def irreducible_fm_loss(s, t):
    """s: (B,) data std; t: (B,) in (0, 1) -> Var(x1 - x0 | x_t), (B,)."""
    ### BEGIN SOLUTION 3.1
    # Var(v) = s^2 + 1, Cov(v, x_t) = t s^2 - (1 - t), Var(x_t) = t^2 s^2 + (1 - t)^2; the numerator simplifies to s^2
    return s ** 2 / (t ** 2 * s ** 2 + (1 - t) ** 2)
    ### END SOLUTION


check("3.1", irreducible_fm_loss)

# %%
# Measured: the loss of the exact model E[v | x_t] (fmlearn.gaussians, 1-D data N(0, 0.25)) at a few times.
one_d = gaussians.optimal_model(gaussians.GaussianMixture(torch.zeros(1, 1), torch.full((1, 1, 1), 0.25)), "linear")
g = torch.Generator().manual_seed(SEED)
for t_ in (0.1, 0.5, 0.8, 0.95):
    a0, a1 = torch.randn(200000, 1, generator=g, dtype=torch.float64), 0.5 * torch.randn(200000, 1, generator=g, dtype=torch.float64)
    tt = torch.full((200000,), t_, dtype=torch.float64)
    with torch.no_grad():
        floor_mc = ((one_d.velocity(tt[:, None] * a1 + (1 - tt[:, None]) * a0, tt) - (a1 - a0)) ** 2).mean()
    try:
        mine = f"{float(irreducible_fm_loss(torch.tensor(0.5), torch.tensor(t_))):.4f}"
    except NotImplementedError:
        mine = "(exercise 3.1 not done yet)"
    print(f"t = {t_:4.2f}: exact model's loss {floor_mc:.4f}, your formula {mine}")

# %% [markdown]
# **Exercise 3.2 (predict, then measure).** Euler's method (section 4) is called *first order*: its error
# should shrink like `1/K` with `K` steps, so doubling the steps halves it. Heun's method (notebook 05) is
# second order. Write `empirical_order(steps, errors)`: the order `p` in `error ~ C K^-p`, as the
# least-squares slope of `log(error)` against `log(1/K)`. *Predict first* what it gives for each solver on
# the exact model of a Gaussian (no training error, so only the solver's error is left); the cell after
# measures both.

# %%
def empirical_order(steps, errors):
    """steps, errors: (K,) tensors -> the fitted order p (0-d tensor)."""
    ### BEGIN SOLUTION 3.2
    x, y = -torch.log(steps), torch.log(errors)
    x, y = x - x.mean(), y - y.mean()
    return (x * y).sum() / (x * x).sum()
    ### END SOLUTION


check("3.2", empirical_order)

# %%
# The exact model of 2-D Gaussian data: the samplers' error against the exact flow map, per solver.
mu, cov = torch.tensor([1.0, -0.5], dtype=torch.float64), torch.tensor([[0.5, 0.2], [0.2, 0.3]], dtype=torch.float64)
gauss = gaussians.optimal_model(gaussians.GaussianMixture(mu[None], cov[None]), "linear")
z = torch.randn(64, 2, generator=torch.Generator().manual_seed(SEED), dtype=torch.float64)
ks = torch.tensor([8.0, 16.0, 32.0, 64.0], dtype=torch.float64)
for solver in ("euler", "heun"):
    errs = []
    for k in ks.int().tolist():
        grid = torch.linspace(0, 1, k + 1, dtype=torch.float64)
        a, b = gaussians.gaussian_flow_map(mu, cov, "linear", 0.0, 1.0)
        out = sample(gauss, z, solver, times=grid).samples
        errs.append(float((out - (z @ a.T + b)).norm(dim=1).mean()))
    try:
        measured = f"{float(empirical_order(ks, torch.tensor(errs, dtype=torch.float64))):.2f}"
    except NotImplementedError:
        measured = "(exercise 3.2 not done yet)"
    print(f"{solver:6s} errors {', '.join(f'{e:.1e}' for e in errs)} at K = 8..64: order {measured}")

# %% [markdown]
# **Exercise 3.3.** The exact marginal velocity of a point cloud `points` (N, 2) on the linear path.
# Given `x_t = x`, the data point was `y_i` with probability proportional to
# `exp(-|x - t y_i|^2 / (2 (1 - t)^2))` (the Gaussian `p_t(x | y_i)`); average the data points with these
# weights to get `E[x_1 | x_t = x]`, then use `x_t = t x_1 + (1 - t) x_0` to express `E[x_1 - x_0 | x_t = x]`.
# (`t` is a 0-d tensor with `0 < t < 1`; `torch.softmax` helps.)

# %%
def marginal_velocity(x, t, points):
    """x: (B, 2); t: scalar; points: (N, 2) -> v(x, t), (B, 2)."""
    ### BEGIN SOLUTION 3.3
    logw = -((x[:, None, :] - t * points[None]) ** 2).sum(-1) / (2 * (1 - t) ** 2)   # (B, N)
    x1_hat = torch.softmax(logw, dim=1) @ points                                       # (B, 2)
    return (x1_hat - x) / (1 - t)
    ### END SOLUTION


check("3.3", marginal_velocity)

# %% [markdown]
# A caution about this exact field: it is the *perfect* model of the `N` points, and a perfect model of a
# finite training set **memorizes** it. As `t -> 1` the weights concentrate on the nearest training point,
# so its ODE carries every noise sample onto one of the `N` points: it never makes a new one. A trained
# network generalizes only because it does *not* reach this optimum. Notebook 10 measures when trained
# models start to copy their training points as the training set shrinks.
#
# ## Summary
#
# * Flow matching regresses a network onto the velocity `x_1 - x_0` of straight lines between noise and
#   data; the minimizer is the marginal field `E[x_1 - x_0 | x_t = x]`, which carries noise to data.
# * Sampling integrates the ODE `dx/dt = v(x, t)`; Euler's method takes one network call per step.
# * Training pairs move on straight lines, but the learned trajectories curve, because lines cross and
#   the field averages them. The loss converges, but not to zero, for the same reason.
#
# **Next:** 04 shows that this model and the diffusion model of 02 are the same kind of object.
#
# ## References
# * Lipman, Chen, Ben-Hamu, Nickel, Le. *Flow Matching for Generative Modeling.* ICLR 2023.
# * Liu, Gong, Liu. *Flow Straight and Fast: Learning to Generate and Transfer Data with Rectified Flow.* ICLR 2023.
# * Albergo, Vanden-Eijnden. *Building Normalizing Flows with Stochastic Interpolants.* ICLR 2023.
# * Tong, Fatras, Malkin, Huguet, Zhang, Rector-Brooks, Wolf, Bengio. *Improving and Generalizing Flow-Based Generative Models with Minibatch Optimal Transport.* TMLR 2024.
# * Lipman, Havasi, Holderrieth, et al. *Flow Matching Guide and Code.* arXiv 2024.
