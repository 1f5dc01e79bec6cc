"""The packaging files agree with each other: pyproject.toml, the conda files, Binder, CI, README.

Each test names the file to fix. Nothing here needs a network or a GPU.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import stat
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

import fmlearn
from fmlearn import _version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
CONDA_FILES = ["environment.yml", "binder/environment.yml"]
# pip name -> names that conda-forge packages it under
CONDA_NAMES = {"torch": {"pytorch", "pytorch-cpu"}, "matplotlib": {"matplotlib", "matplotlib-base"}}
#: the exact versions binder/environment.yml pins, each read from its conda-forge feedstock (see that file)
BINDER_PINS = {"python": "3.11", "pytorch-cpu": "2.13.0", "numpy": "2.4.6", "scipy": "1.17.1",
               "matplotlib-base": "3.11.0", "plotly": "6.6.0", "ipywidgets": "8.1.8", "tqdm": "4.70.0",
               "jupyterlab": "4.5.6", "torchdiffeq": "0.2.5"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _runtime_requirements() -> list[Requirement]:
    return [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]


def _min_version(specifiers) -> Version | None:
    """The lower bound of a specifier set (``>=`` or ``==``), or None."""
    bounds = [Version(s.version) for s in specifiers if s.operator in (">=", "==")]
    return max(bounds) if bounds else None


def _conda_dependencies(path: str) -> dict[str, Version | None]:
    """Normalized package name -> minimum version, from the conda list and its pip: section."""
    env = yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))
    assert env.get("channels") == ["conda-forge"], f"{path}: use the conda-forge channel only"
    found: dict[str, Version | None] = {}
    for entry in env["dependencies"]:
        if isinstance(entry, dict):  # the pip: section
            for line in entry.get("pip", []):
                if line.startswith("-"):  # "-e .[dev]" and other pip options
                    continue
                req = Requirement(line)
                found[_norm(req.name)] = _min_version(req.specifier)
            continue
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(?:(>=|==|=)\s*([0-9][^\s,*]*))?.*", entry)
        assert match, f"{path}: cannot read the conda dependency {entry!r}"
        name, _, version = match.groups()
        found[_norm(name)] = Version(version) if version else None
    return found


def test_binder_pins_exactly_the_verified_versions_each_at_least_the_minimum():
    conda = _conda_dependencies("binder/environment.yml")
    assert {name: str(v) for name, v in conda.items() if name != "pip"} == BINDER_PINS
    for req in _runtime_requirements():
        names = CONDA_NAMES.get(_norm(req.name), {_norm(req.name)})
        pinned = [conda[n] for n in names if n in conda]
        assert pinned and req.specifier.contains(str(pinned[0])), f"binder pins {req.name} {pinned} outside {req}"


@pytest.mark.parametrize("path", ["environment.yml"])
def test_conda_files_list_every_runtime_dependency_with_the_same_minimum(path):
    conda = _conda_dependencies(path)
    problems = []
    for req in _runtime_requirements():
        names = CONDA_NAMES.get(_norm(req.name), {_norm(req.name)})
        present = [n for n in names if n in conda]
        if not present:
            problems.append(f"{req.name} is missing (write it as one of {sorted(names)})")
            continue
        ours, theirs = _min_version(req.specifier), conda[present[0]]
        if ours is not None and theirs is not None and ours != theirs:
            problems.append(f"{present[0]} has minimum {theirs}, pyproject.toml says {req}")
    assert not problems, f"{path} disagrees with pyproject.toml:\n  " + "\n  ".join(problems)


def test_binder_uses_the_cpu_only_pytorch_and_has_jupyterlab():
    conda = _conda_dependencies("binder/environment.yml")
    assert "pytorch-cpu" in conda and "pytorch" not in conda, "Binder has no GPU: use pytorch-cpu"
    assert "jupyterlab" in conda


@pytest.mark.parametrize("path", CONDA_FILES)
def test_conda_python_satisfies_requires_python(path):
    env = yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))
    pythons = [d for d in env["dependencies"] if isinstance(d, str) and re.match(r"python\b", d)]
    assert len(pythons) == 1, f"{path}: pin exactly one python version"
    version = re.sub(r"^python\s*[=<>!]*\s*", "", pythons[0])
    spec = PYPROJECT["project"]["requires-python"]
    assert Requirement(f"python{spec}").specifier.contains(version), f"{path}: {pythons[0]} vs {spec}"


def test_conda_environment_installs_the_package_for_development():
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    pip = [line for d in env["dependencies"] if isinstance(d, dict) for line in d.get("pip", [])]
    assert "-e .[dev]" in pip, "environment.yml: the pip: section should install -e .[dev]"


@pytest.mark.parametrize("path", ["binder/postBuild", "binder/start", ".ci/run"])
def test_scripts_are_executable(path):
    mode = (ROOT / path).stat().st_mode
    if os.name != "nt":  # Windows has no executable bit; git keeps the one committed elsewhere
        assert mode & stat.S_IXUSR, f"{path} is not executable: chmod +x {path} (and commit the mode)"
    first = (ROOT / path).read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("#!") and "bash" in first, f"{path} should start with a bash shebang"


def test_binder_scripts_do_what_binder_needs():
    post = (ROOT / "binder/postBuild").read_text(encoding="utf-8")
    assert "pip install --no-deps -e ." in post
    start = (ROOT / "binder/start").read_text(encoding="utf-8")
    for var in ("OMP_NUM_THREADS=1", "MKL_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1"):
        assert var in start, f"binder/start should export {var}"
    assert start.rstrip().endswith('exec "$@"'), 'binder/start must end with exec "$@"'


def _code_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_ci_runs_the_readme_test_command():
    lines = _code_lines((ROOT / ".ci/run").read_text(encoding="utf-8"))
    assert "set -euo pipefail" in lines
    assert "export FMLEARN_QUICK=1" in lines
    assert any(re.fullmatch(r"python3? course\.py test", line) for line in lines), \
        ".ci/run must run exactly the README's test command: python3 course.py test"


def test_readme_quick_start_has_exactly_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)
    assert len(section) == 2, "README.md needs a '## Quick start' section"
    block = re.search(r"```[a-z]*\n(.*?)```", section[1], re.S)
    assert block, "README.md: the Quick start needs a code block"
    assert _code_lines(block.group(1)) == ["python course.py lab", "python course.py test"]


def _load_course():
    spec = importlib.util.spec_from_file_location("course", ROOT / "course.py")
    course = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(course)  # defines functions only; main() runs under __main__
    return course


def test_course_commands_and_default_torch_agree_with_pyproject():
    course = _load_course()
    assert {"lab", "test", "setup"} <= set(course.COMMANDS)
    default = Requirement(course.DEFAULT_TORCH)
    torch_req = next(r for r in _runtime_requirements() if _norm(r.name) == "torch")
    pinned = next(iter(default.specifier)).version
    assert torch_req.specifier.contains(pinned), \
        f"course.py installs {course.DEFAULT_TORCH}, which pyproject.toml's {torch_req} refuses"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert course.DEFAULT_TORCH in readme, "README.md should name the default FMLEARN_TORCH"


def test_no_runtime_dependency_has_an_upper_pin():
    pinned = [str(r) for r in _runtime_requirements()
              if any(s.operator in ("<", "<=", "==", "~=") for s in r.specifier)]
    assert not pinned, f"pyproject.toml pins from above: {pinned}"


def test_pytest_configuration(pytestconfig):
    assert pytestconfig.getini("testpaths") == ["tests", "notebooks"]
    markers = [m.split(":")[0].strip() for m in pytestconfig.getini("markers")]
    assert "slow" in markers


def test_notebooks_are_committed_without_outputs():
    folder = ROOT / "notebooks"
    assert folder.is_dir(), "the folder notebooks/ is missing"
    dirty = []
    for path in sorted(folder.glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] != "code":
                continue
            if cell.get("outputs") or cell.get("execution_count") is not None:
                dirty.append(f"{path.name} cell {i}")
    assert not dirty, ("notebooks must be committed without outputs or execution counts "
                       "(JupyterLab: Edit > Clear Outputs of All Cells, then save):\n  " + "\n  ".join(dirty))


def test_version_is_single_sourced():
    assert PYPROJECT["project"].get("dynamic") == ["version"] and "version" not in PYPROJECT["project"]
    attr = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "fmlearn._version.__version__"
    Version(_version.__version__)  # a valid version number
    assert getattr(fmlearn, "__version__", None) == _version.__version__, \
        "fmlearn/__init__.py should re-export it: from fmlearn._version import __version__"
