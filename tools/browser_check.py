#!/usr/bin/env python3
"""Every notebook of the course in a real browser: JupyterLab driven in headless Chromium by Playwright.

    python course.py browser                 every notebook in notebooks/ (00 to 10)
    python course.py browser 01 03           only the notebooks whose names start so
    python course.py browser --gallery       also refresh the README's gallery (docs/gallery/*.png)
    python -m pytest -m browser              the same checks as pytest tests (tests/test_browser.py)

One JupyterLab server (a free port, a random token, headless, ``notebooks/`` as root, ``FMLEARN_QUICK=1`` and
``FMLEARN_DATA`` in its environment, so in every kernel's) and one Chromium (``/usr/bin/chromium``, or
``$FMLEARN_CHROMIUM``; never a downloaded browser) serve all notebooks. For each notebook, in a fresh tab:
Run All, wait until the kernel is idle (the run-all command has returned, no cell shows ``[*]``, and the
server's ``/api/kernels/<id>`` says ``execution_state: idle``), then check

* every code cell ran, and no output is an error (the notebook model's ``output_type == "error"``; stderr
  text is not an error, a traceback is), no "Error displaying widget", no "Javascript Error", no tqdm
  fallback ("IProgress not found"), no traceback in the kernel's log while the notebook ran;
* each explorer (an ipywidgets ``Image`` beside dropdowns or sliders): moving each control changes the image;
  it fits the notebook's height in a 1366x768 window, its image is not stretched by the page (blurry) more than
  1.25x, no control's label is cut;
* each plotly animation: clicking its slider moves it to another frame (the data change, the colour bar stays),
  and the slider's label is not hidden under the play/pause buttons;
* each progress bar renders (a ``.progress-bar`` inside a ``.widget-progress``), if the notebook shows any;

then shuts the kernel down and closes the tab. Screenshots go to ``_build/screens/``. JupyterLab runs with
autosave off, so the committed notebooks are never written. Standard library plus playwright (dev extras).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SCREENS = ROOT / "_build" / "screens"
GALLERY = ROOT / "docs" / "gallery"
CHROMIUM = os.environ.get("FMLEARN_CHROMIUM", "/usr/bin/chromium")
VIEWPORT = {"width": 1366, "height": 900}
TIMEOUT_S = 600          # per notebook: quick runs take 10-60 s on 2 idle cores; generous for a busy machine
SLOW = {"05": 900, "08": 1200, "09": 900}  # 08 took 518 s at a load average of 8 on 2 cores
WIDGET_WAIT_S = 20       # an explorer's image must change within this many seconds of a control moving

# The README's gallery: (notebook prefix, text in the cell's source, what to capture, file name, max width).
# "output" is the cell's first output with a picture or a table (without its prompt), else its first output;
# "explorer"/"animation" the first one in that cell.
GALLERY_SHOTS = [
    ("01", "animation.animate_path(", "animation", "path_animation.png", 640),
    ("03", "explorer = widgets.field_explorer(", "explorer", "field_explorer.png", 560),
    ("05", "result_plots.plot_quality(full)", "output", "race.png", 760),
    ("08", "digits.animate_digits(", "animation", "digits_emerging.png", 640),
    ("09", 'digits.plot_grids({f"w = {w:g}"', "output", "guidance_scale.png", 640),
    ("10", 'display(Markdown("\\n".join(lines)))', "output", "verdict_table.png", 760),
]

_SETTINGS = {  # user settings of the JupyterLab under test (a temporary folder, not the user's own)
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
    # every cell in the DOM (no virtual scrolling), so every output can be found and clicked
    # and each cell's execution times in its metadata (the report names the slowest cells)
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none", "recordTiming": True},
}


def say(message: str) -> None:
    print(f"[browser] {message}", flush=True)


def notebook_names(prefixes=()) -> list[str]:
    names = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if prefixes:
        names = [n for n in names if any(n.startswith(p) for p in prefixes)]
    return names


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


class Lab:
    """One JupyterLab server on a free port with a token, serving ``root`` with quick-mode kernels."""

    def __init__(self, root: Path = NOTEBOOKS, env: dict | None = None):
        self.root, self.port, self.token = root, _free_port(), secrets.token_hex(16)
        self.tmp = Path(tempfile.mkdtemp(prefix="fmlearn-browser-"))
        self.log_path = self.tmp / "jupyterlab.log"
        self.extra_env = env or {}
        self.proc = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> "Lab":
        settings = self.tmp / "settings"
        for rel, value in _SETTINGS.items():
            (settings / rel).parent.mkdir(parents=True, exist_ok=True)
            (settings / rel).write_text(json.dumps(value))
        env = {**os.environ, "FMLEARN_QUICK": "1", **self.extra_env,
               "JUPYTER_RUNTIME_DIR": str(self.tmp / "runtime"), "PYTHONUNBUFFERED": "1"}
        env.pop("MPLBACKEND", None)  # CI sets Agg; the kernels must keep their inline backend
        if not env.get("FMLEARN_DATA"):
            shared = ROOT.parent / "shared" / "data"
            if shared.is_dir():
                env["FMLEARN_DATA"] = str(shared)
        cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
               "--LabApp.expose_app_in_browser=True", f"--LabApp.user_settings_dir={settings}",
               f"--LabApp.workspaces_dir={self.tmp / 'workspaces'}", "--ServerApp.open_browser=False"]
        if _is_root():
            cmd.append("--allow-root")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with code {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                self.api("GET", "/api/status")
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.3)
        raise RuntimeError(f"JupyterLab did not answer within {timeout} s:\n{self.log()[-3000:]}")

    def api(self, method: str, path: str):
        req = urllib.request.Request(self.base + path, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def kernel_state(self, kernel_id: str) -> str:
        try:
            return self.api("GET", f"/api/kernels/{kernel_id}")["execution_state"]
        except urllib.error.HTTPError:
            return "gone"

    def shutdown_kernels(self) -> None:
        for kernel in self.api("GET", "/api/kernels"):
            try:
                self.api("DELETE", f"/api/kernels/{kernel['id']}")
            except urllib.error.HTTPError:
                pass

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                self.shutdown_kernels()
            except OSError:
                pass
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self._log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


@dataclass
class Report:
    """What one notebook did in the browser; ``failures`` empty means it passed."""
    name: str
    seconds: float = 0.0
    run_seconds: float = 0.0
    failures: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    explorers: int = 0
    animations: int = 0
    progress_bars: int = 0
    screens: list = field(default_factory=list)

    def describe(self) -> str:
        head = (f"{self.name}: {'ok' if not self.failures else 'FAILED'} in {self.seconds:.1f} s (run all "
                f"{self.run_seconds:.1f} s); {self.explorers} explorer(s), {self.animations} animation(s), "
                f"{self.progress_bars} progress bar(s)")
        lines = [head] + [f"  FAIL {f}" for f in self.failures] + [f"  note {n}" for n in self.notes]
        return "\n".join(lines)


_JS_PANEL = "() => { const a = window.jupyterapp; const p = a && a.shell.currentWidget; " \
            "return !!(p && p.content && p.sessionContext && p.sessionContext.session " \
            "&& p.sessionContext.session.kernel && p.sessionContext.kernelDisplayStatus === 'idle'); }"

_JS_CELLS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  return panel.content.widgets.map((cell, i) => {
    const m = cell.model, prompt = cell.node.querySelector('.jp-InputPrompt');
    const src = m.sharedModel.getSource();
    return {index: i, type: m.type, count: m.type === 'code' ? m.executionCount : null,
            prompt: prompt ? prompt.textContent.trim() : '', first: src.split('\\n').find(l => l.trim()) || '',
            source: src, outputs: m.type === 'code' ? m.outputs.toJSON() : [],
            timing: m.type === 'code' ? (m.getMetadata('execution') || null) : null};
  });
}"""

