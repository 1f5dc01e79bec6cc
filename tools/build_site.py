#!/usr/bin/env python3
"""Build the course's website: every notebook executed (full mode) and rendered as a page, with Sphinx + MyST-NB.

    python course.py site            the published site, full budgets -> _build/site/index.html
    python course.py site --quick    quick budgets (what CI builds: minutes instead of ten)
    python course.py site --check    build, then open every page in headless Chromium (tools/site_check.py)

What happens:

1. the sources are gathered into ``_build/site-src/``, laid out like the repository so that every relative link
   keeps working: ``conf.py`` and ``_static/`` from ``docs/site/``, ``notebooks/*.ipynb``, ``docs/INSTRUCTORS.md``,
   ``docs/gallery/``, plotly.js from the plotly package, and an ``index.md`` made from the README's opening
   and gallery and from :data:`fmlearn.teaching.course.NOTEBOOKS` (a file is rewritten only when it changed);
2. in the notebooks' copies, the Colab and Binder badge images point at the site's own copies
   (``_static/*-badge.svg``): a page loads nothing from another host; the setup cell (install, seed, quick
   mode) is folded (MyST-NB's ``hide-input`` tag);
3. Sphinx builds ``_build/site/``. MyST-NB executes each notebook through jupyter-cache, in a cache outside git:
   ``$FMLEARN_SITE_CACHE`` or ``~/.cache/fmlearn/site/<mode>-<digest>``, where the digest covers the package's
   code, checkpoints and results (a change to any re-executes the notebooks; older caches of the mode are
   deleted). Sphinx reads every page again each time (``-E``, from the cache: about 10 s), so a change in how
   pages are drawn (fmlearn/teaching/site.py, docs/site/) always shows.

Needs the ``site`` extras (``pip install -e ".[site]"``; ``python course.py setup`` installs them).
"""
from __future__ import annotations

import argparse
import filecmp
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from fmlearn.teaching import course  # noqa: E402

SRC = ROOT / "_build" / "site-src"
OUT = ROOT / "_build" / "site"
DOCTREES = ROOT / "_build" / "site-doctrees"
CONF = ROOT / "docs" / "site"
CACHE_HOME = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fmlearn" / "site"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
#: files of the package that do not change what a notebook computes (only how the site draws it)
NOT_EXECUTED = {"fmlearn/teaching/site.py"}


def say(message: str) -> None:
    print(f"[site] {message}", flush=True)


