"""The course's website, built and opened page by page in headless Chromium (tools/build_site.py, tools/site_check.py).

Marker ``site``: left out of the default run (tests/conftest.py deselects it unless ``-m`` names it or this file
is given), run by CI with ``python course.py test -m site``. The build follows ``FMLEARN_QUICK`` (CI: quick
budgets; unset: the published full-mode site) and reuses the executed notebooks cached outside git, so a second
run takes seconds. Needs Debian's Chromium at /usr/bin/chromium (or ``$FMLEARN_CHROMIUM``).
"""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import build_site  # noqa: E402  (tools/ is not a package)
import site_check  # noqa: E402

pytestmark = pytest.mark.site

PAGES = ["index.html", "docs/INSTRUCTORS.html", *(nb.path.replace(".ipynb", ".html")
                                                  for nb in build_site.course.NOTEBOOKS)]


@pytest.fixture(scope="module")
def reports(chromium):
    quick = os.environ.get("FMLEARN_QUICK", "") not in ("", "0")
    build_site.build(quick)
    return {r.path: r for r in site_check.check_site(build_site.OUT)}


@pytest.mark.parametrize("page", PAGES)
def test_page_loads_and_shows_every_output(reports, page):
    assert page in reports, f"{page} was not built; pages: {sorted(reports)}"
    report = reports[page]
    assert not report.failures, report.describe()


def test_the_site_can_be_served_by_github_pages(reports):
    assert (build_site.OUT / ".nojekyll").is_file()  # else Jekyll hides _static/ (plotly.js, MathJax, the CSS)
    assert (build_site.OUT / "_static" / "plotly.min.js").is_file()
    assert (build_site.OUT / "_static" / "mathjax" / "tex-chtml.js").is_file()


def test_sphinx_pages_load_too(reports):
    for page in site_check.SPHINX_PAGES:
        assert not reports[page].failures, reports[page].describe()


def test_the_checks_catch_a_broken_page(tmp_path, chromium):
    """A page with an unmounted figure, a script error, a traceback, a foreign image and a bare widget fails."""
    (tmp_path / "index.html").write_text(
        "<html><head><title>broken</title></head><body>"
        '<div class="plotly-graph-div"></div>'
        '<div class="output traceback"><pre>Traceback (most recent call last)</pre></div>'
        '<img src="https://example.invalid/badge.svg">'
        '<script type="application/vnd.jupyter.widget-view+json">{"model_id": "x"}</script>'
        "<script>console.error('boom'); undefinedFunction();</script>"
        "</body></html>")
    [report] = site_check.check_site(tmp_path, screens=None)
    text = "\n".join(report.failures)
    for expected in ("plotly figures did not mount", "error outputs", "another host", "bare widget",
                     "console error: boom", "uncaught"):
        assert expected in text, f"{expected!r} not caught:\n{text}"
