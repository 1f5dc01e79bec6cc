"""Your own data (fmlearn.drawn_data): points inside a word's glyphs and from a picture's dark pixels.

Checked: shapes, the documented scale (mean 0, E|x|^2 = 2, inside [-3.5, 3.5]^2), seeding, the holes of
letters, the density of a picture, its orientation and aspect ratio, files, and every refused input.
"""
from __future__ import annotations

import math
import sys

import matplotlib.image
import numpy as np
import pytest
import torch
from matplotlib.path import Path

from fmlearn import data
from fmlearn._io import package_path
from fmlearn.drawn_data import HALF_WIDTH, WELCOME_PICTURE, from_image, from_text, make_welcome_picture, text_outline

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _winding(pts: np.ndarray, contours: list[np.ndarray]) -> np.ndarray:
    """Winding number of each point (M, 2) around the contours: a rule independent of the even-odd one."""
    total = np.zeros(len(pts))
    for c in contours:
        a = c[None, :, :] - pts[:, None, :]  # (M, K, 2)
        b = np.roll(c, -1, axis=0)[None, :, :] - pts[:, None, :]
        total += np.arctan2(a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0], (a * b).sum(-1)).sum(1)
    return np.rint(total / (2 * np.pi)).astype(int)


def _two_halves(h: int = 8, w: int = 8) -> np.ndarray:
    """Left half black (darkness 1), right half grey 0.75 (darkness 0.25)."""
    img = np.full((h, w), 0.75)
    img[:, : w // 2] = 0.0
    return img


# ---- shapes, scale, seeds -----------------------------------------------------------------------
def test_shapes_and_dtypes_and_the_reexport():
    assert data.from_text is from_text and data.from_image is from_image
    assert {"from_text", "from_image"} <= set(data.__all__)
    x = data.from_text("flow", 300, generator=_gen())
    y = data.from_image(_two_halves(), 200, generator=_gen(), dtype=torch.float64)
    assert x.shape == (300, 2) and x.dtype == torch.float32
    assert y.shape == (200, 2) and y.dtype == torch.float64
    assert torch.isfinite(x).all() and torch.isfinite(y).all()


@pytest.mark.parametrize("make", [lambda n, g: from_text("Bae o", n, generator=g, dtype=torch.float64),
                                  lambda n, g: from_text("flow\nmatching", n, generator=g, dtype=torch.float64),
                                  lambda n, g: from_image(WELCOME_PICTURE, n, generator=g, dtype=torch.float64)],
                         ids=["word", "two-lines", "picture"])
def test_scale_is_that_of_the_toy_sets(make):
    """Mean 0 and E|x|^2 = 2 are exact properties of the law: the sample agrees within 4 standard errors."""
    n = 100_000
    x = make(n, _gen(1))
    sq = (x ** 2).sum(1)
    assert (x.abs() <= HALF_WIDTH).all()
    assert (x.mean(0).abs() <= 4 * x.std(0) / math.sqrt(n)).all(), x.mean(0)
    assert abs(float(sq.mean()) - 2) <= 4 * float(sq.std()) / math.sqrt(n), float(sq.mean())


def test_a_lopsided_picture_is_shrunk_into_the_panel():
    """A big blob and a far speck: E|x|^2 = 2 would put the speck outside [-3.5, 3.5]^2, so the scale is capped."""
    img = np.ones((100, 100))
    img[40:60, 40:60] = 0.0
    img[0, 99] = 0.0
    x = from_image(img, 20_000, generator=_gen())
    assert float(x.abs().max()) <= HALF_WIDTH
    assert float(x.abs().max()) > 0.95 * HALF_WIDTH  # the speck reaches the edge: the cap was used
    assert float((x ** 2).sum(1).mean()) < 1.9


def test_same_seed_same_points_other_seed_other_points():
    for make in (lambda g: from_text("ab", 500, generator=g), lambda g: from_image(_two_halves(), 500, generator=g)):
        a, b, c = make(_gen(3)), make(_gen(3)), make(_gen(4))
        assert torch.equal(a, b)
        assert not torch.allclose(a, c)
    torch.manual_seed(5)
    a = from_text("ab", 50)
    torch.manual_seed(5)
    assert torch.equal(a, from_text("ab", 50))  # without a generator: torch's global one


# ---- text: holes stay empty ---------------------------------------------------------------------
def test_the_hole_of_o_is_empty():
    x = from_text("o", 20_000, generator=_gen()).numpy()
    lo, hi = x.min(0), x.max(0)
    centre, height = (lo + hi) / 2, hi[1] - lo[1]
    # the hole's radius is about 0.2 of the letter's height; filled, the disc would hold about 600 points
    assert not (np.linalg.norm(x - centre, axis=1) < 0.15 * height).any()


@pytest.mark.parametrize("text", ["o", "a", "e", "B", "Bae o"])
def test_points_lie_in_the_glyphs_by_the_winding_rule(text):
    """Every point has a nonzero winding number around the outline; a filled hole (winding 0) would show."""
    contours = text_outline(text)
    x = from_text(text, 3000, generator=_gen()).numpy()
    assert (_winding(x, contours) != 0).all()
    # the letters do have holes: some grid points inside the outermost outline have winding 0
    pts = np.concatenate(contours)
    gx, gy = np.meshgrid(np.linspace(pts[:, 0].min(), pts[:, 0].max(), 60),
                         np.linspace(pts[:, 1].min(), pts[:, 1].max(), 60))
    grid = np.stack((gx.ravel(), gy.ravel()), 1)
    in_some_outline = np.any([Path(c).contains_points(grid) for c in contours], axis=0)
    assert (in_some_outline & (_winding(grid, contours) == 0)).sum() >= 5


def test_outline_matches_matplotlibs_textpath():
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    tp = TextPath((0, 0), "Bae", size=1, prop=FontProperties(family="DejaVu Sans:bold"))
    contours = text_outline("Bae")
    assert len(contours) == int((tp.codes == Path.MOVETO).sum())
    ext, pts = tp.get_extents(), np.concatenate(contours)
    np.testing.assert_allclose(np.ptp(pts[:, 0]) / np.ptp(pts[:, 1]), ext.width / ext.height, rtol=0.01)


def test_lines_are_stacked_top_down():
    x = from_text("o\nAAAAAA", 4000, generator=_gen()).numpy()
    ys = np.sort(x[:, 1])
    gap = int(np.argmax(np.diff(ys)))  # the empty band between the two lines
    top, bottom = x[x[:, 1] > ys[gap]], x[x[:, 1] <= ys[gap]]
    assert np.ptp(top[:, 0]) < 0.25 * np.ptp(bottom[:, 0])  # the short line is on top...
    centre = lambda p: (p[:, 0].min() + p[:, 0].max()) / 2  # noqa: E731
    assert abs(centre(top) - centre(bottom)) < 0.02 * np.ptp(bottom[:, 0])  # ...and both are centred


# ---- pictures -----------------------------------------------------------------------------------
def test_density_follows_darkness():
    """Left half darkness 1, right half 0.25: the left half holds 1 / 1.25 = 0.8 of the points."""
    n = 20_000
    x = from_image(_two_halves(), n, generator=_gen())[:, 0]
    split = (float(x.min()) + float(x.max())) / 2  # the picture's middle, in output coordinates
    share = float((x < split).double().mean())
    assert abs(share - 0.8) <= 3 * math.sqrt(0.8 * 0.2 / n), share


def test_a_single_dark_pixel_gives_points_in_its_square_only():
    img = np.ones((9, 9))
    img[2, 6] = 0.0
    x = from_image(img, 5000, generator=_gen()).numpy()
    half = math.sqrt(3)  # the pixel's square has variance 2/12 before scaling by sqrt(12)
    assert (np.abs(x) <= half + 1e-6).all()
    assert (np.ptp(x, axis=0) > 0.98 * 2 * half).all()  # and fills it


def test_row_zero_is_the_top_and_transparent_pixels_are_background():
    rgba = np.zeros((3, 4, 4), dtype=np.uint8)  # black everywhere, but transparent...
    rgba[0, 0, 3] = rgba[2, 3, 3] = 255  # ...except the top-left and bottom-right pixels
    x = from_image(rgba, 2000, generator=_gen()).numpy()
    assert (x[x[:, 0] < 0, 1] > 0).all() and (x[x[:, 0] > 0, 1] < 0).all()
    assert (x[:, 0] < 0).any() and (x[:, 0] > 0).any()
    # two squares of 1 pixel in a picture 4 pixels wide: an empty gap of 2 pixels between them
    assert np.diff(np.sort(x[:, 0])).max() > 0.45 * np.ptp(x[:, 0])


def test_aspect_ratio_is_kept():
    x = from_image(np.zeros((10, 20)), 5000, generator=_gen()).numpy()
    assert np.ptp(x[:, 0]) / np.ptp(x[:, 1]) == pytest.approx(2.0, rel=0.02)


def test_formats_agree_and_invert_swaps_light_and_dark():
    grey = _two_halves()
    grey[grey > 0] = 0.8  # 204 / 255: exact in uint8
    rgb = np.repeat(grey[..., None], 3, axis=2)
    u8 = np.round(np.stack([*np.moveaxis(rgb, 2, 0), np.ones_like(grey)], axis=2) * 255).astype(np.uint8)
    a = from_image(grey, 1000, generator=_gen())
    assert torch.equal(a, from_image(rgb, 1000, generator=_gen()))
    assert torch.equal(a, from_image(torch.from_numpy(grey), 1000, generator=_gen()))
    np.testing.assert_allclose(a, from_image(u8, 1000, generator=_gen()), atol=1e-5)
    assert torch.equal(a, from_image(1 - grey, 1000, generator=_gen(), invert=True))


def test_files_round_trip(tmp_path):
    img = np.ones((12, 16))
    img[3:9, 2:6] = 0.0
    png = tmp_path / "shape.png"
    matplotlib.image.imsave(png, img, cmap="gray", vmin=0, vmax=1)
    assert torch.equal(from_image(png, 800, generator=_gen()), from_image(img, 800, generator=_gen()))
    assert torch.equal(from_image(str(png), 800, generator=_gen()), from_image(img, 800, generator=_gen()))
    jpg = tmp_path / "halves.jpg"  # JPEG is lossy: compare where the points go, not the points
    matplotlib.image.imsave(jpg, _two_halves(32, 32), cmap="gray", vmin=0, vmax=1)
    x = from_image(jpg, 5000, generator=_gen())[:, 0]
    split = (float(x.min()) + float(x.max())) / 2
    assert float((x < split).double().mean()) == pytest.approx(0.8, abs=0.03)


# ---- the shipped picture ------------------------------------------------------------------------
def test_welcome_picture_is_shipped_and_regenerates(tmp_path):
    path = package_path("assets", "welcome.png")
    assert path == WELCOME_PICTURE and path.is_file() and path.stat().st_size < 20_000
    pyproject = tomllib.loads((path.parents[2] / "pyproject.toml").read_text(encoding="utf-8"))
    assert "assets/*.png" in pyproject["tool"]["setuptools"]["package-data"]["fmlearn"]
    shipped = matplotlib.image.imread(path)
    assert shipped.shape[:2] == (128, 128)
    fresh = matplotlib.image.imread(make_welcome_picture(tmp_path / "w.png"))
    assert np.abs(fresh - shipped).mean() < 0.01
    dark = 1 - shipped[..., :3].mean()
    assert 0.1 < dark < 0.6  # a dark shape on white, not a blank or black square


def test_the_points_train_a_model():
    from fmlearn.models import MLP, PathModel
    from fmlearn.training import train

    torch.manual_seed(0)
    result = train(PathModel(MLP(2, 16, 1), "linear", "velocity"), from_text("hi", 256, generator=_gen()),
                   steps=3, batch_size=32, progress=False, device="cpu")
    assert result.steps == 3 and torch.isfinite(result.history).all()


# ---- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize("text, match", [("", "empty or only spaces"), ("  \n\t ", "empty or only spaces"),
                                         ("\u200b", "no glyph area")])
