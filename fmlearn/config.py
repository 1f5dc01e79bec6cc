"""Run-time settings read from the environment: quick mode, device, data folder.

``FMLEARN_QUICK=1`` shrinks every default budget (training steps, sample counts,
evaluation sizes) so the whole test suite and every notebook execute in minutes.
Results in quick mode are rougher, but every cell runs and every assertion holds.

``FMLEARN_DEVICE`` forces a device (``cpu``, ``cuda``, ``mps``); otherwise the first
available of cuda > mps > cpu is chosen once per process.

``FMLEARN_DATA`` names the folder that holds downloaded data (MNIST); the default is
``~/.cache/fmlearn``.
"""
from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path

import torch

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def quick_mode() -> bool:
    """True when the environment variable ``FMLEARN_QUICK`` is set to 1/true/yes/on."""
    value = os.environ.get("FMLEARN_QUICK", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"FMLEARN_QUICK={value!r} is not understood; use 1 (quick) or 0 (full).")


def budget(full: int, quick: int) -> int:
    """Return ``quick`` in quick mode and ``full`` otherwise (a default budget)."""
    return quick if quick_mode() else full


@functools.lru_cache(maxsize=None)
def _auto_device() -> str:
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def get_device(device: str | torch.device | None = None) -> torch.device:
    """The device to compute on: ``device`` if given, else ``FMLEARN_DEVICE``, else cuda > mps > cpu.

    The automatic choice is made once per process and cached.
    """
    if device is None:
        device = os.environ.get("FMLEARN_DEVICE") or _auto_device()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device={device!r} is not a device name; use 'cpu', 'cuda' or 'mps'.") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for, but this machine has no CUDA GPU; use 'cpu'.")
    return dev


@contextlib.contextmanager
def seeded(seed: int):
    """Run the block with torch's global CPU generator seeded with ``seed``, then restore its state.

    The one way the package seeds what draws from the global generator (network initialization,
    dropout): the caller's random stream is never shifted. Explicit streams use ``torch.Generator``.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def device_of(module: torch.nn.Module, device: str | torch.device | None = None) -> torch.device:
    """``get_device(device)`` when a device is asked for, else the device of ``module``'s first parameter
    (CPU for a module without parameters): where a model's inputs must go."""
    if device is not None:
        return get_device(device)
    first = next(module.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def data_dir() -> Path:
    """Folder for downloaded data: ``$FMLEARN_DATA`` or ``~/.cache/fmlearn``."""
    return Path(os.environ.get("FMLEARN_DATA") or Path.home() / ".cache" / "fmlearn").expanduser()


def notebook_setup(seed: int = 0, device: str | None = None, threads: int | None = 1) -> tuple[int, torch.device, bool]:
    """The first lines of every notebook: seed torch, pick the device, set CPU threads, read quick mode, say so.

    Args:
        seed: seeds torch's global generator (network initialization).
        device: forced device, else :func:`get_device`.
        threads: CPU threads for torch. The 2D notebooks' networks are tiny: one thread runs them
            faster than several (measured 0.87 vs 1.3 ms per training step on 2 cores) and does not
            slow down 10-100x when another program competes for the cores. None keeps torch's default
            (all cores), which suits image networks.

    Returns:
        ``(seed, device, quick)``; use as ``SEED, DEVICE, QUICK = config.notebook_setup(0)``.
    """
    from ._version import __version__

    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    dev, quick = get_device(device), quick_mode()
    print(f"fmlearn {__version__}, torch {torch.__version__} on {dev} ({torch.get_num_threads()} CPU thread(s)); seed {seed}; "
          f"quick mode: {'on (small budgets)' if quick else 'off'}")
    return seed, dev, quick
