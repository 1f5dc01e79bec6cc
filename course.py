#!/usr/bin/env python3
"""Set up and run the fmlearn course. These are the only two commands a learner needs:

    python course.py lab     set everything up, then open the notebooks in JupyterLab
    python course.py test    set everything up, then run every test (unit tests and
                             every notebook in notebooks/); extra arguments go to pytest,
                             e.g.  python course.py test -k schedules
    python course.py setup   set everything up, nothing else
    python course.py browser every notebook in JupyterLab in headless Chromium (Run All, then the
                             widgets and animations are moved and checked; tools/browser_check.py);
                             --gallery also refreshes docs/gallery/
    python course.py site    the course as a website in _build/site/ (tools/build_site.py): every notebook
                             executed in full mode (cached outside git: a rebuild with nothing changed takes
                             seconds), plotly animations live; --quick for short budgets, --check to open
                             every page in headless Chromium afterwards (tools/site_check.py)

Setup is idempotent and takes a second when there is nothing to do:

1. create the virtual environment ``.venv`` in this folder (``python -m venv .venv``);
2. install PyTorch into it if it cannot be imported there:
   ``pip install $FMLEARN_TORCH`` (default ``torch==2.13.0``). On Linux the default
   comes from PyPI with CUDA (a download of several GB); for a CPU-only build use
   ``FMLEARN_TORCH="torch --index-url https://download.pytorch.org/whl/cpu"``.
   To change the build later, delete ``.venv`` and run again;
3. ``pip install -e ".[dev]"`` (fmlearn, the notebooks' and the tests' packages), skipped
   when ``.venv/.fmlearn-stamp`` holds the sha256 of the current ``pyproject.toml``.
   The PyTorch of step 2 is pinned during this step, so it is never replaced.

Standard library only; Python >= 3.10; Linux, macOS and Windows.
"""
from __future__ import annotations  # keeps this file importable on old Pythons, to say so

import hashlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".fmlearn-stamp"
CONSTRAINTS = VENV / ".fmlearn-constraints.txt"
DEFAULT_TORCH = "torch==2.13.0"
MIN_PYTHON = (3, 10)

# Prints what the venv holds, without importing anything heavy (about 30 ms).
_PROBE = """
import importlib.metadata as md, importlib.util, json, sys
def version(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None
print(json.dumps({
    "python": ".".join(map(str, sys.version_info[:3])),
    "pip": version("pip"),
    "torch": version("torch") if importlib.util.find_spec("torch") else None,
}))
"""


class SetupError(Exception):
    """A step failed; the message says what to do."""


def say(message: str) -> None:
    print(f"[course] {message}", flush=True)


def venv_python() -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def call(cmd: list[str]) -> int:
    """Run ``cmd`` in the repository root and return its exit code.

    Ctrl+C reaches the child too (same console), so we wait for the child to decide
    (JupyterLab asks for confirmation; pytest prints a summary) instead of killing it.
    """
    proc = subprocess.Popen([str(c) for c in cmd], cwd=ROOT)
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            continue


def check(cmd: list[str], what: str, hint: str) -> None:
    code = call(cmd)
    if code != 0:
        raise SetupError(f"{what} failed (exit code {code}).\n{hint}")


def probe() -> dict:
    try:
        out = subprocess.run([str(venv_python()), "-c", _PROBE], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])
    except (OSError, subprocess.CalledProcessError, ValueError, IndexError) as err:
        raise SetupError(
            f"The virtual environment {VENV} does not work ({err}).\n"
            "It may have been made on another machine or by a Python that is gone. "
            "Delete the folder .venv and run this command again."
        ) from err


def torch_imports() -> bool:
    return subprocess.run([str(venv_python()), "-c", "import torch"], cwd=ROOT,
                          capture_output=True).returncode == 0


