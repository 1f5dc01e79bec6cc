#!/usr/bin/env python3
"""Build the course notebooks from their readable sources: tools/notebook_src/NN_name.py -> notebooks/NN_name.ipynb.

The sources are plain Python files in the "percent" format that Jupytext, VS Code and Spyder read:
a line ``# %%`` starts a code cell, ``# %% [markdown]`` a Markdown cell whose lines start with ``# ``.
Edit the source, run ``python tools/build_notebooks.py``, commit both; tests/test_notebooks.py fails
when a notebook and its source disagree. Notebooks are written without outputs (CI executes them).

It also writes the README's notebook table (between the ``notebook-table`` markers) from
:data:`fmlearn.teaching.course.NOTEBOOKS`, the table notebook 00's map is made from.

Usage: python tools/build_notebooks.py [--check]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC, OUT = ROOT / "tools" / "notebook_src", ROOT / "notebooks"

METADATA = {
    "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}


def _cell(kind: str, lines: list[str], index: int) -> dict:
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    if kind == "markdown":
        lines = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines]
    text = "\n".join(lines)
    source = [line + "\n" for line in text.split("\n")]
    source[-1] = source[-1][:-1]
    cell = {"cell_type": kind, "id": f"c{index:02d}", "metadata": {}, "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def build(text: str) -> dict:
    """The notebook (nbformat 4.5 dict) of a percent-format source."""
    cells, kind, lines = [], None, []
    for line in text.split("\n"):
        if line.startswith("# %%"):
            if kind is not None:
                cells.append(_cell(kind, lines, len(cells)))
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        elif kind is not None:
            lines.append(line)
    if kind is not None:
        cells.append(_cell(kind, lines, len(cells)))
    return {"cells": cells, "metadata": METADATA, "nbformat": 4, "nbformat_minor": 5}


def dumps(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


README = ROOT / "README.md"
START, END = "<!-- notebook-table:start (made by tools/build_notebooks.py from fmlearn/teaching/course.py) -->", \
    "<!-- notebook-table:end -->"


def readme_text(text: str) -> str:
    """The README with its notebook table replaced by :func:`fmlearn.teaching.course.readme_table`."""
    from fmlearn.teaching.course import readme_table

    if START not in text or END not in text:
        raise SystemExit(f"README.md lacks the markers {START!r} and {END!r} around the notebook table.")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{readme_table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    readme = README.read_text(encoding="utf-8")
    if readme_text(readme) != readme:
        if check:
            stale.append("README.md (notebook table)")
        else:
            README.write_text(readme_text(readme), encoding="utf-8")
            print("wrote README.md (notebook table)")
    for src in sorted(SRC.glob("*.py")):
        out = OUT / (src.stem + ".ipynb")
        text = dumps(build(src.read_text(encoding="utf-8")))
        if check:
            if not out.exists() or out.read_text(encoding="utf-8") != text:
                stale.append(out.name)
        else:
            out.write_text(text, encoding="utf-8")
            print(f"wrote {out.relative_to(ROOT)}")
    if stale:
        print("out of date (run python tools/build_notebooks.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
