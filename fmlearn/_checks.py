"""Input checks shared by the package: every error names the argument and says what to do."""
from __future__ import annotations

import difflib
import itertools
from typing import Iterable

import torch
from torch import Tensor


def check_choice(arg: str, value: str, options: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``options``; otherwise raise a ValueError naming ``arg``."""
    options = list(options)
    if isinstance(value, str) and value in options:
        return value
    hint = difflib.get_close_matches(str(value), options, n=1)
    maybe = f" Did you mean {hint[0]!r}?" if hint else ""
    raise ValueError(f"unknown {arg} {value!r}; choose one of {', '.join(map(repr, options))}.{maybe}")


def check_tensor(arg: str, x, *, ndim: int | None = None, min_ndim: int | None = None,
                 dim: int | None = None, finite: bool = True, min_len: int | None = None) -> Tensor:
    """Check that ``x`` is a floating-point tensor of the expected rank, last size and finite values.

    Args:
        arg: the argument's name, used in the message.
        x: the value to check.
        ndim: exact number of dimensions, e.g. 2 for a point cloud of shape (B, D).
        min_ndim: least number of dimensions, e.g. 2 for (B, ...).
        dim: expected size of the last dimension (the data dimension D).
        finite: refuse NaN and inf.
        min_len: least size of the first (batch) dimension, e.g. 1 to refuse an empty batch.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{arg} must be a torch.Tensor, got {type(x).__name__}; "
                        f"wrap arrays with torch.as_tensor(..., dtype=torch.float32).")
    if not x.is_floating_point():
        raise TypeError(f"{arg} must have a floating-point dtype, got {x.dtype}; use {arg}.float().")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{arg} must have {ndim} dimensions, got shape {tuple(x.shape)}.")
    if min_ndim is not None and x.ndim < min_ndim:
        raise ValueError(f"{arg} must have at least {min_ndim} dimensions (B, ...), got shape {tuple(x.shape)}.")
    if min_len is not None and (x.ndim == 0 or x.shape[0] < min_len):
        raise ValueError(f"{arg} must hold at least {min_len} row{'s' if min_len > 1 else ''} (points, first "
                         f"dimension), got shape {tuple(x.shape)}.")
    if dim is not None and x.shape[-1] != dim:
        raise ValueError(f"{arg} must have last dimension {dim}, got shape {tuple(x.shape)}.")
    if finite and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{arg} contains {bad} NaN or infinite values; clean the data first.")
    return x


def check_time(arg: str, t, batch: int | None = None) -> Tensor:
    """Check a time tensor of shape (B,) with values in [0, 1]."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{arg} must be a torch.Tensor of shape (B,), got {type(t).__name__}.")
    if t.ndim != 1 or (batch is not None and t.shape[0] != batch):
        want = f"({batch},)" if batch is not None else "(B,)"
        raise ValueError(f"{arg} must have shape {want}, got {tuple(t.shape)}.")
    if not bool(((t >= 0) & (t <= 1)).all()):
        raise ValueError(f"{arg} must lie in [0, 1] (t=0 noise, t=1 data); got min {float(t.min()):.4g}, "
                         f"max {float(t.max()):.4g}.")
    return t


def check_positive_int(arg: str, value, minimum: int = 1) -> int:
    """Check an integer count such as an NFE or a number of steps."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{arg} must be an int, got {type(value).__name__}.")
    if value < minimum:
        raise ValueError(f"{arg} must be >= {minimum}, got {value}.")
    return value


def like_model(model, x: Tensor) -> Tensor:
    """``x`` in the dtype and on the device of ``model``'s first floating parameter or buffer (if any).

    So float64 (or float16) input to a float32 network just works, instead of failing deep inside a matmul.
    """
    if not isinstance(model, torch.nn.Module):
        return x
    ref = next((p for p in itertools.chain(model.parameters(), model.buffers()) if p.is_floating_point()), None)
    return x if ref is None or (x.dtype == ref.dtype and x.device == ref.device) else x.to(ref.device, ref.dtype)
