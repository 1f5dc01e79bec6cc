r"""Your own data: points inside the letters of a word, or drawn from the dark parts of a picture.

Both functions return a tensor of points of shape ``(n, 2)``, ready for
``fmlearn.training.train(model, points)`` (which wraps them in an ``ArrayData``), and both share the
scale of the toy sets of :mod:`fmlearn.data`.

**Text.** :func:`from_text` samples the uniform law on the region ``G`` covered by the glyphs,

    ``p(x) = 1[x in G] / |G|``,

where ``G`` is the outline of :class:`matplotlib.textpath.TextPath` (quadratic and cubic curves cut
into 8 straight pieces each). A point is in ``G`` by the **even-odd rule**: it lies inside an odd
number of the closed contours, so the holes of "o", "a", "e", "B" stay empty. (Matplotlib's
``Path.contains_points`` on the whole compound path fills them.) Sampling is by rejection: uniform
candidates in the bounding box are kept when they are in ``G``, in vectorized batches until ``n``
are kept. The moments of ``G`` that fix the scale are exact, from Green's theorem on each contour,
e.g. ``|P| = 1/2 sum_i (x_i y_{i+1} - x_{i+1} y_i)``, signed by the contour's nesting depth.

**Picture.** :func:`from_image` samples the piecewise-constant density of the picture's darkness,

    ``p(x) = d_{r,c} / sum d``  for ``x`` in pixel ``(r, c)``,  ``d = alpha (1 - L)``,

with luminance ``L = 0.299 R + 0.587 G + 0.114 B`` (ITU-R 601, as Pillow's grey) and ``alpha`` the
opacity (a transparent pixel is white background). ``invert=True`` uses ``d = alpha L`` for a light
shape on a dark ground. A pixel is picked with ``torch.multinomial`` and the point placed uniformly
inside its square; the y axis points up (row 0 is the top of the picture).

**Scale** (as in :mod:`fmlearn.data`). The raw law (text units, or pixels) with mean ``m`` and
``E|y - m|^2 = v`` is mapped by ``x = c (y - m)`` with one factor for both axes (shapes and the
aspect ratio are kept), ``c = sqrt(2 / v)``, so ``E|x|^2 = 2`` like the noise ``x_0`` and the toy
sets: the same training settings work. To keep every point inside the plots' default panel
``[-3.5, 3.5]^2`` (:data:`HALF_WIDTH`, the toy sets' range), ``c`` is lowered to
``3.5 / max |corner - m|`` over the corners of the shape's bounding box when that is smaller; this
happens only for lopsided shapes (a big blob and a far speck), which then have ``E|x|^2 < 2``.
The moments are those of the law, not of the sample, so the scale does not depend on ``n`` or the seed.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ._checks import check_positive_int
from ._io import atomic_write, package_path

__all__ = ["from_text", "from_image", "text_outline", "make_welcome_picture", "WELCOME_PICTURE",
           "HALF_WIDTH", "DEFAULT_FONT"]

HALF_WIDTH = 3.5  # every point lies in [-3.5, 3.5]^2: the toy sets' range, fmlearn.teaching.plotting.LIM
DEFAULT_FONT = "DejaVu Sans:bold"  # a fontconfig pattern; DejaVu ships with matplotlib
WELCOME_PICTURE = package_path("assets", "welcome.png")  # notebook 00's default picture (a smiley)
_PIECES = 8             # straight pieces per Bezier curve of a glyph outline
_LINE_SPACING = 1.25    # between lines of text, in units of the font size
_WHITE = 1e-6           # darkness below this is rounding (1 - 0.299 - 0.587 - 0.114 != 0 in floats)
_LUMA = np.array([0.299, 0.587, 0.114])


def _check_generator(generator) -> torch.device:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}; "
                        f"make one with torch.Generator().manual_seed(0).")
    return generator.device if generator is not None else torch.device("cpu")


def _scale(mean: np.ndarray, var: float, lo: np.ndarray, hi: np.ndarray) -> float:
    """The factor ``c`` of ``x = c (y - m)``: ``E|x|^2 = 2``, unless the box ``[lo, hi]`` would leave the panel."""
    reach = float(np.max(np.maximum(np.abs(lo - mean), np.abs(hi - mean))))  # farthest corner coordinate
    return min(math.sqrt(2.0 / var), HALF_WIDTH / reach)


# ---- text ---------------------------------------------------------------------------------------
def _font(font):
    from matplotlib.font_manager import FontProperties

    if isinstance(font, FontProperties):
        return font
    if isinstance(font, str):
        return FontProperties(family=font)  # a family name or a fontconfig pattern such as "serif:bold"
    raise TypeError(f"font must be a font name such as {DEFAULT_FONT!r} or a matplotlib FontProperties, "
                    f"got {type(font).__name__}.")


def _raw_contours(text: str, font) -> list[np.ndarray]:
    """The closed contours of the glyphs (each (K, 2), first point not repeated), lines centred."""
    from matplotlib.path import Path as MplPath
    from matplotlib.textpath import text_to_path

    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}.")
    if not text.strip():
        raise ValueError(f"text {text!r} is empty or only spaces; give a word to draw, e.g. from_text('flow', 2000).")
    prop = _font(font)
    contours = []
    for k, line in enumerate(text.expandtabs(4).splitlines()):
        verts, codes = text_to_path.get_text_path(prop, line)
        if len(verts) == 0:
            continue
        # in units of the font size, as TextPath(..., size=1) scales them
        path = MplPath(np.asarray(verts, float) / text_to_path.FONT_SCALE, np.asarray(codes, np.uint8))
        line_contours, cur = [], []
        for seg, code in path.iter_bezier():
            if code == MplPath.MOVETO:
                cur = [seg.control_points[:1]]
                line_contours.append(cur)
            elif code == MplPath.CLOSEPOLY:
                continue
            else:  # LINETO, CURVE3, CURVE4: the end point, or the curve cut into pieces
                t = np.linspace(0, 1, 2 if code == MplPath.LINETO else _PIECES + 1)[1:]
                cur.append(seg(t))
        line_contours = [np.concatenate(c) for c in line_contours]
        line_contours = [c[:-1] if len(c) > 1 and np.allclose(c[0], c[-1]) else c for c in line_contours]
        line_contours = [c for c in line_contours if len(c) >= 3]
        if not line_contours:
            continue
        lo, hi = np.concatenate(line_contours).min(0), np.concatenate(line_contours).max(0)
        shift = np.array([-(lo[0] + hi[0]) / 2, -k * _LINE_SPACING])
        contours += [c + shift for c in line_contours]
    return contours


def _even_odd(contours: list[np.ndarray], pts: np.ndarray) -> np.ndarray:
    """Whether each point (M, 2) lies inside an odd number of contours: the glyph region, holes excluded."""
    from matplotlib.path import Path as MplPath

    inside = np.zeros(len(pts), dtype=bool)
    for c in contours:
        inside ^= MplPath(c).contains_points(pts)  # one simple polygon at a time
    return inside


def _area_moments(contours: list[np.ndarray]) -> tuple[float, np.ndarray, float]:
    """Area, mean (2,) and ``E|y - m|^2`` of the even-odd region, exactly (Green's theorem per polygon)."""
    total = np.zeros(5)  # integrals of 1, x, y, x^2, y^2
    for i, c in enumerate(contours):
        x, y = c[:, 0], c[:, 1]
        xn, yn = np.roll(x, -1), np.roll(y, -1)
        cross = x * yn - xn * y
        m = np.array([cross.sum() / 2, ((x + xn) * cross).sum() / 6, ((y + yn) * cross).sum() / 6,
                      ((x * x + x * xn + xn * xn) * cross).sum() / 12, ((y * y + y * yn + yn * yn) * cross).sum() / 12])
        # nesting depth: an outline counts +, a hole in it -, an island in the hole + again (even-odd)
        depth = int(_even_odd(contours[:i] + contours[i + 1:], c[:1])[0])
        total += m * np.sign(m[0]) * (-1) ** depth
    area = total[0]
    mean = total[1:3] / area
    var = float((total[3] + total[4]) / area - mean @ mean)
    return float(area), mean, var


def _text_frame(text: str, font) -> tuple[list[np.ndarray], float, np.ndarray, float]:
    """Contours, area, mean and scale ``c`` of the glyph region of ``text``."""
    contours = _raw_contours(text, font)
    area, mean, var = _area_moments(contours) if contours else (0.0, None, None)
    if area <= 1e-9:
        raise ValueError(f"text {text!r} has no glyph area in this font (only spaces or invisible characters); "
                         f"use visible letters, e.g. from_text('flow', 2000).")
    allpts = np.concatenate(contours)
    return contours, area, mean, _scale(mean, var, allpts.min(0), allpts.max(0))


def text_outline(text: str, *, font=DEFAULT_FONT) -> list[np.ndarray]:
    """The closed glyph contours of ``text`` in the coordinates of :func:`from_text`'s points.

    For drawing the word over samples (``ax.fill(*c.T)`` per contour) and for checks: a point is in
    the region where it lies inside an odd number of contours.

    Returns:
        list of float64 arrays, each (K, 2): one contour (outline or hole), first point not repeated.
    """
    contours, _, mean, c = _text_frame(text, font)
    return [(p - mean) * c for p in contours]


def from_text(text: str, n: int, *, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32,
              font=DEFAULT_FONT) -> Tensor:
    r"""Points spread uniformly inside the letters of ``text``: ``p(x) = 1[x in G] / |G|``.

    Holes (in "o", "a", "B") stay empty; ``"\n"`` starts a new line (lines are centred). The result
    has mean 0 and ``E|x|^2 = 2`` (see the module docstring) and lies inside ``[-3.5, 3.5]^2``.

    Args:
        text: the word(s) to draw, with at least one visible character.
        n: number of points (positive int).
        generator: source of all randomness (default torch's global one); a seed fixes the points.
        dtype: floating dtype of the result.
        font: a font family or fontconfig pattern (default bold DejaVu Sans, shipped with matplotlib),
            or a :class:`matplotlib.font_manager.FontProperties`.

    Returns:
        Tensor of shape (n, 2) on the generator's device (CPU without one).
    """
    check_positive_int("n", n)
    dev = _check_generator(generator)
    contours, area, mean, c = _text_frame(text, font)
    allpts = np.concatenate(contours)
    lo, hi = allpts.min(0), allpts.max(0)
    rate = area / float(np.prod(hi - lo))  # acceptance probability of one candidate
    kept, have = [], 0
    while have < n:
        m = int(math.ceil(1.2 * (n - have) / rate)) + 64
        u = torch.rand(m, 2, generator=generator, device=dev, dtype=torch.float64).cpu().numpy()  # (m, 2)
        cand = lo + u * (hi - lo)
        cand = cand[_even_odd(contours, cand)]
        kept.append(cand)
        have += len(cand)
    pts = np.concatenate(kept)[:n]  # (n, 2)
    return torch.from_numpy((pts - mean) * c).to(device=dev, dtype=dtype)


# ---- pictures -----------------------------------------------------------------------------------
_SHAPES = "(H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA"


def _read(image) -> np.ndarray:
    if isinstance(image, (str, os.PathLike)):
        path = Path(image).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"no picture file at {str(path)!r} (relative paths start from {os.getcwd()!r}); "
                                    f"check the name, or pass an array {_SHAPES}.")
        import matplotlib.image

        try:
            return matplotlib.image.imread(path)
        except Exception as err:  # Pillow raises OSError, ValueError or SyntaxError on broken files
            raise ValueError(f"could not read {str(path)!r} as a picture ({type(err).__name__}: {err}); save it "
                             f"as PNG or JPEG, or pass an array {_SHAPES}.") from None
    if isinstance(image, Tensor):
        return image.detach().cpu().numpy()
    arr = np.asarray(image)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"image must be a file path or a numeric array {_SHAPES}, got {type(image).__name__} "
                        f"of dtype {arr.dtype}.")
    return arr


