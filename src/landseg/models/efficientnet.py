"""EfficientNet-Lite encoders (Tan & Le 2019; the Lite variants of the TensorFlow TPU release).

EfficientNet-Lite is EfficientNet-B0..B4 made friendly to integer accelerators: no squeeze-excite,
ReLU6 instead of swish, and a fixed stem (32 channels) and head (1280 channels) whose first and
last stage repeats are not scaled. Blocks are inverted residuals (MBConv): 1x1 expansion, depthwise
k x k convolution, 1x1 linear projection, identity skip where shape allows. BatchNorm uses the
TensorFlow epsilon (1e-3) of the released weights; padding is symmetric (``k // 2``), which
differs from TensorFlow's "SAME" padding by at most one pixel at stride-2 layers (harmless for
fine-tuning, and it keeps ONNX export simple).

Module names: ``stem.conv/bn``, ``stages.S.B.{expand,dw,project}.{conv,bn}``;
:mod:`landseg.models.pretrained` maps the released key layout onto them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

BN_EPS = 1e-3
STEM = 32

# (repeats, kernel, stride, expand ratio, output channels) of EfficientNet-B0's seven stages.
BASE_STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
# The stages whose last block ends each output stride 2, 4, 8, 16, 32.
FEATURE_STAGES = (0, 1, 2, 4, 6)

# variant -> (width multiplier, depth multiplier); the released Lite0-4 coefficients.
VARIANTS: dict[str, tuple[float, float]] = {
    "efficientnet_lite0": (1.0, 1.0),
    "efficientnet_lite1": (1.0, 1.1),
    "efficientnet_lite2": (1.1, 1.2),
}


def round_filters(channels: int, width: float, divisor: int = 8) -> int:
    """Channels scaled by ``width`` and rounded to a multiple of ``divisor`` (never down by >10%)."""
    c = channels * width
    new = max(divisor, int(c + divisor / 2) // divisor * divisor)
    return int(new + divisor if new < 0.9 * c else new)


@dataclass(frozen=True)
class BlockSpec:
    """One MBConv block: channels in/out, kernel, stride and expansion ratio."""

    cin: int
    cout: int
    kernel: int
    stride: int
    expand: int


def stage_specs(variant: str) -> list[list[BlockSpec]]:
    """Per stage, the block specifications of an EfficientNet-Lite ``variant``."""
    width, depth = VARIANTS[variant]
    stages: list[list[BlockSpec]] = []
    cin = STEM
    for i, (repeats, k, s, e, c) in enumerate(BASE_STAGES):
        cout = round_filters(c, width)
        n = repeats if i in (0, len(BASE_STAGES) - 1) else int(math.ceil(repeats * depth))
        stages.append([BlockSpec(cin if j == 0 else cout, cout, k, s if j == 0 else 1, e) for j in range(n)])
        cin = cout
    return stages


class ConvBN(nn.Sequential):
    """Conv (no bias) + BatchNorm (+ ReLU6)."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1, act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS)  # PyTorch momentum 0.1: statistics adapt quickly when fine-tuning
        if act:
            self.act = nn.ReLU6(inplace=True)


class MBConv(nn.Module):
    """Inverted residual: [1x1 expand] -> depthwise kxk -> 1x1 project, + identity when shapes allow."""

    def __init__(self, spec: BlockSpec):
        super().__init__()
        mid = spec.cin * spec.expand
        self.expand = ConvBN(spec.cin, mid) if spec.expand != 1 else None
        self.dw = ConvBN(mid, mid, spec.kernel, spec.stride, groups=mid)
        self.project = ConvBN(mid, spec.cout, act=False)
        self.skip = spec.stride == 1 and spec.cin == spec.cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.dw(y))
        return x + y if self.skip else y


class EfficientNetLiteEncoder(nn.Module):
    """Feature maps at strides 2, 4, 8, 16, 32 (the ends of stages 1, 2, 3, 5, 7)."""

    def __init__(self, variant: str = "efficientnet_lite0", in_channels: int = 3):
        super().__init__()
        self.variant = variant
        specs = stage_specs(variant)
        self.stem = ConvBN(in_channels, STEM, 3, 2)
        self.stages = nn.ModuleList(nn.Sequential(*(MBConv(s) for s in stage)) for stage in specs)
        self.out_channels = [specs[i][-1].cout for i in FEATURE_STAGES]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps at strides 2, 4, 8, 16 and 32."""
        x = self.stem(x)
        feats = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in FEATURE_STAGES:
                feats.append(x)
        return feats
