#!/usr/bin/env python3
"""Run every notebook the way Colab runs it: in Colab's package versions, with fmlearn installed by the
notebook's own install cell.

1. A virtual environment under ``~/.cache/fmlearn/colab-stack/`` (``$XDG_CACHE_HOME`` if set: outside the clone, so
   a fresh clone reuses it) gets the versions Colab ships (:data:`PINS`, read from
   ``tools/colab/pip-freeze.txt``, Colab's published ``pip-freeze.txt``: github.com/googlecolab/backend-info at
   commit a72407924822ea377410b69f0a290150bcb5c9c2, 2026-08-19 "Upgrade to Python 3.13"). Every other package
   pip pulls in is held to Colab's version too (the whole freeze is the constraints file). Two substitutions:
   this machine's Python (3.11, not Colab's 3.13) and ``torch==2.13.0`` (Colab: 2.11.0+cpu), the only torch it
   can install; :data:`SUBSTITUTES` lists them. The environment is reused while its key (Python, the pins,
   the freeze) is unchanged, so a second run only executes the notebooks.
2. For each notebook: fmlearn is uninstalled (with whatever its last install added), then the notebook is
   executed in quick mode (``FMLEARN_QUICK=1``) by Colab's nbclient in a kernel of that environment, with
   ``FMLEARN_INSTALL_SOURCE`` set, so the notebook's setup cell installs fmlearn itself: from this checkout for
   the first notebook, from a wheel of it for the others. Afterwards every package that was installed before
   must have its version unchanged, and fmlearn must have been added.

A report goes to ``_build/colab-stack/report.json``. Usage::

    python tools/colab_stack.py [--notebooks 00,08]

tests/test_colab_stack.py (pytest marker ``colab``) runs this and checks the report.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FREEZE = ROOT / "tools" / "colab" / "pip-freeze.txt"
BUILD = ROOT / "_build" / "colab-stack"  # the wheel of this checkout and the report
#: the environments, outside the clone: one per key (Python, pins, freeze), reused by every clone on the machine
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fmlearn" / "colab-stack"
KERNEL = "fmlearn-colab-stack"

#: the packages installed into the environment, each at the version in Colab's freeze
PACKAGES = ("pip", "setuptools", "numpy", "scipy", "matplotlib", "plotly", "ipywidgets", "widgetsnbextension",
            "jupyterlab_widgets", "ipykernel", "ipython", "traitlets", "jupyter_client", "jupyter_core", "tornado",
            "pyzmq", "nbclient", "nbformat", "pillow", "tqdm", "packaging")
#: what differs from Colab, and why
SUBSTITUTES = {
    "python": ("3.13 (Colab)", platform.python_version(), "the Python this machine has"),
    "torch": ("2.11.0+cpu (Colab)", "2.13.0", "the only torch this machine can install (a wheel on disk)"),
    "setuptools": ("75.2.0 (Colab)", "77.0.3", "torch 2.13.0 requires setuptools>=77.0.3; the nearest it allows"),
}
TORCH = "torch==2.13.0"
#: Colab's version replaced by :data:`SUBSTITUTES` (pinned to the substitute, in the pins and the constraints)
REPLACED = {"setuptools": "77.0.3"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def colab_versions(text: str | None = None) -> dict[str, str]:
    """Normalized name -> version of every ``name==version`` line of Colab's freeze."""
    text = FREEZE.read_text(encoding="utf-8") if text is None else text
    found = {}
    for line in text.splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line.strip())
        if match:
            found[_norm(match.group(1))] = match.group(2)
    return found


def pins() -> dict[str, str]:
    """The packages of :data:`PACKAGES` at Colab's versions."""
    colab = dict(colab_versions(), **REPLACED)
    return {_norm(name): colab[_norm(name)] for name in PACKAGES}


def _constraints() -> str:
    return "".join(f"{name}=={version}\n" for name, version in sorted(dict(colab_versions(), **REPLACED).items())
                   if name not in ("torch", "fmlearn"))


