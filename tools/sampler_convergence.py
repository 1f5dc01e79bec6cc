"""DPM-Solver++(2M), Euler and DDIM with the exact model of Gaussian data: error against the exact flow.

    python tools/sampler_convergence.py            # the tables quoted in fmlearn/samplers.py and the README

For data N(mu, Sigma) the optimal model is known in closed form (fmlearn.gaussians) and every
deterministic sampler is an affine map, so from white noise (sample mean 0, covariance I) the error
of the final mean and covariance against the exact probability-flow map (gaussian_flow_map) is the
discretization error alone, with no Monte-Carlo error. "2nd-order last" is the package's previous
DPM-Solver++(2M), which also took its last step with the second-order formula (an independent
implementation, in tests/test_samplers.py). Takes about 10 s on one CPU thread.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fmlearn.samplers import sample  # noqa: E402
from test_samplers import (NFE_LADDER, dpmpp_2m_second_order_last_step, flow_error, gaussian_model,  # noqa: E402
                           white_noise)


def grid_of(model, grid: str, nfe: int):
    return model.schedule.time_grid(nfe) if grid == "uniform" else model.schedule.logsnr_grid(nfe)


def table(schedule: str, grid: str, nfes) -> list[dict]:
    model, x0 = gaussian_model(schedule), white_noise(64)
    rows = []
    for nfe in nfes:
        times = grid_of(model, grid, nfe)
        row = {"nfe": nfe, **{s: flow_error(sample(model, x0, s, times=times).samples, times, schedule)
                              for s in ("euler", "ddim", "dpm++2m")}}
        row["2nd-order last"] = flow_error(dpmpp_2m_second_order_last_step(model, x0, times), times, schedule)
        rows.append(row)
    return rows


def order(rows, key, lo, hi) -> float:
    a = next(r for r in rows if r["nfe"] == lo)[key]
    b = next(r for r in rows if r["nfe"] == hi)[key]
    return math.log(a / b) / math.log(hi / lo)


def main() -> None:
    torch.set_num_threads(1)
    ladder = list(NFE_LADDER) + [200, 400, 800]
    for schedule, grids in (("linear", ["uniform"]), ("cosine", ["uniform", "logsnr"]),
                            ("linear-beta", ["uniform", "logsnr"])):
        for grid in grids:
            rows = table(schedule, grid, ladder)
            print(f"\n{schedule}, {grid} grid: error of the final mean + covariance (Frobenius)")
            print("| NFE | Euler | DDIM | DPM++(2M) | DPM++(2M), 2nd-order last step |")
            print("| --- | --- | --- | --- | --- |")
            for r in rows:
                print(f"| {r['nfe']} | {r['euler']:.2e} | {r['ddim']:.2e} | {r['dpm++2m']:.2e} | "
                      f"{r['2nd-order last']:.2e} |")
            print("order (NFE 100-400 / 100-800): " + ", ".join(
                f"{k} {order(rows, k, 100, 400):.2f} / {order(rows, k, 100, 800):.2f}" for k in ("euler", "dpm++2m")))


if __name__ == "__main__":
    main()
