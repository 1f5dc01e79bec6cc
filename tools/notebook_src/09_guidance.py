# %% [markdown]
# # 09 · Guidance: asking for a digit
#
# A model that generates "some digit" is a start; a learner, a user, a product wants *this* digit. This
# notebook gives the UNet a label input, trains one network for the conditional and the unconditional model
# at once, and steers sampling with **classifier-free guidance**. Then it measures what guidance buys
# (digits the classifier recognizes) and what it costs (variety, and twice the network calls).
#
# **Learning goals.** After this notebook you can
# 1. explain label dropout: how one network learns `v(x, t | y)` and `v(x, t | null)`;
# 2. write the guided velocity `(1 + w) v(x, t | y) - w v(x, t | null)` and show it is the same for a
#    noise-predicting diffusion model;
# 3. measure the fidelity/diversity trade-off as the guidance scale `w` grows;
# 4. say what guidance costs, what distribution it does (and does not) sample, and how it relates to the
#    score of a tilted target and to classifier guidance.
#
# *Runtime: about 1 minute on a laptop CPU (the conditional model is shipped pretrained).*
#
# *Notation (time from noise to data, `x_0` = noise, `x0_hat`, log-SNR): the box at the top of
# [notebook 01](01_probability_paths.ipynb).*

# %%
# Setup. On Colab this installs fmlearn first (elsewhere `python course.py lab` did). Then: seed, device, quick mode.
# <colab-install>

import math

import torch

from fmlearn import config, guidance
from fmlearn.samplers import sample
from fmlearn.mnist import models as mnist_models
from fmlearn.mnist.fidelity import fidelity_diversity
from fmlearn.teaching import digits, plotting
from fmlearn.teaching.exercises import check

# threads=None: all CPU cores (convolutions on 28x28 images gain from them; the 2D notebooks use one)
SEED, DEVICE, QUICK = config.notebook_setup(seed=0, threads=None)

# %% [markdown]
# ## 1. One network, two models: label dropout
#
# The class-conditional UNet adds a learned embedding of the label `y` to its time embedding, so every block
# knows which digit to make. Ten labels are not enough for guidance: it also needs the *unconditional* model.
# Instead of training a second network, training replaces each label by an extra **null label** (index 10)
# with probability `p = 0.1`. The loss is unchanged (flow matching, notebook 03); the network learns
# `v(x, t | y)` from 90% of the batch and `v(x, t | null)`, the model of all digits, from the rest.

# %%
# core: drop_labels
def drop_labels(y, u, p, null):
    return torch.where(u < p, torch.full_like(y, null), y)   # null label where the uniform draw u < p


# %%
from fmlearn.training import Trainer

y = torch.arange(10).repeat(100)                       # 1000 labels
fresh = mnist_models.build_mnist_model("fm", conditional=True)   # an untrained conditional UNet
trainer = Trainer(fresh, lambda n, g: None, "fm", label_dropout=0.1, device="cpu")
ours = drop_labels(y, torch.rand(y.shape, generator=torch.Generator().manual_seed(1)), 0.1, 10)
theirs = trainer.drop_labels(y, torch.Generator().manual_seed(1))
print(f"dropped {(ours == 10).float().mean():.1%} of the labels; same as the training loop: {torch.equal(ours, theirs)}")
assert torch.equal(ours, theirs)

# %% [markdown]
# ## 2. The shipped conditional model
#
# It was trained like notebook 08's flow matching model (same UNet plus the label embedding, same steps),
# with one command stored in its record.

# %%
cond = mnist_models.load_shipped("fm-cond", device=DEVICE)
rec = mnist_models.shipped_record("fm-cond")
print(f"{rec['steps']} steps, {rec['parameters']:,} parameters, {rec['bytes'] / 1e6:.2f} MB; "
      f"label dropout {rec['config']['training']['label_dropout']}")
print("retrain:", rec["command"])

# %% [markdown]
# Ask for each digit without guidance (`w = 0`: the conditional model as trained), and with the null label
# (the unconditional model the same network learned).