def venv_key() -> str:
    text = json.dumps([platform.python_version(), TORCH, pins(), _constraints()], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _run(cmd: list, **kwargs) -> subprocess.CompletedProcess:
    print("[colab-stack]", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def installed(venv: Path) -> dict[str, str]:
    """Normalized name -> version of every package in the environment."""
    out = subprocess.run([str(_python(venv)), "-m", "pip", "list", "--format=freeze"], check=True,
                         capture_output=True, text=True).stdout
    return {_norm(k): v for k, v in (line.split("==", 1) for line in out.splitlines() if "==" in line)}


def environment() -> Path:
    """The cached environment with Colab's versions (built when its key is new)."""
    venv = CACHE / f"venv-{venv_key()}"
    if (venv / ".ready").is_file():
        print(f"[colab-stack] reusing {venv}", flush=True)
        return venv
    for old in [*CACHE.glob("venv-*"), *BUILD.glob("venv-*")]:  # other versions, a half-built one, the old place
        shutil.rmtree(old, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "venv", venv])
    constraints = venv / "colab-constraints.txt"
    constraints.write_text(_constraints(), encoding="utf-8")
    py = _python(venv)
    _run([py, "-m", "pip", "install", "-q", f"pip=={pins()['pip']}"])
    _run([py, "-m", "pip", "install", "-q", "-c", constraints, TORCH])
    _run([py, "-m", "pip", "install", "-q", "-c", constraints, *(f"{n}=={v}" for n, v in pins().items())])
    _run([py, "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL])
    have = installed(venv)
    wrong = {n: (v, have.get(n)) for n, v in pins().items() if have.get(n) != v}
    if wrong:
        raise SystemExit(f"the environment did not get Colab's versions: {wrong}")
    (venv / ".ready").write_text(json.dumps(have, indent=1, sort_keys=True), encoding="utf-8")
    return venv


RUNNER = r"""
import sys, time, nbformat, nbclient
path, cwd, kernel, prefix = sys.argv[1:5]
nb = nbformat.read(path, as_version=4)
# the kernel must be this environment's Python, not another Jupyter kernel of the same name
nb.cells.insert(0, nbformat.v4.new_code_cell(f"import sys\nassert sys.prefix == {prefix!r}, sys.prefix"))
nbclient.NotebookClient(nb, kernel_name=kernel, timeout=900, resources={"metadata": {"path": cwd}}).execute()
"""


def _remove_added(venv: Path, baseline: dict[str, str]) -> None:
    added = sorted(set(installed(venv)) - set(baseline))
    if added:
        _run([_python(venv), "-m", "pip", "uninstall", "-q", "-y", *added])


def wheel(venv: Path) -> Path:
    """A wheel of this checkout (built with the environment's own setuptools, offline)."""
    out = BUILD / "wheel"
    shutil.rmtree(out, ignore_errors=True)
    _run([_python(venv), "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out, ROOT])
    (found,) = out.glob("fmlearn-*.whl")
    return found


def run(numbers: list[str] | None = None) -> dict:
    """Build or reuse the environment, run each notebook's install cell and the notebook; returns the report."""
    start = time.monotonic()
    venv = environment()
    built_s = time.monotonic() - start
    baseline = json.loads((venv / ".ready").read_text(encoding="utf-8"))  # as built: no fmlearn
    _remove_added(venv, baseline)  # what an earlier run's last install added
    assert installed(venv) == baseline and "fmlearn" not in baseline, "the environment is not as it was built"
    BUILD.mkdir(parents=True, exist_ok=True)
    whl = wheel(venv)
    env = dict(os.environ, FMLEARN_QUICK="1", MPLBACKEND="Agg", PYTHONNOUSERSITE="1")
    env.pop("PYTHONPATH", None)
    shared_data = ROOT.parent / "shared" / "data"
    if "FMLEARN_DATA" not in env and shared_data.is_dir():
        env["FMLEARN_DATA"] = str(shared_data)  # as .ci/run does: MNIST for offline machines
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if numbers:
        notebooks = [p for p in notebooks if p.stem[:2] in numbers]
    report = {"environment": str(venv), "python": platform.python_version(),
              "pins": pins(), "substitutes": SUBSTITUTES, "installed_before": baseline, "notebooks": []}
    for i, path in enumerate(notebooks):
        _remove_added(venv, baseline)
        source = ROOT if i == 0 else whl
        with tempfile.TemporaryDirectory(prefix="colab-content-") as cwd:  # Colab runs in /content, not the repo
            t0 = time.monotonic()
            done = subprocess.run([str(_python(venv)), "-c", RUNNER, str(path), cwd, KERNEL, str(venv)],
                                  env=dict(env, FMLEARN_INSTALL_SOURCE=str(source)), capture_output=True, text=True)
            seconds = time.monotonic() - t0
        after = installed(venv)
        changed = {n: (v, after.get(n)) for n, v in baseline.items() if after.get(n) != v}
        entry = {"notebook": path.stem, "install_source": "checkout" if source == ROOT else "wheel",
                 "seconds": round(seconds, 1), "ok": done.returncode == 0, "changed": changed,
                 "added": {n: after[n] for n in sorted(set(after) - set(baseline))},
                 "error": (done.stdout + done.stderr)[-4000:] if done.returncode else ""}
        print(f"[colab-stack] {path.stem}: {'ok' if entry['ok'] else 'FAILED'} in {seconds:.0f} s, "
              f"added {entry['added']}, changed {changed or 'nothing'}", flush=True)
        report["notebooks"].append(entry)
    _remove_added(venv, baseline)
    report["environment_seconds"] = round(built_s, 1)
    report["total_seconds"] = round(time.monotonic() - start, 1)
    (BUILD / "report.json").write_text(json.dumps(report, indent=1, sort_keys=True), encoding="utf-8")
    return report


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Run the course's notebooks in Colab's package versions, each "
                                     "installed by its own install cell (a venv cached in ~/.cache/fmlearn/colab-stack/).")
    parser.add_argument("--notebooks", metavar="NN,NN", default=None,
                        help="comma-separated notebook numbers (default: every notebook)")
    args = parser.parse_args(argv)
    numbers = None if args.notebooks is None else args.notebooks.split(",")
    report = run(numbers)
    bad = [e["notebook"] for e in report["notebooks"] if not e["ok"] or e["changed"] or "fmlearn" not in e["added"]]
    print(f"[colab-stack] {len(report['notebooks'])} notebooks in {report['total_seconds']:.0f} s "
          f"(environment {report['environment_seconds']:.0f} s); failed: {', '.join(bad) or 'none'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
