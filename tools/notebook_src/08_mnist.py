# %% [markdown]
# # 08 · MNIST: flow matching and diffusion on real images
#
# The 2D toys showed the mechanics. Does the lesson hold on real images? This notebook trains flow matching
# and diffusion on handwritten digits with **the same UNet, the same data, the same optimizer and the same
# number of steps**, measures image quality with a real metric, and races every sampler at every budget of
# network evaluations (NFE), as notebook 05 did on moons.
#
# **Learning goals.** After this notebook you can
# 1. say why nothing in the two losses changes from 2D points to 28×28 images;
# 2. measure generated images with a classifier's Fréchet distance, its confident share and the entropy of
#    its label histogram, each read against a floor (real digits) and a bad reference (blurred digits);
# 3. read quality against NFE for both families and every sampler, and sample the diffusion model as a flow;
# 4. watch a digit emerge from noise along each model's path.
#
# *Runtime: about 1 minute on a laptop CPU (the models are shipped pretrained; a short training run is live).*
#
# *Notation (time from noise to data, `x_0` = noise, `x0_hat`, log-SNR): the box at the top of
# [notebook 01](01_probability_paths.ipynb).*

# %%
# Setup. On Colab this installs fmlearn first (elsewhere `python course.py lab` did). Then: seed, device, quick mode.
# <colab-install>

import math
import torch
from IPython.display import display

from fmlearn import config, frechet
from fmlearn.samplers import ddim_as_euler, sample
from fmlearn.training import train
from fmlearn.mnist import MnistData, mnist_tensors
from fmlearn.mnist import metric as mnist_metric
from fmlearn.mnist import models as mnist_models
from fmlearn.experiments import mnist_race, seeds
from fmlearn.teaching import digits, result_plots
from fmlearn.teaching.exercises import check
from fmlearn.teaching.live import LiveTraining

# threads=None: all CPU cores (convolutions on 28x28 images gain from them; the 2D notebooks use one)
SEED, DEVICE, QUICK = config.notebook_setup(seed=0, threads=None)

# %% [markdown]
# ## 1. The data
#
# MNIST: 60 000 training and 10 000 test digits of 28×28 grey pixels. `fmlearn` reads the four canonical
# files, checks their MD5 sums, and downloads them when they are missing (offline, it names the folder to
# put them in). Pixels are scaled to `[-1, 1]`, `x = pixels / 127.5 - 1`, so that data and noise have
# comparable scales: a sample is a tensor of shape `(1, 28, 28)`, a point in $\mathbb{R}^{784}$.

# %%
train_digits = MnistData("train")
print(train_digits)
real = train_digits(32, torch.Generator().manual_seed(SEED))  # (32, 1, 28, 28) in [-1, 1]
print("shape", tuple(real.shape), "range", (real.min().item(), real.max().item()))
digits.plot_grids({"32 training digits": real}, ncol=8, panel=4.0)

# %% [markdown]
# ## 2. Same loss, bigger network
#
# The flow matching loss of notebook 03 never looked at the shape of `x`: it interpolates, takes the
# velocity `x1 - x0` and regresses on it. The cell below is the package's code, unchanged; on MNIST only the
# network differs. A **UNet** (`fmlearn.unet.UNet`, 274k parameters) replaces the MLP: convolutions at
# 28×28, 14×14 and 7×7, skip connections between the two halves, and the time `t` added to every block.
# The same network, with the same loss code, predicts the noise for the diffusion model.

# %%
# core: flow_matching_loss
def flow_matching_loss(net, x0, x1, t):
    t_ = t.reshape(-1, *([1] * (x1.ndim - 1)))      # (B,) -> (B, 1, ..., 1): broadcasts over any sample shape
    xt = (1 - t_) * x0 + t_ * x1                       # the linear path
    return ((net(xt, t) - (x1 - x0)) ** 2).mean()      # regress on the velocity x1 - x0


# %%
from fmlearn.losses import flow_matching_loss as package_loss

model = mnist_models.build_mnist_model("fm", seed=SEED)
print(f"{type(model.net).__name__}({model.net.extra_repr()})")  # print(model.net) lists every layer
x0 = torch.randn_like(real)
t = torch.rand(real.shape[0])
ours, theirs = flow_matching_loss(model.net, x0, real, t), package_loss(model.net, x0, real, t)
print(f"loss on 32 digits: ours {ours.item():.6f}, package {theirs.item():.6f}")
assert torch.allclose(ours, theirs)

