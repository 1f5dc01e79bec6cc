"""Widget callbacks, tested without a browser: set a control's value, check the image and the artists."""
import math
from types import SimpleNamespace

import ipywidgets as W
import numpy as np
import pytest
import torch
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from fmlearn.teaching import plotting as P
from fmlearn.teaching import widgets as Wd
from fmlearn.teaching.explorer import measure_callbacks
from fmlearn.data import sample_data


def by_gid(container, gid):
    return [a for a in container.findobj(lambda a: a.get_gid() == gid)]


def set_and_check_image(explorer, name, value):
    """Set a control; the PNG must change (the callback ran and redrew)."""
    before = explorer.image.value
    explorer.controls[name].value = value
    assert explorer.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert explorer.image.value != before, f"setting {name}={value!r} did not change the image"


def check_core_widgets(explorer):
    assert isinstance(explorer.widget, W.VBox) and explorer.image in explorer.widget.children
    assert isinstance(explorer.image, W.Image) and explorer.image.format == "png"
    for control in explorer.controls.values():
        assert type(control) in (W.Dropdown, W.FloatSlider, W.SelectionSlider)


# ---- path explorer ------------------------------------------------------------------------------
N = 200


@pytest.fixture(scope="module")
def path_ex():
    return Wd.path_explorer(datasets=("moons", "8gaussians"), schedules=("linear", "cosine"), n=N, seed=5, t=0.2)


@pytest.fixture(scope="module")
def path_data():
    """The documented seeding: one generator, x0 first, then the data sets in order."""
    g = torch.Generator().manual_seed(5)
    x0 = torch.randn(N, 2, generator=g)
    return x0.numpy(), {d: sample_data(d, N, generator=g).numpy() for d in ("moons", "8gaussians")}


def test_path_explorer_recombines_noise_and_data(path_ex, path_data):
    x0, x1 = path_data
    check_core_widgets(path_ex)
    points, fig = path_ex.view.points, path_ex.figure
    set_and_check_image(path_ex, "t", 0.5)
    np.testing.assert_allclose(points.get_offsets(), 0.5 * x1["moons"] + 0.5 * x0, atol=1e-6)
    set_and_check_image(path_ex, "schedule", "cosine")
    c = math.sqrt(0.5)
    np.testing.assert_allclose(points.get_offsets(), c * x1["moons"] + c * x0, atol=1e-6)
    np.testing.assert_allclose(path_ex.view.marks.get_ydata(), [c, c], atol=1e-12)  # markers at (t, alpha), (t, sigma)
    np.testing.assert_allclose(path_ex.view.alpha_line.get_ydata(), np.sin(0.5 * np.pi * path_ex.view.tt))
    set_and_check_image(path_ex, "dataset", "8gaussians")
    np.testing.assert_allclose(points.get_offsets(), c * x1["8gaussians"] + c * x0, atol=1e-6)
    set_and_check_image(path_ex, "t", 1.0)
    np.testing.assert_allclose(points.get_offsets(), x1["8gaussians"], atol=1e-6)
    # artists are updated in place, never recreated
    assert path_ex.view.points is points and path_ex.figure is fig and len(fig.axes[0].collections) == 1


def test_path_explorer_static_twin(path_ex, path_data):
    x0, x1 = path_data
    live = path_ex.view.points.get_offsets().copy()
    fig = path_ex.static(t=0.0, dataset="moons", schedule="linear")
    assert isinstance(fig, Figure) and fig is not path_ex.figure and len(fig.axes) == 2
    np.testing.assert_allclose(by_gid(fig, "x_t")[0].get_offsets(), x0, atol=1e-6)
    np.testing.assert_allclose(path_ex.view.points.get_offsets(), live)  # the live figure is untouched
    fig = path_ex.static(t=1.0, dataset="moons")  # unspecified parameters: the current values
    np.testing.assert_allclose(by_gid(fig, "x_t")[0].get_offsets(), x1["moons"], atol=1e-6)
    with pytest.raises(ValueError, match="unknown parameter"):
        path_ex.static(time=0.3)
    with pytest.raises(ValueError, match="'moons'"):
        path_ex.static(dataset="mons")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        path_ex.static(t=1.5)


def test_path_explorer_checks_names_and_accepts_points():
    with pytest.raises(ValueError, match="checkerboard"):
        Wd.path_explorer(datasets=("moons", "no-such-data"), n=10)
    with pytest.raises(ValueError, match="cosine"):
        Wd.path_explorer(datasets=("moons",), schedules=("linear", "cosin"), n=10)
    pts = torch.tensor([[1.0, 2.0], [-1.0, 0.5], [0.0, -2.0]])
    ex = Wd.path_explorer(datasets={"mine": pts}, schedules=("linear",), n=3, t=1.0)
    np.testing.assert_allclose(ex.view.points.get_offsets(), pts.numpy())
    with pytest.raises(ValueError, match="n=3"):
        Wd.path_explorer(datasets={"mine": pts}, n=10)