# %%
steps = 20  # Euler steps; a guided step costs two network passes
per_digit = 8
noise = cond.noise(10 * per_digit, generator=torch.Generator().manual_seed(SEED))
labels = torch.arange(10).repeat_interleave(per_digit)          # 0 x8, 1 x8, ..., 9 x8
with torch.no_grad():
    asked = sample(guidance.guided_model(cond, labels, 0.0), noise, "euler", steps).samples
    free = sample(cond, noise, "euler", steps).samples           # y = None: the null label
show = lambda x: x.reshape(10, per_digit, 1, 28, 28).transpose(0, 1).reshape(-1, 1, 28, 28)  # noqa: E731
digits.plot_grids({"asked for 0..9 (one column each), w = 0": show(asked),
                   "null label: the unconditional model": show(free)}, ncol=10, panel=4.2)

# %% [markdown]
# ## 3. Classifier-free guidance
#
# Guidance extrapolates from the unconditional prediction through the conditional one:
#
# $$v_w(x, t \mid y) = (1 + w)\, v(x, t \mid y) - w\, v(x, t \mid \varnothing)
#   = v(x, t \mid y) + w \big(v(x, t \mid y) - v(x, t \mid \varnothing)\big).$$
#
# `w = 0` is the conditional model; `w > 0` pushes every step further in the direction that separates
# "digit y" from "any digit". (Some papers write `w v_cond + (1 - w) v_uncond`, with `w = 1` the conditional
# model: the same family, shifted by one.) In score form (Ho & Salimans 2021), with
# `grad log p_t(x | y) = grad log p_t(x) + grad log p_t(y | x)` (Bayes), the guided score is
#
# $$(1 + w) \nabla \log p_t(x \mid y) - w \nabla \log p_t(x) = \nabla \log p_t(x) + (1 + w)\, \nabla \log p_t(y \mid x),$$
#
# the score of the *tilted* density `p_t(x) p_t(y | x)^(1 + w)`: classifier guidance (Dhariwal & Nichol
# 2021) with an implicit classifier, made of the model's own two predictions. It is an extrapolation
# beyond the conditional model, not a mixture of two models. Caution on what it samples: every smooth field
# generates *some* probability path, but this one is not the marginal velocity of the noised tilted target
# `p(x) p(y | x)^(1 + w)` — tilting each `p_t` separately is not the same as noising the tilted data
# (Bradley & Nakkiran 2024) — so the guided samples do not come from that target exactly. What it does,
# measured below: samples move towards "typical y" and away from the rest, more recognizable and more
# alike. Each guided step costs two network passes (run as one batch of 2B).

#
# Below: the same noise and the same labels at six scales, `n_per` samples per digit (8 in quick mode, 30
# otherwise). *About 15 s in quick mode, 1 minute otherwise.*

# %%
scales = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
n_per = config.budget(30, 8)
m_noise = cond.noise(10 * n_per, generator=torch.Generator().manual_seed(SEED + 1))
m_labels = torch.arange(10).repeat_interleave(n_per)             # 0 x n_per, 1 x n_per, ...
with torch.no_grad():
    by_scale = {w: sample(guidance.guided_model(cond, m_labels, w), m_noise, "euler", steps).samples for w in scales}
first3 = lambda x: x.reshape(10, n_per, 1, 28, 28)[:, :3].transpose(0, 1).reshape(-1, 1, 28, 28)  # noqa: E731
digits.plot_grids({f"w = {w:g}": first3(by_scale[w]) for w in (0.0, 2.0, 8.0)}, ncol=10, panel=3.6)

# %% [markdown]
# ## 4. Fidelity against diversity, measured
#
# Two numbers per scale, from the shipped classifier of notebook 08:
#
# * **fidelity**: the share of samples that the classifier gives their *requested* digit with probability ≥ 0.9;
# * **diversity**: the mean distance between two samples of the same requested digit in the classifier's
#   feature space, divided by the same for real test digits (1.0: as varied as real digits; 0: all identical).
#
# Measured on the samples of section 3 (fewer samples make rougher estimates, not other trends).

