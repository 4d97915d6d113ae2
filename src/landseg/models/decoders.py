"""The U-Net decoder and the segmentation head shared by the encoder-decoder family.

A decoder takes the encoder's five feature maps (strides 2, 4, 8, 16, 32) and returns one map at
``stride`` with ``out_channels`` channels; the head turns it into class logits at full resolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from landseg.models.unet import conv_block


class UNetDecoder(nn.Module):
    """Five (nearest x2 upsampling, concatenate the skip, two 3x3 conv-BN-ReLU) blocks, as in
    segmentation_models_pytorch's U-Net: channels ``16w, 8w, 4w, 2w, w`` from stride 16 to 1."""

    stride = 1

    def __init__(self, encoder_channels: list[int], width: int = 16):
        super().__init__()
        channels = [width * 2**i for i in (4, 3, 2, 1, 0)]
        skips = list(reversed(encoder_channels[:-1])) + [0]
        cin = encoder_channels[-1]
        self.blocks = nn.ModuleList()
        for skip, cout in zip(skips, channels):
            self.blocks.append(conv_block(cin + skip, cout))
            cin = cout
        self.out_channels = channels[-1]

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """Decode the encoder's features (strides 2-32) to the input resolution."""
        x = feats[-1]
        skips = list(reversed(feats[:-1]))
        for i, block in enumerate(self.blocks):
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            if i < len(skips):
                x = torch.cat([x, skips[i]], dim=1)
            x = block(x)
        return x


class SegmentationHead(nn.Module):
    """1x1 convolution to class logits, then bilinear upsampling by the decoder's stride."""

    def __init__(self, cin: int, num_classes: int, upsample: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, num_classes, 1)
        self.upsample = upsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits at the input resolution."""
        x = self.conv(x)
        if self.upsample > 1:
            x = F.interpolate(x, scale_factor=float(self.upsample), mode="bilinear", align_corners=False)
        return x