def test_text_without_letters_is_refused(text, match):
    with pytest.raises(ValueError, match=match):
        from_text(text, 10)


@pytest.mark.parametrize("n", [0, -3])
def test_no_points_is_refused(n):
    with pytest.raises(ValueError, match="n must be >= 1"):
        from_text("a", n)
    with pytest.raises(ValueError, match="n must be >= 1"):
        from_image(_two_halves(), n)


def test_wrong_types_are_refused():
    with pytest.raises(TypeError, match="n must be an int"):
        from_text("a", 2.5)
    with pytest.raises(TypeError, match="text must be a str"):
        from_text(42, 10)
    with pytest.raises(TypeError, match="font must be"):
        from_text("a", 10, font=3)
    with pytest.raises(TypeError, match="torch.Generator"):
        from_image(_two_halves(), 10, generator=0)
    with pytest.raises(TypeError, match="numeric array"):
        from_image(["a", "b"], 10)


@pytest.mark.parametrize("image, kwargs, match", [
    (np.ones((5, 5)), {}, "blank.*invert=True"),
    (np.ones((5, 5, 3), dtype=np.uint8) * 255, {}, "blank"),
    (np.zeros((5, 5, 4)), {}, "blank"),  # black but fully transparent
    (np.zeros((5, 5)), {"invert": True}, "blank"),
    (np.zeros(5), {}, "must have shape"),
    (np.zeros((5, 5, 2)), {}, "must have shape"),
    (np.zeros((2, 2, 2, 2)), {}, "must have shape"),
    (np.zeros((0, 4)), {}, "no pixels"),
    (np.array([[0.0, np.nan]]), {}, "NaN"),
    (np.array([[0.0, 200.0]]), {}, "divide 0-255 values by 255"),
    (np.array([[0, 300]]), {}, "values 0-255"),
])
def test_bad_pictures_are_refused(image, kwargs, match):
    with pytest.raises(ValueError, match=match):
        from_image(image, 10, **kwargs)


def test_missing_and_corrupted_files_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no picture file"):
        from_image(tmp_path / "nothing.png", 10)
    with pytest.raises(FileNotFoundError, match="no picture file"):
        from_image(tmp_path, 10)  # a folder
    bad = tmp_path / "broken.png"
    bad.write_bytes(np.random.default_rng(0).bytes(500))
    with pytest.raises(ValueError, match="could not read .*broken.png.* as a picture"):
        from_image(bad, 10)
    truncated = tmp_path / "truncated.png"
    matplotlib.image.imsave(truncated, _two_halves(), cmap="gray")
    truncated.write_bytes(truncated.read_bytes()[:60])
    with pytest.raises(ValueError, match="could not read"):
        from_image(truncated, 10)
