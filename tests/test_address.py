"""The course's one public address (pyproject.toml) is the only one anywhere.

``[project.urls] Repository`` and ``[tool.fmlearn] branch`` are the setting; ``python tools/build_notebooks.py``
writes them into fmlearn/teaching/address.py, the README's badges, every notebook's badges and its Colab install.
These tests fail on any link to the course's repository that names another address, and check that changing
the setting changes every generated link.
"""
from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fmlearn.teaching import address as address_module
from fmlearn.teaching import course

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("build_notebooks", ROOT / "tools" / "build_notebooks.py")
build_notebooks = sys.modules.setdefault("build_notebooks", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(build_notebooks)

ADDRESS = build_notebooks.read_address((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
#: the name the repository had before it was published; once the setting names another, it is a stray
PLACEHOLDER = "fmlearn/fmlearn"
#: GitHub repositories other than the course's that the scanned files may link to
EXTERNAL = {"googlecolab/backend-info"}
SCANNED = ("README.md", "notebooks/", "tools/notebook_src/", "docs/", "binder/", "fmlearn/")

_NAME = r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?"
_LINKS = [  # (what, pattern with groups repository and, optionally, branch)
    ("Colab link", rf"colab\.research\.google\.com/github/({_NAME})/blob/([^/\s)\"']+)/"),
    ("Binder link", rf"mybinder\.org/v2/gh/({_NAME})/([^/?\s)\"']+)"),
    ("pip install from GitHub", rf"git\+https://github\.com/({_NAME})(?:\.git)?@([^\s\"'#)\\]+)"),
    ("pip install from GitHub without a branch", rf"git\+https://github\.com/({_NAME})(?:\.git)?(?=[\s\"')\\])()"),
    ("raw GitHub file", rf"raw\.githubusercontent\.com/({_NAME})/([^/\s)\"']+)/"),
]


def strays(text: str, address=ADDRESS) -> list[str]:
    """Every link in ``text`` to the course that disagrees with ``address`` (and every other GitHub link)."""
    found = []
    for what, pattern in _LINKS:
        for match in re.finditer(pattern, text):
            repository, branch = match.group(1), match.group(2)
            if repository != address.repository or branch != address.branch:
                found.append(f"{what} to {repository} at {branch or 'no branch'}: {match.group(0)}")
    for match in re.finditer(rf"(?<![\w.+/])(?:https?://)?github\.com/({_NAME})(?=[/\s)\"'#@.]|$)", text):
        name = match.group(1).removesuffix(".git")
        if name != address.repository and name not in EXTERNAL:
            found.append(f"GitHub link to {name} (neither the course's repository nor in EXTERNAL): {match.group(0)}")
    if address.repository != PLACEHOLDER and PLACEHOLDER in text:
        found.append(f"the placeholder {PLACEHOLDER!r}")
    return found


def _scanned_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *SCANNED],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / p for p in sorted(set(listed)) if (ROOT / p).is_file()
            and (ROOT / p).suffix in {".md", ".py", ".ipynb", ".yml", ".yaml", ".txt", ".json", ".toml", ".cfg", ""}]


def test_the_package_carries_the_address_set_in_pyproject():
    assert (address_module.REPOSITORY, address_module.BRANCH) == (ADDRESS.repository, ADDRESS.branch), \
        "fmlearn/teaching/address.py is stale: run python tools/build_notebooks.py"
    assert (course.REPOSITORY, course.BRANCH) == (ADDRESS.repository, ADDRESS.branch)


def test_no_file_names_another_address():
    files = _scanned_files()
    assert any(p.name == "README.md" for p in files) and any(p.suffix == ".ipynb" for p in files)
    problems = [f"{p.relative_to(ROOT)}: {s}" for p in files for s in strays(p.read_text(encoding="utf-8",
                                                                                        errors="replace"))]
    assert not problems, ("links disagree with pyproject.toml's [project.urls] Repository / [tool.fmlearn] branch "
                          "(run python tools/build_notebooks.py, or add an external repository to EXTERNAL):\n  "
                          + "\n  ".join(problems))


def test_the_scan_finds_a_stray_link():
    other = build_notebooks.Address("someone/course", "main")
    good = build_notebooks.badges(ADDRESS, "notebooks/00_welcome.ipynb")
    assert strays(good) == [] and strays("see https://github.com/googlecolab/backend-info") == []
    assert len(strays(build_notebooks.badges(other, "notebooks/00_welcome.ipynb"))) == 2
    assert strays(f"pip install git+https://github.com/{ADDRESS.repository}@dev")  # another branch
    assert strays(f'"git+https://github.com/{ADDRESS.repository}"')  # no branch
    assert strays("https://github.com/someone/elsewhere/blob/main/x.py")
    assert strays(f"badge for {PLACEHOLDER}", other)  # once published, the placeholder itself is a stray


@pytest.mark.parametrize("src", sorted((ROOT / "tools" / "notebook_src").glob("*.py")), ids=lambda p: p.stem)
def test_each_notebook_has_its_badges_and_the_one_install_cell(src):
    cells = json.loads((ROOT / "notebooks" / f"{src.stem}.ipynb").read_text(encoding="utf-8"))["cells"]
    first, setup = "".join(cells[0]["source"]), "".join(cells[1]["source"])
    assert first.split("\n")[2] == build_notebooks.badges(ADDRESS, f"notebooks/{src.stem}.ipynb")
    assert "\n".join(build_notebooks.install_lines(ADDRESS)) in setup
    text = src.read_text(encoding="utf-8")
    assert build_notebooks.INSTALL_MARKER in text, "the setup cell's install is generated: keep the marker line"
    assert "github.com" not in text and "mybinder" not in text, "sources carry no address: the build adds it"


def test_publishing_is_one_setting_and_a_rebuild():
    """Build everything in memory for another address: every link follows it, none keeps the old one."""
    other = build_notebooks.Address("someone/course", "published")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    edited = pyproject.replace(f'Repository = "{ADDRESS.github}"', f'Repository = "{other.github}"') \
        .replace(f'branch = "{ADDRESS.branch}"', f'branch = "{other.branch}"')
    assert build_notebooks.read_address(edited) == other, "the setting is not where tests/test_address.py looks"
    texts = [build_notebooks.address_module(other),
             build_notebooks.readme_text((ROOT / "README.md").read_text(encoding="utf-8"), other)]
    for src in sorted((ROOT / "tools" / "notebook_src").glob("*.py")):
        texts.append(build_notebooks.dumps(build_notebooks.build(src.read_text(encoding="utf-8"), src.stem, other)))
    for text in texts:
        assert strays(text, other) == [], strays(text, other)
        assert ADDRESS.repository not in text or ADDRESS.repository == other.repository
    assert "git+https://github.com/someone/course@published" in texts[2]
    assert "colab.research.google.com/github/someone/course/blob/published/notebooks/" in texts[1]