def _to_unit(arr: np.ndarray) -> np.ndarray:
    """Values as float64 in [0, 1]: uint8 / 255, uint16 / 65535, floats as they are."""
    if arr.dtype == bool:
        return arr.astype(np.float64)
    if arr.dtype == np.uint16:
        return arr / 65535.0
    if np.issubdtype(arr.dtype, np.integer):
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError(f"integer pictures must hold values 0-255, got {arr.min()}..{arr.max()}; "
                             f"use uint8, or floats in [0, 1].")
        return arr / 255.0
    x = arr.astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError(f"image contains {int((~np.isfinite(x)).sum())} NaN or infinite values; "
                         f"replace them (np.nan_to_num(image, nan=1.0) makes them white).")
    if x.min() < 0 or x.max() > 1:
        raise ValueError(f"float pictures must hold values in [0, 1], got {x.min():.4g}..{x.max():.4g}; "
                         f"divide 0-255 values by 255.")
    return x


def _darkness(image, invert: bool) -> np.ndarray:
    """The weight ``d = alpha (1 - L)`` (or ``alpha L``) of every pixel, shape (H, W), float64."""
    arr = _read(image)
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise ValueError(f"image must have shape {_SHAPES}, got shape {tuple(arr.shape)}; "
                         f"for a grey picture with one channel use image[..., 0].")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"image has no pixels (shape {tuple(arr.shape)}).")
    x = _to_unit(arr)
    lum, alpha = (x, 1.0) if x.ndim == 2 else (x[..., :3] @ _LUMA, x[..., 3] if x.shape[2] == 4 else 1.0)
    d = alpha * (lum if invert else 1.0 - lum)
    d = np.where(d < _WHITE, 0.0, np.minimum(d, 1.0))  # (H, W)
    if not d.any():
        what = "black or transparent" if invert else "white or transparent"
        hint = ("pass a light shape on a dark ground, or invert=False" if invert else
                "draw a dark shape on a light background, or pass invert=True for a light shape on a dark one")
        raise ValueError(f"the picture is blank: every pixel is {what}, so there is nothing to sample; {hint}.")
    return d