def package_digest(root: Path = ROOT) -> str:
    """sha256 over the package's files (code, checkpoints, results, assets) and the notebooks' sources."""
    h = hashlib.sha256()
    files = sorted(p for p in (root / "fmlearn").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in files + sorted((root / "notebooks").glob("*.ipynb")):
        rel = path.relative_to(root).as_posix()
        if rel in NOT_EXECUTED:
            continue
        h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def cache_dir(quick: bool) -> Path:
    """The jupyter-cache folder for this mode and package digest; older ones of the same mode are deleted."""
    if os.environ.get("FMLEARN_SITE_CACHE"):
        return Path(os.environ["FMLEARN_SITE_CACHE"])
    mode = "quick" if quick else "full"
    here = CACHE_HOME / f"{mode}-{package_digest()[:16]}"
    if CACHE_HOME.is_dir():
        for old in CACHE_HOME.glob(f"{mode}-*"):
            if old != here and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
    return here


def _put(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` unless it already holds exactly that (keeps its time stamp)."""
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _copy(src: Path, dst: Path) -> None:
    if dst.is_file() and filecmp.cmp(src, dst, shallow=False):
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def local_badges(text: str, depth: int) -> str:
    """The Colab and Binder badge images pointed at the site's copies (``depth`` folders below the root)."""
    up = "../" * depth
    return text.replace(COLAB_BADGE, f"{up}_static/colab-badge.svg").replace(BINDER_BADGE,
                                                                            f"{up}_static/binder-badge.svg")


def readme_section(title: str, readme: str) -> str:
    """The text of the README's ``## title`` section, without its heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", readme, flags=re.S | re.M)
    if not match:
        raise ValueError(f"README.md has no '## {title}' section.")
    return match.group(1).strip()


def _chosen(only: list[str] | None) -> list[course.Notebook]:
    return [course.notebook(n) for n in only] if only else list(course.NOTEBOOKS)


def index_page(quick: bool, only: list[str] | None = None) -> str:
    """The site's front page (MyST Markdown): the README's opening, the course table, the gallery, the toctree."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    opening = readme.split("\n## ", 1)[0].split("\n", 1)[1].strip()
    mode = "quick" if quick else "full"
    rows = ["| notebook | what it teaches | CPU minutes (full) | open it |", "| --- | --- | --- | --- |"]
    for nb in _chosen(only):
        colab, binder = course.badges(nb)
        rows.append(f"| [{nb.number} {nb.title}]({nb.path}) | {nb.teaches} | "
                    f"{course.minutes(nb.full_s, nb.runs)} | {colab} {binder} |")
    toc = "\n".join(f"{nb.path}" for nb in _chosen(only))
    return local_badges("\n".join([
        "# fmlearn: flow matching and diffusion, interactively", "",
        opening, "",
        "Each page below is a notebook of the course, executed "
        + ("with quick budgets (this is a quick-mode build)." if quick else "in full mode on a CPU.")
        + " Plots and animations are live; an interactive explorer needs Python, so each page says where one "
          "is and shows its static twin: open the notebook in Colab or Binder (the badges) to move its "
          "controls, or run the course yourself with `python course.py lab`.", "",
        "## The course", "", *rows, "",
        "## Gallery", "", readme_section("Gallery", readme), "",
        "## For instructors", "",
        "Goals, runtimes, a 90-minute path and every exercise: [the instructors' page](docs/INSTRUCTORS.md).", "",
        f"<!-- built in {mode} mode by tools/build_site.py -->", "",
        "```{toctree}", ":hidden:", ":caption: The course", "", toc, "```", "",
        "```{toctree}", ":hidden:", ":caption: Teaching", "", "docs/INSTRUCTORS", "```", "",
    ]), depth=0)


def gather(quick: bool, src: Path = SRC, only: list[str] | None = None) -> list[Path]:
    """Lay the site's sources out in ``src`` (see the module docstring); returns the notebooks' copies."""
    import plotly

    for path in CONF.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            _copy(path, src / path.relative_to(CONF))
    _copy(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", src / "_static" / "plotly.min.js")
    _put(src / "index.md", index_page(quick, only).encode())
    instructors = (ROOT / "docs" / "INSTRUCTORS.md").read_text(encoding="utf-8")
    _put(src / "docs" / "INSTRUCTORS.md", local_badges(instructors, 1).encode())
    for png in sorted((ROOT / "docs" / "gallery").glob("*.png")):
        _copy(png, src / "docs" / "gallery" / png.name)
    copies = []
    for nb in _chosen(only):
        notebook = json.loads((ROOT / nb.path).read_text(encoding="utf-8"))
        for cell in notebook["cells"]:
            if cell["cell_type"] == "markdown":
                cell["source"] = local_badges("".join(cell["source"]), 1)
            elif "".join(cell["source"]).startswith("# Setup"):  # the install/seed cell: folded on the page
                cell.setdefault("metadata", {})["tags"] = ["hide-input"]
        _put(src / nb.path, (json.dumps(notebook, indent=1, ensure_ascii=False) + "\n").encode())
        copies.append(src / nb.path)
    wanted = set(copies)
    for stale in (src / "notebooks").glob("*.ipynb"):
        if stale not in wanted:
            stale.unlink()
    return copies


def output_counts(notebook) -> dict[str, int]:
    """What an executed notebook's outputs hold: plotly figures (and how many animate), widgets, errors, images."""
    from fmlearn.teaching.site import PLOTLY_MIME, WIDGET_VIEW_MIME

    counts = {"plotly": 0, "animations": 0, "widgets": 0, "errors": 0, "images": 0}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            counts["errors"] += output.get("output_type") == "error"
            counts["images"] += "image/png" in data
            counts["widgets"] += WIDGET_VIEW_MIME in data
            if PLOTLY_MIME in data:
                counts["plotly"] += 1
                counts["animations"] += len(data[PLOTLY_MIME].get("frames") or []) > 1
    return counts


def write_manifest(cache: Path, copies: list[Path], src: Path, out: Path, quick: bool) -> dict:
    """``out/_outputs.json``: per page, what its executed notebook holds (tools/site_check.py compares the page).

    Each notebook is looked up in the cache by its content, as MyST-NB does (a cache filled from another clone
    serves this one too)."""
    import nbformat
    from jupyter_cache import get_cache

    store, pages = get_cache(str(cache)), {}
    for path in copies:
        try:
            record = store.match_cache_notebook(nbformat.read(path, as_version=4))
        except KeyError:  # not executed: Sphinx failed before it, or the cache was cleared meanwhile
            continue
        executed = store.get_cache_bundle(record.pk).nb
        pages[path.relative_to(src).with_suffix(".html").as_posix()] = output_counts(executed)
    manifest = {"mode": "quick" if quick else "full", "cache": str(cache), "pages": pages}
    (out / "_outputs.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def build(quick: bool, out: Path = OUT, src: Path = SRC, only: list[str] | None = None) -> float:
    """Gather the sources and run Sphinx; returns the seconds it took. Raises RuntimeError when Sphinx fails.

    ``only``: notebook numbers (e.g. ``["01", "03"]``) to build alone, for a quick look while writing one.
    """
    import importlib.util

    missing = [m for m in ("sphinx", "myst_nb", "sphinx_book_theme", "jupyter_cache")
               if importlib.util.find_spec(m) is None]
    if missing:
        raise RuntimeError(f"the site needs {', '.join(missing)}: pip install -e \".[site]\" "
                           "(python course.py setup installs them).")
    start = time.monotonic()
    copies = gather(quick, src, only)
    cache = cache_dir(quick)
    env = {**os.environ, "FMLEARN_SITE_CACHE": str(cache)}
    env.pop("MPLBACKEND", None)  # the kernels draw inline, as in JupyterLab (CI's Agg would hide the figures)
    shared_data = ROOT.parent / "shared" / "data"
    if "FMLEARN_DATA" not in env and (shared_data / "mnist").is_dir():
        env["FMLEARN_DATA"] = str(shared_data)  # as .ci/run does: MNIST for machines without internet
    if quick:
        env["FMLEARN_QUICK"] = "1"
    else:
        env.pop("FMLEARN_QUICK", None)
    say(f"{'quick' if quick else 'full'} mode; executed notebooks cached in {cache}")
    # -E: read every page again (from the cache: seconds), so that a change in how pages are drawn always shows
    cmd = [sys.executable, "-m", "sphinx", "-E", "-b", "html", "-q", "-d", str(DOCTREES), str(src), str(out)]
    result = subprocess.run(cmd, cwd=ROOT, env=env)
    if result.returncode:
        raise RuntimeError(f"Sphinx failed (exit {result.returncode}); its messages are above. Rerun to retry: "
                           "notebooks that did execute stay cached.")
    write_manifest(cache, copies, src, out, quick)
    seconds = time.monotonic() - start
    say(f"built {out / 'index.html'} in {seconds:.0f} s")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="quick budgets (as CI), instead of full mode")
    parser.add_argument("--check", action="store_true", help="then open every page in headless Chromium")
    parser.add_argument("--only", metavar="NN,NN", help="only these notebooks (e.g. 01,03), for a quick look")
    args = parser.parse_args(argv)
    try:
        build(args.quick, only=args.only.split(",") if args.only else None)
    except RuntimeError as err:
        say(str(err))
        return 1
    if args.check:
        import site_check

        return site_check.main([str(OUT)])
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
