r"""How the notebooks' outputs look on the course's website (``python course.py site``, tools/build_site.py).

The site is Sphinx + MyST-NB: every notebook executed in full mode, one page each. MyST-NB draws images,
text and HTML itself; two kinds of output need more, and this module gives them a MyST-NB mime-render plugin
(:class:`MimeRenderer`, registered in ``pyproject.toml`` under the entry-point group
``myst_nb.mime_renderers``, so it is active only when MyST-NB builds a page):

* **plotly figures** (``application/vnd.plotly.v1+json``, what plotly sends to JupyterLab): a ``<div>`` that
  the site's own copy of plotly.js draws (:func:`plotly_html`; no CDN, so the site also works offline), with
  the animation's slider and play button live;
* **ipywidgets** (``application/vnd.jupyter.widget-view+json``), drawn from the widget state the executed
  notebook stores (:func:`widget_html`): a tqdm progress bar as it ended, a live-training view as its last
  picture; an explorer needs a live Python kernel, so it becomes a note that points at Colab and Binder
  (:data:`EXPLORER_NOTE`) above the explorer's picture as the notebook left it -- each explorer's static twin
  follows it in the notebook.

Standard library and plotly only; docutils is imported by :meth:`MimeRenderer.handle_mime`, which only MyST-NB
calls.
"""
from __future__ import annotations

import json
from typing import Any, ClassVar

__all__ = ["PLOTLY_MIME", "WIDGET_VIEW_MIME", "WIDGET_STATE_MIME", "EXPLORER_NOTE", "PICTURE_NOTE", "plotly_html",
           "widget_state", "progress_html", "widget_html", "MimeRenderer"]

PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"

#: what an explorer (or any widget other than a progress bar or a live-training picture) says on the website
EXPLORER_NOTE = ('<p><b>An interactive widget is here in the notebook.</b> Its controls run Python, so they '
                 'need a live kernel: open this notebook in Colab or Binder (the badges at the top of the page) '
                 'to use it; the figure after it is its static twin, drawn without a kernel.{picture}</p>')
PICTURE_NOTE = " Below, the widget's picture as the executed notebook left it."


def plotly_html(figure: dict | str) -> str:
    """A plotly figure (its JSON as a dict or a string) as an HTML ``<div>`` for a page that loads plotly.js.

    The figure's own layout (size, slider, play button) is kept; ``Plotly`` must be a global on the page.
    """
    import plotly.io as pio

    fig = json.loads(figure) if isinstance(figure, (str, bytes)) else figure
    if not isinstance(fig, dict) or "data" not in fig:
        raise ValueError("a plotly figure is a JSON object with a 'data' list; got "
                         f"{type(fig).__name__}{'' if not isinstance(fig, dict) else ' with keys ' + str(list(fig))}.")
    return pio.to_html(fig, include_plotlyjs=False, full_html=False, validate=False, auto_play=False)


def widget_state(notebook_metadata: dict) -> dict[str, dict]:
    """model id -> ``{"model_name": ..., "state": {...}}``: the widget state an executed notebook stores.

    nbclient writes it into ``metadata.widgets["application/vnd.jupyter.widget-state+json"].state``; an
    empty dict when the notebook has none.
    """
    widgets = (notebook_metadata or {}).get("widgets") or {}
    return dict((widgets.get(WIDGET_STATE_MIME) or {}).get("state") or {})


def _model(state: dict[str, dict], ref: Any) -> dict | None:
    model_id = ref[len("IPY_MODEL_"):] if isinstance(ref, str) and ref.startswith("IPY_MODEL_") else ref
    return state.get(model_id) if isinstance(model_id, str) else None


def progress_html(model_id: str, state: dict[str, dict]) -> str | None:
    """A tqdm bar's final state as static HTML, or None when ``model_id`` is not a tqdm bar.

    tqdm's notebook bar is an ``HBox`` of three children: an ``HTML`` (the description), a ``FloatProgress``
    (value out of max) and an ``HTML`` (e.g. ``5000/5000 [00:10<00:00, 480it/s, loss=0.12]``).
    """
    box = state.get(model_id)
    if not box or box.get("model_name") != "HBoxModel":
        return None
    children = [_model(state, ref) for ref in box.get("state", {}).get("children", [])]
    names = [c.get("model_name") if c else None for c in children]
    if names != ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
        return None
    left, bar, right = (c.get("state", {}) for c in children)
    value, top = float(bar.get("value", 0.0) or 0.0), float(bar.get("max", 1.0) or 1.0)
    style = {"success": "fmlearn-progress-success", "danger": "fmlearn-progress-danger"}.get(bar.get("bar_style"), "")
    # the two HTML children hold tqdm's text, already escaped by tqdm (e.g. "&lt;" in its time estimate)
    return (f'<div class="fmlearn-progress {style}">'
            f'<span class="fmlearn-progress-left">{left.get("value", "")}</span>'
            f'<progress value="{value:g}" max="{top:g}"></progress>'
            f'<span class="fmlearn-progress-right">{right.get("value", "")}</span></div>')


