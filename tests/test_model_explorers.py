"""The conversion explorer (notebook 04) and the density explorer (notebook 07): their pictures hold the
package's numbers (conversions, closed-form mixture densities, log-likelihoods), move with their controls,
and their static twins draw the same data."""
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from fmlearn.config import seeded
from fmlearn.data import sample_data
from fmlearn.gaussians import default_mixture, optimal_model
from fmlearn.likelihood import log_likelihood
from fmlearn.models import MLP, PathModel
from fmlearn.parametrizations import convert
from fmlearn.teaching import conversions as C
from fmlearn.teaching import densities as D
from fmlearn.teaching import plotting as P
from fmlearn.teaching.explorer import measure_callbacks

N, SEED = 60, 3
TIMES = np.round(np.linspace(0.1, 0.9, 9), 6)


def by_gid(container, gid):
    found = container.findobj(lambda a: a.get_gid() == gid)
    assert len(found) == 1, (gid, found)
    return found[0]


def set_and_check_image(explorer, name, value):
    before = explorer.image.value
    explorer.controls[name].value = value
    assert explorer.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert explorer.image.value != before, f"setting {name}={value!r} did not change the image"


# ---- conversion explorer ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def conv_models():
    with seeded(0):  # untrained networks: any output converts the same way
        return {(s, p): PathModel(MLP(2, 16, 2), s, p).eval()
                for s in ("linear", "cosine") for p in ("velocity", "noise")}


@pytest.fixture(scope="module")
def conv_data():
    return sample_data("moons", 2 * N, seed=1)


@pytest.fixture(scope="module")
def conv_ex(conv_models, conv_data):
    return C.conversion_explorer(list(conv_models.values()), conv_data, n=N, seed=SEED, times=TIMES, t=0.5)


def expected(model, data, t):
    """The four predictions at x_t, converted here from the network's output at one time."""
    x0 = torch.randn(N, 2, generator=torch.Generator().manual_seed(SEED))
    x1 = torch.as_tensor(data[:N], dtype=torch.float32)
    tt = torch.full((N,), t)
    x = model.schedule.interpolate(x0, x1, tt)
    with torch.no_grad():
        out = model(x, tt)
        return x.numpy(), {k: convert(out, model.parametrization, k, x, tt, model.schedule).numpy()
                           for k in ("velocity", "noise", "data", "score")}


def arrow_directions(coll):
    """Unit directions of the arrow polygons (G, 7, 2): from the middle of the tail to the tip."""
    verts = np.stack([np.asarray(p.vertices[:7]) for p in coll.get_paths()])
    d = verts[:, 3] - 0.5 * (verts[:, 0] + verts[:, 6])
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def test_conversion_panels_hold_the_package_conversions(conv_ex, conv_models, conv_data):
    set_and_check_image(conv_ex, "schedule", "cosine")
    set_and_check_image(conv_ex, "parametrization", "noise")
    set_and_check_image(conv_ex, "t", 0.3)
    x, want = expected(conv_models[("cosine", "noise")], conv_data, 0.3)
    view = conv_ex.view
    np.testing.assert_allclose(view.points["noise"].get_offsets(), want["noise"], atol=1e-5)  # the output itself
    np.testing.assert_allclose(view.points["data"].get_offsets(), want["data"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(view.xt["data"].get_offsets(), x, atol=1e-5)
    for kind in ("velocity", "score"):
        coll = view.arrows[kind]
        speed = np.linalg.norm(want[kind], axis=1)
        lo = coll.norm.vmin  # speeds below the colour scale's floor are drawn at it
        np.testing.assert_allclose(coll.get_array(), np.maximum(speed, lo), rtol=1e-4)
        unit = want[kind] / speed[:, None]
        np.testing.assert_allclose(arrow_directions(coll), unit, atol=1e-3)
    assert "network output" in view.titles["noise"].get_text()
    assert not any("network output" in view.titles[k].get_text() for k in ("velocity", "score", "data"))
    assert "predicts noise, t = 0.30" in view.header.get_text()


def test_conversion_t_moves_every_panel_and_snaps(conv_ex):
    conv_ex.controls["t"].value = 0.2
    before = {k: c.get_offsets().copy() for k, c in conv_ex.view.points.items()}
    set_and_check_image(conv_ex, "t", 0.72)  # snaps to 0.7
    assert conv_ex.view.index == 6 and "t = 0.70" in conv_ex.view.header.get_text()
    for kind, offsets in before.items():
        assert not np.allclose(conv_ex.view.points[kind].get_offsets(), offsets), kind


def test_conversion_static_twin_draws_the_live_data(conv_ex):
    params = {"schedule": "linear", "parametrization": "velocity", "t": 0.9}
    for name, value in params.items():
        conv_ex.controls[name].value = value
    fig = conv_ex.static(**params)
    assert isinstance(fig, Figure) and fig is not conv_ex.figure and len(fig.axes) == 4
    for kind in ("noise", "data"):
        np.testing.assert_array_equal(by_gid(fig, kind).get_offsets(), conv_ex.view.points[kind].get_offsets())
    for kind in ("velocity", "score"):
        np.testing.assert_array_equal(by_gid(fig, kind).get_array(), conv_ex.view.arrows[kind].get_array())
    texts = " ".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))
    assert "predicts velocity, t = 0.90" in texts and "network output · median" in texts


