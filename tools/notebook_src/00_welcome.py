# %% [markdown]
# # 00 · Welcome: can flow matching replace diffusion for faster sampling?
#
# Flow matching and diffusion models both turn Gaussian noise into data. A popular account says flow matching
# wins because it is deterministic, uses invertible networks and scales better. This course builds both from
# the same few lines, runs them side by side on your laptop, and measures which of those claims hold.
#
# **Learning goals.** After this notebook you can
# 1. train a flow matching and a diffusion model on data of your own making (a word, a picture) and watch them learn;
# 2. find your way through the course: what each notebook teaches, how long it runs, which path to take;
# 3. run the course anywhere (JupyterLab, Colab, Binder) and use its autochecked exercises.
#
# *Runtime: under a minute on a laptop CPU (four small trainings).*

# %%
# Setup. On Colab this installs fmlearn first (elsewhere `python course.py lab` did). Then: seed, device, quick mode.
# <colab-install>

import torch
from IPython.display import Markdown, display

from fmlearn import config, data
from fmlearn.drawn_data import WELCOME_PICTURE
from fmlearn.metrics import wasserstein2
from fmlearn.teaching import course, plotting
from fmlearn.teaching.demo import welcome_demo
from fmlearn.teaching.exercises import check
from fmlearn.teaching.widgets import marginal_velocity_fn

SEED, DEVICE, QUICK = config.notebook_setup(seed=0)

# %% [markdown]
# ## 1. Thirty seconds: a model learns your word
#
# Type a word, pick a family (or both) and press **train on the word**. Both models get the same network
# (a small MLP), the same points and the same number of steps; the panel refreshes while they train: the
# samples each model draws from the same noise, and the loss. Then each model's samples ride its learned
# field from noise (`t = 0`) to your word (`t = 1`): press ▶ on the animations.
#
# The cell after the widget runs the same thing for the word "flow" without a click, so the notebook also
# reads well where widgets do not run (its last frame is drawn as a plain figure at the end).

# %%
demo = welcome_demo(picture=WELCOME_PICTURE, seed=SEED)
demo

# %%
models = demo.run_word("flow")

# %%
demo.static()  # the static twin: the live panel's final frame

# %% [markdown]
# The two loss curves sit at different heights, and that is no sign of which model is better: flow matching
# regresses a velocity `x_1 - x_0`, whose spread is about twice that of the noise `x_0` that diffusion
# predicts. Notebook 04 shows that the two losses are one loss with two weightings.
#
# What did the flow matching model just learn? This is its whole loss, exactly as fmlearn computes it (a test
# checks that this cell and the package agree): draw noise `x_0`, a point `x_1` of your word and a time `t`,
# mix them on a straight line, and ask the network for the line's velocity. Notebook 03 explains why that
# is enough.

# %%
# core: flow_matching_loss
def flow_matching_loss(net, x0, x1, t):
    """Velocity regression on the linear path. x0 (noise), x1 (data): (B, D); t: (B,)."""
    xt = t[:, None] * x1 + (1 - t[:, None]) * x0    # (B, D): a point on the straight line
    target = x1 - x0                                 # (B, D): the line's velocity
    return ((net(xt, t) - target) ** 2).mean()


batch = demo.points[:256]
fm = models["flow matching"].net
print("loss of the trained network on a batch of your word:",
      round(flow_matching_loss(fm, torch.randn_like(batch), batch, torch.rand(256)).item(), 3))

# %% [markdown]
# ## 2. Your own picture
#
# Drop a PNG or JPEG on **picture** (dark shapes on a light background work best) and press **train on the
# picture**; points are drawn where the picture is dark. Without an upload it trains on the course's
# picture, as the next cell does.

# %%
models = demo.run_picture(WELCOME_PICTURE)
demo.static()

# %% [markdown]
# ## 3. The map of the course
#
# Each notebook builds on the ones before; the minutes are measured on a 2-core laptop-class CPU (the same
# table is in the README, made from the same data).

# %%
display(Markdown(course.course_map(quick=QUICK)))

# %% [markdown]
# ## 4. How to run it, and how the exercises work
#
# * **On your machine:** `python course.py lab` opens JupyterLab on the course (the first run installs
#   everything into `.venv`); `python course.py test` runs every test and executes every notebook.
# * **Colab:** the badge at the top of each notebook in the README; the first cell installs fmlearn (a GPU
#   runtime makes 08 and 09 much faster). **Binder:** one CPU, 2 GB, free, slow to start.
# * **As a website:** `python course.py site` builds every notebook, executed in full mode, into web pages in
#   `_build/site/` (plots and animations live; an explorer shows its picture and a link to Colab/Binder).
# * **Quick mode:** `FMLEARN_QUICK=1` shrinks every training budget; every cell still runs and every check
#   still holds (CI runs the course this way).
# * **Exercises** are functions to fill in. The cell after each one calls `check("N.M", your_function)`: it
#   compares your function with fmlearn's on random inputs and names the mistake when it recognizes it. In the
#   notebooks you have now the solutions are filled in; instructors hand out the student version, where they
#   raise `NotImplementedError`: `python -m fmlearn student notebooks --out student`.
#
# **Exercise 0.1.** A point on flow matching's path mixes noise `x_0` and data `x_1`:
# `x_t = t x_1 + (1 - t) x_0`. Write it for a batch: `x0` and `x1` of shape `(B, D)`, times `t` of shape `(B,)`.