# %% [markdown]
# ## 3. Training, live and shipped
#
# A short live run shows the loop working (EMA, a live panel of samples and loss; a few hundred steps make
# blobs, not digits).
# *About 20 s in quick mode, 1 minute otherwise.*

# %%
steps = config.budget(400, 100)
view = LiveTraining(["flow matching, live run"], n_images=16, nfe=20, seed=SEED)  # samples: Euler, NFE 20
display(view)
live = train(mnist_models.build_mnist_model("fm", seed=SEED), train_digits, "fm", steps=steps, batch_size=64,
             lr=mnist_models.SETTINGS.lr, seed=SEED, progress=False, callback=view.callback("flow matching, live run"))
print(f"{live.steps} steps in {live.seconds:.0f} s; loss {live.history[:20].mean():.3f} -> {live.history[-20:].mean():.3f}")
assert live.history[-20:].mean() < live.history[:20].mean()
view.static()  # the static twin: the final frame, 16 samples after the last step

# %% [markdown]
# The real models ship with the package: one command trained each on a 2-core CPU, and its record stores that
# command, the configuration, the time it took and its evaluation. Both have the same UNet, batch, learning-rate
# schedule, arithmetic (bfloat16 mixed precision) and number of steps. They differ by the path and the
# prediction (linear path and velocity for flow matching; cosine variance-preserving path and noise for
# diffusion) and by how training times are drawn, i.e. the loss weighting: logit-normal times for flow
# matching (the choice of Stable Diffusion 3), uniform times for diffusion (DDPM's). Each is the better
# choice for its family, measured both ways (README): logit-normal times improve flow matching and make
# diffusion worse.

# %%
RETRAIN = False  # True: train both models here instead, with their recorded recipes (about 30 min each on a CPU)
if RETRAIN:
    models = {name: mnist_models.train_mnist(**mnist_models.recipe(name), out=f"runs/mnist_{name}.pt",
                                             device=DEVICE).ema.eval()
              for name in ("fm", "diffusion")}
else:
    models = {name: mnist_models.load_shipped(name, device=DEVICE) for name in ("fm", "diffusion")}
    print("loaded the shipped checkpoints")
for name in models:
    rec = mnist_models.shipped_record(name)
    train_info = rec.get("training", {})
    print(f"{name:10s} {rec['steps']} steps, {rec['parameters']:,} parameters, {rec['bytes'] / 1e6:.2f} MB, "
          f"trained in {train_info.get('seconds', float('nan')) / 60:.0f} min on {train_info.get('device', '?')}")
    print(f"{'':10s} retrain: {rec['command']}")

noise = models["fm"].noise(32, generator=torch.Generator().manual_seed(SEED))  # the same noise for both
with torch.no_grad():
    shown = {"flow matching, Euler, NFE 100": sample(models["fm"], noise, "euler", 100).samples,
             "diffusion, DDPM, NFE 100": sample(models["diffusion"], noise, "ddpm", 100,
                                                generator=torch.Generator().manual_seed(SEED)).samples}
digits.plot_grids(shown, ncol=8, panel=4.0)

# %% [markdown]
# ## 4. Measuring quality
#
# Looking is not measuring. `fmlearn.mnist.classifier` ships a small classifier (99.5% test accuracy) and scores a
# batch of generated digits three ways:
#
# * **Fréchet distance (FD)** between Gaussians fitted to the classifier's 128-d penultimate features of the
#   samples and of the 10 000 test digits: `|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))` (the recipe of
#   FID, with a feature extractor made for digits). Lower is better; it penalizes wrong shapes *and* missing
#   variety.
# * **Confident share:** the fraction of samples the classifier labels with probability ≥ 0.9 (does it look
#   like *some* digit?).
# * **Label entropy:** the entropy of the histogram of predicted labels; `log 10 = 2.303` when all ten digits
#   are equally frequent (are all digits generated?).
#
# A number means little alone. Two references are measured the same way on the same number of images: real
# *training* digits (the floor: a perfect generator scores about this, never 0, because n is finite) and
# blurred test digits (a visibly bad generator). FD grows as n shrinks: compare only at equal n.

# %%
n = 500
test_x, _ = mnist_tensors("test", n)
blurred = mnist_metric.gaussian_blur(test_x, 1.5)
refs = mnist_metric.references(n)
scores = {"real test digits": mnist_metric.evaluate_images(test_x),
          "blurred test digits": mnist_metric.evaluate_images(blurred)}
for name, s in scores.items():
    print(f"{name:20s} FD {s['fd']:7.1f}  confident {s['confident']:.2f}  entropy {s['entropy']:.3f}")
