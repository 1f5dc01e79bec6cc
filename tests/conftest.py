"""Shared test settings.

The course's networks are tiny: one CPU thread runs them faster than two (no hand-off between
threads), and it keeps timings stable when the machine is busy. Notebooks run in their own kernels.
"""
import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """The folder holding the four MNIST files ($FMLEARN_DATA/mnist, else ../shared/data/mnist); skips without it."""
    from fmlearn.mnist import data as mnist
    env = os.environ.get("FMLEARN_DATA")
    folder = (Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data") / "mnist"
    if not all((folder / name).is_file() for name in mnist.FILES):
        pytest.skip(f"the MNIST files are not in {folder} (set FMLEARN_DATA to the folder holding mnist/)")
    return folder


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium (``/usr/bin/chromium`` or ``$FMLEARN_CHROMIUM``: tools/browser_check.py's ``CHROMIUM``);
    skips, saying how to install it, where it is missing. A downloaded browser is never used."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    from browser_check import CHROMIUM as path

    if not Path(path).exists():
        pytest.skip(f"no Chromium at {path}: apt-get install -y chromium (or set FMLEARN_CHROMIUM); "
                    "a downloaded browser is never used")
    return path


#: markers whose tests start servers and a browser: run only when asked for
ON_REQUEST = {"browser": "test_browser", "site": "test_site.py"}


def pytest_collection_modifyitems(config, items):
    """Browser tests (marker ``browser``, tests/test_browser.py) start JupyterLab and Chromium, site tests (marker
    ``site``, tests/test_site.py) build the website and open it in Chromium: they run only when asked for, by a
    ``-m`` expression that names them (CI: ``python course.py test -m browser``, ``... -m site``) or by naming
    their file; otherwise they are deselected."""
    for marker, filename in ON_REQUEST.items():
        if marker in (config.option.markexpr or "") or any(filename in str(a) for a in config.args):
            continue
        chosen = [item for item in items if item.get_closest_marker(marker)]
        if chosen:
            config.hook.pytest_deselected(items=chosen)
            items[:] = [item for item in items if not item.get_closest_marker(marker)]
