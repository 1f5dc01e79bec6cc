r"""A small time- (and optionally class-) conditioned UNet for 28x28 images such as MNIST.

Same signature as every network of the package: ``net(x (B, C, H, W), t (B,)) -> (B, C, H, W)``,
plus an optional label ``y (B,)`` for class-conditional models. ``y=None`` (or the label
``num_classes``) is the "null" label of classifier-free guidance (Ho & Salimans 2022)::

    v_guided = (1 + w) * net(x, t, y) - w * net(x, t, None)

Architecture for the default ``channels=(c0, c1, c2) = (16, 32, 64)`` and a 1x28x28 input
(``Res`` = residual block GroupNorm-SiLU-Conv3x3, + embedding, GroupNorm-SiLU-Dropout-Conv3x3, + skip)::

    t (B,) -> sinusoidal (B, time_dim) -> Linear-SiLU-Linear -> emb (B, 4 c0)  [+ label embedding(y)]
                                                                  |  (added inside every Res)
    x   (B,  1, 28, 28)
    stem conv3x3, Res(c0 -> c0)       -> (B, c0, 28, 28) ----------------- skip h1 --.
    Down (conv3x3, stride 2)          -> (B, c0, 14, 14)                              |
    Res(c0 -> c1)                     -> (B, c1, 14, 14) ------- skip h2 --.          |
    Down (conv3x3, stride 2)          -> (B, c1,  7,  7)                   |          |
    Res(c1 -> c2)                     -> (B, c2,  7,  7)                   |          |
    Attention (49 tokens), Res(c2 -> c2)  (the middle, 7x7)                |          |
    Up (2x2 transposed conv)          -> (B, c2, 14, 14)                   |          |
    concat h2, Res(c2 + c1 -> c1)     -> (B, c1, 14, 14)  <----------------'          |
    Up (2x2 transposed conv)          -> (B, c1, 28, 28)                              |
    concat h1, Res(c1 + c0 -> c0)     -> (B, c0, 28, 28)  <---------------------------'
    GroupNorm-SiLU-Conv3x3 (zero-initialised) -> (B, 1, 28, 28)

Size and speed (measured on a 2-core CPU): the default has 274k parameters (a 1.1 MB float32
checkpoint) and takes about 0.2 s per training step of batch 64 on one thread (about 0.12 s on
two), so 10-15k steps fit in half an hour. ``channels=(32, 64, 64)`` (547k parameters) is about
2.4x slower. Almost all the time goes into the 3x3 convolutions at 28x28, whose cost grows as c0^2.

The output convolution starts at zero, so the untrained network predicts 0 everywhere (a common
choice for diffusion UNets, Nichol & Dhariwal 2021): the first steps learn the mean of the target
instead of fighting a random output.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_positive_int
from .models import SinusoidalTimeEmbedding, register_net

__all__ = ["UNet"]


def _groups(channels: int, max_groups: int = 8) -> int:
    """The largest number of GroupNorm groups <= max_groups that divides ``channels``."""
    return next(g for g in range(min(max_groups, channels), 0, -1) if channels % g == 0)


class ResBlock(nn.Module):
    """``x (B, c_in, H, W), emb (B, E) -> (B, c_out, H, W)``; the embedding is added after the first conv."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = nn.GroupNorm(_groups(c_out), c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, c_out, H, W)
        h = h + self.emb(emb)[:, :, None, None]  # time (and label) enter every block
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return h + self.skip(x)


