"""Every notebook in Colab's own package versions, installed by its own install cell (tools/colab_stack.py).

Slow (a cached environment, then all notebooks in quick mode), so it runs only when selected::

    python -m pytest -m colab tests/test_colab_stack.py

The first run builds the environment under ``~/.cache/fmlearn/colab-stack/`` (PyPI needed, a few minutes); later runs
with the same pins reuse it.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("colab_stack", ROOT / "tools" / "colab_stack.py")
colab_stack = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(colab_stack)

pytestmark = pytest.mark.colab


@pytest.fixture(scope="module")
def report(request):
    if "colab" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("the Colab-stack test runs only when selected: python -m pytest -m colab tests/test_colab_stack.py")
    return colab_stack.run()


def test_the_environment_has_colabs_versions(report):
    before = report["installed_before"]
    for name, version in colab_stack.pins().items():
        assert before.get(name) == version, f"{name}: {before.get(name)} installed, Colab ships {version}"
    assert before["torch"].split("+")[0] == "2.13.0" and "fmlearn" not in before


def test_every_notebook_runs_after_its_install_cell(report):
    ran = [e["notebook"] for e in report["notebooks"]]
    assert ran == sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    failed = {e["notebook"]: e["error"] for e in report["notebooks"] if not e["ok"]}
    assert not failed, "\n\n".join(f"{name}:\n{error}" for name, error in failed.items())


def test_the_install_cell_adds_fmlearn_and_changes_no_installed_package(report):
    for entry in report["notebooks"]:
        assert not entry["changed"], f"{entry['notebook']}: the install cell changed {entry['changed']}"
        # it installed fmlearn (uninstalled before each notebook) and nothing beyond fmlearn's own requirements
        assert "fmlearn" in entry["added"], f"{entry['notebook']}: the install cell did not install fmlearn"
        assert set(entry["added"]) <= {"fmlearn", "torchdiffeq"}, entry["added"]
    assert {e["install_source"] for e in report["notebooks"]} == {"checkout", "wheel"}


def test_the_colab_freeze_is_read_exactly():
    versions = colab_stack.colab_versions("torch @ https://x/torch.whl\nnumpy==2.1.3\nJinja2==3.1.6\n")
    assert versions == {"numpy": "2.1.3", "jinja2": "3.1.6"}
    pins = colab_stack.pins()
    assert pins["numpy"] == "2.1.3" and pins["ipywidgets"] == "7.7.1" and pins["ipykernel"] == "6.17.1"
