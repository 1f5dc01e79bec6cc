"""Every notebook in a real browser (tools/browser_check.py): JupyterLab in headless Chromium, driven by Playwright.

Marker ``browser``: left out of the default run (tests/conftest.py deselects it unless ``-m`` names it or this file
is given), run by CI with ``python course.py test -m browser``. Needs Debian's Chromium at /usr/bin/chromium (or
``$FMLEARN_CHROMIUM``): without it the tests skip and say how to install it; a missing playwright is a failure
(it is in the dev extras). One JupyterLab and one Chromium serve every notebook; screenshots go to _build/screens/.
"""
import json
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import browser_check  # noqa: E402  (tools/ is not a package)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def session(chromium):
    reports, start = {}, time.monotonic()
    with browser_check.Session() as s:
        s.reports = reports
        yield s
    total = time.monotonic() - start
    browser_check.SCREENS.mkdir(parents=True, exist_ok=True)
    (browser_check.SCREENS / "report.json").write_text(json.dumps(
        {"total_seconds": round(total, 1),
         "notebooks": {n: {"seconds": round(r.seconds, 1), "run_all_seconds": round(r.run_seconds, 1),
                           "failures": r.failures} for n, r in reports.items()}}, indent=1))


def _broken_notebook(folder: Path) -> str:
    """A notebook with an explorer whose control does not change its image, and an error in its last cell."""
    import nbformat

    png = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import base64, ipywidgets as W\n"
            f"image = W.Image(value=base64.b64decode('{png}'), format='png', width=40)\n"
            "control = W.Dropdown(options=['a', 'b'], value='a', description='dead')\n"
            "W.VBox([W.HBox([control]), image])"),
        nbformat.v4.new_code_cell("1 / 0"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "broken.ipynb")
    return "broken.ipynb"


def test_the_checks_catch_a_dead_control_and_an_error(tmp_path, chromium):
    """The checks themselves: a notebook with known faults must fail with each of them named. (Defined before
    the notebook tests: it runs its own Playwright, which must stop before the module's session starts.)"""
    name = _broken_notebook(tmp_path)
    with browser_check.Session(screens=tmp_path / "screens", root=tmp_path, timeout=120) as s:
        report = s.check(name)
    text = "\n".join(report.failures)
    assert report.explorers == 1, report.describe()
    assert "the image did not change when dropdown 'dead' moved" in text, report.describe()
    assert "cell 1 ('1 / 0') raised ZeroDivisionError" in text, report.describe()


@pytest.mark.parametrize("name", browser_check.notebook_names())
def test_notebook_runs_and_its_widgets_respond_in_the_browser(session, name):
    report = session.check(name)
    session.reports[name] = report
    print(report.describe())
    assert not report.failures, report.describe()
