r"""Notebook 00's demo: train flow matching and diffusion, live, on a word you type or a picture you drop in.

::

    demo = welcome_demo()          # text box, picture upload, family, steps, two buttons, the live view
    demo                           # (in Jupyter)
    demo.run_word("flow")          # what the button does, callable from code (and run by the tests)
    demo.static()                  # the static twin: the last run's final frame

Both families use the same network (an MLP, 3 hidden layers of 128), data, steps and seed; they differ by the
path (linear vs variance-preserving cosine) and what the network predicts (velocity vs noise), as the course
explains from notebook 01 on. Training shows a :class:`~fmlearn.teaching.live.LiveTraining` panel; then each
model's samples ride its field from noise to data in a plotly animation.
"""
from __future__ import annotations

from typing import Sequence

import torch

from .. import config
from ..drawn_data import from_image, from_text
from ..experiments.claims.families import train_family
from ..models import PathModel
from ..samplers import sample
from .live import LiveTraining

__all__ = ["FAMILIES", "train_families", "welcome_demo", "WelcomeDemo"]

#: the demo's family names -> the course's families (:data:`fmlearn.experiments.claims.families.FAMILIES`)
FAMILIES = {"flow matching": "fm", "diffusion": "diffusion"}


def train_families(points, *, steps: int, families: Sequence[str] = tuple(FAMILIES), seed: int = 0,
                   width: int = 128, view: LiveTraining | None = None, lr: float = 3e-3) -> dict[str, PathModel]:
    """Train each family on ``points`` (N, 2) with the same network, steps and seed; return its EMA model
    (:func:`~fmlearn.experiments.claims.families.train_family`, with a cosine learning-rate decay).

    Args:
        view: a live view whose runs are named after the families (none when None).
    """
    out = {}
    for name in families:
        if name not in FAMILIES:
            raise ValueError(f"unknown family {name!r}; choose among {list(FAMILIES)}.")
        out[name] = train_family(FAMILIES[name], points, steps=steps, seed=seed, init=seed, width=width, lr=lr,
                                 lr_decay=True, callback=None if view is None else view.callback(name))
    return out


class WelcomeDemo:
    """The widgets of notebook 00's demo and the runs behind them (see the module docstring)."""

    def __init__(self, steps: int | None = None, n: int = 2000, seed: int = 0, picture=None):
        import ipywidgets as w

        self.n, self.seed = n, seed
        default_steps = steps or config.budget(5000, 1500)
        self.word = w.Text(value="flow", description="word")
        self.family = w.Dropdown(options=["both", *FAMILIES], value="both", description="family")
        self.steps = w.IntSlider(value=default_steps, min=min(500, default_steps),
                                 max=max(20000, default_steps), step=500, description="steps")
        self.upload = w.FileUpload(accept="image/*", multiple=False, description="picture")
        self.train_word = w.Button(description="train on the word", button_style="primary")
        self.train_picture = w.Button(description="train on the picture")
        self.out = w.Output()
        self.picture = picture  # default picture: a path or array (the uploaded one replaces it)
        self.view: LiveTraining | None = None
        self.models: dict[str, PathModel] = {}
        self.points = None
        self.train_word.on_click(lambda _: self._in_output(lambda: self.run_word(self.word.value)))
        self.train_picture.on_click(lambda _: self._in_output(lambda: self.run_picture(self._uploaded())))
        self.widget = w.VBox([w.HBox([self.word, self.train_word]), w.HBox([self.upload, self.train_picture]),
                              w.HBox([self.family, self.steps]), self.out])

    def _families(self) -> tuple[str, ...]:
        return tuple(FAMILIES) if self.family.value == "both" else (self.family.value,)

    def _in_output(self, fn) -> None:
        self.out.clear_output()
        with self.out:
            try:
                fn()
            except ValueError as err:  # bad input (an empty word, a blank picture): say so, keep the widgets
                print(f"could not train: {err}")

    def _uploaded(self):
        """The uploaded picture as bytes-backed array (ipywidgets 7: a dict, 8: a tuple), else the default."""
        value = self.upload.value
        files = list(value.values()) if isinstance(value, dict) else list(value or ())
        if not files:
            if self.picture is None:
                raise ValueError("no picture uploaded: click 'picture' and choose a PNG or JPEG file first.")
            return self.picture
        import io

        from matplotlib import image as mpimg
        content = files[-1]["content"]
        return mpimg.imread(io.BytesIO(bytes(content)))

    def run_word(self, text: str, steps: int | None = None):
        """Train on the glyphs of ``text`` (see :func:`fmlearn.data.from_text`) and show it live."""
        points = from_text(text, self.n, generator=torch.Generator().manual_seed(self.seed))
        return self._run(points, steps)

    def run_picture(self, image, steps: int | None = None):
        """Train on a picture (a path or an array; see :func:`fmlearn.data.from_image`) and show it live."""
        points = from_image(image, self.n, generator=torch.Generator().manual_seed(self.seed))
        return self._run(points, steps)

    def _run(self, points, steps):
        from IPython.display import display

        from .animation import animate_field

        self.points = points
        families = self._families()
        self.view = LiveTraining(families, reference=points, seed=self.seed)
        display(self.view)
        self.models = train_families(points, steps=steps or self.steps.value, families=families, seed=self.seed,
                                     view=self.view)
        print(f"trained {', '.join(families)} for {steps or self.steps.value} steps each; the live view refreshed "
              f"{self.view.refreshes} times, {100 * self.view.overhead:.1f}% of the time")
        x0 = torch.randn(300, 2, generator=torch.Generator().manual_seed(self.seed + 1))
        for name, model in self.models.items():
            result = sample(model, x0, "euler", 40, return_trajectory=True)
            display(animate_field(model, result, max_frames=16, n=11, n_particles=300,
                                  title=f"{name}: samples ride the learned field"))
        return self.models

    def static(self):
        """The static twin: the last run's final frame (the live view's last picture as a Figure)."""
        if self.view is None:
            raise ValueError("nothing trained yet: call run_word(...) or run_picture(...) first.")
        return self.view.static()

    def _ipython_display_(self):  # ipywidgets 7 and 8 alike
        from IPython.display import display
        display(self.widget)


def welcome_demo(steps: int | None = None, n: int = 2000, seed: int = 0, picture=None) -> WelcomeDemo:
    """Notebook 00's demo (see :class:`WelcomeDemo`); ``picture`` is the default when nothing is uploaded."""
    return WelcomeDemo(steps=steps, n=n, seed=seed, picture=picture)
