"""What a learner sees of every explorer: a PNG drawn at the size it is shown (times the pixel ratio), an image
and its controls that fit a 1366x768 window, and controls that offer only what was computed."""
import io
import re
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from fmlearn.teaching import digits, explorer as E
from fmlearn.teaching import widgets as Wd


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _px(css: str) -> float:
    match = re.fullmatch(r"([0-9.]+)px", css or "")
    assert match, f"expected a width in px, got {css!r}"
    return float(match.group(1))


def _trajectory():
    g = torch.Generator().manual_seed(0)
    results = {(s, k): torch.randn(k + 1, 50, 2, generator=g) for s in ("euler", "heun") for k in (2, 4, 8)}
    return Wd.trajectory_explorer({key: _Result(traj) for key, traj in results.items()})


class _Result:
    def __init__(self, traj):
        self.samples, self.trajectory, self.nfe = traj[-1], traj, None


def _field():
    f = Wd.precompute_field(lambda x, t: -x, torch.linspace(0, 1, 5), n=10, x0=torch.zeros(20, 2))
    return Wd.field_explorer({"toy": f})


def _images(tall: bool):
    g = torch.Generator().manual_seed(0)
    n = 80 if tall else 16  # 10 rows of 8: a tall grid, shrunk to fit
    return digits.image_explorer({(m, k): torch.rand(n, 1, 28, 28, generator=g) * 2 - 1
                                  for m in ("fm", "diffusion") for k in (4, 8)}, ("model", "nfe"))


def _conversion():
    from fmlearn.models import MLP, PathModel
    from fmlearn.teaching import conversions
    models = [PathModel(MLP(2, width=16, depth=1), "linear", p).eval() for p in ("velocity", "noise")]
    return conversions.conversion_explorer(models, torch.randn(100, 2), n=50)


def _density():
    from fmlearn.gaussians import default_mixture
    from fmlearn.models import MLP, PathModel
    from fmlearn.teaching import densities
    models = {"fm": PathModel(MLP(2, width=16, depth=1), "linear", "velocity").eval()}
    return densities.density_explorer(densities.density_grids(models, default_mixture(), (0.5, 1.0), n=8))


def _sweep():
    from fmlearn.experiments.claims import precomputed
    from fmlearn.teaching import claim_plots
    return claim_plots.sweep_explorer({c["id"]: c["result"] for c in precomputed()["claims"]})


BUILDERS = {"path": lambda: Wd.path_explorer(("moons",), n=100), "trajectory": _trajectory, "field": _field,
            "images": lambda: _images(False), "tall images": lambda: _images(True), "conversion": _conversion,
            "density": _density, "sweep": _sweep}


@pytest.fixture(scope="module", params=list(BUILDERS))
def explorer(request):
    """Every explorer of the course, the two of notebooks 04 and 07 included (they share the machinery)."""
    return BUILDERS[request.param]()


def test_the_png_is_drawn_at_the_shown_size_times_the_pixel_ratio(explorer):
    w, h = png_size(explorer.image.value)
    assert (w, h) == explorer.figure.canvas.get_width_height(physical=True)
    shown = _px(explorer.image.layout.width)
    assert shown == pytest.approx(w / E.PIXEL_RATIO)  # without a width, the page stretches the image (blurred)
    assert E.PIXEL_RATIO >= 2  # sharp on HiDPI screens
    assert explorer.image.layout.height in (None, "", "auto")  # the height follows the aspect: never distorted
    first = next(iter(explorer.controls.values()))
    options = getattr(first, "options", None)
    first.value = options[-1] if options is not None else first.max  # still so after a callback
    assert png_size(explorer.image.value) == (w, h)


def _row_count(controls, width: float) -> int:
    """Rows the wrapping control bar takes in an output ``width`` px wide."""
    rows, used = 1, 0.0
    for c in controls.values():
        cw = _px(c.layout.width) + 4  # plus margins
        if used and used + cw > width:
            rows, used = rows + 1, 0.0
        used += cw
    return rows


