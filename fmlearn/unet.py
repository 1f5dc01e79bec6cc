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

**Patches** (``patch=2``, as in the patch embedding of DiT, Peebles & Xie 2023): the image is
zero-padded to a multiple of ``4 * patch`` (28 -> 32) and every ``patch x patch`` block of pixels
becomes ``patch**2`` channels (``pixel_unshuffle``: (B, 1, 32, 32) -> (B, 4, 16, 16)); the UNet above
runs at 16, 8 and 4 and ``pixel_shuffle`` + a crop turn its output back into (B, 1, 28, 28). Each
convolution then sees a quarter of the positions, so the same time per step buys twice the widths:
``UNet((32, 64, 128), patch=2)`` has 1.08M parameters (4.3 MB) and takes about 0.12 s per step of
batch 64 on two threads, like the default at patch 1.

The output convolution starts at zero, so the untrained network predicts 0 everywhere (a common
choice for diffusion UNets, Nichol & Dhariwal 2021): the first steps learn the mean of the target
instead of fighting a random output.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_positive_int
from .models import SinusoidalTimeEmbedding

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
        channels: feature channels ``(c0, c1, c2)`` at resolutions R, R/2 and R/4, with R the padded side
            divided by ``patch`` (28, 14, 7 for MNIST at patch 1; 16, 8, 4 at patch 2).
        time_dim: size of the sinusoidal time embedding (even); the MLP after it has ``4 * c0`` units.
        num_classes: number of labels for a class-conditional model; ``None`` for an unconditional one.
            Labels are ``0 .. num_classes - 1``; the extra index ``num_classes`` (or ``y=None``) is the
            "null" label used to train and sample without a class (classifier-free guidance).
        dropout: dropout rate inside the residual blocks.
        in_channels: image channels C (1 for MNIST).
        image_size: side S of the square images (zero-padded inside to a multiple of ``4 * patch``).
        attention: one self-attention block at the coarsest resolution (49 positions for MNIST; cheap).
        patch: side of the pixel blocks folded into channels before the first convolution (1: none;
            2: the UNet runs at half the resolution with 4x the input channels, see the module docstring).
    """

    def __init__(self, channels: tuple[int, int, int] | list[int] = (16, 32, 64), time_dim: int = 64,
                 num_classes: int | None = None, dropout: float = 0.0, in_channels: int = 1,
                 image_size: int = 28, attention: bool = True, patch: int = 1):
        super().__init__()
        channels = tuple(channels)
        if len(channels) != 3:
            raise ValueError(f"channels must hold 3 sizes (c0, c1, c2), one per resolution, got {channels}.")
        for i, c in enumerate(channels):
            check_positive_int(f"channels[{i}]", c)
        for arg, value in (("time_dim", time_dim), ("in_channels", in_channels), ("image_size", image_size),
                           ("patch", patch)):
            check_positive_int(arg, value)
        if time_dim % 2:
            raise ValueError(f"time_dim must be even, got {time_dim}.")
        if num_classes is not None:
            check_positive_int("num_classes", num_classes)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}.")
        self.channels, self.time_dim, self.num_classes = channels, time_dim, num_classes
        self.dropout, self.in_channels, self.image_size, self.attention = dropout, in_channels, image_size, attention
        self.patch = patch
        self.shape = (in_channels, image_size, image_size)  # PathModel reads the sample shape here
        padded = -(-image_size // (4 * patch)) * 4 * patch  # the next multiple of 4 * patch: two halvings
        self.pad = ((padded - image_size) // 2, (padded - image_size + 1) // 2)  # (before, after) on each side
        c0, c1, c2 = channels
        c_in = in_channels * patch * patch  # channels after folding each patch x patch block
        emb_dim = 4 * c0

        self.time_embed = SinusoidalTimeEmbedding(time_dim)
        self.time_mlp = nn.Sequential(nn.Linear(time_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        # one extra row: index num_classes is the null label (no class)
        self.label_embed = nn.Embedding(num_classes + 1, emb_dim) if num_classes is not None else None

        self.stem = nn.Conv2d(c_in, c0, 3, padding=1)
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
        self.out_conv = nn.Conv2d(c0, c_in, 3, padding=1)
        nn.init.zeros_(self.out_conv.weight)
        nn.init.zeros_(self.out_conv.bias)

    def config(self) -> dict:
        """Constructor arguments (plain JSON types) plus ``"kind": "unet"``, for :func:`~fmlearn.networks.build_net`."""
        return {"kind": "unet", "channels": list(self.channels), "time_dim": self.time_dim,
                "num_classes": self.num_classes, "dropout": self.dropout, "in_channels": self.in_channels,
                "image_size": self.image_size, "attention": self.attention,
                **({"patch": self.patch} if self.patch != 1 else {})}  # (older checkpoints have no "patch")

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
        (a, b), p = self.pad, self.patch
        if a or b:
            x = F.pad(x, (a, b, a, b))  # (B, C, P, P), P = S + a + b a multiple of 4 p
        if p > 1:
            x = F.pixel_unshuffle(x, p)  # (B, C p^2, P/p, P/p): each p x p block becomes channels
        # below, R = P / p is the working resolution (28 for MNIST at patch 1, 16 at patch 2)
        h1 = self.down0(self.stem(x), emb)  # (B, c0, R, R)
        h2 = self.down1(self.pool0(h1), emb)  # (B, c1, R/2, R/2)
        h = self.down2(self.pool1(h2), emb)  # (B, c2, R/4, R/4)
        h = self.mid(self.attn(h), emb)  # (B, c2, R/4, R/4)
        h = self.up1(torch.cat([self.unpool1(h), h2], dim=1), emb)  # (B, c1, R/2, R/2)
        h = self.up0(torch.cat([self.unpool0(h), h1], dim=1), emb)  # (B, c0, R, R)
        out = self.out_conv(F.silu(self.out_norm(h)))  # (B, C p^2, R, R)
        if p > 1:
            out = F.pixel_shuffle(out, p)  # (B, C, P, P)
        return out[..., a:a + self.image_size, a:a + self.image_size] if a or b else out  # (B, C, S, S)

    def extra_repr(self) -> str:
        n = sum(p.numel() for p in self.parameters())
        patch = f", patch={self.patch}" if self.patch != 1 else ""
        return f"channels={self.channels}{patch}, num_classes={self.num_classes}, parameters={n:,}"

