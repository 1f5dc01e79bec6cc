"""Saving the course's plotly animations as GIF/MP4 with matplotlib (fmlearn.teaching.export)."""
import os

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from matplotlib import animation as manimation
from PIL import Image

from fmlearn.data import sample_data
from fmlearn.teaching.animation import animate_field, animate_path
from fmlearn.teaching.digits import animate_digits
from fmlearn.teaching.export import save_animation

SIZE = (240, 200)


def _frames(path) -> list[np.ndarray]:
    """Every frame of a GIF as an RGB array (H, W, 3)."""
    with Image.open(path) as im:
        out = []
        for k in range(im.n_frames):
            im.seek(k)
            out.append(np.asarray(im.convert("RGB"), dtype=np.int16))
    return out


def _path_fig():
    return animate_path(sample_data("moons", 60, seed=0), n_frames=4)


def _field_fig():
    g = torch.Generator().manual_seed(0)
    traj = torch.cumsum(0.4 * torch.randn(5, 20, 2, generator=g), 0)  # (T, N, 2)
    return animate_field(lambda x, t: (1 + 2 * t) * torch.stack([-x[:, 1], x[:, 0]], 1), trajectory=traj,
                         times=torch.linspace(0, 1, 5), n=5)


def _digits_fig():
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(4, 3, 1, 28, 28, generator=g) * 2 - 1  # (K+1, N, 1, H, W)
    ramp = torch.linspace(0, 1, 4).view(4, 1, 1, 1, 1)
    traj = (1 - ramp) * noise + ramp * torch.ones_like(noise)  # noise to solid ink
    return animate_digits({"a": traj, "b": -traj}, torch.linspace(0, 1, 4), ncol=3)


@pytest.mark.parametrize("make", [_path_fig, _field_fig, _digits_fig], ids=["path", "field", "digits"])
def test_each_course_animation_becomes_a_gif_with_one_image_per_frame(make, tmp_path):
    fig = make()
    out = save_animation(fig, tmp_path / "a.gif", size=SIZE, fps=5)
    assert out == tmp_path / "a.gif"
    with Image.open(out) as im:
        assert im.format == "GIF" and im.size == SIZE and im.n_frames == len(fig.frames)
    frames = _frames(out)
    assert frames[0].shape == (SIZE[1], SIZE[0], 3)
    # the plotly frames differ, so the drawings do (beyond the title's time label): compare below the title
    first, last = frames[0][60:], frames[-1][60:]
    assert np.abs(first - last).mean() > 1.0
    assert os.listdir(tmp_path) == ["a.gif"]  # no temporary file left behind


def _red(frame: np.ndarray) -> np.ndarray:
    return (frame[..., 0] > 180) & (frame[..., 1] < 90) & (frame[..., 2] < 90)


def _moving_marker_fig():
    """A big red marker at the top-right corner, then at the bottom-left, plus a static blue marker (trace 0)."""
    blue = go.Scatter(x=[0.5], y=[0.5], mode="markers", marker={"size": 20, "color": "blue"})
    red = dict(mode="markers", marker={"size": 30, "color": "red"})
    frames = [go.Frame(name="0", data=[go.Scatter(x=[0.9], y=[0.9], **red)], traces=[1]),
              go.Frame(name="1", data=[go.Scatter(x=[0.1], y=[0.1], **red)], traces=[1])]
    fig = go.Figure(data=[blue, go.Scatter(x=[0.9], y=[0.9], **red)], frames=frames)
    fig.update_layout(xaxis={"range": [0, 1]}, yaxis={"range": [0, 1]}, width=300, height=300)
    return fig