print(f"references at n={n}: floor (train vs test) {refs['floor_fd']:.1f}, blurred {refs['blur_fd']:.1f}")
digits.plot_grids({"test digits": test_x[:16], "blurred (sigma 1.5 px)": blurred[:16]}, ncol=8, panel=3.6)

# %% [markdown]
# ## 5. Quality against NFE: the MNIST race
#
# `python -m fmlearn mnist-eval --json mnist_eval.json` samples both shipped models with five samplers at
# NFE 1 to 100 from the same noise and scores 500 digits per point. The flow samplers (Euler, Heun) run on
# the diffusion model and the diffusion samplers (DDPM, DDIM, DPM-Solver++) on the flow model, through the exact
# conversions of notebook 04. The full run (8.5 minutes on a 2-core CPU) is shipped precomputed.

# %%
full = mnist_race.precomputed()
print(mnist_race.format_table(full))
result_plots.plot_curves(full)

# %% [markdown]
# One point of the table needs a second look: Heun at NFE 2 on the flow model has the best confident share of
# all, 1.00, and the worst FD, far above the blurred digits. The confident share only asks whether the
# classifier is sure of each sample, not whether the samples differ: here it calls all 500 samples the same
# digit (label entropy 0.00 instead of about `log 10`). A high confident share means something only beside a
# label entropy near `log 10` and a low FD.

# %%
odd = next(r for r in full["rows"] if (r["model"], r["sampler"], r["nfe"]) == ("fm", "heun", 2))
print(f"fm, heun, NFE 2: FD {odd['fd']:.0f} (blurred digits {full['blur_fd']:.0f}), confident {odd['confident']:.2f}, "
      f"label entropy {odd['entropy']:.2f} (log 10 = {math.log(10):.2f})")
assert odd["confident"] >= 0.95 and odd["entropy"] < 0.1 and odd["fd"] > full["blur_fd"]

# %% [markdown]
# FD of 500 samples is biased upwards: real training digits score 12.2 at n = 500 but about 1.3 at n = 10,000.
# Each row therefore also carries **FD-infinity**, the FD extrapolated to infinitely many samples (FD measured
# on subsets of 200 to 500 digits, fitted as `FD_inf + k / n`; Chong & Forsyth 2020). It is noisier (real
# digits extrapolate to about 0 ± 1), but it compares rows without the small-sample offset:

# %%
print(f"real digits: FD {full['floor_fd']:.1f} at n = {full['n_eval']}, FD-infinity {full['floor_fd_inf']:.1f}")
for name, native in (("fm", "euler"), ("diffusion", "ddpm"), ("diffusion", "euler")):
    r = next(r for r in full["rows"] if (r["model"], r["sampler"], r["nfe"]) == (name, native, 100))
    print(f"{name:10s} {native:6s} NFE 100: FD {r['fd']:.1f}, FD-infinity {r['fd_inf']:.1f}")

# %% [markdown]
# One point of that table, recomputed here from the shipped checkpoint with the same noise (500 digits,
# flow matching with Euler at NFE 8): the numbers must agree. *About 10 s.*

# %%
again = mnist_race.run_mnist_eval(quick=False, models=["fm"], samplers=["euler"], nfes=[8], n_eval=full["n_eval"],
                                  progress=False)
mine = again["rows"][0]
shipped = next(r for r in full["rows"] if (r["model"], r["sampler"], r["nfe"]) == ("fm", "euler", 8))
print(f"recomputed FD {mine['fd']:.2f} (shipped {shipped['fd']:.2f}); confident {mine['confident']:.3f} "
      f"(shipped {shipped['confident']:.3f})")
assert abs(mine["fd"] - shipped["fd"]) < 0.05 * shipped["fd"] + 0.5

