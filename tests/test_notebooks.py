"""Static checks of the course notebooks (nbval executes them; these check their shape and their maths).

* each notebook is built from its source in tools/notebook_src and has no outputs;
* it follows the template: learning goals, a setup cell (seed, device, quick mode, Colab install),
  exercises with checks, a summary and references;
* every ``# core: NAME`` cell defines NAME exactly as fmlearn computes it (on random inputs);
* every solution is marked, and the student version stubs each one.
"""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fmlearn.teaching.exercises import compare, numbers, student_notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell):
    return "".join(cell["source"])


def test_notebooks_match_their_sources():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "build_notebooks.py"), "--check"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    sources = {p.stem for p in (ROOT / "tools" / "notebook_src").glob("*.py")}
    assert sources == {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_template(path):
    cells = _cells(path)
    text = "\n".join(_source(c) for c in cells)
    assert cells[0]["cell_type"] == "markdown" and _source(cells[0]).startswith(f"# {path.stem[:2]} ")
    assert "**Learning goals.**" in _source(cells[0])
    setup = _source(cells[1])
    for needle in ("google.colab", "SEED, DEVICE, QUICK = config.notebook_setup("):
        assert needle in setup, f"setup cell lacks {needle}"
    assert "## Summary" in text and "## References" in text
    number = int(path.stem[:2])
    exercises = [k for k in numbers() if k.split(".")[0] == str(number)]
    for ex in exercises:
        assert f'check("{ex}"' in text, f"exercise {ex} is not checked in {path.name}"
    for cell in cells:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_core_cells_equal_the_package(path):
    cores = [c for c in _cells(path) if c["cell_type"] == "code" and _source(c).startswith("# core: ")]
    assert cores, f"{path.name} shows no core equation"
    for cell in cores:
        src = _source(cell)
        name = src.splitlines()[0].split(":", 1)[1].strip()
        namespace = {}
        exec(compile("import math\nimport torch\n" + src.split("\n\n\n")[0], f"{path.name}:{name}", "exec"), namespace)
        assert compare(name, namespace[name]) is None, f"{path.name}: core cell {name} differs from fmlearn"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_version(path, tmp_path):
    number = str(int(path.stem[:2]))
    n = student_notebook(path, tmp_path / path.name)
    assert n == len([k for k in numbers() if k.split(".")[0] == number])
    text = (tmp_path / path.name).read_text()
    assert "BEGIN SOLUTION" not in text
    for cell in _cells(tmp_path / path.name):
        if cell["cell_type"] == "code":
            source = re.sub(r"^(\s*)[%!]", r"\1#", _source(cell), flags=re.M)  # IPython magics and shell lines
            compile(source, path.name, "exec")  # still valid Python
