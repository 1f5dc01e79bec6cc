"""course.py's commands, with the subprocess call mocked (nothing is installed or started)."""
import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def course(monkeypatch):
    spec = importlib.util.spec_from_file_location("course", ROOT / "course.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines functions only; main() runs under __main__
    module.calls = []
    monkeypatch.setattr(module, "setup", lambda: None)
    monkeypatch.setattr(module, "call", lambda cmd: module.calls.append([str(c) for c in cmd]) or 0)
    return module


@pytest.mark.parametrize("uid, expected", [(0, True), (1000, False), (None, False)])
def test_lab_passes_allow_root_only_as_root(course, monkeypatch, capsys, uid, expected):
    if uid is None:  # Windows: no os.geteuid
        monkeypatch.delattr(os, "geteuid", raising=False)
    else:
        monkeypatch.setattr(os, "geteuid", lambda: uid, raising=False)
    assert course.main(["lab", "--port", "9999"]) == 0
    (cmd,) = course.calls
    assert cmd[1:5] == ["-m", "jupyter", "lab", "notebooks"] and cmd[-2:] == ["--port", "9999"]
    assert ("--allow-root" in cmd) is expected
    out = capsys.readouterr().out
    assert ("passing --allow-root" in out) is expected
    if expected:
        assert sum("root" in line for line in out.splitlines()) == 1, "say it in one line"


def test_lab_as_root_does_not_repeat_a_given_allow_root(course, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0, raising=False)
    course.main(["lab", "--allow-root"])
    assert course.calls[0].count("--allow-root") == 1


def test_browser_runs_the_browser_check_with_its_arguments(course):
    assert "browser" in course.COMMANDS
    assert course.main(["browser", "01", "--gallery"]) == 0
    (cmd,) = course.calls
    assert Path(cmd[1]) == ROOT / "tools" / "browser_check.py" and cmd[2:] == ["01", "--gallery"]


def test_the_browser_marker_is_registered(pytestconfig):
    markers = [m.split(":")[0].strip() for m in pytestconfig.getini("markers")]
    assert "browser" in markers
