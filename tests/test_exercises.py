"""Exercise checks recognize right answers and named mistakes; student versions hide solutions."""
import json

import pytest

from fmlearn.teaching.exercises import check, compare, specs, student_notebook, student_source


@pytest.mark.parametrize("name", sorted(specs()))
def test_reference_passes_and_each_mistake_is_named(name):
    spec = specs()[name]
    assert compare(name, spec.reference) is None
    for hint, wrong in spec.mistakes.items():
        assert compare(name, wrong) == hint


def test_check_messages(capsys):
    ref = specs()["interpolate"].reference
    check("interpolate", ref)  # a spec can be checked by its name too
    assert "correct" in capsys.readouterr().out

    def todo(x0, x1, t):
        raise NotImplementedError("Exercise 1.1")
    check("interpolate", todo)
    assert "not done yet" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="t\\[:, None\\]"):
        check("interpolate", lambda x0, x1, t: t * x1 + (1 - t) * x0)
    with pytest.raises(AssertionError, match="differ from the reference"):
        check("interpolate", lambda x0, x1, t: 2 * ref(x0, x1, t))
    check("1.1", specs()["least_spread_time"].reference)
    assert "correct" in capsys.readouterr().out
    with pytest.raises(ValueError, match="unknown exercise '9.9'"):
        check("9.9", ref)


def test_student_source():
    src = ("def f(x):\n"
           "    ### BEGIN SOLUTION 3.1\n"
           "    y = x + 1\n"
           "    return y\n"
           "    ### END SOLUTION\n"
           "\nprint(1)\n")
    out = student_source(src)
    assert out == 'def f(x):\n    raise NotImplementedError("Exercise 3.1")  # your code here\n\nprint(1)\n'
    assert "y = x + 1" not in out


def test_student_notebook(tmp_path):
    nb = {"cells": [
        {"cell_type": "code", "metadata": {}, "execution_count": 3, "outputs": [{"output_type": "stream"}],
         "source": ["def g():\n", "    ### BEGIN SOLUTION 2.1\n", "    return 42\n", "    ### END SOLUTION\n"]},
        {"cell_type": "markdown", "metadata": {}, "source": ["### BEGIN SOLUTION is only text here ### END SOLUTION"]},
    ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    src = tmp_path / "a.ipynb"
    src.write_text(json.dumps(nb))
    assert student_notebook(src, tmp_path / "out" / "a.ipynb") == 1
    out = json.loads((tmp_path / "out" / "a.ipynb").read_text())
    code = "".join(out["cells"][0]["source"])
    assert "return 42" not in code and 'NotImplementedError("Exercise 2.1")' in code
    assert out["cells"][0]["outputs"] == [] and out["cells"][0]["execution_count"] is None
    nb["cells"][0]["source"] = ["### BEGIN SOLUTION 1.1\n", "x = 1\n"]
    src.write_text(json.dumps(nb))
    with pytest.raises(ValueError, match="cell 0 has 1 BEGIN SOLUTION and 0 END SOLUTION"):
        student_notebook(src, tmp_path / "b.ipynb")


def test_student_versions_run_all_without_the_solutions():
    # A student's "Run all" must reach the end: a cell that calls an exercise's function (other than its
    # check) must catch NotImplementedError, since the student version raises it until the exercise is done.
    import re
    from pathlib import Path
    problems = []
    for src in sorted((Path(__file__).resolve().parents[1] / "tools" / "notebook_src").glob("[0-9][0-9]_*.py")):
        cells = re.split(r"^# %%.*$", src.read_text(encoding="utf-8"), flags=re.M)
        exercised = []
        for cell in cells:
            if "### BEGIN SOLUTION" in cell:
                exercised += re.findall(r"^def (\w+)\(", cell.split("### BEGIN SOLUTION")[0], flags=re.M)
                cell = cell.rsplit("### END SOLUTION", 1)[1]  # what runs after the stub in the same cell
            for name in exercised:
                calls = [line for line in cell.splitlines() if re.search(rf"(?<![\w.]){name}\(", line)
                         and not line.lstrip().startswith(("#", "check("))]
                if calls and "except NotImplementedError" not in cell:
                    problems.append(f"{src.name}: {calls[0].strip()}")
    assert not problems, "cells that would stop a student's Run all:\n" + "\n".join(problems)
