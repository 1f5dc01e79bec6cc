"""The website's pieces that need no browser: how outputs are drawn (fmlearn.teaching.site) and how the sources
are gathered (tools/build_site.py). The built site itself is checked in Chromium by tests/test_site.py."""
import json
import sys
from importlib.metadata import entry_points
from pathlib import Path

import nbformat
import pytest

from fmlearn.teaching import course, site

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import build_site  # noqa: E402  (tools/ is not a package)


def _tqdm_state(value=5000, top=5000, style="success", left="train fm", right="5000/5000 [00:10&lt;00:00]"):
    """Widget state shaped as tqdm.notebook stores it: an HBox of HTML, FloatProgress, HTML."""
    return {
        "box": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_l", "IPY_MODEL_p", "IPY_MODEL_r"]}},
        "l": {"model_name": "HTMLModel", "state": {"value": left}},
        "p": {"model_name": "FloatProgressModel", "state": {"value": value, "max": top, "bar_style": style}},
        "r": {"model_name": "HTMLModel", "state": {"value": right}},
    }


def test_the_plugin_is_registered_for_myst_nb():
    eps = entry_points(group="myst_nb.mime_renderers")
    assert [ep.value for ep in eps if ep.name == "fmlearn"] == ["fmlearn.teaching.site:MimeRenderer"]


def test_a_plotly_animation_becomes_a_div_for_the_sites_own_plotly():
    import numpy as np

    from fmlearn.teaching import animation

    fig = animation.animate_path(np.random.default_rng(0).normal(size=(50, 2)), n_frames=4)
    for given in (fig.to_plotly_json(), fig.to_json()):
        markup = site.plotly_html(given)
        assert 'class="plotly-graph-div"' in markup and "Plotly.newPlot" in markup
        assert "Plotly.addFrames" in markup or '"frames"' in markup  # the animation's frames travel with it
        assert "<script src" not in markup and "require(" not in markup  # no CDN, no require.js


@pytest.mark.parametrize("bad", [[1, 2], {"layout": {}}, "[]", 3])
def test_plotly_html_refuses_what_is_not_a_figure(bad):
    with pytest.raises((ValueError, TypeError), match="plotly figure|JSON"):
        site.plotly_html(bad)


def test_a_tqdm_bar_is_drawn_from_its_final_state():
    assert 'fmlearn-widget-progress' in site.widget_html({"model_id": "box"}, _tqdm_state())
    markup = site.progress_html("box", _tqdm_state())
    assert '<progress value="5000" max="5000">' in markup and "fmlearn-progress-success" in markup
    assert "train fm" in markup and "5000/5000 [00:10&lt;00:00]" in markup  # tqdm's own escaping is kept
    half = site.progress_html("box", _tqdm_state(value=250, top=1000, style=""))
    assert '<progress value="250" max="1000">' in half and "success" not in half


PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def _image_model(data=PNG, layout=None):
    return {"model_name": "ImageModel", "state": {"format": "png", "layout": layout},
            "buffers": [{"path": ["value"], "encoding": "base64", "data": data}]}


def test_a_live_training_picture_is_drawn_as_it_ended():
    html = site.widget_html({"model_id": "img"}, {"img": _image_model()})
    assert html.startswith('<div class="fmlearn-widget fmlearn-widget-image">')
    assert f'src="data:image/png;base64,{PNG}"' in html and "explorer" not in html and "style" not in html
    sized = {"img": _image_model(layout="IPY_MODEL_lay"), "lay": {"model_name": "LayoutModel",
                                                                   "state": {"width": "560px"}}}
    assert 'style="width: 560px"' in site.widget_html({"model_id": "img"}, sized)  # as wide as in JupyterLab
    sized["lay"]["state"]["width"] = "50%; background: url(x)"  # only a plain pixel width is copied
    assert "style" not in site.widget_html({"model_id": "img"}, sized)


def test_an_explorer_becomes_a_note_with_its_picture():
    state = {"ex": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_row", "IPY_MODEL_img"]}},
             "row": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_s"]}},
             "s": {"model_name": "FloatSliderModel", "state": {"value": 0.5}},
             "img": _image_model()}
    html = site.widget_html({"model_id": "ex", "version_major": 2}, state)
    assert 'fmlearn-widget-explorer' in html and "Colab" in html and "Binder" in html
    assert site.PICTURE_NOTE in html and PNG in html
    assert site.progress_html("ex", state) is None
    state["img"] = _image_model(data="")  # no picture stored: the note alone, without promising one
    bare = site.widget_html({"model_id": "ex"}, state)
    assert site.PICTURE_NOTE not in bare and "<img" not in bare and "Colab" in bare


@pytest.mark.parametrize("view, state", [({"model_id": "absent"}, {}), (json.dumps({"model_id": "x"}), {}),
                                         ({}, {}), ({"model_id": 3}, {"3": {}})])
def test_a_widget_without_stored_state_still_becomes_a_note(view, state):
    html = site.widget_html(view, state)
    assert "fmlearn-widget-explorer" in html and "<img" not in html


