"""What a race runs: its models (and how each is made), samplers, budgets and time grids."""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from ..._checks import check_choice
from ...models import PathModel
from ...samplers import EVALS_PER_STEP, steps_for

__all__ = ["MODELS", "RACE_SAMPLERS", "NFES", "GRIDS", "MAX_NFE", "STOCHASTIC", "RECIPE", "PAIR_SAMPLER",
           "PAIR_NFE", "MMD_N", "FLOOR_REPEATS", "BATCH_SIZE", "ModelSpec", "SPECS", "parse_names", "parse_nfes",
           "plan", "grid_for"]

MODELS = ("fm", "fm-ot", "diffusion", "reflow", "distilled")
RACE_SAMPLERS = ("euler", "heun", "rk4", "dopri5", "ddpm", "ddim", "dpm++2m", "em")
NFES = (1, 2, 4, 8, 16, 32, 100)
GRIDS = ("uniform", "logsnr")
MAX_NFE = 1000
STOCHASTIC = frozenset({"ddpm", "em"})
RECIPE = 1  # bump when the training recipe changes: older cached models are then refused and retrained
PAIR_SAMPLER, PAIR_NFE = "rk4", 100  # the accurate solver that makes reflow's and distillation's pairs
MMD_N = 500
FLOOR_REPEATS = 5  # W2 between finite samples is noisy (moons at 2000 points: about +-0.04): average the floor
BATCH_SIZE = 256



@dataclass(frozen=True)
class ModelSpec:
    """How one race model is made: its path, what its network predicts, its objective, and its teacher."""

    schedule: str
    parametrization: str
    objective: str  # a preset of Objective, or "one-step" (reflow.OneStepObjective)
    teacher: str | None = None


SPECS = {
    "fm": ModelSpec("linear", "velocity", "fm"),
    "fm-ot": ModelSpec("linear", "velocity", "fm-ot"),
    "diffusion": ModelSpec("cosine", "noise", "diffusion"),
    "reflow": ModelSpec("linear", "velocity", "fm", teacher="fm"),
    "distilled": ModelSpec("linear", "velocity", "one-step", teacher="reflow"),
}



def parse_names(arg: str, values, choices) -> tuple[str, ...]:
    """``values`` (a comma-separated string or a list) as a tuple of known names without repeats; ``arg`` names
    the list in the messages (``"models"``, ``"samplers"``)."""
    if isinstance(values, str):
        values = [v.strip() for v in values.split(",") if v.strip()]
    values = list(values)
    if not values:
        raise ValueError(f"{arg} must name at least one of {', '.join(map(repr, choices))}.")
    out = []
    for v in values:
        try:
            out.append(check_choice(arg[:-1], v, choices))  # "unknown model 'x'; choose one of ..."
        except ValueError as err:
            raise ValueError(f"{arg}: {err}") from None
    return tuple(dict.fromkeys(out))


def parse_nfes(values) -> tuple[int, ...]:
    """Budgets (a comma-separated string or a list of integers from 1 to MAX_NFE), sorted, without repeats."""
    if isinstance(values, str):
        try:
            values = [int(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"nfes must be a comma-separated list of integers, got {values!r}.") from None
    values = list(values)
    if not values:
        raise ValueError(f"nfes must hold at least one budget, e.g. {list(NFES)}.")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_NFE:
            raise ValueError(f"nfes: every budget must be an integer from 1 to {MAX_NFE}, got {v!r}.")
    return tuple(sorted(set(values)))


def plan(models=MODELS, samplers=RACE_SAMPLERS, nfes=NFES) -> list[tuple[str, str, int | None]]:
    """The rows of a race: ``(model, sampler, nfe budget)``, budget None for the adaptive ``dopri5``.

    A budget below ``EVALS_PER_STEP[sampler]`` is skipped; ``dopri5`` gets one row; ``distilled``
    gets exactly one row, ``euler`` at NFE 1, whatever ``samplers`` and ``nfes`` say.
    """
    models, samplers, nfes = parse_names("models", models, MODELS), parse_names("samplers", samplers, RACE_SAMPLERS), parse_nfes(nfes)
    rows = []
    for m in models:
        if m == "distilled":
            rows.append((m, "euler", 1))
            continue
        for s in samplers:
            if s not in EVALS_PER_STEP:  # adaptive
                rows.append((m, s, None))
            else:
                rows += [(m, s, n) for n in nfes if n >= EVALS_PER_STEP[s]]
    return rows


def grid_for(model: PathModel, sampler: str, nfe: int | None, grid: str) -> tuple[Tensor | None, str]:
    """The time grid of one row and its name: ``(None, "adaptive")`` for dopri5, the log-SNR grid when asked
    for and the path has a finite log-SNR at ``t_min``, else ``(None, "uniform")`` (the samplers' default)."""
    if sampler not in EVALS_PER_STEP or nfe is None:
        return None, "adaptive"
    if grid == "logsnr":
        try:
            return model.schedule.logsnr_grid(steps_for(sampler, nfe)), "logsnr"
        except ValueError:  # linear path: log-SNR is -inf at t = 0
            pass
    return None, "uniform"


