"""A light attention decoder after UNetFormer (Wang et al. 2022, arXiv:2109.08937), written from
the paper's description.

From the deepest encoder feature (stride 32) upwards: a global-local transformer block (GLTB) at
strides 32, 16 and 8, each stride joined to the encoder's skip by a weighted feature fusion (two
non-negative learnt weights, normalised to sum to one), and a feature refinement head at stride 4
(fusion with the stride-4 skip, then a spatial and a channel attention path). All decoder stages
have the same width (64 in the paper).

GLTB: ``x + attention(BN(x))`` then ``x + MLP(BN(x))``. The attention has a global branch —
multi-head self-attention inside non-overlapping windows (with a learnt relative position bias),
followed by a cross-shaped context step (average pooling along rows and along columns of the
attention output, which lets information flow between windows) — and a local branch (parallel 3x3
and 1x1 conv-BN), summed and projected by a depthwise conv, BN and a 1x1 convolution. Feature maps
whose sides are not multiples of the window are zero-padded for the attention and cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn(cin: int, cout: int, kernel: int = 1, groups: int = 1, act: bool = False) -> nn.Sequential:
    """Conv (no bias) + BatchNorm (+ ReLU6) with 'same' padding."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, 1, kernel // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class WindowAttention(nn.Module):
    """Global-local attention: window MHSA + cross-shaped context, plus a local conv branch."""

    def __init__(self, dim: int, heads: int, window: int):
        super().__init__()
        self.heads, self.window = heads, window
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Conv2d(dim, 3 * dim, 1, bias=False)
        self.local3 = conv_bn(dim, dim, 3)
        self.local1 = conv_bn(dim, dim, 1)
        self.pool_h = nn.AvgPool2d((window + 1, 1), 1, (window // 2, 0), count_include_pad=False)
        self.pool_w = nn.AvgPool2d((1, window + 1), 1, (0, window // 2), count_include_pad=False)
        self.proj = nn.Sequential(conv_bn(dim, dim, window - 1 if window % 2 == 0 else window, groups=dim),
                                  nn.Conv2d(dim, dim, 1))
        self.bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.bias_table, std=0.02)
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
        self.register_buffer("bias_index", rel[..., 0] * (2 * window - 1) + rel[..., 1], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the attention (window size divides the input after padding)."""
        b, c, h, w = x.shape
        ws, nh = self.window, self.heads
        local = self.local3(x) + self.local1(x)
        ph, pw = (ws - h % ws) % ws, (ws - w % ws) % ws
        xp = F.pad(x, (0, pw, 0, ph))
        hp, wp = xp.shape[2], xp.shape[3]
        qkv = self.qkv(xp).reshape(b, 3, nh, c // nh, hp // ws, ws, wp // ws, ws)
        qkv = qkv.permute(1, 0, 4, 6, 2, 5, 7, 3).reshape(3, -1, nh, ws * ws, c // nh)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * self.scale) @ k.transpose(-2, -1)
        attn = attn + self.bias_table[self.bias_index].permute(2, 0, 1).unsqueeze(0)
        out = attn.softmax(-1) @ v  # (b * windows, heads, ws*ws, head_dim)
        out = out.reshape(b, hp // ws, wp // ws, nh, ws, ws, c // nh).permute(0, 3, 6, 1, 4, 2, 5)
        out = out.reshape(b, c, hp, wp)[:, :, :h, :w]
        out = self.pool_h(out) + self.pool_w(out) + local
        return self.proj(out)


class GLTB(nn.Module):
    """Global-local transformer block: attention and an MLP, each pre-normalised and residual."""

    def __init__(self, dim: int, heads: int, window: int, mlp_ratio: int = 4):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(dim)
        self.attn = WindowAttention(dim, heads, window)
        self.norm2 = nn.BatchNorm2d(dim)
        self.mlp = nn.Sequential(nn.Conv2d(dim, dim * mlp_ratio, 1), nn.ReLU6(inplace=True),
                                 nn.Conv2d(dim * mlp_ratio, dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class WeightedFusion(nn.Module):
    """Upsample x2 and add the projected skip with two learnt, normalised weights; 3x3 conv-BN-ReLU6."""

    def __init__(self, skip_channels: int, dim: int):
        super().__init__()
        self.skip = nn.Conv2d(skip_channels, dim, 1, bias=False)
        self.weights = nn.Parameter(torch.ones(2))
        self.post = conv_bn(dim, dim, 3, act=True)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """Fuse ``x`` (upsampled) with ``skip``."""
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        w = F.relu(self.weights)
        w = w / (w.sum() + 1e-8)
        return self.post(w[0] * self.skip(skip) + w[1] * x)


class RefinementHead(nn.Module):
    """Feature refinement head: fusion with the stride-4 skip, then spatial (depthwise conv + sigmoid)
    and channel (global pooling + bottleneck + sigmoid) attention, summed, projected, residual."""

    def __init__(self, skip_channels: int, dim: int):
        super().__init__()
        self.fuse = WeightedFusion(skip_channels, dim)
        self.spatial = nn.Sequential(nn.Conv2d(dim, dim, 3, 1, 1, groups=dim), nn.Sigmoid())
        red = max(dim // 16, 4)
        self.channel = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, red, 1), nn.ReLU6(inplace=True),
                                     nn.Conv2d(red, dim, 1), nn.Sigmoid())
        self.proj = conv_bn(dim, dim, 1)
        self.out = conv_bn(dim, dim, 3, act=True)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """Refine ``x`` fused with the stride-4 ``skip``."""
        x = self.fuse(x, skip)
        y = self.proj(x * self.spatial(x) + x * self.channel(x))
        return self.out(F.relu6(y + x))


class FormerDecoder(nn.Module):
    """Output at stride 4 with ``width`` channels (the head upsamples by 4)."""

    stride = 4

    def __init__(self, encoder_channels: list[int], width: int = 64, window: int = 8, head_dim: int = 16):
        super().__init__()
        heads = max(width // head_dim, 1)
        self.pre = conv_bn(encoder_channels[-1], width, 1)
        self.block32 = GLTB(width, heads, window)
        self.fuse16 = WeightedFusion(encoder_channels[3], width)
        self.block16 = GLTB(width, heads, window)
        self.fuse8 = WeightedFusion(encoder_channels[2], width)
        self.block8 = GLTB(width, heads, window)
        self.refine = RefinementHead(encoder_channels[1], width)
        self.out_channels = width

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """Decode the encoder's features into stride-4 features."""
        x = self.block32(self.pre(feats[4]))
        x = self.block16(self.fuse16(x, feats[3]))
        x = self.block8(self.fuse8(x, feats[2]))
        return self.refine(x, feats[1])
