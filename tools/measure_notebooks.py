"""Time each course notebook, measure its kernel's peak memory and the size of its executed file.

Usage::

    python tools/measure_notebooks.py [--mode quick|full|both] [--only 01,03] [--repeat N] [--json PATH]

Each notebook ``notebooks/[0-9][0-9]_*.ipynb`` runs in a fresh ``python3`` kernel (nbclient, cwd
``notebooks/``, 600 s per cell) with ``FMLEARN_QUICK=1`` (quick) and/or ``FMLEARN_QUICK=0`` (full)
and with ``MPLBACKEND`` unset, so that figures go through the inline backend, as a learner's do.
The repository root is put on the kernel's ``PYTHONPATH`` so that it imports this checkout's fmlearn.

Per run:

* ``wall_s``: seconds from just before the kernel starts until the last notebook cell has finished;
* ``peak_mib``: the kernel's peak resident memory, ``ru_maxrss`` (KiB on Linux) printed by one extra
  cell appended to the in-memory notebook (never saved); the same cell prints the kernel's
  ``FMLEARN_QUICK``, which must equal the mode's value (checked);
* ``executed_mib``: the size of the executed notebook as JSON (outputs and widget state included,
  the extra cell left out), and ``largest_output_mib`` with the cell it comes from;
* ``cells``: every code cell's seconds, from nbclient's ``record_timing`` timestamps
  (``cell.metadata.execution``); the slowest are printed when a run misses its target.

With ``--repeat N`` each notebook runs N times per mode (rounds: every notebook once, then again),
and the table shows the median wall time, the largest peak and the largest size; timings on a
shared machine are noisy, so check the load averages recorded with every run.

Targets (2-core laptop-class CPU, Binder): quick <= 60 s, full <= 180 s, peak <= 1.5 GB (Binder kills
a kernel at 2 GB), executed notebook < 5 MB. Missed targets are reported, not treated as errors;
the exit status is 1 only when a notebook fails to execute.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
MODES = {"quick": "1", "full": "0"}
TARGETS = {"quick_s": 60.0, "full_s": 180.0, "peak_mib": 1.5 * 1024, "executed_mib": 5.0}
MARK = "FMLEARN_MEASURE "
PROBE = f"""\
import json as _json, os as _os, resource as _resource
print({MARK!r} + _json.dumps({{"maxrss_kib": _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss,
                              "FMLEARN_QUICK": _os.environ.get("FMLEARN_QUICK"),
                              "MPLBACKEND": _os.environ.get("MPLBACKEND"),
                              "pid": _os.getpid()}}))