def test_image_and_controls_fit_a_1366x768_window(explorer):
    w, h = png_size(explorer.image.value)
    css_w, css_h = w / E.PIXEL_RATIO, h / E.PIXEL_RATIO
    assert css_w <= E.FIT[0] <= E.WINDOW[0] - 400  # room for JupyterLab's side bar and the prompts
    rows = _row_count(explorer.controls, E.FIT[0])
    total = css_h + rows * E.CONTROL_ROW
    assert total <= E.WINDOW[1] - E.WINDOW_CHROME, f"{total:.0f} px tall: slider and plot not seen together"
    assert css_h >= 150 and css_w >= 300  # and not shrunk to a stamp


def test_live_figure_shrinks_what_would_not_fit():
    fig = E.live_figure((4.0, 9.0), 100)  # 900 px tall at 100 px per inch
    w, h = E.display_size(fig)
    assert h == pytest.approx(E.FIT[1], abs=1) and w == pytest.approx(4.0 * E.FIT[1] / 9.0, abs=1)
    small = E.live_figure((4.0, 3.0), 100)
    assert E.display_size(small) == (400, 300) and small.dpi == 100 * E.PIXEL_RATIO


def test_png_bytes_decodes_to_the_canvas():
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (37, 53, 4), dtype=np.uint8)
    rgba[10:20] = 255  # flat rows, as in a plot
    decoded = np.asarray(Image.open(io.BytesIO(E.png_bytes(rgba))).convert("RGB"))
    np.testing.assert_array_equal(decoded, rgba[..., :3])


def _reachable(explorer) -> set[tuple]:
    """Every combination a learner can reach by moving the controls (a search over the states)."""
    names = list(explorer.controls)

    def go(state):
        for name, value in zip(names, state):
            explorer.controls[name].value = value
        return tuple(explorer.params().values())

    seen, todo = set(), [tuple(explorer.params().values())]
    while todo:
        state = todo.pop()
        if state in seen:
            continue
        seen.add(state)
        for name in names:
            go(state)
            for option in list(explorer.controls[name].options):
                go(state)
                explorer.controls[name].value = option[1] if isinstance(option, tuple) else option
                todo.append(tuple(explorer.params().values()))
    return seen


def test_controls_offer_only_what_was_computed():
    results = {("euler", 4): torch.randn(10, 2), ("euler", 32): torch.randn(10, 2),
               ("distilled", 1): torch.randn(10, 2), ("distilled", 4): torch.randn(10, 2)}
    ex = Wd.trajectory_explorer(results)
    reached = _reachable(ex)
    assert reached <= set(results) and reached == set(results)  # nothing "not computed", nothing unreachable
    assert "not computed" not in ex.view.missing[0].get_text()
    ex.controls["sampler"].value = "euler"
    ex.controls["nfe"].value = 32
    ex.controls["sampler"].value = "distilled"  # no NFE 32: the nearest budget
    assert ex.params() == {"sampler": "distilled", "nfe": 4} and ex.controls["nfe"].options == (1, 4)
    grids = {(m, s, k): torch.zeros(2, 1, 4, 4) for m, s, k in
             [("fm", "euler", 4), ("fm", "heun", 8), ("diffusion", "ddpm", 100), ("diffusion", "euler", 4)]}
    im = digits.image_explorer(grids, ("model", "sampler", "nfe"))
    assert _reachable(im) == set(grids)
    assert im.view.missing.get_text() == ""


def test_measure_callbacks_leaves_narrowed_controls_as_they_were():
    results = {("a", 1): torch.randn(5, 2), ("a", 2): torch.randn(5, 2), ("b", 2): torch.randn(5, 2)}
    ex = Wd.trajectory_explorer(results)
    before = ex.params()
    report = E.measure_callbacks(ex, 3)
    assert ex.params() == before and set(report) == {"sampler", "nfe", "all"}


def test_the_sweep_explorer_offers_only_families_drawn_in_the_sweep():
    ex = _sweep()
    for sweep in ex.controls["sweep"].options:
        ex.controls["sweep"].value = sweep
        for family in ex.controls["family"].options:
            ex.controls["family"].value = family
            assert ex.view.ax.lines and not ex.view.ax.texts, f"{sweep}, {family}: nothing drawn"
