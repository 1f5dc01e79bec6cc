"""Comparing a learner's function with its reference on random inputs, and naming a recognised mistake."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from .registry import Spec, numbers, specs

__all__ = ["compare", "check"]


def _as_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _f64(x) -> Tensor:
    return torch.as_tensor(x.detach() if isinstance(x, Tensor) else x, dtype=torch.float64)


def _close(a, b, atol) -> bool:
    a, b = _as_tuple(a), _as_tuple(b)
    if len(a) != len(b):
        return False
    for u, v in zip(a, b):
        u, v = _f64(u), _f64(v)
        if u.shape != v.shape or not torch.allclose(u, v, atol=atol, rtol=1e-6):
            return False
    return True


def compare(name: str, fn: Callable, trials: int = 3, seed: int = 0) -> str | None:
    """Compare ``fn`` with the reference of ``specs()[name]`` on random inputs.

    Returns:
        None when they agree, else a message that says what differs (a named mistake when recognized).
    """
    spec = specs()[name]
    g = torch.Generator().manual_seed(seed)
    return _compare(spec, fn, g, trials)


def _compare(spec: Spec, fn: Callable, g: torch.Generator, trials: int) -> str | None:
    for _ in range(trials):
        args = spec.inputs(g)
        want = spec.reference(*args)
        try:
            got = fn(*args)
        except NotImplementedError:
            raise
        except Exception as err:  # the learner's code failed: say how it was called
            hint = " (t has shape (B,): write t[:, None] to broadcast it against (B, D))" \
                if "must match the size" in str(err) else ""
            return f"calling {spec.signature} raised {type(err).__name__}: {err}{hint}"
        if _close(got, want, spec.atol):
            continue
        for hint, wrong in spec.mistakes.items():
            if _close(got, wrong(*args), spec.atol):
                return hint
        got_t, want_t = _as_tuple(got), _as_tuple(want)
        if len(got_t) != len(want_t):
            return f"expected {len(want_t)} output(s), got {len(got_t)}."
        for i, (u, v) in enumerate(zip(got_t, want_t)):
            u = _f64(u)
            if u.shape != v.shape:
                return f"output {i} has shape {tuple(u.shape)}, expected {tuple(v.shape)} (check broadcasting of t: use t[:, None])."
        err = max(float((_f64(u) - _f64(v)).abs().max()) for u, v in zip(got_t, want_t))
        return f"the values differ from the reference by up to {err:.3g} (signature: {spec.signature})."
    return None


def check(exercise: str, fn: Callable) -> None:
    """Check a learner's function: ``check("3.1", flow_matching_loss)``.

    Prints a line saying it is right; raises AssertionError with a hint when it is wrong; prints a
    reminder when the function still raises NotImplementedError (so "Run all" goes on).
    """
    name = numbers().get(exercise, exercise)
    if name not in specs():
        from ..._checks import check_choice
        check_choice("exercise", exercise, list(numbers()) + list(specs()))
    try:
        problem = compare(name, fn)
    except NotImplementedError:
        print(f"Exercise {exercise} is not done yet: fill in {specs()[name].signature} and run this cell again.")
        return None
    if problem:
        raise AssertionError(f"Exercise {exercise} ({name}): {problem}")
    print(f"Exercise {exercise} ({name}): correct, it matches fmlearn on random inputs.")
    return None


