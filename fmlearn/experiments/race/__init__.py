r"""The speed/quality race: which model and sampler reach the data with the fewest network calls?

``python -m fmlearn race --data moons --json results.json [--quick]`` (or :func:`run_race`) trains,
or loads from its cache, five models with the same network (``MLP(2, 64, 3)``) and the same number
of training steps on one 2D data set:

==============  =====================================================================================
``fm``          flow matching: linear path, independent coupling, velocity
``fm-ot``       the same with minibatch exact optimal-transport coupling
``diffusion``   variance-preserving cosine path, noise prediction
``reflow``      2-rectified flow: flow matching on FIXED pairs ``(x0, ODE_fm(x0))`` (rk4, 100 NFE),
                started from ``fm``'s weights (Liu et al. 2023; see :mod:`fmlearn.reflow`)
``distilled``   one-step generator: ``x0 + u(x0, 0)`` regressed onto reflow's ODE solution of ``x0``
==============  =====================================================================================

Then every sampler runs on every model at every budget of network evaluations (NFE) in
``{1, 2, 4, 8, 16, 32, 100}`` (a budget below the sampler's evaluations per step is skipped; the
adaptive ``dopri5`` runs once and reports the NFE it used; ``distilled`` runs only ``euler`` at NFE 1),
from the same noise, and each result is scored against FRESH data:

* ``w2``: exact 2-Wasserstein distance to ``n_eval`` fresh data points (the same reference for every
  row); ``floor_w2``, the W2 between two fresh data samples of that size (the reference and another,
  averaged over 5 others), is what a perfect model scores. Finite samples make W2 noisy: on moons
  at 2000 points the floor itself varies by about +-0.04 (``floor_w2_std``), mostly because the two
  moons' shares of a sample differ by chance, so smaller differences between rows mean little;
* ``mmd``: squared MMD on the first ``mmd_n`` (500) points of each (cheap);
* ``nfe``: the network calls counted by :func:`~fmlearn.samplers.sample`; ``seconds``: the wall time of sampling;
* ``straightness``: :func:`~fmlearn.metrics.straightness` of the sampler's own states (deterministic
  samplers; ``None`` for ``ddpm`` and ``em``). A single step is straight by definition (1.0).

**Stochastic samplers need the independent coupling.** ``ddpm`` and ``em`` turn the model's prediction
into a score through ``x0_hat = E[x0 | x_t]`` (Tweedie), which holds only when the noise is independent
of the data. That is true for ``fm`` and ``diffusion``, not for ``fm-ot`` and ``reflow``: there the SDE
samplers target another distribution (measured on moons: W2 0.37-0.52 at NFE 100, against 0.16-0.19
for every ODE sampler of the same models). The ODE samplers need only the velocity ``E[x1 - x0 | x_t]``,
which every coupling defines.

**Time grids.** Fixed-step samplers use the uniform grid in t of :func:`~fmlearn.samplers.sample`.
``grid="logsnr"`` instead spaces the times of models on a variance-preserving path (finite
log-SNR at ``t_min``) uniformly in log-SNR (:meth:`~fmlearn.schedules.Schedule.logsnr_grid`). Measured on moons, DDIM and
DPM-Solver++(2M) on the cosine path lose most of their accuracy in the low-SNR start of a uniform-t
grid (a noise prediction divided by a small ``alpha``), not in DPM-Solver++'s first-order last step;
with 8 steps their W2 drops from 0.51 / 0.53 (uniform) to 0.24 / 0.19 (log-SNR), the ODE's own
value being 0.21. Rows record the grid they used.

**Cache.** Trained models are cached as checkpoints and refused when stale (:mod:`.zoo`).

**Cost.** Exact W2 on 2000 points takes about a second, and a full race scores about 190 rows; the
scoring runs in ``workers`` processes (default: up to 2 when ``n_eval >= 1000``). Measured on a busy
2-core CPU: full mode 3.7 min from scratch (training 34 s, of which minibatch OT 23 s), 2.8 min with
cached models; quick mode 40 s. On an idle one: 2.4 min from scratch (training 30 s), 1.6 min cached.

**Modules.** :mod:`.plan` (models, samplers, budgets, grids), :mod:`.scoring` (one row and its scores),
:mod:`.zoo` (making, training and caching the models), :mod:`.claims`, :mod:`.run` (:func:`run_race`),
:mod:`.report` (the table and the shipped results); the figures are in :mod:`fmlearn.teaching.result_plots`.
"""
from __future__ import annotations

from .claims import check_claims
from .plan import GRIDS, MODELS, NFES, RACE_SAMPLERS, plan
from .report import format_table, precomputed, precomputed_runs
from .run import main, run_race
from .scoring import sample_row, score
from .zoo import cache_path, get_models, resolve_cache_dir

__all__ = ["run_race", "MODELS", "RACE_SAMPLERS", "NFES", "GRIDS", "plan", "sample_row", "score", "check_claims",
           "format_table", "resolve_cache_dir", "cache_path", "get_models", "main", "precomputed", "precomputed_runs"]