_JS_STATUS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const running = panel.content.widgets.filter(c => {
    const p = c.node.querySelector('.jp-InputPrompt'); return p && p.textContent.includes('*'); }).length;
  return {done: window.__fmRunAll || null, running, status: panel.sessionContext.kernelDisplayStatus};
}"""

# Marks every explorer (an ipywidgets Image whose nearest enclosing widget box also holds dropdowns or
# sliders, not counting those inside a nested Output widget) and returns its cell and controls.
_JS_EXPLORERS = """() => {
  const cells = [...document.querySelectorAll('.jp-Notebook .jp-Cell')];
  const found = [];
  for (const img of document.querySelectorAll('.jp-Notebook img.widget-image')) {
    let el = img.parentElement, root = null;
    while (el && !el.classList.contains('jp-OutputArea-output')) {
      if (el.classList.contains('widget-output')) break;
      if (el.querySelector('select, .widget-slider')) { root = el; break; }
      el = el.parentElement;
    }
    if (!root || root.dataset.fmExplorer !== undefined) continue;
    const k = found.length;
    root.dataset.fmExplorer = String(k);
    img.dataset.fmImage = String(k);
    const controls = [];
    root.querySelectorAll('.widget-dropdown, .widget-slider').forEach((c, j) => {
      if (c.closest('.widget-output') && !root.closest('.widget-output')) return;
      c.dataset.fmControl = k + '-' + j;
      const label = c.querySelector('.widget-label');
      controls.push({id: k + '-' + j, kind: c.classList.contains('widget-slider') ? 'slider' : 'dropdown',
                     label: label ? label.textContent.trim() : ''});
    });
    found.push({index: k, cell: cells.indexOf(img.closest('.jp-Cell')), controls});
  }
  return found;
}"""

_JS_ANIMATIONS = """() => {
  const cells = [...document.querySelectorAll('.jp-Notebook .jp-Cell')];
  const found = [];
  document.querySelectorAll('.jp-Notebook .js-plotly-plot').forEach((gd, k) => {
    const sliders = (gd._fullLayout && gd._fullLayout.sliders) || [];
    const frames = (gd._transitionData && gd._transitionData._frames) || [];
    gd.dataset.fmAnimation = String(k);
    found.push({index: k, cell: cells.indexOf(gd.closest('.jp-Cell')), sliders: sliders.length,
                frames: frames.length});
  });
  return found;
}"""

# What a learner sees of an explorer in a 1366x768 window: does it fit the notebook's visible height, is its
# image drawn at its displayed size (not stretched, hence blurred), is any control's label cut?
_JS_EXPLORER_LAYOUT = """([root, img]) => {
  const scroller = root.closest('.jp-WindowedPanel-outer') || root.closest('.jp-NotebookPanel-notebook');
  const chrome = window.innerHeight - (scroller ? scroller.clientHeight : window.innerHeight);
  const r = root.getBoundingClientRect(), i = img.getBoundingClientRect();
  const cut = [...root.querySelectorAll('.widget-label')].filter(l => l.scrollWidth > l.clientWidth + 1)
    .map(l => l.textContent.trim());
  return {height: r.height, available: 768 - chrome, stretch: i.width * devicePixelRatio / img.naturalWidth, cut};
}"""

# The slider's "t = ..." label and the play/pause buttons: their overlap in pixels (0 = apart).
_JS_ANIMATION_OVERLAP = """(gd) => {
  const label = gd.querySelector('.slider-currentvalue');
  if (!label) return 0;
  const a = label.getBoundingClientRect();
  let worst = 0;
  gd.querySelectorAll('.updatemenu-button').forEach(b => {
    const r = b.getBoundingClientRect();
    const w = Math.min(a.right, r.right) - Math.max(a.left, r.left), h = Math.min(a.bottom, r.bottom) - Math.max(a.top, r.top);
    if (w > 0 && h > 0) worst = Math.max(worst, w * h);
  });
  return worst;
}"""

_JS_ANIMATION_STATE = """(gd) => ({
  active: gd._fullLayout.sliders[0].active,
  data: JSON.stringify(gd.data.map(t => [t.x, t.y, t.z])).slice(0, 200000),
  colorbars: gd.querySelectorAll('.colorbar').length,
})"""

_JS_PROGRESS = """() => [...document.querySelectorAll('.jp-Notebook .widget-progress')].map(p => {
  const bar = p.querySelector('.progress-bar');
  return {bar: !!bar, width: bar ? bar.getBoundingClientRect().width : 0};
})"""

_DOM_ERRORS = ["Error displaying widget", "Javascript Error", "IProgress not found", "Loading widget..."]


class Session:
    """One JupyterLab and one Chromium for a series of notebooks: ``with Session() as s: s.check(name)``."""

    def __init__(self, screens: Path = SCREENS, timeout: float | None = None, root: Path = NOTEBOOKS):
        self.screens, self.timeout, self.root = screens, timeout, root
        self.lab = self.browser = self._pw = None

    def __enter__(self) -> "Session":
        from playwright.sync_api import sync_playwright

        if not Path(CHROMIUM).exists():
            raise RuntimeError(f"no Chromium at {CHROMIUM}: install it (Debian: apt-get install -y chromium) "
                               "or set FMLEARN_CHROMIUM to its path")
        self.screens.mkdir(parents=True, exist_ok=True)
        self.lab = Lab(self.root).start()
        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        self.context = self.browser.new_context(viewport=VIEWPORT)
        return self

    def __exit__(self, *exc) -> None:
        for closer in (lambda: self.browser.close(), lambda: self._pw.stop(), lambda: self.lab.stop()):
            try:
                closer()
            except Exception:  # noqa: BLE001 - tear everything down whatever failed first
                pass

    # --- one notebook -------------------------------------------------------------------------------------
    def check(self, name: str, gallery: Path | None = None) -> Report:
        report, start = Report(name), time.monotonic()
        stem, prefix = Path(name).stem, name[:2]
        limit = self.timeout or SLOW.get(prefix, TIMEOUT_S)
        log_start = len(self.lab.log())
        page = self.context.new_page()
        page_errors: list[str] = []
        page.on("pageerror", lambda err: page_errors.append(str(err)))
        try:
            page.goto(f"{self.lab.base}/lab/tree/{name}?reset&token={self.lab.token}")
            page.wait_for_function(_JS_PANEL, timeout=60_000, polling=250)
            kernel_id = page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.id")
            run_start = time.monotonic()
            page.evaluate("() => { window.__fmRunAll = null; window.jupyterapp.commands.execute("
                          "'notebook:run-all-cells').then(r => { window.__fmRunAll = {ok: r}; },"
                          " e => { window.__fmRunAll = {error: String(e)}; }); }")
            if not self._wait_idle(page, kernel_id, limit, run_start, report):
                return report
            report.run_seconds = time.monotonic() - run_start
            self._settle(page)
            cells = page.evaluate(_JS_CELLS)
            self._check_outputs(page, cells, report)
            report.notes.append("slowest cells: " + ", ".join(
                f"{i} ({sec:.1f} s)" for sec, i in _slowest(cells)))
            page.screenshot(path=str(self.screens / f"{stem}.png"))
            report.screens.append(f"{stem}.png")
            self._check_explorers(page, cells, stem, report)
            self._check_animations(page, cells, stem, report)
            self._check_progress(page, report)
            if gallery is not None:
                self._gallery(page, cells, prefix, gallery, report)
            for err in page_errors:
                report.notes.append(f"page error: {err[:300]}")
        except Exception as err:  # noqa: BLE001 - a broken page is a failure of this notebook, not the run
            report.failures.append(f"{type(err).__name__}: {str(err).splitlines()[0][:500]}")
            try:
                page.screenshot(path=str(self.screens / f"{stem}-failure.png"))
            except Exception:  # noqa: BLE001
                pass
        finally:
            kernel_log = self.lab.log()[log_start:]
            tracebacks = [m.start() for m in re.finditer(r"Traceback \(most recent call last\)", kernel_log)]
            if tracebacks:
                report.failures.append("traceback in the kernel's log:\n" + kernel_log[tracebacks[0]:][:2000])
            try:
                self.lab.shutdown_kernels()
            except OSError:
                pass
            page.close()
            report.seconds = time.monotonic() - start
        return report

    def _wait_idle(self, page, kernel_id: str, limit: float, run_start: float, report: Report) -> bool:
        """Until run-all returned, no cell shows [*] and the server says idle twice in a row (0.25 s apart)."""
        idle_polls = 0
        while time.monotonic() - run_start < limit:
            state = page.evaluate(_JS_STATUS)
            server = self.lab.kernel_state(kernel_id)
            if server in ("dead", "gone"):
                report.failures.append(f"the kernel died (execution_state {server!r})")
                return False
            if state["done"] and not state["running"] and server == "idle" and state["status"] == "idle":
                idle_polls += 1
                if idle_polls >= 2:
                    if state["done"].get("error"):
                        report.failures.append(f"Run All failed: {state['done']['error']}")
                    return True
            else:
                idle_polls = 0
            time.sleep(0.25)
        cells = page.evaluate(_JS_CELLS)
        busy = [c for c in cells if "*" in c["prompt"]]
        where = f"cell {busy[0]['index']} ({busy[0]['first'][:80]!r})" if busy else "no cell marked [*]"
        report.failures.append(f"still running after {limit:.0f} s: {where}")
        page.screenshot(path=str(self.screens / f"{Path(report.name).stem}-timeout.png"))
        return False

    @staticmethod
    def _settle(page, quiet: float = 1.0, limit: float = 20.0) -> None:
        """Wait until the outputs stop changing (widgets and plotly render after the kernel is idle)."""
        js = ("() => [document.querySelectorAll('.jp-OutputArea-output').length,"
              " document.querySelectorAll('.widget-image').length,"
              " document.querySelectorAll('.js-plotly-plot .main-svg').length,"
              " document.body.innerText.includes('Loading widget...')].join()")
        last, since, end = None, time.monotonic(), time.monotonic() + limit
        while time.monotonic() < end:
            now = page.evaluate(js)
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet and not now.endswith("true"):
                return
            time.sleep(0.2)

    @staticmethod
    def _check_outputs(page, cells, report: Report) -> None:
        for c in cells:
            if c["type"] != "code":
                continue
            if c["count"] is None and c["source"].strip():
                report.failures.append(f"cell {c['index']} did not run ({c['first'][:80]!r})")
            for out in c["outputs"]:
                if out.get("output_type") == "error":
                    report.failures.append(f"cell {c['index']} ({c['first'][:80]!r}) raised "
                                           f"{out.get('ename')}: {str(out.get('evalue'))[:300]}")
        text = page.evaluate("() => document.querySelector('.jp-Notebook').innerText")
        for marker in _DOM_ERRORS:
            for m in re.finditer(re.escape(marker), text):
                report.failures.append(f"the page shows {text[m.start():m.start() + 200].splitlines()[0]!r}")

    def _check_explorers(self, page, cells, stem: str, report: Report) -> None:
        explorers = page.evaluate(_JS_EXPLORERS)
        report.explorers = len(explorers)
        for ex in explorers:
            img = page.locator(f'img[data-fm-image="{ex["index"]}"]')
            root = page.locator(f'[data-fm-explorer="{ex["index"]}"]')
            where = f"explorer {ex['index']} (cell {ex['cell']})"
            if img.evaluate("i => i.naturalWidth") == 0:
                report.failures.append(f"{where}: its image is empty")
                continue
            root.scroll_into_view_if_needed()
            layout = page.evaluate(_JS_EXPLORER_LAYOUT, [root.element_handle(), img.element_handle()])
            report.notes.append(f"{where}: {layout['height']:.0f} px tall (a 1366x768 window shows "
                                f"{layout['available']:.0f}), image shown at {layout['stretch']:.2f}x its size")
            if layout["height"] > layout["available"]:
                report.failures.append(f"{where}: {layout['height']:.0f} px tall, more than the "
                                       f"{layout['available']:.0f} px a 1366x768 window shows of the notebook")
            if layout["stretch"] > 1.25:
                report.failures.append(f"{where}: its image is stretched {layout['stretch']:.2f}x by the page "
                                       "(drawn smaller than shown: blurry)")
            if layout["cut"]:
                report.failures.append(f"{where}: label(s) cut: {layout['cut']}")
            root.screenshot(path=str(self.screens / f"{stem}-explorer{ex['index']}.png"))
            report.screens.append(f"{stem}-explorer{ex['index']}.png")
            if not ex["controls"]:
                report.failures.append(f"{where}: no control found")
            for control in ex["controls"]:
                before_src, before = img.get_attribute("src"), img.screenshot()
                moved = self._move(page, control)
                if moved is None:
                    report.notes.append(f"{where}: control {control['label']!r} has a single value")
                    continue
                deadline = time.monotonic() + WIDGET_WAIT_S
                while time.monotonic() < deadline and img.get_attribute("src") == before_src:
                    time.sleep(0.1)
                page.wait_for_timeout(150)
                if img.get_attribute("src") == before_src or img.screenshot() == before:
                    report.failures.append(f"{where}: the image did not change when {control['kind']} "
                                           f"{control['label']!r} moved ({moved})")
            root.screenshot(path=str(self.screens / f"{stem}-explorer{ex['index']}-moved.png"))

    @staticmethod
    def _move(page, control) -> str | None:
        """Move one control as a user would; returns what it did, None when there is nothing to move to."""
        box = page.locator(f'[data-fm-control="{control["id"]}"]')
        box.scroll_into_view_if_needed()
        if control["kind"] == "dropdown":
            select = box.locator("select")
            n, i = select.evaluate("s => [s.options.length, s.selectedIndex]")
            if n < 2:
                return None
            j = (i + 1) % n
            select.select_option(index=j)
            return f"option {i} -> {j}"
        handle = box.locator(".noUi-handle")
        now, top = handle.evaluate("h => [Number(h.getAttribute('aria-valuenow')),"
                                   " Number(h.getAttribute('aria-valuemax'))]")
        if handle.evaluate("h => h.getAttribute('aria-valuemin') === h.getAttribute('aria-valuemax')"):
            return None
        handle.focus()
        key = "ArrowLeft" if now >= top else "ArrowRight"
        handle.press(key)
        return f"{key} from {now:g}"

    def _check_animations(self, page, cells, stem: str, report: Report) -> None:
        plots = [p for p in page.evaluate(_JS_ANIMATIONS) if p["sliders"] and p["frames"] > 1]
        report.animations = len(plots)
        for p in plots:
            gd = page.locator(f'[data-fm-animation="{p["index"]}"]')
            where = f"animation {p['index']} (cell {p['cell']}, {p['frames']} frames)"
            gd.scroll_into_view_if_needed()
            before = gd.evaluate(_JS_ANIMATION_STATE)
            overlap = gd.evaluate(_JS_ANIMATION_OVERLAP)
            if overlap > 4:
                report.failures.append(f"{where}: the slider's label hides under the play/pause buttons "
                                       f"({overlap:.0f} px^2 overlap)")
            rail = gd.locator(".slider-rail-rect").first
            bb = rail.bounding_box()
            if bb is None:
                report.failures.append(f"{where}: no slider rail drawn")
                continue
            frac = 0.25 if before["active"] > p["frames"] / 2 else 0.75  # away from the grip
            page.mouse.click(bb["x"] + frac * bb["width"], bb["y"] + bb["height"] / 2)
            deadline, after = time.monotonic() + 10, before
            while time.monotonic() < deadline:
                page.wait_for_timeout(200)
                after = gd.evaluate(_JS_ANIMATION_STATE)
                if after["active"] != before["active"] and after["data"] != before["data"]:
                    break
            if after["active"] == before["active"]:
                report.failures.append(f"{where}: clicking the slider did not move it (step {before['active']})")
            elif after["data"] == before["data"]:
                report.failures.append(f"{where}: the slider moved to step {after['active']} but the data "
                                       "did not change")
            page.wait_for_timeout(600)  # let the transition finish before the colour bars are counted
            after = gd.evaluate(_JS_ANIMATION_STATE)
            if after["colorbars"] < before["colorbars"]:
                report.failures.append(f"{where}: the colour bar disappeared after moving frames "
                                       f"({before['colorbars']} -> {after['colorbars']})")
            page.mouse.move(0, 0)
            gd.locator(".svg-container").first.screenshot(path=str(self.screens / f"{stem}-animation{p['index']}.png"))
            report.screens.append(f"{stem}-animation{p['index']}.png")

    @staticmethod
    def _check_progress(page, report: Report) -> None:
        bars = page.evaluate(_JS_PROGRESS)
        report.progress_bars = len(bars)
        for k, bar in enumerate(bars):
            if not bar["bar"] or bar["width"] <= 0:
                report.failures.append(f"progress bar {k} does not render ({bar})")

    def _gallery(self, page, cells, prefix: str, folder: Path, report: Report) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for nb, needle, kind, filename, width in GALLERY_SHOTS:
            if nb != prefix:
                continue
            hit = [c["index"] for c in cells if needle in c["source"]]
            if not hit:
                report.failures.append(f"gallery {filename}: no cell contains {needle!r}")
                continue
            cell = page.locator(".jp-Notebook .jp-Cell").nth(hit[0])
            outputs = cell.locator(".jp-OutputArea-output")
            pictures = cell.locator(".jp-OutputArea-output:has(img), .jp-OutputArea-output:has(table)")
            target = {"output": (pictures if pictures.count() else outputs).first,
                      "explorer": cell.locator("[data-fm-explorer]").first,
                      "animation": cell.locator(".js-plotly-plot .svg-container").first}[kind]
            target.scroll_into_view_if_needed()
            page.mouse.move(0, 0)  # no hover: plotly's mode bar hides
            page.wait_for_timeout(300)
            path = folder / filename
            target.screenshot(path=str(path))
            shrink_png(path, width)
            report.notes.append(f"gallery: {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KB)")


def _slowest(cells, n: int = 3) -> list[tuple[float, int]]:
    """The ``n`` longest (seconds, cell index) from the timings JupyterLab records in each cell's metadata."""
    from datetime import datetime

    times = []
    for c in cells:
        t = c.get("timing") or {}
        try:
            start = datetime.fromisoformat(t["iopub.execute_input"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(t["shell.execute_reply"].replace("Z", "+00:00"))
        except (KeyError, TypeError, ValueError):
            continue
        times.append(((end - start).total_seconds(), c["index"]))
    return sorted(times, reverse=True)[:n]


def shrink_png(path: Path, width: int) -> None:
    """Trimmed of empty margins, at most ``width`` px wide, 128 colours: small enough to commit (< 150 KB)."""
    from PIL import Image

    from PIL import ImageChops

    img = Image.open(path).convert("RGB")
    ink = ImageChops.difference(img, Image.new("RGB", img.size, img.getpixel((0, 0)))).getbbox()
    if ink:  # trim the page's empty margins (an output area is as wide as the notebook), keep 8 px
        left, top, right, bottom = ink
        img = img.crop((max(left - 8, 0), max(top - 8, 0), min(right + 8, img.width), min(bottom + 8, img.height)))
    if img.width > width:
        img = img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)
    img.quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="name prefixes, e.g. 01 03 (default: every notebook)")
    parser.add_argument("--gallery", action="store_true", help=f"also refresh {GALLERY.relative_to(ROOT)}")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per notebook (default: "
                        f"{TIMEOUT_S}, {SLOW} for the slow ones)")
    args = parser.parse_args(argv)
    names = notebook_names(args.notebooks)
    if not names:
        say(f"no notebook in {NOTEBOOKS} matches {args.notebooks}")
        return 2
    if args.gallery:
        wanted = {g[0] for g in GALLERY_SHOTS}
        missing = sorted(wanted - {n[:2] for n in names})
        if missing and args.notebooks:
            say(f"--gallery: notebooks {missing} are not in this run, their pictures are kept as they are")
    start, reports = time.monotonic(), []
    with Session(timeout=args.timeout) as session:
        say(f"JupyterLab at {session.lab.base} (root {NOTEBOOKS}, FMLEARN_QUICK=1), Chromium {CHROMIUM}; "
            f"started in {time.monotonic() - start:.1f} s")
        for name in names:
            report = session.check(name, gallery=GALLERY if args.gallery else None)
            reports.append(report)
            print(report.describe(), flush=True)
    total = time.monotonic() - start
    failed = [r.name for r in reports if r.failures]
    say(f"{len(reports) - len(failed)}/{len(reports)} notebooks passed in {total:.0f} s in all; "
        f"screenshots in {SCREENS.relative_to(ROOT)}/" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
