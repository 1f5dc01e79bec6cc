"""Small shared plumbing: atomic file writes, a writability test, and a one-thread context for tiny CPU workloads."""
from __future__ import annotations

import contextlib
import importlib.resources
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import torch


def atomic_write(path: str | Path, write: Callable[[str], None]) -> Path:
    """Write ``path`` through a temporary file in the same folder, then rename it over ``path``.

    ``write(tmp_name)`` fills the temporary file. ``os.replace`` is atomic on POSIX and Windows, so an
    interrupted or failed write leaves any previous file intact (the temporary file is removed). The new
    file gets the usual permissions (``0666`` less the umask), not ``mkstemp``'s private ``0600``.

    Returns:
        the path written.
    """
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:  # on disk before the rename
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def package_path(*parts: str) -> Path:
    """A file or folder shipped inside the package (``checkpoints/...``, ``results/...``), found through
    :mod:`importlib.resources` wherever fmlearn is installed or checked out."""
    return Path(str(importlib.resources.files("fmlearn").joinpath(*parts)))


def writable(folder: str | Path) -> bool:
    """Whether files can be created in ``folder`` (created with its parents if missing): tried, not guessed
    from permission bits, which read-only mounts and some containers misreport."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
        return True
    except OSError:
        return False


@contextlib.contextmanager
def one_thread(enabled: bool = True) -> Iterator[None]:
    """Run the block on one CPU thread, then restore the caller's thread count.

    The course's networks and solvers are tiny: splitting them across threads costs more than it saves,
    and two threads stall badly when another program holds a core.
    """
    old = torch.get_num_threads()
    if enabled and old != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if torch.get_num_threads() != old:
            torch.set_num_threads(old)