def from_image(image, n: int, *, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32,
               invert: bool = False) -> Tensor:
    r"""Points drawn where a picture is dark: ``p(x) = d_{r,c} / sum d`` on pixel ``(r, c)``'s square.

    Args:
        image: a PNG or JPEG file path, or an array (numpy or tensor) of shape (H, W), (H, W, 3) or
            (H, W, 4): uint8 (0-255), uint16, bool, or floats in [0, 1]. Transparent pixels count as
            white background.
        n: number of points (positive int).
        generator: source of all randomness (default torch's global one); a seed fixes the points.
        dtype: floating dtype of the result.
        invert: sample the light parts instead (a light shape on a dark ground).

    Returns:
        Tensor of shape (n, 2) on the generator's device (CPU without one): x to the right, y up,
        aspect ratio kept, mean 0 and ``E|x|^2 = 2`` (see the module docstring), inside ``[-3.5, 3.5]^2``.
    """
    check_positive_int("n", n)
    dev = _check_generator(generator)
    d = _darkness(image, invert)
    h, w = d.shape
    if h * w > 2**24:
        raise ValueError(f"the picture has {h} x {w} pixels, more than torch.multinomial's 2^24; "
                         f"downscale it first, e.g. image[::4, ::4].")
    p = d / d.sum()  # (H, W)
    rows, cols = np.arange(h), np.arange(w)
    yc, xc = (h - 1 - rows + 0.5)[:, None], (cols + 0.5)[None, :]  # pixel centres, y up
    mean = np.array([(p * xc).sum(), (p * yc).sum()])
    var = float((p * ((xc - mean[0]) ** 2 + (yc - mean[1]) ** 2)).sum()) + 2 / 12  # + the jitter's variance
    r_in, c_in = np.nonzero(d.any(axis=1))[0], np.nonzero(d.any(axis=0))[0]
    lo = np.array([c_in[0], h - 1 - r_in[-1]], dtype=float)
    hi = np.array([c_in[-1] + 1, h - r_in[0]], dtype=float)
    c = _scale(mean, var, lo, hi)
    weights = torch.from_numpy(d.reshape(-1)).to(dev)  # (H W,)
    idx = torch.multinomial(weights, n, replacement=True, generator=generator)  # (n,)
    u = torch.rand(n, 2, generator=generator, device=dev, dtype=torch.float64)  # where in the pixel
    r, col = idx // w, idx % w
    pts = torch.stack((col.to(torch.float64) + u[:, 0], (h - 1 - r).to(torch.float64) + u[:, 1]), dim=1)
    return pts.sub_(torch.from_numpy(mean).to(dev)).mul_(c).to(dtype)


