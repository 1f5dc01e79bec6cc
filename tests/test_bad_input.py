"""Random bad input at every public entry point (Hypothesis).

The contract: a call either works — its result is finite, of the documented shape — or raises a
``ValueError`` / ``TypeError`` whose message names the offending argument. Never a raw torch error
(``RuntimeError``, ``IndexError``...), a hang, or a silent NaN. The inputs are drawn from every
rank 0-4 with sides 0-5 (empty included), every common dtype (half, bfloat16, float, double, int,
bool, complex), NaN, +-inf, 1e+-30, and non-tensors (None, a string, a list, a numpy array).
"""
from __future__ import annotations

import math
import os
import re
import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fmlearn.checkpoints import load_checkpoint, save_checkpoint
from fmlearn.couplings import ot_coupling
from fmlearn.data import ArrayData, dataset_names, sample_data
from fmlearn.likelihood import log_likelihood
from fmlearn.losses import Objective
from fmlearn.metrics import mmd, sliced_wasserstein, wasserstein2
from fmlearn.models import MLP, PathModel
from fmlearn.parametrizations import PARAMETRIZATIONS, convert
from fmlearn.samplers import SAMPLERS, sample
from fmlearn.schedules import get_schedule
from fmlearn.training import train

EXAMPLES = int(os.environ.get("FMLEARN_HYPOTHESIS_EXAMPLES", "30"))  # more: a deeper search
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int64, torch.bool, torch.complex64]
SPECIAL = [0.0, 1.0, -1.0, math.nan, math.inf, -math.inf, 1e30, -1e30, 1e-30]
COUNT: dict[str, int] = {}  # entry point -> cases tried (printed by test_report)


@st.composite
def tensors(draw, max_ndim: int = 4, max_side: int = 5, dims=None):
    """A tensor of random rank, sides, dtype and values (with NaN, inf and huge values sprinkled in)."""
    if dims is None:
        ndim = draw(st.integers(0, max_ndim))
        shape = tuple(draw(st.lists(st.integers(0, max_side), min_size=ndim, max_size=ndim)))
    else:
        shape = tuple(draw(st.integers(lo, hi)) for lo, hi in dims)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(draw(st.integers(0, 2 ** 16))),
                    dtype=torch.float64)
    if x.numel() and draw(st.booleans()):
        x.view(-1)[draw(st.integers(0, x.numel() - 1))] = draw(st.sampled_from(SPECIAL))
    if draw(st.integers(0, 4)) == 0:
        x = x * draw(st.sampled_from([1e-30, 1e10, 1e30]))
    dtype = draw(st.sampled_from(DTYPES))
    return x.to(dtype) if dtype is not torch.bool else x > 0


def anything(max_ndim: int = 4, max_side: int = 5, dims=None):
    """A tensor as above, or something that is not a tensor."""
    return st.one_of(tensors(max_ndim, max_side, dims), tensors(max_ndim, max_side, dims).map(lambda t: t.numpy()
                     if t.dtype not in (torch.bfloat16,) else t), st.sampled_from([None, "x", [[0.0, 1.0]], 3.0]))


def clean_2d():
    """Mostly well-formed (N, 2) float clouds with occasional bad values: close to what a learner passes."""
    return tensors(dims=[(0, 6), (1, 3)])


def obeys(name: str, call, args: tuple[str, ...], *, check=None):
    """Run ``call``; it must succeed (then ``check(result)`` if given) or raise ValueError/TypeError naming one
    of ``args``. Any other exception, or a non-finite float result, fails the test."""
    COUNT[name] = COUNT.get(name, 0) + 1
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = call()
    except (ValueError, TypeError) as err:
        named = any(re.search(rf"(?<![\w.]){re.escape(a)}(?![\w])", str(err)) for a in args)
        assert named, f"{name}: the message does not name one of {args}: {err!r}"
        return None
    if isinstance(out, float):
        assert math.isfinite(out), f"{name} returned {out} without an error"
    elif isinstance(out, torch.Tensor) and out.is_floating_point() and not bool(torch.isfinite(out).all()):
        assert any("non-finite" in str(w.message) for w in caught), f"{name}: silent non-finite result"
    if check is not None:
        check(out)
    return out


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return PathModel(MLP(dim=2, width=8, depth=1), "linear", "velocity")


@pytest.fixture(scope="module")
def noise_model():
    torch.manual_seed(0)
    return PathModel(MLP(dim=2, width=8, depth=1), "cosine", "noise")


@SETTINGS
@given(x0=anything(), sampler=st.sampled_from(list(SAMPLERS) + ["nope"]),
       nfe=st.sampled_from([None, -1, 0, 1, 2, 3, 8, 2.5, "4", True]))