# ---- trajectory explorer ------------------------------------------------------------------------
def fake_result(seed, steps, trajectory=True):
    traj = torch.randn(steps + 1, 40, 2, generator=torch.Generator().manual_seed(seed))
    return SimpleNamespace(samples=traj[-1], trajectory=traj if trajectory else None, nfe=steps,
                           times=torch.linspace(0, 1, steps + 1))


@pytest.fixture(scope="module")
def results():
    return {("euler", 2): fake_result(0, 2), ("euler", 4): fake_result(1, 4),
            ("heun", 4): fake_result(2, 2), ("midpoint", 4): fake_result(3, 4, trajectory=False)}


def test_trajectory_explorer_shows_samples_and_trajectories(results):
    ex = Wd.trajectory_explorer(results, reference=torch.zeros(5, 2), n_traj=10)
    check_core_widgets(ex)
    assert ex.params() == {"sampler": "euler", "nfe": 2}
    set_and_check_image(ex, "nfe", 4)
    res = results[("euler", 4)]
    np.testing.assert_allclose(ex.view.samples.get_offsets(), res.samples.numpy(), atol=1e-6)
    segments = ex.view.lines.get_segments()
    assert len(segments) == 10
    np.testing.assert_allclose(segments[7], res.trajectory[:, 7].numpy(), atol=1e-6)
    np.testing.assert_allclose(ex.view.starts.get_offsets(), res.trajectory[0, :10].numpy(), atol=1e-6)
    set_and_check_image(ex, "sampler", "heun")
    np.testing.assert_allclose(ex.view.samples.get_offsets(), results[("heun", 4)].samples.numpy(), atol=1e-6)
    assert "counted 2" in ex.view.title.get_text()  # the counted NFE differs from the key
    assert ex.controls["nfe"].options == (4,)  # (heun, 2) was not computed: not offered
    set_and_check_image(ex, "sampler", "euler")
    set_and_check_image(ex, "nfe", 2)
    set_and_check_image(ex, "sampler", "midpoint")  # (midpoint, 2) is missing: the nearest budget, 4
    assert ex.params() == {"sampler": "midpoint", "nfe": 4} and ex.controls["nfe"].options == (4,)
    assert ex.view.samples.get_visible() and not ex.view.lines.get_visible()
    assert ex.view.missing[1].get_text() == "no trajectory stored"
    fig = ex.static(sampler="heun", nfe=2)  # the static twin still says so, rather than failing
    assert isinstance(fig, Figure)
    assert any("not computed" in t.get_text() for t in by_gid(fig, "missing"))


def test_trajectory_explorer_checks_its_input(results):
    with pytest.raises(ValueError, match="empty"):
        Wd.trajectory_explorer({})
    with pytest.raises(ValueError, match=r"\(sampler, nfe\)"):
        Wd.trajectory_explorer({"euler": results[("euler", 2)]})
    with pytest.raises(ValueError, match="'euler'"):
        Wd.trajectory_explorer(results, sampler="eular")
    with pytest.raises(ValueError, match="nfe"):
        Wd.trajectory_explorer(results, nfe=3)
    with pytest.raises(ValueError, match=r"nfe 2 for heun; choose one of \[4\]"):
        Wd.trajectory_explorer(results, sampler="heun", nfe=2)


# ---- fields -------------------------------------------------------------------------------------
def test_marginal_velocity_of_two_points_points_to_the_nearest():
    pts = torch.tensor([[-2.0, 0.0], [2.0, 0.0]])
    x = torch.tensor([[1.5, 0.3], [-1.2, -0.4]])
    t = 0.95
    v = Wd.marginal_velocity_fn(pts, "linear")(x, t)
    nearest = torch.tensor([[2.0, 0.0], [-2.0, 0.0]])
    # near t = 1 the posterior puts all its weight on the nearest point: v = (x1 - x) / (1 - t)
    torch.testing.assert_close(v, (nearest - x) / (1 - t), atol=1e-4, rtol=1e-4)
    # at every t it is the exact mixture formula: softmax weights of N(x; t mu_k, (1-t)^2 I)
    t = 0.4
    logits = -((x[:, None] - t * pts[None]) ** 2).sum(-1) / (2 * (1 - t) ** 2)
    x1_hat = torch.softmax(logits, 1) @ pts
    torch.testing.assert_close(Wd.marginal_velocity_fn(pts)(x, t), (x1_hat - x) / (1 - t), atol=1e-5, rtol=1e-5)
    # cosine path, near t = 1: towards the nearest point too; t = 1 is clipped, not infinite
    v = Wd.marginal_velocity_fn(pts, "cosine")(x, 0.97)
    assert ((v * (nearest - x)).sum(1) > 0.99 * v.norm(dim=1) * (nearest - x).norm(dim=1)).all()
    assert torch.isfinite(Wd.marginal_velocity_fn(pts)(x, 1.0)).all()
    assert Wd.marginal_velocity_fn(pts)(x.double(), 0.5).dtype == torch.float64