# ---- the shipped picture ------------------------------------------------------------------------
def make_welcome_picture(path: str | Path = WELCOME_PICTURE, size: int = 128) -> Path:
    """Draw notebook 00's default picture, a bold black smiley on white, as a ``size`` x ``size`` PNG.

    Regenerates ``fmlearn/assets/welcome.png``: ``python -c "from fmlearn.drawn_data import
    make_welcome_picture as m; m()"``. Four pieces (face ring, two eyes, mouth), one of them with a
    hole: a flow must split the noise between them.

    Returns:
        the path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Arc, Circle

    fig = Figure(figsize=(size / 100, size / 100), dpi=100, facecolor="white")
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-1, 1)
    ax.set_ylim(-1, 1)
    ax.set_axis_off()
    lw = 0.08 * size  # in points at 100 dpi: strokes a twelfth of the picture wide
    ax.add_patch(Circle((0, 0), 0.85, fill=False, lw=lw, color="black"))
    for x in (-0.3, 0.3):
        ax.add_patch(Circle((x, 0.28), 0.13, color="black"))
    ax.add_patch(Arc((0, 0.02), 0.95, 0.85, theta1=205, theta2=335, lw=lw, color="black", capstyle="round"))
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100, facecolor="white",
                                                      metadata={"Software": None}))