def pyproject_hash() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_venv() -> dict:
    """Step 1: the virtual environment .venv (made by the Python running this script)."""
    if not venv_python().exists():
        say(f"step 1/3 venv: creating .venv with Python {sys.version.split()[0]} ({sys.executable})")
        check([sys.executable, "-m", "venv", str(VENV)], "Creating the virtual environment",
              "On Debian/Ubuntu install the venv module first (sudo apt install python3-venv), "
              "then delete the folder .venv and run this command again.")
        info = probe()
        if info["pip"] is None:
            raise SetupError("The new .venv has no pip. On Debian/Ubuntu: sudo apt install python3-venv; "
                             "then delete the folder .venv and run this command again.")
        if tuple(int(p) for p in info["pip"].split(".")[:2]) < (21, 3):
            say(f"step 1/3 venv: pip {info['pip']} is too old for editable installs; upgrading pip")
            check([venv_python(), "-m", "pip", "install", "--upgrade", "pip"], "Upgrading pip",
                  "Check your internet connection, then run this command again.")
        return probe()
    info = probe()
    say(f"step 1/3 venv: .venv exists (Python {info['python']})")
    return info


def ensure_torch(info: dict, full_check: bool) -> str:
    """Step 2: PyTorch, installed from $FMLEARN_TORCH unless it imports already."""
    installed = info["torch"]
    # The real import costs a second or two, so it is done only when setup has work to do.
    if installed and (not full_check or torch_imports()):
        say(f"step 2/3 torch: {installed} is installed (to change the build, delete .venv and set FMLEARN_TORCH)")
        return installed
    spec = os.environ.get("FMLEARN_TORCH", "").strip() or DEFAULT_TORCH
    say(f"step 2/3 torch: pip install {spec}  (choose another build with FMLEARN_TORCH, see README)")
    check([venv_python(), "-m", "pip", "install", *shlex.split(spec, posix=os.name != "nt")],
          "Installing PyTorch",
          "Check your internet connection, or choose another PyTorch build, e.g. a CPU-only one:\n"
          '  FMLEARN_TORCH="torch --index-url https://download.pytorch.org/whl/cpu" python course.py setup\n'
          "(see https://pytorch.org/get-started/locally/ for the right command for your machine).")
    installed = probe()["torch"]
    if not installed or not torch_imports():
        raise SetupError("PyTorch was installed but does not import in .venv; "
                         "delete the folder .venv and run this command again "
                         "(perhaps with another FMLEARN_TORCH, see README).")
    return installed


def ensure_package(torch_version: str, digest: str) -> None:
    """Step 3: pip install -e .[dev], unless pyproject.toml is unchanged since the last time."""
    if STAMP.exists() and STAMP.read_text().strip() == digest:
        say("step 3/3 fmlearn[dev]: up to date (pyproject.toml unchanged since the last install)")
        return
    say('step 3/3 fmlearn[dev]: pip install -e ".[dev]"  (a minute or two the first time)')
    STAMP.unlink(missing_ok=True)
    # Pin the PyTorch of step 2, so no requirement can make pip swap in another build.
    CONSTRAINTS.write_text(f"torch=={torch_version}\n")
    check([venv_python(), "-m", "pip", "install", "--quiet", "-c", CONSTRAINTS, "-e", ".[dev]"],
          "Installing fmlearn and its dependencies",
          "Read pip's message above; check your internet connection, then run this command again. "
          "If it persists, delete the folder .venv and run again.")
    STAMP.write_text(digest + "\n")


def setup() -> None:
    if sys.version_info < MIN_PYTHON:
        raise SetupError(f"fmlearn needs Python >= {MIN_PYTHON[0]}.{MIN_PYTHON[1]}; this is "
                         f"{sys.version.split()[0]} ({sys.executable}). Run course.py with a newer Python.")
    digest = pyproject_hash()
    stale = not (STAMP.exists() and STAMP.read_text().strip() == digest)
    info = ensure_venv()
    torch_version = ensure_torch(info, full_check=stale)
    ensure_package(torch_version, digest)


