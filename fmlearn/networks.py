"""The table of network classes that a checkpoint can rebuild: ``{"kind": ..., **constructor arguments}``.

Every network's ``config()`` returns its constructor arguments plus its ``kind``; :func:`build_net` turns
such a dict back into the network. The course's two networks are listed here, statically; a network of your
own joins them with :func:`register_net`.
"""
from __future__ import annotations

from torch import nn

from ._checks import check_choice
from .models import MLP
from .unet import UNet

__all__ = ["NETS", "register_net", "build_net"]

NETS: dict[str, type[nn.Module]] = {"mlp": MLP, "unet": UNet}


def register_net(kind: str, cls: type[nn.Module]) -> None:
    """Make a network class buildable from a checkpoint config ``{"kind": kind, **kwargs}``."""
    NETS[kind] = cls


def build_net(config: dict) -> nn.Module:
    """Rebuild a network from its ``config()`` dict, e.g. ``{"kind": "mlp", "dim": 2, "width": 64, ...}``."""
    if not isinstance(config, dict) or "kind" not in config:
        raise ValueError(f"a network config must be a dict with a 'kind' key, got {config!r}.")
    cls = NETS[check_choice("network kind", config["kind"], NETS)]
    kwargs = {k: v for k, v in config.items() if k != "kind"}
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ValueError(f"cannot build a {config['kind']!r} network from {kwargs}: {err}") from err
