"""What an exercise checks (:class:`Spec`) and the decorator that registers it where its reference is defined.

A reference implementation is written once, as a plain function beside its inputs and the mistakes it
recognises; ``@exercise`` files it under its name and, when a notebook asks for it, its number::

    @exercise("1.2", "cosine_schedule(t) -> (alpha_t, sigma_t)  # t (B,)", uniform_times,
              {"The angle is pi t / 2, not pi t.": lambda t: (torch.sin(math.pi * t), torch.cos(math.pi * t))})
    def cosine_schedule(t):
        return COS.alpha(t), COS.sigma(t)

So the number, the name and the check cannot drift apart: a second function with the same number or name is
refused at import time.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Spec", "exercise", "REGISTRY", "specs", "numbers"]


@dataclass
class Spec:
    """What a hand-written function must compute.

    Attributes:
        signature: how the notebook's function is called, e.g. ``"interpolate(x0, x1, t)"``.
        reference: the package's implementation, same signature.
        inputs: ``inputs(generator) -> tuple of arguments`` (random, float64).
        mistakes: ``{hint: wrong implementation}``: if the learner's output equals a wrong one, the hint is shown.
        atol: tolerance of the comparison.
        number: the exercise number in the notebooks (``"3.1"``), or None for a spare check that an
            instructor can call by name (``check("interpolate", fn)``).
    """

    signature: str
    reference: Callable[..., Any]
    inputs: Callable[[Any], tuple]
    mistakes: dict[str, Callable[..., Any]] = field(default_factory=dict)
    atol: float = 1e-6
    number: str | None = None


REGISTRY: dict[str, Spec] = {}
"""Name -> :class:`Spec`, filled by :func:`exercise` when the exercise modules are imported."""


def exercise(number: str | None, signature: str, inputs: Callable, mistakes: dict | None = None, *,
             atol: float = 1e-6, name: str | None = None) -> Callable:
    """Register the decorated function as the reference of exercise ``number`` (None: a spare check).

    Args:
        number: ``"N.M"`` (notebook N, exercise M) or None.
        signature: what the learner writes, with shapes, shown in the messages.
        inputs: ``inputs(generator) -> tuple`` of random float64 arguments.
        mistakes: ``{hint: wrong implementation}`` recognised by :func:`~fmlearn.teaching.exercises.compare`.
        atol: tolerance of the comparison.
        name: the registered name (default: the function's name).
    """
    def register(fn: Callable) -> Callable:
        key = name or fn.__name__
        if key in REGISTRY:
            raise ValueError(f"exercise {key!r} is registered twice.")
        if number is not None and any(s.number == number for s in REGISTRY.values()):
            raise ValueError(f"exercise number {number} is registered twice.")
        REGISTRY[key] = Spec(signature, fn, inputs, dict(mistakes or {}), atol, number)
        return fn
    return register


_MODULES = ("welcome", "paths", "diffusion", "flow_matching", "two_sides", "solvers", "straight_paths", "likelihood",
            "mnist", "guidance", "verdict")  # one per notebook, 00 to 10


def specs() -> dict[str, Spec]:
    """Name -> :class:`Spec` of every registered check (the exercise modules are imported on first use)."""
    import importlib

    for module in _MODULES:
        importlib.import_module(f"{__package__}.{module}")
    return REGISTRY


def numbers() -> dict[str, str]:
    """Exercise number -> registered name, in notebook order (``{"1.1": "least_spread_time", ...}``)."""
    table = {s.number: name for name, s in specs().items() if s.number is not None}
    return dict(sorted(table.items(), key=lambda kv: tuple(int(p) for p in kv[0].split("."))))
