# %% [markdown]
# # 05 · Speed vs quality: the race
#
# *Can flow matching replace diffusion for faster sampling?* This notebook answers with measurements.
# Five models, trained with the **same network, the same data and the same number of steps**, race every
# sampler at every budget of network evaluations (NFE); quality is the exact Wasserstein-2 distance to
# fresh data. A model or a sampler is "faster" if it reaches the same quality with fewer network calls.
#
# **Learning goals.** After this notebook you can
# 1. read a quality-vs-NFE plot and a quality-vs-seconds plot, with the data's own noise floor;
# 2. say which ingredient makes sampling fast: straight paths, solver order, time grid, distillation;
# 3. explain why "deterministic vs stochastic" is not the answer;
# 4. write the steps of the second- and fourth-order solvers that the race uses.
#
# *Runtime: about 1 minute on a laptop CPU (the live race trains five small models; the full race,
# 4 minutes, is shipped precomputed).*
#
# *Notation (time from noise to data, `x_0` = noise, `x0_hat`, log-SNR): the box at the top of
# [notebook 01](01_probability_paths.ipynb).*

# %%
# Setup. On Colab this installs fmlearn first (elsewhere `python course.py lab` did). Then: seed, device, quick mode.
# <colab-install>

import torch

from fmlearn import config, data
from fmlearn.samplers import sample
from fmlearn.experiments import race, seeds
from fmlearn.teaching import plotting, result_plots, widgets
from fmlearn.teaching.exercises import check

SEED, DEVICE, QUICK = config.notebook_setup(seed=0)

# %% [markdown]
# ## 1. The contestants
#
# | model | path | predicts | trained on |
# |---|---|---|---|
# | `fm` | linear | velocity | independent (noise, data) pairs |
# | `fm-ot` | linear | velocity | minibatch optimal-transport pairs |
# | `diffusion` | variance-preserving cosine | noise | independent pairs |
# | `reflow` | linear | velocity | pairs (noise, where `fm`'s ODE takes it): 2-rectified flow |
# | `distilled` | linear | velocity at `t = 0` | reflow's pairs: a one-step generator |
#
# All share `MLP(2, 64, 3)`. The samplers: Euler (1 network call per step), Heun (2), RK4 (4), adaptive
# Dormand–Prince `dopri5`, DDPM ancestral, DDIM, DPM-Solver++(2M), Euler–Maruyama (`em`, a reverse SDE).
# Any sampler runs on any model (notebook 04).
#
# ## 2. The race, live
#
# A small race runs here (quick budget: 1000 training steps, 500 evaluation points; models are cached, so
# a second run is fast). *About 40 s on a laptop CPU the first time.*

# %%
live = race.run_race("moons", quick=True, seed=SEED, progress=False,
                     samplers=("euler", "heun", "rk4", "ddpm", "ddim", "dpm++2m"))
print(race.format_table(live).split("claims:")[0])

# %% [markdown]
# ## 3. The full race
#
# The same race with the full budget (3000 steps, 2000 evaluation points), precomputed with
# `python -m fmlearn race --data moons --json race.json` and shipped with the package. Each panel is one
# model; lower is better; the dashed line is the **data floor**: the W2 between two fresh samples of the
# data, what a perfect model scores *on average* at this sample size (a model can land below it by chance).
# Differences smaller than the floor's own spread (about ±0.03 here) mean nothing.

# %%
full = race.precomputed("moons", grid="uniform")
print(f"data floor W2 = {full['floor_w2']:.3f} ± {full['floor_w2_std']:.3f};  {len(full['rows'])} rows")
result_plots.plot_quality(full)

# %% [markdown]
# What the panels say:
#
# * **Straight paths win at few steps.** At NFE 1, `fm` is far from the data; `fm-ot` and `reflow`, whose
#   paths are nearly straight, are already close, and `distilled` gets there in one call.
# * **Curved paths need steps, whatever the family.** `fm` and `diffusion` both improve steadily with NFE.
#   The diffusion model's deterministic samplers (DDIM, DPM-Solver++) start badly on this uniform time grid:
#   in the high-noise (low-SNR) start, where `alpha_t` is small, the data it implies, `(x - sigma eps_hat) /
#   alpha`, amplifies its noise-prediction error (a grid spaced in log-SNR fixes most of it; section 5).
# * **Stochastic samplers need the independent coupling.** DDPM and `em` turn the prediction into a score
#   with Tweedie's formula, which assumes the noise is independent of the data; for `fm-ot` and `reflow`
#   it is not, so those samplers aim at the wrong distribution. ODE samplers only need the velocity.
#
# One training run and one noise draw cannot carry a claim, so the full race was run with **three seeds**
# (each seed changes the initial weights, the training data and noise, the evaluation data and the sampling
# noise). The headline rows as mean ± standard deviation over the seeds (W2, Euler):

