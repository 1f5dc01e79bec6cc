"""Helpers shared by the tests (importable as ``helpers``: pytest puts this folder on sys.path)."""
import torch


class CountingNet(torch.nn.Module):
    """Wraps a network and counts its forward calls, independently of the samplers' own counter."""

    def __init__(self, net):
        super().__init__()
        self.net, self.calls = net, 0
        if hasattr(net, "dim"):
            self.dim = net.dim
        if hasattr(net, "shape"):
            self.shape = net.shape

    def forward(self, *args, **kwargs):
        self.calls += 1
        return self.net(*args, **kwargs)