"""


def _load() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def _seconds(execution: dict) -> float | None:
    """A cell's run time from nbclient's timestamps: execute_input (start) to execute_reply (end)."""
    try:
        start = execution.get("iopub.execute_input") or execution["shell.execute_reply.started"]
        end = execution["shell.execute_reply"]
        return (datetime.fromisoformat(end.replace("Z", "+00:00"))
                - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()
    except (KeyError, ValueError, AttributeError):
        return None


def _mib(n_bytes: int) -> float:
    return n_bytes / 2**20


def _output_size(output) -> int:
    return len(json.dumps(output))


def measure(path: Path, mode: str, timeout: int = 600, kernel: str = "python3") -> dict:
    """Execute one notebook in a fresh kernel in ``mode`` ("quick" or "full"); return its figures."""
    nb = nbformat.read(path, as_version=4)
    n_cells = len(nb.cells)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))

    env_before = {k: os.environ.get(k) for k in ("FMLEARN_QUICK", "MPLBACKEND", "PYTHONPATH")}
    os.environ["FMLEARN_QUICK"] = MODES[mode]  # the kernel inherits this process's environment
    os.environ.pop("MPLBACKEND", None)  # the inline backend, as in a learner's Jupyter
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(ROOT) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *paths])

    finished: dict[int, float] = {}
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel, record_timing=True,
                            resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
                            on_cell_executed=lambda cell, cell_index, execute_reply: finished.__setitem__(
                                cell_index, time.perf_counter()))
    result = {"notebook": path.name, "mode": mode, "load_average_1min_start": _load()}
    error = None
    t0 = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as exc:
        error = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
    except Exception as exc:  # a timeout or a dead kernel (e.g. killed for memory)
        error = f"{type(exc).__name__}: {exc}"
    finally:
        t_end = time.perf_counter()
        for key, value in env_before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    real_done = [t for i, t in finished.items() if i < n_cells]
    result["wall_s"] = (max(real_done) if real_done else t_end) - t0
    result["load_average_1min_end"] = _load()

    probe = None
    for out in nb.cells[-1].get("outputs", []):
        if out.get("output_type") == "stream":
            for line in out.get("text", "").splitlines():
                if line.startswith(MARK):
                    probe = json.loads(line[len(MARK):])
    if probe is not None:
        result["peak_mib"] = probe["maxrss_kib"] / 1024
        result["kernel_FMLEARN_QUICK"] = probe["FMLEARN_QUICK"]
        result["kernel_MPLBACKEND"] = probe["MPLBACKEND"]
        if probe["FMLEARN_QUICK"] != MODES[mode]:
            error = (error or "") + f" kernel saw FMLEARN_QUICK={probe['FMLEARN_QUICK']!r}, expected {MODES[mode]!r}"
    else:
        result["peak_mib"] = None

    nb.cells.pop()  # the executed notebook as a learner would save it
    result["executed_mib"] = _mib(len(nbformat.writes(nb).encode("utf-8")))
    cells, largest = [], (0, None)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        seconds = _seconds(cell.metadata.get("execution", {}))
        first = next((ln for ln in cell.source.splitlines() if ln.strip()), "")
        cells.append({"index": index, "seconds": seconds, "first_line": first[:80]})
        for out in cell.get("outputs", []):
            size = _output_size(out)
            if size > largest[0]:
                largest = (size, index)
    result["largest_output_mib"], result["largest_output_cell"] = _mib(largest[0]), largest[1]
    result["cells"] = cells
    result["error"] = error.strip() if error else None
    return result


def _select(only: str | None) -> list[Path]:
    paths = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    if only:
        wanted = {w.strip().zfill(2) for w in only.split(",") if w.strip()}
        unknown = wanted - {p.name[:2] for p in paths}
        if unknown:
            raise SystemExit(f"no notebook numbered {sorted(unknown)} in {NOTEBOOK_DIR}")
        paths = [p for p in paths if p.name[:2] in wanted]
    return paths


def _missed(run: dict) -> list[str]:
    out = []
    limit = TARGETS[f"{run['mode']}_s"]
    if run["wall_s"] > limit:
        out.append(f"{run['mode']} {run['wall_s']:.0f} s > {limit:.0f} s")
    if run.get("peak_mib") is not None and run["peak_mib"] > TARGETS["peak_mib"]:
        out.append(f"peak {run['peak_mib']:.0f} MiB > {TARGETS['peak_mib']:.0f} MiB")
    if run["executed_mib"] >= TARGETS["executed_mib"]:
        out.append(f"executed {run['executed_mib']:.2f} MiB >= {TARGETS['executed_mib']:.0f} MiB")
    return out


def _fmt(x, spec: str) -> str:
    return "–" if x is None else format(x, spec)


def summarize(runs: list[dict]) -> list[dict]:
    """One entry per (notebook, mode): median wall seconds, largest peak and size, over repeats."""
    out = []
    for key in dict.fromkeys((r["notebook"], r["mode"]) for r in runs):
        same = [r for r in runs if (r["notebook"], r["mode"]) == key]
        peaks = [r["peak_mib"] for r in same if r.get("peak_mib") is not None]
        out.append({"notebook": key[0], "mode": key[1], "repeats": len(same),
                    "wall_s": statistics.median(r["wall_s"] for r in same),
                    "wall_s_all": [r["wall_s"] for r in same],
                    "peak_mib": max(peaks) if peaks else None,
                    "executed_mib": max(r["executed_mib"] for r in same),
                    "load_average_1min": [r["load_average_1min_end"] for r in same],
                    "error": next((r["error"] for r in same if r["error"]), None),
                    "cells": _median_cells(same)})
    return out


def _median_cells(same: list[dict]) -> list[dict]:
    cells = []
    for i, cell in enumerate(same[0]["cells"]):
        secs = [r["cells"][i]["seconds"] for r in same if i < len(r["cells"]) and r["cells"][i]["seconds"] is not None]
        cells.append({**cell, "seconds": statistics.median(secs) if secs else None})
    return cells


def table(summary: list[dict]) -> str:
    """Markdown: one row per notebook; peak from the full run when there is one."""
    rows = ["| notebook | quick s | full s | peak MB (full) | executed size MB |", "|---|---:|---:|---:|---:|"]
    for name in dict.fromkeys(r["notebook"] for r in summary):
        by_mode = {r["mode"]: r for r in summary if r["notebook"] == name}
        main = by_mode.get("full") or by_mode["quick"]
        size = " / ".join(f"{by_mode[m]['executed_mib']:.2f} ({m})" for m in ("quick", "full") if m in by_mode)
        peak = _fmt(main.get("peak_mib"), ".0f") + ("" if "full" in by_mode else " (quick)")
        secs = {m: (_fmt(by_mode[m]["wall_s"], ".1f") + (" ERROR" if by_mode[m]["error"] else "")
                    if m in by_mode else "–") for m in MODES}
        rows.append(f"| {name} | {secs['quick']} | {secs['full']} | {peak} | {size} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("quick", "full", "both"), default="both")
    parser.add_argument("--only", help="comma-separated notebook numbers, e.g. 01,03")
    parser.add_argument("--json", help="write every figure (with per-cell seconds) to this path")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    parser.add_argument("--kernel", default="python3")
    parser.add_argument("--repeat", type=int, default=1, help="runs per notebook and mode (median reported)")
    args = parser.parse_args(argv)
    modes = list(MODES) if args.mode == "both" else [args.mode]
    runs = []
    plan = [(r, path, mode) for r in range(args.repeat) for path in _select(args.only) for mode in modes]
    for round_, path, mode in plan:
        run = measure(path, mode, args.timeout, args.kernel)
        runs.append(run)
        print(f"{path.name} ({mode}, run {round_ + 1}/{args.repeat}): {run['wall_s']:.1f} s, peak {_fmt(run['peak_mib'], '.0f')} MiB, "
              f"{run['executed_mib']:.2f} MiB, load {_fmt(run['load_average_1min_end'], '.2f')}"
              + (f", ERROR: {run['error']}" if run["error"] else ""), file=sys.stderr, flush=True)
    summary = summarize(runs)
    print(table(summary))
    print("\nMB = MiB (2^20 bytes). Targets: quick <= 60 s, full <= 180 s, peak <= 1.5 GiB, executed < 5 MiB."
          f" Load average (1 min) at the end: {_fmt(_load(), '.2f')} on {os.cpu_count()} CPUs.")
    for run in summary:
        missed = _missed(run)
        if missed or run["error"]:
            slow = sorted((c for c in run["cells"] if c["seconds"] is not None), key=lambda c: -c["seconds"])[:3]
            print(f"\n{run['notebook']} ({run['mode']}): " + "; ".join(missed + ([f"error: {run['error']}"]
                                                                             if run["error"] else [])))
            for c in slow:
                print(f"  cell {c['index']}: {c['seconds']:.1f} s  {c['first_line']}")
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"cpu_count": os.cpu_count(), "targets": TARGETS, "summary": summary, "runs": runs},
                                  indent=2) + "\n")
        print(f"wrote {out}", file=sys.stderr)
    return 1 if any(r["error"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
