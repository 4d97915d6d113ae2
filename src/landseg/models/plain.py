"""The plain U-Net encoder (Ronneberger et al. 2015) as a feature extractor for the encoder-decoder
family: a full-resolution conv block, then five (max-pool, conv block) stages giving features at
strides 2, 4, 8, 16, 32 with ``width * 2**i`` channels (the last capped at 16 * width).
No pretrained weights exist for it; it trains from scratch.
"""

from __future__ import annotations

import torch
from torch import nn

from landseg.models.unet import conv_block


class PlainEncoder(nn.Module):
    """The plain U-Net encoder: features at strides 2-32 (see the module docstring)."""

    def __init__(self, in_channels: int = 3, width: int = 16):
        super().__init__()
        widths = [width * 2 ** min(i, 4) for i in range(6)]
        self.stem = conv_block(in_channels, widths[0])
        self.pool = nn.MaxPool2d(2)
        self.stages = nn.ModuleList(conv_block(widths[i], widths[i + 1]) for i in range(5))
        self.out_channels = widths[1:]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps at strides 2, 4, 8, 16 and 32."""
        x = self.stem(x)
        feats = []
        for stage in self.stages:
            x = stage(self.pool(x))
            feats.append(x)
        return feats
