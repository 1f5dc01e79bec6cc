#!/usr/bin/env python3
"""Open every page of the built website in headless Chromium and check what a reader sees.

    python tools/site_check.py [SITE]        (default _build/site; python course.py site --check builds, then this)

The site is served from 127.0.0.1 by Python's http.server; Debian's Chromium (``/usr/bin/chromium`` or
``$FMLEARN_CHROMIUM``, never a downloaded browser) opens each HTML page through Playwright. A page passes when:

* it loads (HTTP 200) with a title, and nothing it loads fails or comes from another host (the site is
  self-contained: plotly.js, MathJax and the badges are its own files);
* the console shows no error and no script throws;
* every plotly figure mounts (a ``.plotly-graph-div`` holding its ``svg.main-svg``) within the page's column, as
  many as the executed
  notebook has (the site's ``_outputs.json``, written by tools/build_site.py), and an animated one moves to its
  last frame when its slider is driven;
* no output is an error (a traceback), every widget output became a progress bar, a live-training picture or
  an explorer note (fmlearn.teaching.site), every image is drawn, and the equations are typeset by MathJax
  without a MathJax error;
* a notebook's page links to the notebook on Colab and on Binder.

Screenshots of each page's top go to ``_build/screens/site/``.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from browser_check import CHROMIUM  # the same Chromium as the notebooks' browser test (tools/ is on the path)

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "_build" / "site"
SCREENS = ROOT / "_build" / "screens" / "site"
VIEWPORT = {"width": 1366, "height": 900}
#: pages Sphinx writes for itself, checked for loading and errors only
SPHINX_PAGES = {"genindex.html", "search.html"}

_JS_PAGE = """() => {
  const plots = [...document.querySelectorAll('.plotly-graph-div')];
  const imgs = [...document.querySelectorAll('img')];
  return {
    title: document.title,
    plots: plots.length,
    mounted: plots.filter(p => p.querySelector('svg.main-svg') && p._fullLayout).length,
    tooWide: plots.filter(p => p.getBoundingClientRect().right >
        (document.querySelector('.bd-article') || document.body).getBoundingClientRect().right + 1).length,
    animated: plots.filter(p => p._transitionData && p._transitionData._frames
                                && p._transitionData._frames.length > 1).length,
    tracebacks: document.querySelectorAll('.output.traceback, .output.error').length,
    outputImages: document.querySelectorAll('.cell_output img:not(.fmlearn-widget-picture)').length,
    rawWidgets: document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length,
    widgets: document.querySelectorAll('.fmlearn-widget').length,
    notes: document.querySelectorAll('.fmlearn-widget-explorer').length,
    bars: document.querySelectorAll('.fmlearn-widget-progress').length,
    live: document.querySelectorAll('.fmlearn-widget-image').length,
    brokenImages: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src')),
    math: document.querySelectorAll('.math, span.math, div.math').length,
    typeset: document.querySelectorAll('mjx-container').length,
    mathErrors: document.querySelectorAll('mjx-merror').length,
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    text: document.body.innerText.includes('Traceback (most recent call last)'),
  };
}"""

# drive each animated figure to its last frame; resolves to the share of figures whose first trace moved
_JS_ANIMATE = """async () => {
  const plots = [...document.querySelectorAll('.plotly-graph-div')].filter(
      p => p._transitionData && p._transitionData._frames && p._transitionData._frames.length > 1);
  const moved = [];
  for (const p of plots) {
    const frames = p._transitionData._frames;
    const before = JSON.stringify((p.data[0] || {}).x || (p.data[0] || {}).z || null);
    await Plotly.animate(p, [frames[frames.length - 1].name], {mode: 'immediate', frame: {duration: 0, redraw: true},
                                                                transition: {duration: 0}});
    const after = JSON.stringify((p.data[0] || {}).x || (p.data[0] || {}).z || null);
    moved.push(before !== after);
  }
  return moved;
}"""


@dataclass
class PageReport:
    path: str
    failures: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    seconds: float = 0.0

    def describe(self) -> str:
        state = "ok" if not self.failures else "FAILED"
        facts = ", ".join(f"{k} {v}" for k, v in self.facts.items())
        lines = [f"[site-check] {self.path}: {state} ({self.seconds:.1f} s; {facts})"]
        return "\n".join(lines + [f"    - {f}" for f in self.failures])


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # noqa: D401 - the checker reports failures itself
        pass


class Server:
    """The site served from 127.0.0.1 on a free port, in a thread: ``with Server(folder) as base: ...``."""

    def __init__(self, folder: Path):
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def pages(site: Path) -> list[str]:
    """Every HTML page of the site, relative to it (index first)."""
    found = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html") if "_static" not in p.parts)
    return sorted(found, key=lambda p: (p != "index.html", p))


def expected(manifest: Path) -> dict:
    return json.loads(manifest.read_text(encoding="utf-8"))["pages"] if manifest.is_file() else {}


def check_page(context, base: str, path: str, want: dict | None, screens: Path | None) -> PageReport:
    """Open one page and check it (see the module docstring)."""
    report, start = PageReport(path), time.monotonic()
    page = context.new_page()
    console, foreign, failed = [], [], []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console.append(f"uncaught: {e}"))
    page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))
    page.on("response", lambda r: failed.append(f"{r.url} (HTTP {r.status})") if r.status >= 400 else None)
    host = urlparse(base).netloc

    def on_request(request):
        url = urlparse(request.url)
        if url.scheme in ("http", "https") and url.netloc != host:
            foreign.append(request.url)

    page.on("request", on_request)
    response = page.goto(base + path, wait_until="load")
    if response is None or response.status != 200:
        report.failures.append(f"the page did not load (HTTP {response.status if response else 'none'})")
    # MathJax typesets after load; wait for it where the page has it
    page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.wait_for_timeout(200)
    facts = page.evaluate(_JS_PAGE)
    moved = page.evaluate(_JS_ANIMATE) if facts["animated"] else []
    if screens is not None:
        screens.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screens / (path.replace("/", "_").removesuffix(".html") + ".png")))
    page.close()

    fail = report.failures.append
    if not facts["title"].strip():
        fail("the page has no title")
    for text in console:
        fail(f"console error: {text[:300]}")
    for url in failed:
        fail(f"a resource failed to load: {url}")
    for url in foreign:
        fail(f"loads a resource from another host (the site must be self-contained): {url}")
    if facts["mounted"] != facts["plots"]:
        fail(f"{facts['plots'] - facts['mounted']} of {facts['plots']} plotly figures did not mount")
    if facts["tooWide"]:
        fail(f"{facts['tooWide']} plotly figures are wider than the page's column at {VIEWPORT['width']} px")
    if moved and not all(moved):
        fail(f"{moved.count(False)} of {len(moved)} animations did not move when driven to their last frame")
    if facts["tracebacks"] or facts["text"]:
        fail(f"{facts['tracebacks']} error outputs (tracebacks) on the page")
    if facts["rawWidgets"]:
        fail(f"{facts['rawWidgets']} widget outputs left as bare widget references (fmlearn.teaching.site missed them)")
    for src in facts["brokenImages"]:
        fail(f"an image is not drawn: {src}")
    if facts["mathErrors"]:
        fail(f"{facts['mathErrors']} MathJax errors")
    if facts["math"] and not facts["typeset"]:
        fail(f"{facts['math']} equations, none typeset by MathJax")
    if want is None and path.startswith("notebooks/"):
        fail("the site's _outputs.json has no record of this page's executed notebook (rebuild the site)")
    if want is not None:
        if facts["plots"] != want["plotly"]:
            fail(f"{facts['plots']} plotly figures on the page, the executed notebook has {want['plotly']}")
        if facts["animated"] != want["animations"]:
            fail(f"{facts['animated']} animated plotly figures on the page, the executed notebook has "
                 f"{want['animations']}")
        if facts["outputImages"] != want["images"]:
            fail(f"{facts['outputImages']} output images on the page, the executed notebook has {want['images']}")
        if facts["widgets"] != want["widgets"]:
            fail(f"{facts['widgets']} widget outputs drawn on the page ({facts['notes']} explorer notes, "
                 f"{facts['bars']} progress bars, {facts['live']} live-training pictures), the executed "
                 f"notebook has {want['widgets']}")
        if want["errors"]:
            fail(f"the executed notebook has {want['errors']} error outputs")
        stem = path.removesuffix(".html") + ".ipynb"
        for where in ("colab.research.google.com/github/", "mybinder.org/v2/gh/"):
            if not any(where in link and link.endswith(stem) for link in facts["links"]):
                fail(f"no link to {stem} on {where.split('/')[0]}")
    report.facts = {k: facts[k] for k in ("plots", "notes", "bars", "live", "typeset")}
    report.facts["animations moved"] = f"{sum(moved)}/{len(moved)}"
    report.seconds = time.monotonic() - start
    return report


def check_site(site: Path = SITE, screens: Path | None = SCREENS) -> list[PageReport]:
    """Check every page of ``site``; returns one report per page."""
    from playwright.sync_api import sync_playwright

    if not (site / "index.html").is_file():
        raise FileNotFoundError(f"no site in {site}: build it first with python course.py site")
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"no Chromium at {CHROMIUM}: install it (Debian: apt-get install -y chromium) "
                           "or set FMLEARN_CHROMIUM to its path")
    want = expected(site / "_outputs.json")
    reports = []
    with Server(site) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context(viewport=VIEWPORT)
        for path in pages(site):
            reports.append(check_page(context, base, path, want.get(path), screens))
        browser.close()
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", nargs="?", default=str(SITE), help="the built site (default _build/site)")
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        reports = check_site(Path(args.site))
    except (FileNotFoundError, RuntimeError) as err:
        print(f"[site-check] {err}")
        return 2
    for report in reports:
        print(report.describe(), flush=True)
    failed = [r.path for r in reports if r.failures]
    print(f"[site-check] {len(reports) - len(failed)}/{len(reports)} pages passed in {time.monotonic() - start:.0f} s"
          + (f"; FAILED: {', '.join(failed)}" if failed else "") + f"; screenshots in {SCREENS}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
