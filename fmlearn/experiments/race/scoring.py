"""One row of a race: run a sampler on a model (timed, NFE counted), then score its samples against fresh data."""
from __future__ import annotations

import time

import torch
from torch import Tensor

from ..._checks import check_choice
from ...models import PathModel
from ...samplers import EVALS_PER_STEP, SAMPLERS, sample
from ..common import say
from .plan import GRIDS, MMD_N, STOCHASTIC, grid_for

__all__ = ["sync", "sample_row", "score", "score_job", "score_all"]


def sync(device) -> None:
    """Wait for a GPU to finish its queued work (timings); nothing on a CPU."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def sample_row(model: PathModel, sampler: str, nfe: int | None, x0: Tensor, *, grid: str = "uniform",
               generator: torch.Generator | None = None) -> tuple[dict, Tensor]:
    """Run one sampler on one model: the row without its scores, and the samples.

    Args:
        model: the model to sample.
        sampler: one of :data:`RACE_SAMPLERS`.
        nfe: budget for fixed-step samplers; None for ``dopri5``.
        x0: the noise, shape (N, D).
        grid: ``uniform`` or ``logsnr`` (used only for paths with a finite log-SNR at ``t_min``).
        generator: the stochastic samplers' noise.

    Returns:
        ``(row, samples)``: row with ``sampler, nfe_budget, steps, grid, nfe`` (counted), ``seconds``
        and ``straightness``; samples (N, D) on the CPU.
    """
    check_choice("sampler", sampler, SAMPLERS)
    check_choice("grid", grid, GRIDS)
    times, used = grid_for(model, sampler, nfe, grid)
    if sampler == "dopri5":
        times = model.schedule.time_grid(32)  # output times only (dense output): a trajectory for straightness
    deterministic = sampler not in STOCHASTIC
    sync(x0.device)
    t0 = time.perf_counter()
    out = sample(model, x0, sampler, None if times is not None else nfe, times=times, generator=generator,
                 return_trajectory=deterministic)
    sync(x0.device)
    seconds = time.perf_counter() - t0
    straight = None
    if deterministic:
        from ...metrics import straightness
        traj = out.trajectory
        straight = straightness(traj) if bool(torch.isfinite(traj).all()) else None
    steps = len(out.times) - 1 if sampler in EVALS_PER_STEP else None
    row = {"sampler": sampler, "nfe_budget": nfe, "steps": steps, "grid": used, "nfe": out.nfe,
           "seconds": seconds, "straightness": straight}
    return row, out.samples.detach().cpu()


def score(samples: Tensor, reference: Tensor, mmd_n: int = MMD_N) -> tuple[float | None, float | None]:
    """``(w2, mmd)`` of samples (N, D) against reference data (N, D): exact W2 on all points, MMD on the
    first ``mmd_n`` of each. ``(None, None)`` when the samples hold NaN or inf (a diverged sampler)."""
    from ...metrics import mmd, wasserstein2
    if not bool(torch.isfinite(samples).all()):
        return None, None
    k = min(mmd_n, samples.shape[0], reference.shape[0])
    return wasserstein2(samples, reference), mmd(samples[:k], reference[:k])


def score_job(job) -> tuple[float | None, float | None]:
    """Score one ``(samples, reference, mmd_n)`` job of float64 numpy arrays (run in a worker process)."""
    x, y, mmd_n = job
    return score(torch.from_numpy(x), torch.from_numpy(y), mmd_n)


def score_all(jobs: list[tuple[Tensor, Tensor]], mmd_n: int, workers: int, progress: bool,
               log: list[str]) -> list[tuple[float | None, float | None]]:
    """Score every ``(samples, reference)`` pair, split among ``workers`` fresh Python processes when > 1
    (:func:`fmlearn.experiments.parallel.map_in_processes`: nothing of the caller's script or notebook is re-imported)."""
    from tqdm.auto import tqdm

    from ..parallel import map_in_processes
    bar = tqdm(total=len(jobs), desc="score", unit="row", disable=not progress)
    if workers > 1 and len(jobs) > 1:
        arrays = [(x.double().numpy(), y.double().numpy(), mmd_n) for x, y in jobs]
        out = map_in_processes(score_job, arrays, workers=workers, on_result=lambda i, r: bar.update(1),
                               warn=lambda msg: say(progress, f"race: {msg}", log))
    else:
        out = []
        for x, y in jobs:
            out.append(score(x, y, mmd_n))
            bar.update(1)
    bar.close()
    return out