def test_precompute_field_grid_and_euler_particles():
    def velocity(x, t):  # constant in x: Euler is exact
        return torch.tensor([1.0, -2.0]) * (1 + 0 * x)

    times = torch.linspace(0, 1, 5)
    x0 = torch.randn(7, 2, generator=torch.Generator().manual_seed(0))
    f = Wd.precompute_field(velocity, times, lim=2.0, n=4, x0=x0)
    assert f.grid.shape == (16, 2) and f.velocities.shape == (5, 16, 2) and f.particles.shape == (5, 7, 2)
    np.testing.assert_allclose(f.grid, P.grid_points(2.0, 4).numpy())
    np.testing.assert_allclose(f.particles[-1], (x0 + torch.tensor([1.0, -2.0])).numpy(), atol=1e-6)
    assert Wd.precompute_field(velocity, times, n=3).particles is None
    with pytest.raises(ValueError, match="increasing"):
        Wd.precompute_field(velocity, [0.5, 0.2])


@pytest.fixture(scope="module")
def fields():
    def rotation(x, t):
        return (1 + 4 * t) * torch.stack([-x[:, 1], x[:, 0]], 1)

    pts = torch.tensor([[-1.5, -1.0], [1.5, 1.0], [0.0, 2.0]])
    x0 = torch.randn(30, 2, generator=torch.Generator().manual_seed(1))
    return {"rotation": Wd.precompute_field(rotation, torch.linspace(0, 1, 11), n=8, x0=x0),
            "three points": Wd.precompute_field(Wd.marginal_velocity_fn(pts), torch.linspace(0, 0.9, 7), n=6, x0=x0)}


def parallel(coll, v):
    """The arrow polygons of a PolyCollection point along the velocities v (G, 2)."""
    poly = np.stack([p.vertices[:7] for p in coll.get_paths()])  # (G, 7, 2)
    d = poly[:, 3] - 0.5 * (poly[:, 0] + poly[:, 6])  # tip minus tail
    cos = (d * v).sum(1) / (np.linalg.norm(d, axis=1) * np.linalg.norm(v, axis=1) + 1e-30)
    return len(d) == len(v) and np.allclose(cos, 1.0, atol=1e-5)


def test_field_explorer_snaps_to_precomputed_times(fields):
    ex = Wd.field_explorer(fields)
    check_core_widgets(ex)
    rot = fields["rotation"]
    set_and_check_image(ex, "t", 0.43)  # snaps to times[4] = 0.4
    assert ex.view.index == 4 and "t = 0.40" in ex.view.title.get_text()
    arrows = ex.view.arrows
    assert isinstance(arrows, PolyCollection) and parallel(arrows, rot.velocities[4])
    np.testing.assert_allclose(arrows.get_array(), np.linalg.norm(rot.velocities[4], axis=1), rtol=1e-5)
    np.testing.assert_allclose(ex.view.particles.get_offsets(), rot.particles[4], atol=1e-6)
    set_and_check_image(ex, "dataset", "three points")  # snaps to 0.45 of 0, .15, ..., .9
    three = fields["three points"]
    assert ex.view.index == 3 and parallel(ex.view.arrows, three.velocities[3])
    assert ex.view.arrows is arrows and len(ex.view.ax.collections) == 2  # arrows and particles, updated in place
    np.testing.assert_allclose(ex.view.particles.get_offsets(), three.particles[3], atol=1e-6)
    fig = ex.static(t=0.9)
    assert isinstance(fig, Figure)
    np.testing.assert_allclose(by_gid(fig, "particles")[0].get_offsets(), three.particles[-1], atol=1e-6)
    with pytest.raises(ValueError, match="'rotation'"):
        ex.static(dataset="rotations")


def test_field_explorer_checks_its_input(fields):
    f = fields["rotation"]
    with pytest.raises(ValueError, match="empty"):
        Wd.field_explorer({})
    with pytest.raises(ValueError, match="velocities must have shape"):
        Wd.field_explorer({"bad": (f.times, f.grid, f.velocities[:, :5])})
    with pytest.raises(ValueError, match="particles have"):
        Wd.field_explorer({"bad": (f.times, f.grid, f.velocities, f.particles[:3])})
    with pytest.raises(ValueError, match="'rotation'"):
        Wd.field_explorer(fields, dataset="rot")
    ex = Wd.field_explorer({"no particles": f[:3]})  # a 3-tuple: the field alone
    assert not ex.view.particles.get_visible()


# ---- benchmark helper ---------------------------------------------------------------------------
def test_measure_callbacks_reports_every_control_and_restores_values(path_ex):
    before = path_ex.params()
    report = measure_callbacks(path_ex, n=3)
    assert set(report) == {"t", "schedule", "dataset", "all"}
    assert all(isinstance(v, float) and 0 < v < 10_000 for v in report.values())
    assert path_ex.params() == before


def test_trajectory_explorer_notes():
    import torch
    from fmlearn.teaching import widgets
    res = {("a", 1): torch.zeros(10, 2), ("a", 2): torch.ones(10, 2)}
    ex = widgets.trajectory_explorer(res, notes={("a", 2): "W2 = 0.123"}, label="model")
    ex.controls["nfe"].value = 2
    assert "W2 = 0.123" in ex.view.title.get_text()
    ex.controls["nfe"].value = 1
    assert "W2" not in ex.view.title.get_text()
    assert ex.controls["sampler"].description == "model"