# %%
measured = {}
for w in scales:
    measured[w] = fidelity_diversity(by_scale[w], m_labels)
    print(f"w = {w:3g}: fidelity {measured[w]['fidelity']:.2f}, accuracy {measured[w]['accuracy']:.2f}, "
              f"diversity {measured[w]['diversity']:.2f}")

from matplotlib import colormaps

fig, axes = plotting.new_figure(1, 2, panel=3.0)
axes[0, 0].plot(scales, [measured[w]["fidelity"] for w in scales], "o-", label="fidelity")
axes[0, 0].plot(scales, [measured[w]["diversity"] for w in scales], "s-", label="diversity")
top = max(1.05, 1.05 * max(max(m["fidelity"], m["diversity"]) for m in measured.values()))
axes[0, 0].axhline(1.0, color="k", lw=0.6, ls=":")  # diversity 1: as varied as real digits
axes[0, 0].set(xlabel="guidance scale w", title="as w grows", ylim=(0, top))
axes[0, 0].legend(fontsize=8, loc="lower right")
axes[0, 1].plot([measured[w]["diversity"] for w in scales], [measured[w]["fidelity"] for w in scales], "-",
                color="0.6", lw=1)
for i, w in enumerate(scales):  # one colour per scale (dark: w = 0), named in the legend: no label on a marker
    axes[0, 1].plot(measured[w]["diversity"], measured[w]["fidelity"], "o", ms=6, label=f"w = {w:g}",
                    color=colormaps["viridis"](0.9 * i / (len(scales) - 1)), clip_on=False, zorder=3)
axes[0, 1].margins(x=0.12, y=0.12)  # room around the end points (w = 0 sits at the edge of the data)
axes[0, 1].set(xlabel="diversity", ylabel="fidelity", title="the trade-off")
fig.legend(*axes[0, 1].get_legend_handles_labels(), loc="outside right center", fontsize=8, title="scale")
fig

# %%
assert measured[2.0]["fidelity"] > measured[0.0]["fidelity"]      # guidance makes digits more recognizable
assert measured[8.0]["diversity"] < measured[0.0]["diversity"]    # ... and more alike

# %% [markdown]
# ## 5. Explore: digit and guidance scale
#
# Eight samples of the chosen digit at the chosen scale (from section 3, precomputed, so the sliders respond
# at once), with the fidelity and diversity measured in section 4.

# %%
grids = {(d, w): by_scale[w][m_labels == d][:8] for d in range(10) for w in scales}
notes = {(d, w): f"all digits at w = {w:g}: fidelity {measured[w]['fidelity']:.2f}, "
                 f"diversity {measured[w]['diversity']:.2f}" for d in range(10) for w in scales}
explorer = digits.image_explorer(grids, ("digit", "scale"), notes=notes, ncol=8, scale=2.0)
explorer

# %%
# static twin (for pages without widgets)
explorer.static(digit=4, scale=8.0)

# %% [markdown]
# ## 6. Exercises
#
# **Exercise 9.1 (derive).** Guidance as a classifier (section 3): by Bayes,
# `grad log p_t(y | x) = grad log p_t(x | y) - grad log p_t(x)`, and each score is a noise prediction divided
# by `-sigma_t` (notebook 02). Write the *implicit classifier's* gradient `grad_x log p_t(y | x)` from a
# noise-predicting model's two predictions on the cosine path. The cell after uses your function to check
# the claim of section 3: the guided score is `grad log p_t(x) + (1 + w) grad log p_t(y | x)`.

# %%
def implicit_classifier_score(eps_cond, eps_uncond, t):
    """eps_cond, eps_uncond (B, D); t (B,) -> grad_x log p_t(y | x), (B, D), on the cosine path."""
    ### BEGIN SOLUTION 9.1
    sigma = torch.cos(0.5 * math.pi * t)[:, None]
    return -(eps_cond - eps_uncond) / sigma
    ### END SOLUTION