# %%
runs = race.precomputed_runs("moons", grid="uniform")
stats = seeds.summarize(runs)
print(f"{len(runs)} seeds; data floor {seeds.format_spread(seeds.spread([r['floor_w2'] for r in runs]))}")
print(f"{'model':10s} {'NFE 1':>15s} {'NFE 4':>15s} {'NFE 100':>15s}")
for m in race.MODELS:
    cells = [seeds.format_spread(stats[(m, "euler", n)]) if (m, "euler", n) in stats else "-" for n in (1, 4, 100)]
    print(f"{m:10s} " + " ".join(f"{c:>15s}" for c in cells))

# %% [markdown]
# The claims this course set out to check, evaluated on each seed; a claim counts only if it holds on all
# three:

# %%
verdict = seeds.verdicts([r["claims"] for r in runs])
for cid, v in verdict.items():
    print(f"[{v['verdict']}: {sum(h is True for h in v['holds'])}/{len(v['holds'])} seeds] {v['claim']}")
for claim in full["claims"]:
    print(f"  seed 0, {claim['id']}: {claim['detail']}")
assert all(verdict[c]["verdict"] == "holds" for c in ("one-step", "distilled", "nfe100"))
assert verdict["fast-diffusion-samplers"]["verdict"] == "fails"

# %% [markdown]
# One claim fails on the uniform grid, on every seed: DDIM and DPM-Solver++ need *more* steps than DDPM to
# get within 3x of the data floor on this diffusion model. That is a measurement, kept as it is: the
# deterministic samplers lose their accuracy in the first, noisiest steps of a grid uniform in `t`.
#
# ## 4. Seconds, not only network calls
#
# NFE is the honest currency when the network dominates the cost (images). Here the network is tiny, so
# wall-clock time also counts the sampler's own arithmetic:

# %%
result_plots.plot_speed(full)

# %% [markdown]
# ## 5. The time grid matters
#
# The same full race with the fixed-step samplers' times spaced uniformly in log-SNR for the diffusion
# model (`python -m fmlearn race --grid logsnr`), next to the uniform grid. Same models, same network
# calls, only *where* the steps go changes; with it, DDIM and DPM-Solver++ reach 3x the floor with at most
# half the steps DDPM needs, on every seed (seed 0: 8 against 16 NFE):

# %%
try:
    logsnr = race.precomputed("moons", grid="logsnr")
    for grid_name, result in (("uniform", full), ("logsnr", logsnr)):
        rows = {(r["sampler"], r["nfe"]): r["w2"] for r in result["rows"] if r["model"] == "diffusion"}
        print(f"{grid_name:8s} diffusion W2 at NFE 8:  ddim {rows[('ddim', 8)]:.3f}   dpm++2m {rows[('dpm++2m', 8)]:.3f}"
              f"   ddpm {rows[('ddpm', 8)]:.3f}")
    fast = seeds.verdicts([r["claims"] for r in race.precomputed_runs("moons", grid="logsnr")])
    fast = fast["fast-diffusion-samplers"]
    print(f"log-SNR grid: [{fast['verdict']}: {sum(h is True for h in fast['holds'])}/{len(fast['holds'])} seeds] "
          f"{fast['claim']}")
    assert fast["verdict"] == "holds"
except ValueError as err:
    print(err)

# %% [markdown]
# ## 6. Explore: model, sampler, NFE
#
# Samples and trajectories of the live race's models (from the cache), with the measured W2 in the title.

# %%
models, _ = race.get_models(race.MODELS, "moons", seed=SEED, quick=True, steps=live["train_steps"],
                            n_pairs=live["n_pairs"], progress=False)
fresh = data.sample_data("moons", 500, seed=SEED + 1)
x0 = torch.randn(500, 2, generator=torch.Generator().manual_seed(SEED))
w2 = {(r["model"], r["sampler"], r["nfe"]): r["w2"] for r in live["rows"]}
results, notes = {}, {}
budgets = (1, 2, 4, 8, 32)
for name in ("fm", "fm-ot", "diffusion", "reflow"):
    for sampler in ("euler", "ddim", "dpm++2m"):
        for nfe in budgets:
            key = (f"{name} / {sampler}", nfe)
            results[key] = sample(models[name], x0, sampler, nfe=nfe, return_trajectory=True)
            if (name, sampler, nfe) in w2:
                notes[key] = f"W2 {w2[name, sampler, nfe]:.3f}"