# %%
def point_on_path(x0, x1, t):
    """x0, x1: (B, D); t: (B,) -> x_t (B, D)."""
    ### BEGIN SOLUTION 0.1
    return t[:, None] * x1 + (1 - t[:, None]) * x0
    ### END SOLUTION


check("0.1", point_on_path)

# %% [markdown]
# **Exercise 0.2.** Sampling moves noise along a velocity field `v(x, t)`, and Euler's method does it in
# equal steps of `h = 1 / steps`: `x_{k+1} = x_k + h v(x_k, t_k)` with `t_k = k h`. Write it.

# %%
def euler_steps(velocity, x0, steps):
    """velocity(x (B, D), t) -> (B, D); x0: (B, D) noise -> x after `steps` Euler steps from t = 0 to 1."""
    ### BEGIN SOLUTION 0.2
    x, h = x0, 1.0 / steps
    for k in range(steps):
        x = x + h * velocity(x, torch.tensor(k * h, dtype=x.dtype))
    return x
    ### END SOLUTION


check("0.2", euler_steps)

# %% [markdown]
# **Predict, then measure.** Which picture needs more Euler steps to be drawn well: a round Gaussian blob, or
# the word "flow"? Write your guess down. The next cell uses *your* `euler_steps` with the exact velocity a
# perfectly trained flow matching model would learn for each point cloud (notebook 03 derives it) and
# measures the distance `W2` of the samples to the picture for 1 to 32 steps.

# %%
n = 400 if QUICK else 800
g = torch.Generator().manual_seed(SEED)
pictures = {"blob": 0.6 * torch.randn(n, 2, generator=g), "word": data.from_text("flow", n, generator=g)}
x0 = torch.randn(n, 2, generator=g, dtype=torch.float64)
budgets = (1, 2, 4, 8, 16, 32)
try:
    euler_steps(lambda x, t: -x, x0[:2], 1)
    step_fn, who = euler_steps, "your euler_steps"
except NotImplementedError:
    from fmlearn.teaching.exercises.welcome import euler_steps as step_fn
    who = "fmlearn's Euler (exercise 0.2 not done yet)"
w2 = {name: [wasserstein2(step_fn(marginal_velocity_fn(pts.double()), x0, k).float(), pts) for k in budgets]
      for name, pts in pictures.items()}
fig, axes = plotting.new_figure(1, 3, panel=2.6)
for ax, (name, pts) in zip(axes[0], pictures.items()):
    plotting.scatter(ax, pts)
    plotting.style_axes(ax, title=name)
for name, values in w2.items():
    axes[0, 2].plot(budgets, values, "o-", label=name)
axes[0, 2].set(xscale="log", yscale="log", xlabel="Euler steps", ylabel="W2 to the picture", title=who)
axes[0, 2].legend(fontsize=8)
axes[0, 2].grid(True, which="both", alpha=0.3)
axes[0, 2].tick_params(which="both", labelsize=7)
needed = {name: next((k for k, v in zip(budgets, values) if v <= 0.2), float("inf")) for name, values in w2.items()}
print("W2 per budget:", {name: [round(v, 3) for v in values] for name, values in w2.items()})
print("Euler steps to reach W2 <= 0.2:", needed)
assert needed["word"] > needed["blob"]  # the word needs more steps to reach the same W2
assert all(w2["word"][i] > w2["blob"][i] for i in range(3))  # and it is worse with 1, 2 and 4 steps
fig

# %% [markdown]
# The word needs more steps (printed above): it is further from its picture with 1, 2 and 4 steps, and it
# reaches `W2 <= 0.2` only with more (`inf`: not within 32). With many steps both end near their own floor:
# a sample of a few hundred points is never at distance 0 from another sample of the same picture. The field
# that carries noise to a round blob stays close to linear for most of the way (for an exact Gaussian it is linear in `x`), so Euler's straight
# steps follow it; the field that carries noise to thin letters bends late, near `t = 1`, where each sample
# must commit to one stroke. Speed is about the *shape of the paths* the sampler follows, and
# notebooks 05 and 06 measure exactly that (and how to straighten them).
#
# ## Summary
#
# * Flow matching and diffusion learn from the same data with the same network; they differ in the path and in
#   what the network predicts, and both turn noise into your word.
# * Sampling is integrating a velocity field; how many steps it takes depends on how curved the paths are.
# * The map above is the course; start with 01, or follow the 90-minute path.
#
# **Next:** [01 · Probability paths](01_probability_paths.ipynb).
#
# ## References
# * Lipman, Chen, Ben-Hamu, Nickel, Le. *Flow Matching for Generative Modeling.* ICLR 2023.
# * Ho, Jain, Abbeel. *Denoising Diffusion Probabilistic Models.* NeurIPS 2020.
# * Liu, Gong, Liu. *Flow Straight and Fast: Learning to Generate and Transfer Data with Rectified Flow.* ICLR 2023.