class SelfAttention(nn.Module):
    """Single-head self-attention over the H*W positions, with a residual connection."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.GroupNorm(_groups(channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).transpose(-1, -2).unbind(1)  # (B, HW, C) each
        out = F.scaled_dot_product_attention(q, k, v)  # (B, HW, C)
        return x + self.proj(out.transpose(-1, -2).reshape(b, c, h, w))


class UNet(nn.Module):
    r"""A small UNet ``net(x (B, C, S, S), t (B,), y (B,) | None) -> (B, C, S, S)`` (see the module docstring).

    Args:
        channels: feature channels ``(c0, c1, c2)`` at resolutions S, S/2 and S/4 (28, 14, 7 for MNIST).
        time_dim: size of the sinusoidal time embedding (even); the MLP after it has ``4 * c0`` units.
        num_classes: number of labels for a class-conditional model; ``None`` for an unconditional one.
            Labels are ``0 .. num_classes - 1``; the extra index ``num_classes`` (or ``y=None``) is the
            "null" label used to train and sample without a class (classifier-free guidance).
        dropout: dropout rate inside the residual blocks.
        in_channels: image channels C (1 for MNIST).
        image_size: side S of the square images; must be divisible by 4.
        attention: one self-attention block at resolution S/4 (49 positions for MNIST; cheap).
    """

    def __init__(self, channels: tuple[int, int, int] | list[int] = (16, 32, 64), time_dim: int = 64,
                 num_classes: int | None = None, dropout: float = 0.0, in_channels: int = 1,
                 image_size: int = 28, attention: bool = True):
        super().__init__()
        channels = tuple(channels)
        if len(channels) != 3:
            raise ValueError(f"channels must hold 3 sizes (c0, c1, c2), one per resolution, got {channels}.")
        for i, c in enumerate(channels):
            check_positive_int(f"channels[{i}]", c)
        for arg, value in (("time_dim", time_dim), ("in_channels", in_channels), ("image_size", image_size)):
            check_positive_int(arg, value)
        if time_dim % 2:
            raise ValueError(f"time_dim must be even, got {time_dim}.")
        if image_size % 4:
            raise ValueError(f"image_size must be divisible by 4 (two halvings), got {image_size}.")
        if num_classes is not None:
            check_positive_int("num_classes", num_classes)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}.")
        self.channels, self.time_dim, self.num_classes = channels, time_dim, num_classes
        self.dropout, self.in_channels, self.image_size, self.attention = dropout, in_channels, image_size, attention
        self.shape = (in_channels, image_size, image_size)  # PathModel reads the sample shape here
        c0, c1, c2 = channels
        emb_dim = 4 * c0

        self.time_embed = SinusoidalTimeEmbedding(time_dim)
        self.time_mlp = nn.Sequential(nn.Linear(time_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        # one extra row: index num_classes is the null label (no class)
        self.label_embed = nn.Embedding(num_classes + 1, emb_dim) if num_classes is not None else None

        self.stem = nn.Conv2d(in_channels, c0, 3, padding=1)
        self.down0 = ResBlock(c0, c0, emb_dim, dropout)
        self.pool0 = nn.Conv2d(c0, c0, 3, stride=2, padding=1)
        self.down1 = ResBlock(c0, c1, emb_dim, dropout)
        self.pool1 = nn.Conv2d(c1, c1, 3, stride=2, padding=1)
        self.down2 = ResBlock(c1, c2, emb_dim, dropout)
        self.attn = SelfAttention(c2) if attention else nn.Identity()
        self.mid = ResBlock(c2, c2, emb_dim, dropout)
        # 2x2 transposed convs: learned upsampling at the cost of one 1x1 conv at the finer resolution
        self.unpool1 = nn.ConvTranspose2d(c2, c2, 2, stride=2)
        self.up1 = ResBlock(c2 + c1, c1, emb_dim, dropout)
        self.unpool0 = nn.ConvTranspose2d(c1, c1, 2, stride=2)
        self.up0 = ResBlock(c1 + c0, c0, emb_dim, dropout)
        self.out_norm = nn.GroupNorm(_groups(c0), c0)
        self.out_conv = nn.Conv2d(c0, in_channels, 3, padding=1)
        nn.init.zeros_(self.out_conv.weight)
        nn.init.zeros_(self.out_conv.bias)

    def config(self) -> dict:
        """Constructor arguments (plain JSON types) plus ``"kind": "unet"``, for :func:`~fmlearn.models.build_net`."""
        return {"kind": "unet", "channels": list(self.channels), "time_dim": self.time_dim,
                "num_classes": self.num_classes, "dropout": self.dropout, "in_channels": self.in_channels,
                "image_size": self.image_size, "attention": self.attention}

    def _check(self, x: Tensor, t: Tensor, y: Tensor | None) -> None:
        want = "(B, " + ", ".join(map(str, self.shape)) + ")"
        if not isinstance(x, Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != self.shape:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must have shape {want}, got {got}.")
        if not isinstance(t, Tensor) or t.ndim != 1 or t.shape[0] != x.shape[0]:
            got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"t must have shape ({x.shape[0]},), got {got}.")
        if y is None:
            return
        if self.num_classes is None:
            raise ValueError("y was given, but this UNet is unconditional (num_classes=None); "
                             "build it with UNet(num_classes=...) to use labels.")
        if not isinstance(y, Tensor) or y.ndim != 1 or y.shape[0] != x.shape[0]:
            got = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
            raise ValueError(f"y must have shape ({x.shape[0]},), got {got}.")
        if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
            raise TypeError(f"y must hold integer labels, got dtype {y.dtype}; use y.long().")
        if y.numel() and (int(y.min()) < 0 or int(y.max()) > self.num_classes):
            raise ValueError(f"y must hold labels in 0..{self.num_classes - 1} (or {self.num_classes}, the null "
                             f"label), got min {int(y.min())}, max {int(y.max())}.")

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        """Prediction at ``x (B, C, S, S)``, times ``t (B,)`` and labels ``y (B,)`` (None: null label)."""
        self._check(x, t, y)
        emb = self.time_mlp(self.time_embed(t).to(x.dtype))  # (B, E)
        if self.label_embed is not None:
            if y is None:
                y = torch.full((x.shape[0],), self.num_classes, dtype=torch.long, device=x.device)
            emb = emb + self.label_embed(y.long())  # (B, E)
        h1 = self.down0(self.stem(x), emb)  # (B, c0, S, S)
        h2 = self.down1(self.pool0(h1), emb)  # (B, c1, S/2, S/2)
        h = self.down2(self.pool1(h2), emb)  # (B, c2, S/4, S/4)
        h = self.mid(self.attn(h), emb)  # (B, c2, S/4, S/4)
        h = self.up1(torch.cat([self.unpool1(h), h2], dim=1), emb)  # (B, c1, S/2, S/2)
        h = self.up0(torch.cat([self.unpool0(h), h1], dim=1), emb)  # (B, c0, S, S)
        return self.out_conv(F.silu(self.out_norm(h)))  # (B, C, S, S)

    def extra_repr(self) -> str:
        n = sum(p.numel() for p in self.parameters())
        return f"channels={self.channels}, num_classes={self.num_classes}, parameters={n:,}"


register_net("unet", UNet)
