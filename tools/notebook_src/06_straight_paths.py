# %% [markdown]
# # 06 · Straight paths: fewer steps for the same samples
#
# Euler's method is exact on a straight line at constant speed: one step lands exactly where the line ends.
# The trajectories of notebook 03 curve, so one step misses. This notebook straightens them in three ways
# and measures what each buys: a better **coupling** (minibatch optimal transport), **reflow** (rectified
# flow), and **distillation** into a one-step generator.
#
# **Learning goals.** After this notebook you can
# 1. explain why crossing training pairs make curved trajectories, and draw independent vs OT couplings;
# 2. measure how straight a flow is (straightness, path energy);
# 3. run reflow (1-rectified to 2-rectified flow) and one-step distillation, and read their price;
# 4. say what straightness buys: quality at very few network calls (NFE).
#
# *Runtime: about 1 minute on a laptop CPU (four small models; the OT coupling is the slowest).*
#
# *Notation (time from noise to data, `x_0` = noise, `x0_hat`, log-SNR): the box at the top of
# [notebook 01](01_probability_paths.ipynb).*

# %%
# Setup. On Colab this installs fmlearn first (elsewhere `python course.py lab` did). Then: seed, device, quick mode.
# <colab-install>

import torch

from fmlearn import config, data, metrics
from fmlearn.couplings import ot_coupling
from fmlearn.models import MLP, PathModel
from fmlearn.reflow import distill, rectify
from fmlearn.samplers import sample
from fmlearn.training import train
from fmlearn.teaching import plotting, widgets
from fmlearn.teaching.exercises import check

SEED, DEVICE, QUICK = config.notebook_setup(seed=0)

# %% [markdown]
# ## 1. Couplings: which noise goes with which data point
#
# Flow matching pairs each data point with a noise sample. Drawn **independently**, the straight lines
# between pairs cross everywhere, and the learned field averages them into curves (notebook 03). Within a
# minibatch we can instead pair them by **optimal transport**: the permutation of the noise that minimizes
# the total squared length of the lines (an assignment problem, solved exactly by
# `scipy.optimize.linear_sum_assignment`). Both marginals stay exact: each sample is used once.

# %%
DATASET, N = "moons", (1000 if QUICK else 2000)
g = torch.Generator().manual_seed(SEED)
b1 = data.sample_data(DATASET, 256, generator=g)
b0 = torch.randn(256, 2, generator=g)
o0, _ = ot_coupling(b0, b1)
cost_ind, cost_ot = ((b1 - b0) ** 2).sum(1).mean().item(), ((b1 - o0) ** 2).sum(1).mean().item()
fig, axes = plotting.new_figure(1, 2, panel=3.4)
plotting.plot_trajectories(axes[0, 0], torch.stack([b0, b1]), n=80)
axes[0, 0].set_title(f"independent: mean |x1 - x0|^2 = {cost_ind:.2f}")
plotting.plot_trajectories(axes[0, 1], torch.stack([o0, b1]), n=80)
axes[0, 1].set_title(f"minibatch OT: mean |x1 - x0|^2 = {cost_ot:.2f}")
assert cost_ot < cost_ind
fig

# %% [markdown]
# ## 2. Measuring straightness
#
# For a trajectory from `x_0` to `x_K`, compare the straight distance with the length of the path
# actually travelled: 1 means a straight line. That is not yet what one Euler step needs: it integrates
# exactly only a straight line travelled at **constant speed**, and chord over arc ignores speed (the race's
# diffusion model scores 0.75 and still has W2 5.2 at NFE 1). Liu et al. (2023) measure exactly that:
# `S = int E |(x_1 - x_0) - dx_t/dt|^2 dt`, zero only for straight lines at constant speed
# (`fmlearn.metrics.transport_straightness`; its drawback: it has the units of `|x|^2`, not a scale-free
# ratio). Both are computed below.

# %%
# core: straightness
def straightness(trajectory):
    """Mean over samples of |x_K - x_0| / path length. trajectory: (K+1, N, D)."""
    chord = (trajectory[-1] - trajectory[0]).norm(dim=-1)                    # (N,)
    length = (trajectory[1:] - trajectory[:-1]).norm(dim=-1).sum(0)          # (N,)
    ratio = torch.where(length > 0, chord / length.clamp_min(1e-300), torch.ones_like(length))
    return float(ratio.mean())


# %% [markdown]
# ## 3. Flow matching with and without the OT coupling
#
# Same network, same budget. *The OT coupling costs about 7 ms per step on a laptop CPU (the assignment),
# against about 1 ms for independent pairs.*

# %%
torch.manual_seed(SEED)
fm = train(PathModel(MLP(dim=2), "linear", "velocity"), DATASET, "fm", seed=SEED, progress=False)
torch.manual_seed(SEED)
fm_ot = train(PathModel(MLP(dim=2), "linear", "velocity"), DATASET, "fm-ot", seed=SEED, progress=False)
print(f"fm: {fm.seconds:.1f} s;  fm-ot: {fm_ot.seconds:.1f} s  ({fm.steps} steps each)")