def test_a_cycle_in_the_state_does_not_hang():
    state = {"a": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_a"]}}}
    assert "fmlearn-widget-explorer" in site.widget_html({"model_id": "a"}, state)


def test_widget_state_reads_what_nbclient_stores():
    meta = {"widgets": {site.WIDGET_STATE_MIME: {"state": _tqdm_state(), "version_major": 2}}}
    assert set(site.widget_state(meta)) == {"box", "l", "p", "r"}
    assert site.widget_state({}) == {} and site.widget_state({"widgets": {}}) == {}


def test_the_plugin_hands_every_other_mime_type_back_to_myst_nb():
    class Data:
        def __init__(self, mime, content):
            self.mime_type, self.content = mime, content

    class Renderer:
        class renderer:  # noqa: N801 - mimics MyST-NB's renderer.renderer.nb_client.nb_metadata
            class nb_client:  # noqa: N801
                nb_metadata = {"widgets": {site.WIDGET_STATE_MIME: {"state": _tqdm_state()}}}

    assert site.MimeRenderer.handle_mime(Renderer, Data("image/png", b""), False) is None
    [bar] = site.MimeRenderer.handle_mime(Renderer, Data(site.WIDGET_VIEW_MIME, {"model_id": "box"}), False)
    assert "fmlearn-widget-progress" in bar.astext()
    [plot] = site.MimeRenderer.handle_mime(Renderer, Data(site.PLOTLY_MIME, {"data": [], "layout": {}}), False)
    assert "plotly-graph-div" in plot.astext()
    assert ("html", site.PLOTLY_MIME, 5) in site.MimeRenderer.mime_priority_overrides


def test_badges_point_at_the_sites_own_images():
    colab, binder = course.badges(course.notebook("03"))
    text = build_site.local_badges(colab + " " + binder, depth=1)
    assert build_site.COLAB_BADGE not in text and build_site.BINDER_BADGE not in text
    assert "../_static/colab-badge.svg" in text and "../_static/binder-badge.svg" in text
    assert course.colab_url(course.notebook("03")) in text  # the links themselves are unchanged
    for name in ("colab-badge.svg", "binder-badge.svg", "favicon.svg", "fmlearn.css"):
        assert (build_site.CONF / "_static" / name).is_file()


def test_the_index_page_lists_every_notebook_in_order():
    page = build_site.index_page(quick=False)
    toc = page.split(":caption: The course", 1)[1].split("```", 1)[0].split()
    assert toc == [nb.path for nb in course.NOTEBOOKS]
    for nb in course.NOTEBOOKS:
        assert f"]({nb.path})" in page and course.binder_url(nb) in page
    assert build_site.COLAB_BADGE not in page and "docs/gallery/" in page and "docs/INSTRUCTORS" in page
    assert "quick-mode build" in build_site.index_page(quick=True)
    assert build_site.index_page(False, only=["01"]).count("](notebooks/") == 1


def test_readme_section_finds_the_gallery_and_says_what_is_missing():
    readme = (ROOT / "README.md").read_text()
    assert "docs/gallery/" in build_site.readme_section("Gallery", readme)
    with pytest.raises(ValueError, match="no '## Nowhere' section"):
        build_site.readme_section("Nowhere", readme)


def test_the_execution_cache_follows_the_package(tmp_path, monkeypatch):
    for rel, text in {"fmlearn/a.py": "x = 1", "fmlearn/teaching/site.py": "y = 1", "notebooks/n.ipynb": "{}"}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    first = build_site.package_digest(tmp_path)
    (tmp_path / "fmlearn/teaching/site.py").write_text("y = 2")  # draws pages, computes nothing: same cache
    assert build_site.package_digest(tmp_path) == first
    (tmp_path / "fmlearn/a.py").write_text("x = 2")
    assert build_site.package_digest(tmp_path) != first
    monkeypatch.delenv("FMLEARN_SITE_CACHE", raising=False)
    monkeypatch.setattr(build_site, "CACHE_HOME", tmp_path / "cache")
    old = tmp_path / "cache" / "full-0000"
    old.mkdir(parents=True)
    (tmp_path / "cache" / "quick-0000").mkdir()
    here = build_site.cache_dir(quick=False)
    assert here.name.startswith("full-") and not old.exists() and (tmp_path / "cache" / "quick-0000").exists()
    monkeypatch.setenv("FMLEARN_SITE_CACHE", str(tmp_path / "mine"))
    assert build_site.cache_dir(quick=True) == tmp_path / "mine"


def test_output_counts_sees_figures_widgets_and_errors():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={site.PLOTLY_MIME: {"data": [], "frames": [{}, {}]}}),
        nbformat.v4.new_output("display_data", data={site.PLOTLY_MIME: {"data": []}}),
        nbformat.v4.new_output("display_data", data={site.WIDGET_VIEW_MIME: {"model_id": "a"}, "text/plain": "w"}),
        nbformat.v4.new_output("display_data", data={"image/png": "iVBOR"}),
        nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="", traceback=[]),
    ]
    nb.cells = [cell, nbformat.v4.new_markdown_cell("# t")]
    assert build_site.output_counts(nb) == {"plotly": 2, "animations": 1, "widgets": 1, "errors": 1, "images": 1}


def test_gather_lays_the_sources_out_like_the_repository(tmp_path):
    copies = build_site.gather(quick=True, src=tmp_path, only=["01", "03"])
    assert [c.relative_to(tmp_path).as_posix() for c in copies] == [course.notebook(n).path for n in ("01", "03")]
    for rel in ("conf.py", "index.md", "_static/plotly.min.js", "docs/INSTRUCTORS.md", "docs/gallery/race.png"):
        assert (tmp_path / rel).is_file(), rel
    nb = json.loads(copies[0].read_text())
    setup = [c for c in nb["cells"] if "".join(c["source"]).startswith("# Setup")]
    assert setup and setup[0]["metadata"]["tags"] == ["hide-input"]
    assert build_site.COLAB_BADGE not in copies[0].read_text()
    stamp = copies[0].stat().st_mtime_ns
    build_site.gather(quick=True, src=tmp_path, only=["01"])  # unchanged files keep their time; dropped ones go
    assert copies[0].stat().st_mtime_ns == stamp and not copies[1].exists()


def test_a_missing_site_package_is_named_with_the_install_command(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "myst_nb" else real(name, *a))
    with pytest.raises(RuntimeError, match=r"needs myst_nb: pip install -e \"\.\[site\]\""):
        build_site.build(quick=True)