def cmd_setup(args: list[str]) -> int:
    if args:
        raise SetupError(f"'setup' takes no arguments (got {' '.join(args)}).")
    setup()
    say("ready: python course.py lab  |  python course.py test")
    return 0


def running_as_root() -> bool:
    """True for the superuser on POSIX (containers, cloud VMs); Windows has no geteuid."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def cmd_lab(args: list[str]) -> int:
    setup()
    if running_as_root() and "--allow-root" not in args:
        # Jupyter refuses to start as root with a one-line message and exit code 1 unless told it is wanted.
        say("running as root (a container or cloud VM?): passing --allow-root to jupyter lab")
        args = ["--allow-root", *args]
    say("opening the course: jupyter lab notebooks/  (stop it with Ctrl+C, twice)")
    return call([venv_python(), "-m", "jupyter", "lab", "notebooks", *args])


def cmd_browser(args: list[str]) -> int:
    setup()
    say("every notebook in JupyterLab in headless Chromium: tools/browser_check.py " + " ".join(args))
    code = call([venv_python(), ROOT / "tools" / "browser_check.py", *args])
    if code != 0:
        say(f"FAILED: browser check exit code {code} (screenshots in _build/screens/)")
    return code


def cmd_site(args: list[str]) -> int:
    setup()
    say("the course as a website: tools/build_site.py " + " ".join(args))
    code = call([venv_python(), ROOT / "tools" / "build_site.py", *args])
    if code == 0:
        say("open _build/site/index.html in a browser (or: python -m http.server -d _build/site)")
    else:
        say(f"FAILED: site build exit code {code}")
    return code


def cmd_test(args: list[str]) -> int:
    setup()
    # --nbval-lax: execute every notebook, failing on errors, without comparing outputs.
    # --nbval-current-env: run notebooks with this venv's Python, not a kernel found elsewhere.
    # With no path in args, pytest collects testpaths = tests, notebooks (pyproject.toml).
    cmd = [venv_python(), "-m", "pytest", "--nbval-lax", "--nbval-current-env", *args]
    shown = " ".join(["python -m pytest --nbval-lax --nbval-current-env", *args])
    say(f"running: {shown}  (tests/ and notebooks/ unless paths are given)")
    code = call(cmd)
    if code == 5:
        say("FAILED: pytest collected no tests (exit code 5). Check the paths and the -k/-m "
            "expression you gave; without arguments it runs tests/ and notebooks/.")
    elif code != 0:
        say(f"FAILED: pytest exit code {code}")
    return code


COMMANDS = {
    "lab": (cmd_lab, "set up, then open the course in JupyterLab (extra args go to jupyter lab)"),
    "test": (cmd_test, "set up, then run every test and notebook (extra args go to pytest)"),
    "setup": (cmd_setup, "set up only: .venv, PyTorch, pip install -e .[dev]"),
    "browser": (cmd_browser, "set up, then run every notebook in headless Chromium (--gallery: docs/gallery)"),
    "site": (cmd_site, "set up, then build the course's website in _build/site (--quick, --check)"),
}


def usage() -> str:
    lines = ["usage: python course.py {" + ",".join(COMMANDS) + "} [args...]", ""]
    lines += [f"  {name:<7} {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "environment: FMLEARN_TORCH  what `pip install` gets for PyTorch "
              f"(default {DEFAULT_TORCH!r};", "                            CPU-only on Linux: "
              '"torch --index-url https://download.pytorch.org/whl/cpu")',
              "             FMLEARN_QUICK=1  small budgets everywhere (what CI uses)",
              "", "Details: the docstring at the top of course.py and README.md."]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if argv else 2
    name, args = argv[0], argv[1:]
    if name not in COMMANDS:
        print(usage(), file=sys.stderr)
        print(f"\nerror: unknown command {name!r}; choose one of: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    try:
        return COMMANDS[name][0](args)
    except SetupError as err:
        print(f"\n[course] ERROR: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