# %% [markdown]
# What the curves say (the assertions below check each statement on every one of three noise draws; what a
# draw can flip is said but not asserted):
#
# * **Both families make digits at NFE 100** with their own sampler (Euler for flow matching, DDPM for
#   diffusion): most samples are confidently classified and all ten digits appear (label entropy close to
#   `log 10`), far from the blurred reference, though still above the floor of real digits.
# * **With the same solver, flow matching's ODE is better at few steps**: Euler on the flow model beats Euler
#   on the diffusion model at NFE 4, 8 and 16, with the same network and training budget. Not because the
#   linear path is straighter: with the same coupling the exact trajectories of both paths are the same
#   curves up to a scale and a clock (notebook 04, section 5). The differences are the time grid (uniform
#   in `t` means other steps on each path), the noise prediction's division by a small `alpha` near noise,
#   the loss weighting and time distribution, and each network's own error.
# * **A good solver closes that gap.** On the diffusion model DPM-Solver++(2M) beats Euler and DDPM at NFE 4
#   and 8 and brings its ODE close to flow matching's Euler; on the flow model it changes little. Those two
#   "about equal"s are within a few percent, the size of what another noise draw moves, so they are printed,
#   not asserted. Much of "flow matching is faster" is "a better solver is faster".
# * **Deterministic is not automatically better.** At NFE 100 the stochastic DDPM sampler gives the best FD on
#   *both* models: its fresh noise corrects the network's errors along the way, while an ODE sampler carries
#   them to the end. On this flow model it is also the best sampler at NFE 4 and 8 — not explained yet, so
#   not asserted. "Flow matching is faster because it is deterministic" mixes up the sampler and the model.
# * **DDIM on the flow model is Euler, exactly**: on the linear path the two samplers take the same steps, so
#   the race does not sample that row twice (it is marked `same_as: euler`); section 6 checks it on the UNet.
#
# Each comparison is asserted twice, on FD at 500 digits and on FD-infinity, which removes the small-sample
# offset (its size depends on the model, so it could have flipped a close comparison): none flips.

# %%
def at(model, sampler, nfe):
    return next(r for r in full["rows"] if (r["model"], r["sampler"], r["nfe"]) == (model, sampler, nfe))


# The headline rows were sampled three times with other noise (same networks: a training seed costs 25 CPU
# minutes per model). Only what holds on every draw is asserted.
runs, key = mnist_race.precomputed_runs(), ("model", "sampler", "nfe")
fd = seeds.summarize(runs, "fd", key)
print(f"{len(runs)} noise draws of {full['n_eval']} digits each; FD as mean ± std over the draws")
for name, native in (("fm", "euler"), ("diffusion", "ddpm")):
    r = at(name, native, 100)
    print(f"{name:10s} {native} NFE 100: FD {seeds.format_spread(fd[(name, native, 100)], 1)}, "
          f"confident {r['confident']:.2f}, entropy {r['entropy']:.3f} (draw 0)")
    assert r["confident"] >= 0.7 and r["entropy"] >= 0.97 * math.log(10) and r["fd"] < full["blur_fd"] / 10
    for ode in ("euler", "dpm++2m"):  # DDPM beats the ODE samplers at NFE 100, on every draw
        assert seeds.always_less(runs, (name, "ddpm", 100), (name, ode, 100), "fd", key)
for k in (4, 8, 16):
    assert seeds.always_less(runs, ("fm", "euler", k), ("diffusion", "euler", k), "fd", key)
    assert at("fm", "ddim", k).get("same_as") == "euler"  # not sampled twice: DDIM is Euler here (checked below)
for k in (4, 8):
    cell = {(m, s_): seeds.format_spread(fd[(m, s_, k)], 1) for m in ("fm", "diffusion") for s_ in ("euler", "dpm++2m", "ddpm")}
    print(f"NFE {k}: fm Euler {cell['fm', 'euler']}, diffusion Euler {cell['diffusion', 'euler']}, diffusion DPM++ "
          f"{cell['diffusion', 'dpm++2m']}, fm DPM++ {cell['fm', 'dpm++2m']}, fm DDPM {cell['fm', 'ddpm']}")
    for other in ("euler", "ddpm"):  # on the diffusion model DPM-Solver++ beats Euler and DDPM, on every draw
        assert seeds.always_less(runs, ("diffusion", "dpm++2m", k), ("diffusion", other, k), "fd", key)

# The same verdicts on FD-infinity (the small-sample offset, which depends on the model, removed): every draw too.
fd_inf = seeds.summarize(runs, "fd_inf", key)
print("FD-infinity at NFE 100: " + ", ".join(f"{m} {s_} {seeds.format_spread(fd_inf[(m, s_, 100)], 1)}"
                                             for m in ("fm", "diffusion") for s_ in ("euler", "dpm++2m", "ddpm")))
for name in ("fm", "diffusion"):
    for ode in ("euler", "dpm++2m"):
        assert seeds.always_less(runs, (name, "ddpm", 100), (name, ode, 100), "fd_inf", key)
for k in (4, 8, 16):
    assert seeds.always_less(runs, ("fm", "euler", k), ("diffusion", "euler", k), "fd_inf", key)