def test_sample(model, noise_model, x0, sampler, nfe):
    for m in (model, noise_model):
        obeys("samplers.sample", lambda: sample(m, x0, sampler, nfe if sampler != "dopri5" else None).samples,
              ("x0", "sampler", "nfe", "times"),
              check=lambda out: out.shape == x0.shape)


@SETTINGS
@given(data=st.one_of(anything(), st.sampled_from(["moons", "mooons", ""])),
       batch_size=st.sampled_from([-1, 0, 1, 3, 2.0, None]))
def test_train(model, data, batch_size):
    obeys("training.train", lambda: train(model, data, "fm", steps=2, batch_size=batch_size, progress=False).steps,
          ("data", "dataset", "batch_size", "points"))


@SETTINGS
@given(name=st.sampled_from(dataset_names() + ["spiral", "", None, 3]),
       n=st.sampled_from([-5, 0, 1, 7, 2.5, True, "10", None]))
def test_sample_data(name, n):
    obeys("data.sample_data", lambda: sample_data(name, n, seed=0), ("dataset", "n"),
          check=lambda out: out.shape == (n, 2))


@SETTINGS
@given(points=anything())
def test_array_data(points):
    obeys("data.ArrayData", lambda: ArrayData(points).sample(4, torch.Generator().manual_seed(0)), ("points",))


@pytest.mark.parametrize("metric", [wasserstein2, sliced_wasserstein, mmd], ids=lambda f: f.__name__)
@SETTINGS
@given(x=st.one_of(clean_2d(), anything()), y=st.one_of(clean_2d(), anything()))
def test_metrics(metric, x, y):
    obeys(f"metrics.{metric.__name__}", lambda: metric(x, y), ("x", "y", "mmd", "wasserstein2"))


@SETTINGS
@given(x0=st.one_of(clean_2d(), anything()), x1=st.one_of(clean_2d(), anything()))
def test_ot_coupling(x0, x1):
    obeys("couplings.ot_coupling", lambda: ot_coupling(x0, x1)[0], ("x0", "x1"))


@SETTINGS
@given(pred=anything(max_ndim=3), x=anything(max_ndim=3), t=st.one_of(anything(max_ndim=1),
       st.sampled_from([0.0, 0.5, 1.0, 2.0, -1.0, math.nan])),
       src=st.sampled_from(list(PARAMETRIZATIONS) + ["eps", "nope"]), dst=st.sampled_from(list(PARAMETRIZATIONS)),
       schedule=st.sampled_from(["linear", "cosine", "linear-beta"]))
def test_convert(pred, x, t, src, dst, schedule):
    obeys("parametrizations.convert", lambda: convert(pred, src, dst, x, t, get_schedule(schedule)),
          ("pred", "x", "t", "parametrization"))


@SETTINGS
@given(x=st.one_of(clean_2d(), anything()))
def test_log_likelihood(model, x):
    obeys("likelihood.log_likelihood", lambda: log_likelihood(model, x, rtol=1e-3, atol=1e-3).log_prob, ("x",))


@SETTINGS
@given(x0=st.one_of(clean_2d(), anything()), x1=st.one_of(clean_2d(), anything()))
def test_objective_loss(model, x0, x1):
    obeys("losses.Objective.loss", lambda: Objective.preset("fm").loss(model.net, x0, x1,
                                                                         generator=torch.Generator().manual_seed(0)),
          ("x0", "x1"))


@pytest.fixture(scope="module")
def checkpoint_bytes(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "good.pt"
    save_checkpoint(path, model)
    return path.read_bytes()


@SETTINGS
@given(cut=st.floats(0.0, 1.0), flip=st.integers(0, 2 ** 31), junk=st.binary(max_size=64))
def test_load_checkpoint(checkpoint_bytes, tmp_path_factory, cut, flip, junk):
    data = bytearray(checkpoint_bytes[: int(len(checkpoint_bytes) * cut)]) + junk
    if data:
        data[flip % len(data)] ^= 0xFF
    path = tmp_path_factory.mktemp("bad") / "bad.pt"
    path.write_bytes(bytes(data))
    obeys("checkpoints.load_checkpoint", lambda: load_checkpoint(path, device="cpu"), (str(path), "checkpoint"))


def test_report(capsys):
    # runs last in this file: every entry point was tried on many cases
    if len(COUNT) < 12:
        pytest.skip("run the whole file to count the cases")
    with capsys.disabled():
        print(f"\n[bad input] {len(COUNT)} entry points, {sum(COUNT.values())} cases: "
              + ", ".join(f"{k} {v}" for k, v in sorted(COUNT.items())))
    assert len(COUNT) >= 12 and all(v >= min(EXAMPLES, 20) for v in COUNT.values()), COUNT