results["distilled / euler", 1] = sample(models["distilled"], x0, "euler", nfe=1, return_trajectory=True)
notes["distilled / euler", 1] = f"W2 {w2['distilled', 'euler', 1]:.3f}"
explorer = widgets.trajectory_explorer(results, reference=fresh, label="model / sampler", notes=notes)
explorer

# %%
# The static twin:
explorer.static(sampler="diffusion / ddim", nfe=4)

# %% [markdown]
# ## 7. Exercises
#
# The race's ODE solvers differ by how many times they ask the network per step, and by their order:
# Euler (1 call, error ~ h), Heun and midpoint (2 calls, ~ h^2), RK4 (4 calls, ~ h^4). Heun's step, as
# `fmlearn.samplers` computes it:

# %%
# core: heun_step
def heun_step(velocity, x, t, h):
    """One step of Heun's method from t to t + h. x: (B, D); t, h: 0-d tensors."""
    k1 = velocity(x, t)                      # slope at the start
    k2 = velocity(x + h * k1, t + h)         # slope at the Euler-predicted end
    return x + 0.5 * h * (k1 + k2)           # average the two


# %% [markdown]
# **Exercise 5.1.** The explicit midpoint method: take half an Euler step, evaluate the slope there, and use
# it for the whole step.

# %%
def midpoint_step(velocity, x, t, h):
    """x: (B, D); t, h: 0-d tensors -> x at t + h."""
    ### BEGIN SOLUTION 5.1
    k1 = velocity(x, t)
    return x + h * velocity(x + 0.5 * h * k1, t + 0.5 * h)
    ### END SOLUTION


check("5.1", midpoint_step)

# %% [markdown]
# **Exercise 5.2.** The classic fourth-order Runge–Kutta step (four slopes: start, two at the middle, end).

# %%
def rk4_step(velocity, x, t, h):
    """x: (B, D); t, h: 0-d tensors -> x at t + h."""
    ### BEGIN SOLUTION 5.2
    k1 = velocity(x, t)
    k2 = velocity(x + 0.5 * h * k1, t + 0.5 * h)
    k3 = velocity(x + 0.5 * h * k2, t + 0.5 * h)
    k4 = velocity(x + h * k3, t + h)
    return x + h * (k1 + 2 * k2 + 2 * k3 + k4) / 6
    ### END SOLUTION


check("5.2", rk4_step)

# %% [markdown]
# ## Summary: what makes sampling fast
#
# * **Straight paths.** With nearly straight trajectories (minibatch OT, reflow), one or two Euler steps
#   reach the data; curved ones (plain flow matching, diffusion) need tens of steps.
# * **The solver and its time grid.** Higher-order solvers and multistep methods (DPM-Solver++) pay off on
#   smooth paths, and where the grid puts its steps matters as much as how many there are.
# * **Distillation.** A one-step generator trained on a straight flow's pairs samples in one call.
# * **Not determinism.** The diffusion model sampled with an ODE is exactly as deterministic as a flow
#   matching model, and its speed depends on its paths, not on the name of its training loss.
#
# So: flow matching can sample faster than diffusion *as usually set up*, but not because the linear path is
# straighter: with the same coupling the two families' ideal trajectories are the same curves up to a scale
# and a clock (notebook 04, section 5). What its defaults change is the time grid that uniform steps amount
# to, a velocity prediction that needs no division by a small `alpha` near noise, and the loss weighting.
# Straight trajectories proper come from couplings (minibatch OT), reflow and distillation, and those tools
# apply to any Gaussian-path model.
#
# ## References
# * Lipman, Chen, Ben-Hamu, Nickel, Le. *Flow Matching for Generative Modeling.* ICLR 2023.
# * Liu, Gong, Liu. *Flow Straight and Fast: Learning to Generate and Transfer Data with Rectified Flow.* ICLR 2023.
# * Song, Meng, Ermon. *Denoising Diffusion Implicit Models.* ICLR 2021.
# * Lu, Zhou, Bao, Chen, Li, Zhu. *DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic Models.* arXiv 2022.
# * Karras, Aittala, Aila, Laine. *Elucidating the Design Space of Diffusion-Based Generative Models.* NeurIPS 2022.
# * Tong et al. *Improving and Generalizing Flow-Based Generative Models with Minibatch Optimal Transport.* TMLR 2024.
# * Dormand, Prince. *A family of embedded Runge-Kutta formulae.* J. Comput. Appl. Math., 1980.
