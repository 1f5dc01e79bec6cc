"""Run independent jobs in fresh Python processes, one CPU thread each: ``map_in_processes``.

Why processes: torch's two intra-op threads on a 2-core CPU speed up a UNet batch far less than
two processes with one thread each (measured for ``mnist-eval``; see :mod:`fmlearn.experiments.mnist_race`).
Why plain subprocesses (``python -c``) and not :mod:`multiprocessing`: nothing of the caller's
script or notebook is re-imported or forked, so this works the same from a notebook, a CLI and
pytest. The function to run is named by its own ``__module__`` and ``__qualname__`` (never a
hand-typed string), and a worker that cannot import it fails loudly: its jobs then run here.
"""
from __future__ import annotations

import importlib
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

# The worker imports this very module by its own name (never a hand-typed path that a move would leave stale).
_CODE = f"import sys, {__name__} as p; p.serve(sys.stdin.buffer, sys.stdout.buffer)"


def _resolve(name: str) -> Callable:
    module, _, qualname = name.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def serve(inp, out) -> None:
    """A worker: read ``(function name, threads, [(index, job), ...])`` pickled from ``inp``; write
    ``(index, ok, result or error text)`` pickled to ``out`` as each job is done."""
    import torch
    name, threads, share = pickle.load(inp)
    torch.set_num_threads(threads)
    fn = _resolve(name)
    for index, job in share:
        try:
            result, ok = fn(job), True
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which re-raises it
            result, ok = f"{type(exc).__name__}: {exc}", False
        pickle.dump((index, ok, result), out)
        out.flush()


def _shares(costs: Sequence[float], workers: int) -> list[list[int]]:
    """Longest job first to the least-loaded worker (LPT): balanced shares of job indices."""
    loads, shares = [0.0] * workers, [[] for _ in range(workers)]
    for i in sorted(range(len(costs)), key=lambda i: -costs[i]):
        w = loads.index(min(loads))
        shares[w].append(i)
        loads[w] += costs[i]
    return shares


def map_in_processes(fn: Callable[[Any], Any], jobs: Sequence[Any], *, workers: int = 2, threads: int = 1,
                     costs: Sequence[float] | None = None, on_result: Callable[[int, Any], None] | None = None,
                     warn: Callable[[str], None] = print) -> list:
    """``[fn(job) for job in jobs]``, computed by ``workers`` fresh processes with ``threads`` torch threads each.

    Args:
        fn: a module-level function (picklable arguments and result).
        jobs: the arguments, one call each.
        workers: processes; with 1 (or one job) everything runs here, in this process.
        threads: torch threads per worker.
        costs: relative cost of each job, to balance the shares (default: equal).
        on_result: called as ``on_result(index, result)`` when a job is done (e.g. a progress bar).
        warn: where a failed worker is reported before its jobs are run here instead.

    Returns:
        the results in the order of ``jobs``.

    Raises:
        whatever ``fn`` raises: an error inside a worker is raised here again, as a RuntimeError
        with the worker's message, or the original exception when the job is rerun here.
    """
    name = f"{getattr(fn, '__module__', None)}:{getattr(fn, '__qualname__', None)}"
    try:
        found = _resolve(name)
    except (ImportError, AttributeError, ValueError):
        found = None
    if found is not fn:
        raise ValueError(f"fn must be a module-level function that a fresh process can import (got {name!r}).")
    results: dict[int, Any] = {}
    if workers > 1 and len(jobs) > 1:
        env = dict(os.environ)
        import fmlearn
        root = str(Path(fmlearn.__file__).resolve().parent.parent)  # this fmlearn, also when not installed
        env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [env.get("PYTHONPATH")] if p])
        procs = []
        try:
            for share in _shares(costs or [1.0] * len(jobs), min(workers, len(jobs))):
                err = tempfile.TemporaryFile()
                proc = subprocess.Popen([sys.executable, "-c", _CODE], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=err, env=env)
                procs.append((proc, err))
                pickle.dump((name, threads, [(i, jobs[i]) for i in share]), proc.stdin)
                proc.stdin.close()  # the worker reads everything before it writes anything
            for proc, err in procs:
                while True:
                    try:
                        index, ok, value = pickle.load(proc.stdout)
                    except EOFError:
                        break
                    if not ok:
                        raise RuntimeError(f"job {index} failed in a worker process: {value}")
                    results[index] = value
                    if on_result is not None:
                        on_result(index, value)
                if proc.wait() != 0:
                    err.seek(0)
                    tail = err.read().decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
                    warn(f"a worker process failed ({tail[0]}); running its jobs here.")
        except (OSError, pickle.UnpicklingError) as exc:
            warn(f"running in {workers} processes failed ({exc}); running here.")
        finally:
            for proc, err in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                err.close()
    for i, job in enumerate(jobs):
        if i not in results:
            results[i] = fn(job)
            if on_result is not None:
                on_result(i, results[i])
    return [results[i] for i in range(len(jobs))]