def test_conversion_bad_values_are_refused(conv_ex, conv_models, conv_data):
    with pytest.raises(ValueError, match="t must lie in"):
        conv_ex.static(t=0.99)
    with pytest.raises(ValueError, match="Did you mean 'cosine'"):
        conv_ex.static(schedule="cosin")
    with pytest.raises(ValueError, match="unknown parametrization 'data'"):
        conv_ex.static(parametrization="data")
    with pytest.raises(ValueError, match="unknown parameter"):
        conv_ex.static(dataset="moons")
    some = [conv_models[("linear", "velocity")], conv_models[("cosine", "noise")]]
    with pytest.raises(ValueError, match=r"no model for \[\('linear', 'noise'\)"):
        C.conversion_explorer(some, conv_data, n=N, times=TIMES)
    with pytest.raises(ValueError, match="two models predict"):
        C.conversion_explorer(some + some[:1], conv_data, n=N, times=TIMES)
    with pytest.raises(ValueError, match="at least n=60"):
        C.conversion_explorer(some, conv_data[:10], n=N, times=TIMES)
    with pytest.raises(TypeError, match="PathModel"):
        C.conversion_explorer([torch.nn.Linear(2, 2)], conv_data, n=N, times=TIMES)


def test_conversion_callbacks_are_fast(conv_ex):
    report = measure_callbacks(conv_ex, 6)
    print("conversion explorer callback medians (ms):", {k: round(v, 1) for k, v in report.items()})
    assert set(report) == {"schedule", "parametrization", "t", "all"}
    assert report["all"] < 200  # the target is 50 ms (python -m fmlearn bench); generous on a loaded machine


# ---- density explorer ---------------------------------------------------------------------------
MIX = default_mixture()
DTIMES = (0.5, 1.0)
NG = 16


@pytest.fixture(scope="module")
def dens_ex():
    exact = {"linear": optimal_model(MIX, "linear"), "cosine": optimal_model(MIX, "cosine")}  # E[x1 | x_t], exact
    return D.density_explorer(D.density_grids(exact, MIX, times=DTIMES, n=NG), model="linear", t=0.5)


def test_density_grid_kl_is_the_riemann_sum():
    grids = D.density_grids({"l": optimal_model(MIX, "linear")}, MIX, times=(0.6,), n=24)
    g = grids["l"]
    cell = (2 * P.LIM / 24) ** 2
    p = np.exp(g.true[0])
    assert p.sum() * cell == pytest.approx(1.0, abs=0.01)  # the grid holds p_t's mass
    assert g.kl[0] == pytest.approx((p * (g.true[0] - g.model[0])).sum() * cell)
    assert abs(g.kl[0]) < 1e-3 and g.schedule == "linear" and g.lim == P.LIM


