"""Notebook 00's demo: it trains both families live on a word or a picture, and refuses bad input kindly."""
import io
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from matplotlib import image as mpimg

from fmlearn.drawn_data import WELCOME_PICTURE
from fmlearn.teaching.demo import FAMILIES, train_families, welcome_demo


def test_a_word_trains_both_families_with_a_live_view_and_a_static_twin():
    demo = welcome_demo(steps=60, n=300)
    models = demo.run_word("hi")
    assert list(models) == list(FAMILIES)
    assert {m.schedule.name for m in models.values()} == {"linear", "cosine"}
    assert all(run.step == 60 for run in demo.view.runs.values())
    fig = demo.static()
    assert [ax.get_title() for ax in fig.axes[:2]] == ["flow matching: step 60", "diffusion: step 60"]


def test_one_family_and_the_default_picture():
    demo = welcome_demo(steps=30, n=200, picture=WELCOME_PICTURE)
    demo.family.value = "diffusion"
    demo._in_output(lambda: demo.run_picture(demo._uploaded()))  # what the button does without an upload
    assert list(demo.models) == ["diffusion"] and demo.points.shape == (200, 2)


def test_same_seed_same_models():
    pts = torch.randn(100, 2, generator=torch.Generator().manual_seed(0))
    a = train_families(pts, steps=20, seed=3, width=16)
    b = train_families(pts, steps=20, seed=3, width=16)
    for name in FAMILIES:
        for p, q in zip(a[name].parameters(), b[name].parameters()):
            assert torch.equal(p, q)
    with pytest.raises(ValueError, match="unknown family"):
        train_families(pts, steps=1, families=("gan",))


def test_uploads_of_both_ipywidgets_versions_are_read():
    buf = io.BytesIO()
    mpimg.imsave(buf, np.eye(8), cmap="gray_r", format="png")
    content = buf.getvalue()
    demo = welcome_demo(steps=10, n=50)
    for value in ({"a.png": {"content": content}},  # ipywidgets 7: name -> file
                  ({"name": "a.png", "content": memoryview(content)},)):  # ipywidgets 8: a tuple of files
        demo.upload = SimpleNamespace(value=value)
        picture = demo._uploaded()
        assert picture.shape[:2] == (8, 8)


def test_bad_input_is_reported_in_the_output_not_raised():
    demo = welcome_demo(steps=10, n=50)
    demo.upload = SimpleNamespace(value=())
    with pytest.raises(ValueError, match="no picture uploaded"):
        demo._uploaded()
    printed = []
    import builtins
    real_print = builtins.print

    class Out:
        def clear_output(self):
            pass

        def __enter__(self):
            builtins.print = lambda *a, **k: printed.append(" ".join(map(str, a)))

        def __exit__(self, *exc):
            builtins.print = real_print

    demo.out = Out()
    demo._in_output(lambda: demo.run_word("   "))
    assert printed and printed[0].startswith("could not train:")
    with pytest.raises(ValueError, match="nothing trained yet"):
        demo.static()
