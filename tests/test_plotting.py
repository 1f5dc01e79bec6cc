"""Static figures and plotly animations: each draws what it claims (checked on the artists' data)."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure

from fmlearn.teaching import animation
from fmlearn.teaching import plotting as P


def by_gid(container, gid):
    """All artists with this gid in a Figure or an Axes."""
    return [a for a in container.findobj(lambda a: a.get_gid() == gid)]


def arrows_of(coll):
    """Display vectors (tip minus middle of the tail) of the arrow polygons in a PolyCollection, (G, 2)."""
    v = np.stack([p.vertices[:7] for p in coll.get_paths()])  # (G, 7, 2)
    return v[:, 3] - 0.5 * (v[:, 0] + v[:, 6])


def assert_parallel(a, b):
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    np.testing.assert_allclose(cos, 1.0, atol=1e-5)


@pytest.fixture(scope="module")
def cloud():
    """Data x1 (two blobs at (+-2, 0)) and paired noise x0, shape (60, 2) each."""
    g = torch.Generator().manual_seed(3)
    centres = torch.tensor([[2.0, 0.0], [-2.0, 0.0]]).repeat(30, 1)  # (60, 2)
    x1 = 0.2 * torch.randn(60, 2, generator=g) + centres
    return x1, torch.randn(60, 2, generator=g)


def test_scatter_draws_the_points_in_course_style(cloud):
    fig, axes = P.new_figure()
    coll = P.scatter(axes[0, 0], cloud[0])
    np.testing.assert_allclose(coll.get_offsets(), cloud[0].numpy(), rtol=0, atol=1e-6)
    assert axes[0, 0].get_xlim() == (-3.5, 3.5) and axes[0, 0].get_ylim() == (-3.5, 3.5)
    assert axes[0, 0].get_aspect() == 1.0
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        P.scatter(axes[0, 0], torch.zeros(5, 3))


def test_plot_schedules_draws_alpha_sigma_and_log_snr():
    fig = P.plot_schedules()
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert [len(ax.lines) for ax in fig.axes] == [3, 3, 3]
    lin_alpha, cos_alpha = fig.axes[0].lines[0], fig.axes[0].lines[1]
    np.testing.assert_allclose(lin_alpha.get_ydata(), lin_alpha.get_xdata(), atol=1e-12)  # alpha_t = t
    cos_sigma = fig.axes[1].lines[1]
    np.testing.assert_allclose(cos_alpha.get_ydata() ** 2 + cos_sigma.get_ydata() ** 2, 1.0, atol=1e-12)  # VP
    for line in fig.axes[2].lines:  # log-SNR: finite and increasing from noise to data
        y = np.asarray(line.get_ydata())
        assert np.isfinite(y).all() and (np.diff(y) > 0).all()


def test_path_snapshots_show_noise_at_0_and_data_at_1(cloud):
    x1, x0 = cloud
    fig = P.plot_path_snapshots(x1, "cosine", times=(0, 0.5, 1), x0=x0)
    assert len(fig.axes) == 3
    offsets = [by_gid(ax, "x_t")[0].get_offsets() for ax in fig.axes]
    np.testing.assert_allclose(offsets[0], x0.numpy(), atol=1e-6)
    np.testing.assert_allclose(offsets[1], math.sqrt(0.5) * (x1 + x0).numpy(), atol=1e-6)
    np.testing.assert_allclose(offsets[2], x1.numpy(), atol=1e-6)


def test_path_snapshots_default_noise_comes_from_the_seed(cloud):
    x1 = cloud[0]
    fig = P.plot_path_snapshots(x1, "linear", times=(0,), seed=7)
    expected = torch.randn(x1.shape, generator=torch.Generator().manual_seed(7))
    np.testing.assert_allclose(by_gid(fig, "x_t")[0].get_offsets(), expected.numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="shape of x1"):
        P.plot_path_snapshots(x1, x0=torch.zeros(3, 2))


def test_compare_paths_grid_shares_noise_and_differs_in_between(cloud):
    x1, x0 = cloud
    fig = P.compare_paths(x1, ("linear", "cosine", "linear-beta"), times=(0, 0.5, 1), x0=x0)
    assert len(fig.axes) == 9
    grid = [[by_gid(fig.axes[3 * r + c], "x_t")[0].get_offsets() for c in range(3)] for r in range(3)]
    for row in grid:
        np.testing.assert_allclose(row[2], x1.numpy(), atol=1e-5)
    np.testing.assert_allclose(grid[0][0], x0.numpy(), atol=1e-6)  # linear and cosine start at pure noise
    assert not np.allclose(grid[0][1], grid[1][1])  # linear and cosine differ at t = 0.5


def test_conditional_path_collapses_onto_its_point(cloud):
    x1, x0 = cloud
    fig = P.plot_conditional_vs_marginal(x1, "linear", index=4, times=(0, 0.5, 1), n_cond=20, x0=x0)
    assert len(fig.axes) == 6
    cond = [c.get_offsets() for c in by_gid(fig, "conditional")]
    marg = [c.get_offsets() for c in by_gid(fig, "marginal")]
    np.testing.assert_allclose(cond[0], x0[:20].numpy(), atol=1e-6)            # t=0: noise
    np.testing.assert_allclose(cond[1], (0.5 * x1[4] + 0.5 * x0[:20]).numpy(), atol=1e-6)
    np.testing.assert_allclose(cond[2], np.repeat(x1[4:5].numpy(), 20, 0), atol=1e-6)  # t=1: one point
    np.testing.assert_allclose(marg[2], x1.numpy(), atol=1e-6)                  # t=1: all the data
    with pytest.raises(ValueError, match="index"):
        P.plot_conditional_vs_marginal(x1, index=60)


def test_arrow_vectors_keep_direction_grow_with_speed_and_saturate():
    v = np.array([[1.0, 0.0], [0.0, 2.0], [-30.0, 40.0], [1e6, 0.0]])
    d = P.arrow_vectors(v, spacing=0.5, ref=1.0)
    length = np.linalg.norm(d, axis=1)
    np.testing.assert_allclose(d / length[:, None], v / np.linalg.norm(v, axis=1)[:, None])
    assert (np.diff(length) > 0).all() and (length < 0.5).all()
    assert length[0] == pytest.approx(0.25) and length[-1] == pytest.approx(0.5, rel=1e-5)


def test_arrow_polygons_point_from_tail_to_tip():
    centres = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, -1.0]])
    d = np.array([[0.5, 0.0], [0.0, -0.05], [0.0, 0.0]])
    poly = P.arrow_polygons(centres, d, spacing=0.5)
    assert poly.shape == (3, 7, 2)
    np.testing.assert_allclose(poly[:, 3], centres + d / 2)  # the tip
    np.testing.assert_allclose(0.5 * (poly[:, 0] + poly[:, 6]), centres - d / 2)  # the middle of the tail
    np.testing.assert_allclose(poly[2], np.repeat(centres[2:], 7, 0))  # no speed: no arrow
    assert P.arrow_polygons(centres, np.stack([d] * 4), 0.5).shape == (4, 3, 7, 2)  # all times at once


def test_plot_vector_field_arrows_follow_the_velocity():
    def velocity(x, t):  # a rotation that speeds up with t
        return (1 + t) * torch.stack([-x[:, 1], x[:, 0]], dim=1)

    fig, axes = P.new_figure()
    ax = P.plot_vector_field(axes[0, 0], velocity, 0.5, n=10)
    arrows = by_gid(ax, "field")[0]
    assert isinstance(arrows, PolyCollection) and len(arrows.get_paths()) == 100
    grid = P.grid_points(3.5, 10)
    v = velocity(grid, 0.5).numpy()
    assert_parallel(arrows_of(arrows), v)
    assert (np.linalg.norm(arrows_of(arrows), axis=1) < 0.7).all()  # shorter than the grid spacing
    np.testing.assert_allclose(arrows.get_array(), np.linalg.norm(v, axis=1), rtol=1e-5)  # colour = speed
    # a model with a .velocity method (e.g. a PathModel) works the same
    ax2 = P.plot_vector_field(P.new_figure()[1][0, 0], SimpleNamespace(velocity=velocity), 0.5, n=10)
    np.testing.assert_allclose(arrows_of(by_gid(ax2, "field")[0]), arrows_of(arrows))
    with pytest.raises(ValueError, match="velocity returned shape"):
        P.plot_vector_field(axes[0, 0], lambda x, t: x[:, :1], 0.5, n=4)


def test_plot_trajectories_lines_start_and_end():
    traj = torch.cumsum(torch.randn(6, 80, 2, generator=torch.Generator().manual_seed(0)), dim=0)
    fig, axes = P.new_figure()
    ax = P.plot_trajectories(axes[0, 0], traj, n=25)
    lines = by_gid(ax, "trajectories")[0]
    assert isinstance(lines, LineCollection) and len(lines.get_segments()) == 25
    np.testing.assert_allclose(lines.get_segments()[3], traj[:, 3].numpy(), atol=1e-6)
    np.testing.assert_allclose(by_gid(ax, "start")[0].get_offsets(), traj[0, :25].numpy(), atol=1e-6)
    np.testing.assert_allclose(by_gid(ax, "end")[0].get_offsets(), traj[-1, :25].numpy(), atol=1e-6)
    with pytest.raises(ValueError, match=r"\(K\+1, N, 2\)"):
        P.plot_trajectories(axes[0, 0], traj[0])
    with pytest.raises(ValueError, match="return_trajectory"):
        P.plot_trajectories(axes[0, 0], SimpleNamespace(trajectory=None))


def test_plot_samples_grid_one_panel_per_result(cloud):
    x1 = cloud[0]
    results = {"euler": SimpleNamespace(samples=x1, nfe=8), "heun": x1 + 1, "a": x1, "b": x1, "c": x1 - 1}
    fig = P.plot_samples_grid(results, ncols=3, reference=x1)
    assert len(fig.axes) == 6 and sum(ax.get_visible() for ax in fig.axes) == 5
    assert fig.axes[0].get_title() == "euler  (NFE 8)" and fig.axes[1].get_title() == "heun"
    np.testing.assert_allclose(by_gid(fig.axes[1], "samples")[0].get_offsets(), (x1 + 1).numpy(), atol=1e-6)
    assert len(by_gid(fig, "reference")) == 5
    with pytest.raises(ValueError, match="empty"):
        P.plot_samples_grid({})


def test_animate_path_frames_slider_and_size(cloud):
    x1, x0 = cloud
    fig = animation.animate_path(x1, "linear", n_frames=12, x0=x0)
    assert len(fig.frames) == 12
    steps = fig.layout.sliders[0].steps
    assert len(steps) == 12 and list(steps[-1].args[0]) == [fig.frames[-1].name]
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == ["▶ play", "❚❚ pause"]
    first, last = fig.frames[0].data[0], fig.frames[-1].data[0]
    np.testing.assert_allclose(np.c_[first.x, first.y], x0.numpy(), atol=1e-3)  # t = 0: noise
    np.testing.assert_allclose(np.c_[last.x, last.y], x1.numpy(), atol=1e-3)    # t = 1: data
    assert P.figure_size_ok(fig) and not P.figure_size_ok(fig, limit=1000)


def test_animate_path_default_size_is_small():
    x1 = torch.randn(2000, 2, generator=torch.Generator().manual_seed(0))
    assert len(animation.animate_path(x1, "cosine", n_frames=30).to_json()) < 5e6


def test_animate_field_arrows_and_particles():
    def velocity(x, t):
        return torch.stack([-x[:, 1], x[:, 0]], dim=1) * (1 + t)

    times = torch.linspace(0, 1, 61)
    traj = torch.randn(61, 50, 2, generator=torch.Generator().manual_seed(0))
    fig = animation.animate_field(velocity, traj, times, n=8, max_frames=20)
    assert len(fig.frames) == 20 and len(fig.layout.sliders[0].steps) == 20
    shafts, heads, parts = fig.frames[5].data
    assert len(shafts.x) == 3 * 64 and shafts.x[2] is None  # tail, head, gap per arrow
    assert len(heads.x) == 64 and len(parts.x) == 50
    k = int(np.linspace(0, 60, 20).round()[5])  # frame 5 is time index k
    np.testing.assert_allclose(np.c_[parts.x, parts.y], traj[k].numpy(), atol=1e-3)
    assert fig.layout.sliders[0].steps[5].label == f"{times[k].item():.2f}"
    # precomputed velocities (T, G, 2) give the same figure
    grid = P.grid_points(3.5, 8)
    vels = torch.stack([velocity(grid, float(t)) for t in times])
    fig2 = animation.animate_field(vels, traj, times, n=8, max_frames=20)
    assert fig2.frames[5].data[0].x == shafts.x
    for frame in fig.frames:  # the colour bar stays as the animation plays
        head = frame.data[1].marker
        assert head.showscale and (head.cmin, head.cmax) == (fig.data[1].marker.cmin, fig.data[1].marker.cmax)
    assert P.figure_size_ok(fig)
    with pytest.raises(ValueError, match="precomputed velocities"):
        animation.animate_field(vels[:, :10], traj, times, n=8)
    with pytest.raises(ValueError, match="steps"):
        animation.animate_field(velocity, traj[:5], times, n=8)


def test_animate_field_default_size_is_small():
    def velocity(x, t):
        return -x / (1.001 - t)

    times = torch.linspace(0, 1, 101)
    traj = torch.randn(101, 1000, 2, generator=torch.Generator().manual_seed(0))
    fig = animation.animate_field(velocity, traj, times)
    assert len(fig.to_json()) < 5e6