fresh = data.sample_data(DATASET, N, seed=SEED + 1)
floor = metrics.data_floor(DATASET, N, generator=torch.Generator().manual_seed(SEED + 2))
x0 = torch.randn(N, 2, generator=torch.Generator().manual_seed(SEED + 3))


def evaluate(model, nfes=(1, 2, 4, 100)):
    """W2 to fresh data with Euler at each NFE, and the straightness of the 100-step trajectories."""
    w2 = {nfe: metrics.wasserstein2(sample(model, x0, "euler", nfe=nfe).samples, fresh) for nfe in nfes}
    traj = sample(model, x0, "euler", nfe=100, return_trajectory=True).trajectory
    return w2, straightness(traj)


table = {"fm (1-rectified)": evaluate(fm.ema), "fm-ot": evaluate(fm_ot.ema)}
for name, (w2, s) in table.items():
    print(f"{name:18s} straightness {s:.3f}   W2 at NFE 1: {w2[1]:.3f}, 2: {w2[2]:.3f}, 4: {w2[4]:.3f}, 100: {w2[100]:.3f}")
print(f"data floor {floor:.3f}")
assert table["fm-ot"][1] > table["fm (1-rectified)"][1]
assert table["fm-ot"][0][1] < 0.7 * table["fm (1-rectified)"][0][1]

# %% [markdown]
# Liu et al.'s measure on the same 100-step trajectories (0 = straight at constant speed):

# %%
liu = {}
for name, model in (("fm (1-rectified)", fm.ema), ("fm-ot", fm_ot.ema)):
    out = sample(model, x0, "euler", nfe=100, return_trajectory=True)
    liu[name] = metrics.transport_straightness(out.trajectory, out.times)
    print(f"{name:18s} transport straightness S = {liu[name]:.3f}")
assert liu["fm-ot"] < liu["fm (1-rectified)"]

# %% [markdown]
# ## 4. Reflow: straighten an existing flow
#
# A trained flow defines a *deterministic* coupling: each noise point `x_0` goes with the point its ODE
# carries it to. Rectified flow (Liu et al. 2023) trains a new flow on these pairs. The ODE's trajectories
# never cross, but the straight lines between the pairs' ends still can; Liu et al. prove that the new flow,
# the **2-rectified flow**, has a transport cost no larger than the old one's and, repeated, becomes straight;
# in practice one reflow already makes it nearly straight. `fmlearn.reflow.rectify` generates the pairs with an accurate solver (RK4, 100 NFE) and trains.

# %%
n_pairs = 5000 if QUICK else 20000
reflow, pairs = rectify(fm.ema, n_pairs=n_pairs, seed=SEED, progress=False)
print(f"{len(pairs)} pairs from {pairs.nfe} network calls of fm; reflow trained in {reflow.seconds:.1f} s")
table["2-rectified"] = evaluate(reflow.ema)
fig, axes = plotting.new_figure(1, 2, panel=3.4)
for ax, (name, model) in zip(axes[0], (("1-rectified (fm)", fm.ema), ("2-rectified", reflow.ema))):
    run = sample(model, x0, "euler", nfe=50, return_trajectory=True)
    plotting.plot_trajectories(ax, run, n=60)
    ax.set_title(f"{name}: straightness {straightness(run.trajectory):.3f}")
assert table["2-rectified"][1] > table["fm (1-rectified)"][1]
assert table["2-rectified"][0][1] < 0.7 * table["fm (1-rectified)"][0][1]
fig

# %% [markdown]
# ## 5. Distillation: one network call
#
# On a nearly straight flow, `x_0 + v(x_0, 0)` is already close to the end of the ODE. Distillation trains
# exactly that one step: the flow matching loss at `t = 0` only, on the 2-rectified flow's pairs. Sampling
# then takes **one** network call (counted, not claimed):

# %%
distilled, _ = distill(reflow.ema, n_pairs=n_pairs, seed=SEED, progress=False)
one = sample(distilled.ema, x0, "euler", nfe=1)
w2_one = metrics.wasserstein2(one.samples, fresh)
print(f"distilled: {one.nfe} network call, W2 = {w2_one:.3f} (floor {floor:.3f})")
assert one.nfe == 1 and w2_one < table["fm (1-rectified)"][0][1]
plotting.plot_samples_grid({"fm, 1 step": sample(fm.ema, x0, "euler", nfe=1), "2-rectified, 1 step":
                            sample(reflow.ema, x0, "euler", nfe=1), "distilled, 1 step": one}, ncols=3, reference=fresh)

# %% [markdown]
# ## 6. The price
#
# Each round learns from the previous model's samples, so it inherits that model's errors: reflow cannot
# beat its teacher at many steps, and distillation cannot beat its reflow. And each round costs network
# calls before any sample is drawn: reflow's pairs took an RK4 solve at 100 NFE of the teacher for every
# pair, and distillation's as many again of the 2-rectified flow, plus two trainings. Measured here
# (W2 with Euler):

# %%
print(f"{'model':18s} {'NFE 1':>7s} {'NFE 2':>7s} {'NFE 4':>7s} {'NFE 100':>8s}  straightness")
for name, (w2, s) in table.items():
    print(f"{name:18s} {w2[1]:7.3f} {w2[2]:7.3f} {w2[4]:7.3f} {w2[100]:8.3f}  {s:.3f}")