for k in (4, 8):
    for other in ("euler", "ddpm"):
        assert seeds.always_less(runs, ("diffusion", "dpm++2m", k), ("diffusion", other, k), "fd_inf", key)


# %% [markdown]
# ## 6. The diffusion model, sampled as a flow
#
# Notebook 04 showed that DDIM is the Euler method on the probability-flow ODE after a change of variables.
# Here it is on the UNet: the package's `ddim_as_euler` takes plain Euler steps in the variables
# `y = x / (alpha + sigma)` and time `r = alpha / (alpha + sigma)` (the linear path of notebook 04) and
# matches `sample(..., "ddim")` to float precision. Any flow solver
# (Euler, Heun) runs on the diffusion model through the noise-to-velocity conversion.

# %%
diff = models["diffusion"]
x0 = noise[:8]
with torch.no_grad():
    ddim = sample(diff, x0, "ddim", 10).samples
    euler_in_disguise = ddim_as_euler(diff, x0, 10)
    heun = sample(diff, x0, "heun", 10).samples
    fm_gap = (sample(models["fm"], x0, "ddim", 10).samples - sample(models["fm"], x0, "euler", 10).samples).abs().max()
gap = (ddim - euler_in_disguise).abs().max().item()
print(f"max |DDIM - Euler in (x/alpha, sigma/alpha)| = {gap:.2e}; on the flow model max |DDIM - Euler| = "
      f"{fm_gap.item():.2e}")
assert gap < 1e-3 and fm_gap.item() < 1e-4
digits.plot_grids({"diffusion, DDIM, NFE 10": ddim, "same, as Euler steps": euler_in_disguise,
                   "diffusion, Heun (a flow solver), NFE 10": heun}, ncol=4, panel=3.0)

# %% [markdown]
# ## 7. A digit emerging from noise
#
# The same noise, moved along each model's path (flow matching with Euler; diffusion with DDIM), 40 steps.
# Press play, or drag the time slider. The static twin below shows five moments.

# %%
with torch.no_grad():
    paths = {"flow matching (Euler)": sample(models["fm"], noise[:8], "euler", 40, return_trajectory=True),
             "diffusion (DDIM)": sample(models["diffusion"], noise[:8], "ddim", 40, return_trajectory=True)}
times = paths["flow matching (Euler)"].times
digits.animate_digits({k: v.trajectory for k, v in paths.items()}, times, ncol=4)

# %%
moments = [0, 10, 20, 30, 40]
digits.plot_grids({f"{k.split(' (')[0]}, t = {times[i]:.2f}": v.trajectory[i, :4]
                   for k, v in paths.items() for i in moments}, ncol=2, panel=1.6)

# %% [markdown]
# On the linear path `x_t = (1 - t) x0 + t x1`, the digit fades in as the noise fades out. On the cosine path
# the signal-to-noise ratio `tan^2(pi t / 2)` is about 2.5 times the linear path's `t^2 / (1 - t)^2` near
# noise and 0.4 times it near data (equal at `t = 1/2`): the digit's rough shape shows *earlier*, and the
# last grain of noise leaves later. (It is DDPM's `linear-beta` schedule that keeps the noise longest:
# notebook 01.) Both end on digits.
#
# ## 8. Explore: model, sampler, NFE
#
# Sixteen digits from the same noise for each choice (precomputed here, so the sliders respond at once; the
# note gives the measured FD of the full race). *About 10 s in quick mode.*

# %%
explore_nfes = (1, 4, 16) if QUICK else (1, 2, 4, 8, 16, 32)
grid_noise = noise[:16]
grids, notes = {}, {}
with torch.no_grad():
    for name, m in models.items():
        for s in mnist_race.EVAL_SAMPLERS:
            for k in explore_nfes:
                if s == "heun" and k < 2:
                    continue
                g = torch.Generator().manual_seed(SEED)
                grids[(name, s, k)] = sample(m, grid_noise, s, k, generator=g).samples
                row = next((r for r in full["rows"] if (r["model"], r["sampler"], r["nfe"]) == (name, s, k)), None)
                notes[(name, s, k)] = f"full race: FD {row['fd']:.1f}, confident {row['confident']:.2f}" if row else ""
explorer = digits.image_explorer(grids, ("model", "sampler", "nfe"), notes=notes, nfe=4)
explorer

# %%
# static twin (for pages without widgets)
explorer.static(model="diffusion", sampler="ddpm", nfe=4)

# %% [markdown]
# ## 9. Exercises
#
# **Exercise 8.1.** The label entropy: histogram the classifier's predicted labels (the argmax of each row of
# `probs`) and return the entropy of that histogram in nats.