def test_a_marker_lands_where_its_data_position_is_and_frames_update_only_their_traces(tmp_path):
    frames = _frames(save_animation(_moving_marker_fig(), tmp_path / "m.gif", size=(300, 300)))
    centres = []
    for frame in frames:
        rows, cols = np.nonzero(_red(frame))
        assert len(rows) > 100, "the red marker is missing"
        centres.append((cols.mean(), rows.mean()))
        # trace 0 is in no frame's `traces`, so it stays drawn in every frame
        b_rows, b_cols = np.nonzero((frame[..., 2] > 180) & (frame[..., 0] < 90) & (frame[..., 1] < 90))
        assert len(b_rows) > 50, "the static blue marker is missing"
        blue = (b_cols.mean(), b_rows.mean())
    (x0, y0), (x1, y1) = centres
    assert x0 > 200 and y0 < 120, f"(0.9, 0.9) should be drawn top right, is at pixel {centres[0]}"
    assert x1 < 100 and y1 > 200, f"(0.1, 0.1) should be drawn bottom left, is at pixel {centres[1]}"
    # the axes map linearly: the centre (0.5, 0.5) is halfway between (0.1, 0.1) and (0.9, 0.9)
    assert abs(blue[0] - (x0 + x1) / 2) < 3 and abs(blue[1] - (y0 + y1) / 2) < 3


def test_a_heatmap_keeps_plotly_orientation_and_size_follows_dpi(tmp_path):
    # animate_digits stores each image flipped (plotly's heatmap row 0 is at the bottom): ink in the top half
    # of every digit must be drawn in the top half of the picture
    top_ink = -torch.ones(2, 1, 1, 28, 28)
    top_ink[:, :, :, :14] = 1.0
    fig = animate_digits({"top": top_ink}, [0.0, 1.0])
    frame = _frames(save_animation(fig, tmp_path / "d.gif", dpi=50))[-1]
    assert frame.shape[:2] == (fig.layout.height // 2, fig.layout.width // 2)  # default size: layout x dpi / 100
    dark = np.nonzero(frame.mean(axis=-1) < 60)[0]
    assert len(dark) > 100
    assert np.median(dark) < frame.shape[0] / 2


def test_bad_inputs_are_refused_with_what_to_do(tmp_path, monkeypatch):
    fig = _path_fig()
    with pytest.raises(ValueError, match=r"\.gif or \.mp4"):
        save_animation(fig, tmp_path / "a.png")
    with pytest.raises(ValueError, match="no frames"):
        save_animation(go.Figure(go.Scatter(x=[0], y=[0])), tmp_path / "a.gif")
    with pytest.raises(ValueError, match="width, height"):
        save_animation(fig, tmp_path / "a.gif", size=(5, 5))
    with pytest.raises(ValueError, match="fps"):
        save_animation(fig, tmp_path / "a.gif", fps=0)
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(PermissionError, match="cannot write to the folder"):
        save_animation(fig, tmp_path / "file" / "a.gif")
    bars = go.Figure(go.Bar(x=[0], y=[1]), frames=[go.Frame(data=[go.Bar(x=[0], y=[2])])])
    with pytest.raises(ValueError, match="cannot draw a 'bar' trace"):
        save_animation(bars, tmp_path / "a.gif")
    monkeypatch.setattr(manimation.writers, "is_available", lambda name: False)
    with pytest.raises(RuntimeError, match="install it.*or save as .gif"):
        save_animation(fig, tmp_path / "a.mp4")
    assert sorted(os.listdir(tmp_path)) == ["file"]


def test_a_failed_write_leaves_the_existing_file_intact(tmp_path, monkeypatch):
    out = save_animation(_path_fig(), tmp_path / "a.gif", size=SIZE)
    before = out.read_bytes()

    def broken(self, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(manimation.PillowWriter, "grab_frame", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        save_animation(_field_fig(), out, size=SIZE)
    assert out.read_bytes() == before
    assert os.listdir(tmp_path) == ["a.gif"]


@pytest.mark.skipif(not manimation.writers.is_available("ffmpeg"), reason="ffmpeg is not installed")
def test_mp4_is_written_when_ffmpeg_is_there(tmp_path):
    out = save_animation(_path_fig(), tmp_path / "a.mp4", size=(240, 200))
    data = out.read_bytes()
    assert data[4:8] == b"ftyp" and len(data) > 1000
    assert os.listdir(tmp_path) == ["a.mp4"]