print(f"{'distilled':18s} {w2_one:7.3f} {'-':>7s} {'-':>7s} {'-':>8s}")
print(f"data floor {floor:.3f}")
print(f"paid before sampling: {pairs.nfe} teacher calls on all {len(pairs):,} of reflow's pairs at once "
      f"({pairs.nfe * len(pairs):,} evaluations of one point), and as many again for distillation's")

# %% [markdown]
# At 100 steps the three flows are about equally good (the differences are of the order of the metric's
# own noise); at one or two steps the straight ones are far better. Between the distilled generator and
# the 2-rectified flow at one step the difference is within the floor's own spread: in the shipped races
# (three seeds) the distilled generator is lower on each seed, paired on the same evaluation data, but by
# only 0.012–0.026, while the floor itself moves by ±0.021 between seeds. Suggestive, not established. That is the whole story of "fast
# sampling" here: **straight paths let a cheap solver take big steps.** Nothing in it is about flow
# matching being deterministic: the diffusion model's probability-flow ODE is just as deterministic, and
# curved.
#
# ## 7. Explore: model and number of steps

# %%
budgets = (1, 2, 4, 8) if QUICK else (1, 2, 4, 8, 16, 32)
models = {"1-rectified": fm.ema, "fm-ot": fm_ot.ema, "2-rectified": reflow.ema}
results = {(name, nfe): sample(m, x0, "euler", nfe=nfe, return_trajectory=True)
           for name, m in models.items() for nfe in budgets}
results["distilled", 1] = sample(distilled.ema, x0, "euler", nfe=1, return_trajectory=True)
explorer = widgets.trajectory_explorer(results, reference=fresh, label="model")
explorer

# %%
# The static twin:
explorer.static(sampler="1-rectified", nfe=2)

# %% [markdown]
# ## 8. Exercises
#
# **Exercise 6.1.** Minibatch optimal transport: reorder the noise `x0` so that `x0[i]` goes with `x1[i]`
# and the total squared distance is minimal (`scipy.optimize.linear_sum_assignment` solves the assignment).

# %%
def ot_pair(x0, x1):
    """x0 (noise), x1 (data): (B, D) -> x0 reordered, (B, D)."""
    ### BEGIN SOLUTION 6.1
    from scipy.optimize import linear_sum_assignment
    cost = torch.cdist(x1, x0) ** 2                      # cost[i, j] = |x1_i - x0_j|^2
    rows, cols = linear_sum_assignment(cost.numpy())
    return x0[torch.as_tensor(cols)[torch.argsort(torch.as_tensor(rows))]]
    ### END SOLUTION


check("6.1", ot_pair)

# %% [markdown]
# **Exercise 6.2.** The path energy `int_0^1 |v_t|^2 dt` of a trajectory, estimated from its states at
# `times`: the mean over samples of `sum_k |x_{k+1} - x_k|^2 / (t_{k+1} - t_k)`. (For a straight line at
# constant speed it equals `|x_1 - x_0|^2`, its smallest possible value.)

# %%
def path_energy(trajectory, times):
    """trajectory: (K+1, N, D); times: (K+1,) -> float."""
    ### BEGIN SOLUTION 6.2
    steps = trajectory[1:] - trajectory[:-1]                        # (K, N, D)
    dt = (times[1:] - times[:-1])[:, None]                          # (K, 1)
    return float(((steps ** 2).sum(-1) / dt).sum(0).mean())
    ### END SOLUTION


check("6.2", path_energy)

# %% [markdown]
# ## Summary
#
# * Independent pairs cross, so the learned flow curves; curved flows need many Euler steps.
# * Minibatch OT pairs (a better coupling) and reflow (a flow's own ODE as the coupling) both give nearly
#   straight flows; one or two Euler steps then come close to the data.
# * Distillation turns a straight flow into a one-step generator. Each round inherits the errors of the one
#   before; here the price at 100 steps is within the metric's noise.
# * Speed comes from straightness and from the solver, not from determinism.
#
# ## References
# * Liu, Gong, Liu. *Flow Straight and Fast: Learning to Generate and Transfer Data with Rectified Flow.* ICLR 2023.
# * Pooladian, Ben-Hamu, Domingo-Enrich, Amos, Lipman, Chen. *Multisample Flow Matching: Straightening Flows with Minibatch Couplings.* ICML 2023.
# * Tong, Fatras, Malkin, Huguet, Zhang, Rector-Brooks, Wolf, Bengio. *Improving and Generalizing Flow-Based Generative Models with Minibatch Optimal Transport.* TMLR 2024.
# * Liu, Zhang, Ma, Peng, Liu. *InstaFlow: One Step is Enough for High-Quality Diffusion-Based Text-to-Image Generation.* ICLR 2024.
# * Salimans, Ho. *Progressive Distillation for Fast Sampling of Diffusion Models.* ICLR 2022.
# * Song, Dhariwal, Chen, Sutskever. *Consistency Models.* ICML 2023.
