"""What every experiment shares: derived seeds, progress messages, the machine it ran on, JSON files.

* :func:`derive_seed` turns one master seed and a purpose (``derive_seed(0, "eval", "noise")``) into an
  independent seed, so that adding a purpose never shifts the random numbers of another.
* :func:`machine_info` is stored in every result file (results are read against the machine they came from).
* :func:`write_json` writes a result atomically, with NaN and inf as ``null`` (:func:`json_safe`).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import platform
from pathlib import Path

import torch

from .._io import atomic_write

__all__ = ["derive_seed", "say", "machine_info", "json_safe", "write_json", "sample_std"]


def derive_seed(*parts) -> int:
    """A seed derived from ``parts`` (e.g. the race seed and a purpose): independent streams, one master seed.

    The first 8 bytes of ``sha256("/".join(parts))``, as a non-negative 63-bit integer.
    """
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def say(progress: bool, message: str, log: list[str]) -> None:
    """Append ``message`` to the run's ``log``; also print it when ``progress``."""
    log.append(message)
    if progress:
        print(message, flush=True)


def machine_info(device=None, **extra) -> dict:
    """Where a result was measured: platform, Python, torch, CPU count, device, torch's CPU threads, and
    ``extra`` (e.g. ``score_workers``)."""
    return {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "cpu_count": os.cpu_count(), "device": str(device if device is not None else "cpu"),
            "torch_threads": torch.get_num_threads(), **extra}


def sample_std(values: list[float]) -> float:
    """The sample standard deviation (``n - 1`` in the denominator; 0 for one value)."""
    m = sum(values) / len(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / max(len(values) - 1, 1))


def json_safe(value):
    """JSON-safe: NaN and inf become None, in nested dicts and lists too."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


def write_json(path: str | Path, result: dict) -> Path:
    """Write ``result`` to ``path`` atomically: an interrupted or failed run leaves any previous file as it was."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(json_safe(result), indent=1, allow_nan=False)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text + "\n", encoding="utf-8"))
    return path