# %%
def label_entropy(probs):
    """probs (N, K) class probabilities -> entropy (float) of the histogram of predicted labels."""
    ### BEGIN SOLUTION 8.1
    counts = torch.bincount(probs.argmax(1), minlength=probs.shape[1]).double()
    p = counts / counts.sum()
    p = p[p > 0]
    return float(-(p * p.log()).sum())
    ### END SOLUTION


check("8.1", label_entropy)

# %% [markdown]
# **Exercise 8.2 (derive, then predict).** The Fréchet distance of the metric above is
# `|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))` (`frechet.fid_from_stats`). Derive its value for two
# *isotropic* Gaussians `N(mu_a, s_a^2 I)` and `N(mu_b, s_b^2 I)` in `D` dimensions: a closed form with no matrix
# square root. Write it below (`D = mu_a.numel()`); the check compares it with the general formula.

# %%
def isotropic_frechet(mu_a, s_a, mu_b, s_b):
    """mu_a, mu_b (D,) means; s_a, s_b positive spreads (standard deviations) -> float."""
    ### BEGIN SOLUTION 8.2
    return float(((mu_a - mu_b) ** 2).sum() + mu_a.numel() * (s_a - s_b) ** 2)
    ### END SOLUTION


check("8.2", isotropic_frechet)

# %% [markdown]
# Now predict before you run: a model whose features have the right mean but a spread 10% too small in each of
# 128 feature dimensions (`s_a = 1`, `s_b = 0.9`). Your formula gives `128 * 0.1^2 = 1.28`: as much as moving the
# mean by `sqrt(1.28) = 1.13` standard deviations along one axis. A small loss of diversity in every direction
# costs as much as one large error in one direction. The cell measures it with the general formula on 20,000
# samples of each, and also measures two samples of the *same* Gaussian: what is left over is the finite-n bias
# that the FD-infinity figures above remove.

# %%
_g = torch.Generator().manual_seed(0)
_a, _same = (torch.randn(20_000, 128, generator=_g, dtype=torch.float64) for _ in range(2))
_b = 0.9 * torch.randn(20_000, 128, generator=_g, dtype=torch.float64)
_stats = [(x.mean(0), x.T.cov()) for x in (_a, _b, _same)]
_measured = frechet.fid_from_stats(*_stats[0], *_stats[1])
_bias = frechet.fid_from_stats(*_stats[0], *_stats[2])
try:
    print(f"your closed form {isotropic_frechet(torch.zeros(128), 1.0, torch.zeros(128), 0.9):.3f}; ", end="")
except NotImplementedError:
    print("(write isotropic_frechet above to see your closed form) ", end="")
print(f"measured {_measured:.3f}; same Gaussian twice {_bias:.3f}")
assert 0 < _bias < _measured - 1.0  # the finite-n bias is positive and far below the 10% spread's cost

# %% [markdown]
# ## Summary
#
# * Nothing in flow matching or diffusion is specific to 2D: the same loss code trains a UNet on 784-dimensional
#   digits; only the network changes.
# * A metric needs references: the classifier's Fréchet distance is read between real digits (floor) and blurred
#   ones, at a fixed number of samples; the confident share and the label entropy say whether samples look like
#   digits and whether all ten appear.
# * With the same UNet, budget and Euler solver, flow matching's ODE is better at few steps than diffusion's;
#   DPM-Solver++ brings diffusion's ODE level with it, and at NFE 100 the stochastic DDPM sampler beats every
#   ODE sampler on both models: the sampler matters as much as the family. The diffusion model samples as a flow (DDIM = Euler in
#   other variables).
#
# ## References
# * LeCun, Bottou, Bengio, Haffner. *Gradient-Based Learning Applied to Document Recognition.* Proc. IEEE, 1998 (MNIST).
# * Ronneberger, Fischer, Brox. *U-Net: Convolutional Networks for Biomedical Image Segmentation.* MICCAI 2015.
# * Ho, Jain, Abbeel. *Denoising Diffusion Probabilistic Models.* NeurIPS 2020.
# * Song, Meng, Ermon. *Denoising Diffusion Implicit Models.* ICLR 2021.
# * Heusel, Ramsauer, Unterthiner, Nessler, Hochreiter. *GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium.* NeurIPS 2017 (FID).
# * Lipman, Chen, Ben-Hamu, Nickel, Le. *Flow Matching for Generative Modeling.* ICLR 2023.