def test_density_true_image_is_the_closed_form(dens_ex):
    grid = P.grid_points(P.LIM, NG)
    for model, t in (("linear", 0.5), ("cosine", 1.0)):
        dens_ex.controls["model"].value, dens_ex.controls["t"].value = model, t
        true = np.asarray(dens_ex.view.images[0].get_array())  # (NG, NG), rows = y
        i, j = 9, 5  # the cell at x = grid[j], y = grid[i]
        point = grid[i * NG + j]
        want = float(MIX.at_time(t, model).log_prob(point[None].double()))
        assert want > -8
        assert true[i, j] == pytest.approx(want, abs=1e-6)
        assert point[0] < 0 < point[1]  # a cell left of and above the centre: rows are y, columns x


def test_density_of_the_exact_model_matches_the_truth(dens_ex):
    """The exact model's flow carries N(0, I) to the true p_t (cosine: up to its start at t_min = 0.02)."""
    for model in ("linear", "cosine"):
        for t in DTIMES:
            dens_ex.controls["model"].value, dens_ex.controls["t"].value = model, t
            true, learned, diff = (np.asarray(im.get_array(), dtype=float) for im in dens_ex.view.images)
            mass = true > -8
            np.testing.assert_allclose(learned[mass], true[mass], atol=0.05)
            assert np.all(np.isnan(diff[~mass])) and np.all(np.abs(diff[mass]) < 0.05)
            kl = float(dens_ex.view.titles[2].get_text().split("KL ")[1].split()[0])
            assert abs(kl) < 0.02


def test_marginal_log_density_ends_at_log_likelihood():
    with seeded(0):
        model = PathModel(MLP(2, 16, 2), "linear", "velocity").eval()
    x = sample_data("gmm", 50, seed=0)
    lp = D.marginal_log_density(model, x, [0.0, 0.5, 1.0], rtol=1e-5, atol=1e-5)
    assert lp.shape == (3, 50)
    torch.testing.assert_close(lp[2], log_likelihood(model, x).log_prob)  # the same ODE on the same clock
    prior = -0.5 * x.square().sum(1) - np.log(2 * np.pi)
    torch.testing.assert_close(lp[0], prior)  # at t_min nothing is integrated: the prior itself
    assert not torch.allclose(lp[1], lp[2])


def test_density_t_changes_the_image_and_static_twin_matches(dens_ex):
    dens_ex.controls["model"].value, dens_ex.controls["t"].value = "linear", 0.5
    set_and_check_image(dens_ex, "t", 1.0)
    set_and_check_image(dens_ex, "model", "cosine")
    fig = dens_ex.static(model="cosine", t=1.0)
    assert isinstance(fig, Figure) and fig is not dens_ex.figure
    for k, gid in enumerate(("true", "model", "difference")):
        np.testing.assert_array_equal(np.asarray(by_gid(fig, gid).get_array()),
                                      np.asarray(dens_ex.view.images[k].get_array()))


def test_density_bad_values_are_refused(dens_ex):
    with pytest.raises(ValueError, match="t=0.7 was not precomputed"):
        dens_ex.static(t=0.7)
    with pytest.raises(ValueError, match="unknown model 'fm'"):
        dens_ex.static(model="fm")
    with pytest.raises(ValueError, match="t must lie in"):  # before the cosine path's start, t_min = 0.02
        D.density_grids({"c": optimal_model(MIX, "cosine")}, MIX, times=(0.01, 1.0), n=4)
    with pytest.raises(ValueError, match="empty"):
        D.density_grids({}, MIX)
    small = D.density_grids({"l": optimal_model(MIX, "linear")}, MIX, times=(0.5, 1.0), n=4)
    with pytest.raises(ValueError, match="not one of the times"):
        D.density_explorer(small, t=0.6)
    other = D.density_grids({"l": optimal_model(MIX, "linear")}, MIX, times=(0.5,), n=4)
    with pytest.raises(ValueError, match="other times or another grid"):
        D.density_explorer({"a": small["l"], "b": other["l"]})
    with pytest.raises(TypeError, match="DensityGrid"):
        D.density_explorer({"a": np.zeros((2, 4, 4))})
    with pytest.raises(ValueError, match="empty"):
        D.density_explorer({})


def test_density_callbacks_are_fast(dens_ex):
    report = measure_callbacks(dens_ex, 6)
    print("density explorer callback medians (ms):", {k: round(v, 1) for k, v in report.items()})
    assert set(report) == {"model", "t", "all"}
    assert report["all"] < 200  # the target is 50 ms (python -m fmlearn bench); generous on a loaded machine