def _image(model: dict | None, state: dict[str, dict]) -> str | None:
    """An ``Image`` widget's picture as an ``<img>``: its value is a base64 buffer in the stored state, and it is
    shown as wide as the widget's layout says (explorers draw ``PIXEL_RATIO`` times as many pixels)."""
    if not model or model.get("model_name") != "ImageModel":
        return None
    for buffer in model.get("buffers") or []:
        if buffer.get("path") == ["value"] and buffer.get("encoding") == "base64" and buffer.get("data"):
            fmt = model.get("state", {}).get("format") or "png"
            layout = _model(state, model.get("state", {}).get("layout")) or {}
            width = str(layout.get("state", {}).get("width") or "")
            style = f' style="width: {width}"' if width.endswith("px") and width[:-2].replace(".", "").isdigit() else ""
            return (f'<img class="fmlearn-widget-picture" alt="the widget\'s picture"{style} '
                    f'src="data:image/{fmt};base64,{buffer["data"]}"/>')
    return None


def _first_image(model: dict | None, state: dict[str, dict], depth: int = 0) -> str | None:
    """The first picture among a widget and its descendants (depth first, as the page shows them)."""
    if not model or depth > 8:
        return None
    found = _image(model, state)
    for ref in ([] if found else model.get("state", {}).get("children", []) or []):
        found = _first_image(_model(state, ref), state, depth + 1)
        if found:
            break
    return found


def widget_html(view: dict | str, state: dict[str, dict]) -> str:
    """A widget output (its ``widget-view+json`` data) as static HTML, in a ``div.fmlearn-widget``:

    * a tqdm bar -> the bar as it ended (``fmlearn-widget-progress``);
    * a bare ``Image`` (the live-training view of :mod:`fmlearn.teaching.live`) -> its last picture
      (``fmlearn-widget-image``);
    * anything else, an explorer -> :data:`EXPLORER_NOTE`, with its picture when it has one
      (``fmlearn-widget-explorer``).
    """
    if isinstance(view, (str, bytes)):
        view = json.loads(view)
    model_id = view.get("model_id") if isinstance(view, dict) else None
    model_id = model_id if isinstance(model_id, str) else ""
    bar = progress_html(model_id, state)
    if bar is not None:
        return f'<div class="fmlearn-widget fmlearn-widget-progress">{bar}</div>'
    model = state.get(model_id)
    picture = _image(model, state)
    if picture is not None:
        return f'<div class="fmlearn-widget fmlearn-widget-image">{picture}</div>'
    picture = _first_image(model, state)
    note = EXPLORER_NOTE.format(picture=PICTURE_NOTE if picture else "")
    return f'<div class="fmlearn-widget fmlearn-widget-explorer">{note}{picture or ""}</div>'


class MimeRenderer:
    """The MyST-NB mime-render plugin (a ``myst_nb.core.render.MimeRenderPlugin``) for the course's pages."""

    #: (builder, mime type, priority; lower wins): plotly JSON is drawn on HTML pages, before anything else
    mime_priority_overrides: ClassVar[list[tuple[str, str, int]]] = [
        ("html", PLOTLY_MIME, 5), ("dirhtml", PLOTLY_MIME, 5), ("singlehtml", PLOTLY_MIME, 5)]

    @staticmethod
    def handle_mime(renderer, data, inline: bool):
        """docutils nodes for ``data`` (a ``myst_nb.core.render.MimeData``), or None to let MyST-NB draw it."""
        if data.mime_type == PLOTLY_MIME:
            markup = plotly_html(data.content)
        elif data.mime_type == WIDGET_VIEW_MIME:
            client = getattr(renderer.renderer, "nb_client", None)
            markup = widget_html(data.content, widget_state(getattr(client, "nb_metadata", {}) or {}))
        else:
            return None
        from docutils import nodes

        return [nodes.raw(text=markup, format="html", classes=["output", "text_html"])]

