"""docs/INSTRUCTORS.md keeps up with the course: every exercise, every notebook, every command it shows."""
import re
import shlex
from pathlib import Path

import pytest

from fmlearn.__main__ import build_parser
from fmlearn.teaching.exercises import numbers

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "INSTRUCTORS.md"


@pytest.fixture(scope="module")
def page() -> str:
    return PAGE.read_text(encoding="utf-8")


def test_every_registered_exercise_has_a_row_in_the_exercise_table(page):
    rows = set(re.findall(r"^\| (\d+\.\d+) \| (\d\d_\w+) \|", page, re.M))
    listed = {n for n, _ in rows}
    missing = [n for n in numbers() if n not in listed]
    assert not missing, f"add these exercises to the table in {PAGE.name}: {missing}"
    unknown = sorted(listed - set(numbers()))
    assert not unknown, f"{PAGE.name} lists exercises the package does not register: {unknown}"
    # each row names the notebook of its number (exercise N.M lives in notebook N)
    wrong = [(n, nb) for n, nb in rows if int(nb[:2]) != int(n.split(".")[0])]
    assert not wrong, f"exercise rows with the wrong notebook: {wrong}"


def test_every_built_notebook_is_in_the_learning_goals_and_the_runtimes(page):
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks, "no notebooks found"
    goals = set(re.findall(r"^\*\*(\d\d_\w+)\*\*:", page, re.M))
    runtimes = set(re.findall(r"^\| (\d\d_\w+) \| [^|]+ \| [^|]+ \| [^|]+ \|$", page, re.M))
    assert not [n for n in notebooks if n not in goals], f"learning goals missing in {PAGE.name}"
    assert not [n for n in notebooks if n not in runtimes], f"runtimes missing in {PAGE.name}"


def test_every_fmlearn_command_on_the_page_parses():
    commands = re.findall(r"`(?:FMLEARN_QUICK=1 )?python -m fmlearn ([^`]+)`", PAGE.read_text(encoding="utf-8"))
    assert len(commands) >= 5
    parser = build_parser()
    for command in commands:
        try:
            parser.parse_args(shlex.split(command))
        except SystemExit:
            pytest.fail(f"{PAGE.name} shows `python -m fmlearn {command}`, which the command line refuses")


def _seconds(cell: str):
    found = re.match(r"\s*(\d+) s\s*$", cell)
    return None if found is None else int(found.group(1))


def test_runtimes_and_the_lecture_path_agree_with_the_course_map(page):
    """The page's runtime table and 90-minute path say what fmlearn.teaching.course says (README, notebook 00)."""
    from fmlearn.teaching.course import NOTEBOOKS, PATHS
    rows = {m.group(1): (m.group(2), m.group(3)) for m in
            re.finditer(r"^\| (\d\d_\w+) \| ([^|]+) \| ([^|]+) \| [^|]+ \|$", page, re.M)}
    for nb in NOTEBOOKS:
        full, quick = rows[nb.name]
        assert (_seconds(full), _seconds(quick)) == (None if nb.full_s is None else round(nb.full_s),
                                                     None if nb.quick_s is None else round(nb.quick_s)), nb.name
    lecture = page.split("### One 90-minute lecture", 1)[1].split("###", 1)[0]
    order = re.findall(r"^\| \d+ \| (\d\d)_\w+ \|", lecture, re.M)
    assert order == [number for number, _ in PATHS["90-minute lecture"][1]]
