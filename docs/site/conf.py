"""Sphinx configuration of the course's website (Sphinx + MyST-NB + Jupyter Book's theme).

Do not run Sphinx on this folder by hand: ``python course.py site`` (tools/build_site.py) gathers the pages into
``_build/site-src/`` (this file, ``_static/``, the notebooks, the instructors' page, the gallery and an index page
made from fmlearn.teaching.course), sets the environment below and builds ``_build/site/``.

Environment (set by tools/build_site.py):
    FMLEARN_SITE_CACHE   jupyter-cache folder with the executed notebooks (outside git, e.g. ~/.cache/fmlearn/site/...)
    FMLEARN_QUICK        "1" for a quick-mode site (CI); unset for the published, full-mode one
"""
import os

from fmlearn.teaching.address import BRANCH, REPOSITORY

project = "fmlearn"
author = "the fmlearn authors"
html_title = "fmlearn: flow matching and diffusion, interactively"
quick = os.environ.get("FMLEARN_QUICK", "") not in ("", "0")

# githubpages: writes .nojekyll, so that GitHub Pages serves the _static/ folder (Jekyll would hide it)
extensions = ["myst_nb", "sphinx-mathjax-offline", "sphinx.ext.githubpages"]
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]

# --- notebooks: executed once per package version, cached by jupyter-cache outside git
nb_execution_mode = "cache"
nb_execution_cache_path = os.environ.get("FMLEARN_SITE_CACHE", os.path.expanduser("~/.cache/fmlearn/site/default"))
nb_execution_timeout = 1800           # a cell may train a model for minutes in full mode
nb_execution_raise_on_error = True    # an error in any cell fails the build
nb_execution_show_tb = True
nb_merge_streams = True
nb_ipywidgets_js = {}                 # no widget JS from a CDN: fmlearn.teaching.site draws bars and explorer notes
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

# --- look: Jupyter Book's theme; launch buttons from the one public address (pyproject.toml)
html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_css_files = ["fmlearn.css"]
html_favicon = "_static/favicon.svg"  # a page that names no icon makes the browser ask for /favicon.ico
html_js_files = ["plotly.min.js"]     # copied from the plotly package by tools/build_site.py: no CDN
mathjax_path = "mathjax/tex-chtml.js"  # sphinx-mathjax-offline's MathJax 3, served by the site
html_baseurl = f"https://{REPOSITORY.split('/')[0]}.github.io/{REPOSITORY.split('/')[1]}/"
html_theme_options = {
    "repository_url": f"https://github.com/{REPOSITORY}",
    "repository_branch": BRANCH,
    "path_to_docs": "",               # the site's sources mirror the repository: notebooks/NN_name.ipynb
    "use_repository_button": True,
    "launch_buttons": {"colab_url": "https://colab.research.google.com", "binderhub_url": "https://mybinder.org",
                       "notebook_interface": "jupyterlab"},
    "show_toc_level": 2,
    "announcement": "Quick-mode build (short budgets): the published site is built in full mode."
                    if quick else "",
}
html_context = {"default_mode": "light"}  # the theme's light/dark switch starts light (and says nothing)
html_last_updated_fmt = ""
html_show_sourcelink = False


def _drop_widget_state(app, pagename, templatename, context, doctree):
    """MyST-NB embeds each notebook's stored widget state for ipywidgets' own JavaScript, which this site does
    not load (fmlearn.teaching.site already drew every widget from it): leave it out of the page."""
    scripts = context.get("script_files")
    if scripts:
        context["script_files"] = [s for s in scripts if getattr(s, "attributes", {}).get("type")
                                   != "application/vnd.jupyter.widget-state+json"]


def setup(app):
    app.connect("html-page-context", _drop_widget_state, priority=900)  # after MyST-NB's own (500)