check("9.1", implicit_classifier_score)

# the tilted score, checked on random "predictions": guiding the noise = adding (1 + w) times the classifier
g = torch.Generator().manual_seed(SEED)
e_c, e_u = torch.randn(2, 16, 2, generator=g, dtype=torch.float64)
t9 = 0.1 + 0.8 * torch.rand(16, generator=g, dtype=torch.float64)
sig9 = torch.cos(0.5 * math.pi * t9)[:, None]
try:
    for w in (0.0, 1.0, 4.0):
        guided_score = -guidance.guided_prediction(e_c, e_u, w) / sig9
        tilted = -e_u / sig9 + (1 + w) * implicit_classifier_score(e_c, e_u, t9)
        assert torch.allclose(guided_score, tilted, atol=1e-12)
    print("guided score = grad log p_t(x) + (1 + w) grad log p_t(y | x): checked at w = 0, 1, 4")
except NotImplementedError:
    print("exercise 9.1 is not done yet: the tilted-score check waits for it")

# the package's guided model uses the formula of section 3: compare on the UNet
x, t = noise[:4], torch.full((4,), 0.5)
with torch.no_grad():
    want = guidance.guided_model(cond, 3, 2.0).velocity(x, t)
    got = guidance.guided_prediction(cond.net(x, t, torch.full((4,), 3)), cond.net(x, t, None), 2.0)
assert torch.allclose(got, want, atol=1e-5)

# %% [markdown]
# **Exercise 9.2 (derive).** A diffusion model predicts noise. Guide its two noise predictions, then convert
# the result to a velocity on the cosine path. Derive the conversion yourself from `x = alpha x1 + sigma eps`
# and `v = alpha' x1 + sigma' eps` (eliminate `x1`). Then argue why the order does not matter: the conversion
# is affine in the prediction and the weights `1 + w` and `-w` sum to one, so guiding noise and guiding
# velocities are the same thing: guidance is not specific to either family.

# %%
from fmlearn.schedules import get_schedule

cosine = get_schedule("cosine")


def guided_velocity_from_noise(eps_cond, eps_uncond, x, t, w):
    """eps_cond, eps_uncond, x (B, D); t (B,); w >= 0 -> guided velocity (B, D) on the cosine path."""
    ### BEGIN SOLUTION 9.2
    eps = (1 + w) * eps_cond - w * eps_uncond
    t_ = t[:, None]
    a, s = cosine.alpha(t_), cosine.sigma(t_)
    da, ds = cosine.d_alpha(t_), cosine.d_sigma(t_)
    return (da / a) * x + (ds - da * s / a) * eps
    ### END SOLUTION


check("9.2", guided_velocity_from_noise)

# %% [markdown]
# ## Summary
#
# * Label dropout trains the conditional and the unconditional model in one network at no extra cost.
# * Classifier-free guidance, `(1 + w) v(x, t | y) - w v(x, t | null)`, trades diversity for fidelity: measured
#   here, fidelity rises and diversity falls as `w` grows. It costs two network passes per step.
# * The formula is the same in noise, data, score or velocity form (the conversions are affine), so flow
#   matching and diffusion are guided alike.
#
# ## References
# * Ho, Salimans. *Classifier-Free Diffusion Guidance.* NeurIPS Workshop 2021, arXiv:2207.12598.
# * Dhariwal, Nichol. *Diffusion Models Beat GANs on Image Synthesis.* NeurIPS 2021 (classifier guidance).
# * Bradley, Nakkiran. *Classifier-Free Guidance is a Predictor-Corrector.* arXiv:2408.09000, 2024.
# * Zheng, Le, Shaul, Lipman, Grover, Chen. *Guided Flows for Generative Modeling and Decision Making.* arXiv:2311.13443, 2023.
# * Lipman, Havasi, Holderrieth, Shaul, Le, Karrer, Chen, Lopez-Paz, Ben-Hamu, Gat. *Flow Matching Guide and Code.* arXiv:2412.06264, 2024.
