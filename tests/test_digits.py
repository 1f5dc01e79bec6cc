"""Digit grids, the noise-to-digit animation and the image explorer (callbacks without a browser)."""
import ipywidgets as W
import numpy as np
import pytest
import torch

from fmlearn.teaching import digits
from fmlearn.teaching.explorer import measure_callbacks


def _images(n, value=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.full((n, 1, 28, 28), value) if value is not None else torch.rand(n, 1, 28, 28, generator=g) * 2 - 1


def test_tile_places_each_image_and_scales_to_unit_range():
    x = torch.stack([torch.full((1, 28, 28), v) for v in (-1.0, 0.0, 1.0, 0.5, -0.5)])  # (5, 1, 28, 28)
    grid = digits.tile(x, ncol=2, pad=1)
    assert grid.shape == (3 * 29 - 1, 2 * 29 - 1) and grid.dtype == np.float32
    assert grid[0, 0] == 0.0 and grid[0, 29] == 0.5 and grid[29, 0] == 1.0 and grid[29, 29] == 0.75
    assert grid[58, 0] == 0.25 and grid[58, 29] == 0.0  # the empty cell is background
    assert grid[28, :].max() == 0.0  # padding
    assert digits.tile(_images(3), ncol=8).shape == (28, 3 * 29 - 1)  # fewer images than columns
    assert digits.tile(torch.full((1, 28, 28), 5.0)).max() == 1.0  # clipped to [-1, 1] first


@pytest.mark.parametrize("bad, match", [(torch.zeros(2, 3, 28, 28), "shape"), (torch.zeros(0, 1, 28, 28), "empty")])
def test_tile_refuses_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        digits.tile(bad)


def test_plot_grids_draws_one_panel_per_entry():
    fig = digits.plot_grids({"a": _images(4), "b": _images(6)}, ncol=3, suptitle="s")
    axes = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in axes] == ["a", "b"]
    assert axes[1].images[0].get_array().shape == (2 * 29 - 1, 3 * 29 - 1)
    with pytest.raises(ValueError, match="empty"):
        digits.plot_grids({})


def test_animation_frames_and_size():
    trajs = {"fm": _images(11 * 4).reshape(11, 4, 1, 28, 28), "diffusion": _images(11 * 4, seed=1).reshape(11, 4, 1, 28, 28)}
    fig = digits.animate_digits(trajs, torch.linspace(0, 1, 11), ncol=2, n_frames=6)
    assert [f.name for f in fig.frames] == ["0.00", "0.20", "0.40", "0.60", "0.80", "1.00"]
    z = np.asarray(fig.frames[-1].data[0].z)
    assert z.shape == (2 * 29 - 1, 2 * (2 * 29 - 1) + 4)  # two panels of 2x2 digits, 4 columns apart
    last = digits.tile(trajs["fm"][-1], 2)
    np.testing.assert_allclose(z[::-1][:, :last.shape[1]], last, atol=0.006)  # rows flipped for plotly's y axis
    assert len(fig.to_json()) < 2e6
    button, slider = fig.layout.updatemenus[0], fig.layout.sliders[0]  # the slider's "t = " label beside the
    assert button.xanchor == "right" and button.x <= slider.x and slider.xanchor == "left"  # button, not under
    with pytest.raises(ValueError, match="same number of frames"):
        digits.animate_digits(trajs, torch.linspace(0, 1, 5))


@pytest.mark.parametrize("ncol", [2, 4, 8])
def test_animation_is_as_tall_as_its_digits_at_its_width(ncol):
    """One pixel scale in x and y (no empty band under the digits), never wider than ANIMATION_WIDTH."""
    trajs = {"fm": _images(3 * 16).reshape(3, 16, 1, 28, 28),
             "diffusion": _images(3 * 16, seed=1).reshape(3, 16, 1, 28, 28)}
    fig = digits.animate_digits(trajs, torch.linspace(0, 1, 3), ncol=ncol)
    rows, cols = np.asarray(fig.data[0].z).shape
    assert fig.layout.width <= digits.ANIMATION_WIDTH
    x_scale, y_scale = (fig.layout.width - 20) / cols, (fig.layout.height - 200) / rows  # margins: digits.py
    assert x_scale == pytest.approx(y_scale, rel=0.02)


@pytest.fixture(scope="module")
def explorer():
    results = {(m, n): _images(8, seed=i) for i, (m, n) in enumerate((m, n) for m in ("fm", "diffusion") for n in (1, 4, 16))}
    del results[("diffusion", 16)]
    notes = {("fm", 4): "FD 12.3"}
    return digits.image_explorer(results, ("model", "nfe"), notes=notes, ncol=4, nfe=4)


def test_explorer_controls_and_callbacks(explorer):
    assert isinstance(explorer.controls["model"], W.Dropdown)
    assert isinstance(explorer.controls["nfe"], W.SelectionSlider)
    assert explorer.controls["nfe"].options == (1, 4, 16) and explorer.params() == {"model": "fm", "nfe": 4}
    view = explorer.view
    assert view.note.get_text() == "FD 12.3"
    before = explorer.image.value
    explorer.controls["nfe"].value = 1
    assert explorer.image.value != before and explorer.image.value[:4] == b"\x89PNG"
    np.testing.assert_array_equal(view.image.get_array(), digits.tile(_images(8, seed=0), 4))
    explorer.controls["nfe"].value = 16
    explorer.controls["model"].value = "diffusion"  # (diffusion, 16) was not computed: the nearest, 4
    assert explorer.params() == {"model": "diffusion", "nfe": 4} and explorer.controls["nfe"].options == (1, 4)
    assert view.missing.get_text() == ""
    explorer.controls["model"].value = "fm"  # every budget again; the chosen one kept
    assert explorer.controls["nfe"].options == (1, 4, 16) and explorer.params()["nfe"] == 4
    assert set(measure_callbacks(explorer, n=2)) == {"model", "nfe", "all"}  # every control redraws


def test_explorer_static_twin(explorer):
    assert explorer.static(model="diffusion", nfe=16).axes[0].texts[0].get_text() == "not computed"
    fig = explorer.static(model="fm", nfe=16)
    image = [a for ax in fig.axes for a in ax.images][0]
    np.testing.assert_array_equal(image.get_array(), digits.tile(_images(8, seed=2), 4))
    with pytest.raises(ValueError, match="unknown parameter"):
        explorer.static(sampler="euler")


def test_explorer_refuses_bad_input():
    with pytest.raises(ValueError, match="tuple of 2 values"):
        digits.image_explorer({("fm",): _images(2)}, ("model", "nfe"))
    with pytest.raises(ValueError, match="unknown nfe 3"):
        digits.image_explorer({("fm", 1): _images(2)}, ("model", "nfe"), nfe=3)
    with pytest.raises(ValueError, match="unknown control"):
        digits.image_explorer({("fm", 1): _images(2)}, ("model", "nfe"), scale=3)
    with pytest.raises(ValueError, match="same number of images"):
        digits.image_explorer({("fm", 1): _images(2), ("fm", 2): _images(3)}, ("model", "nfe"))
