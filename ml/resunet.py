"""ResUNet: a U-Net whose decoder blocks are residual (Zhang, Liu and Wang, 2018), on any smp encoder.

segmentation-models-pytorch 0.6 has no residual-decoder U-Net: a U-Net with a ResNet encoder has residual blocks
in the encoder alone. Here every decoder block of ``smp.Unet`` becomes conv-BN-ReLU, conv-BN, plus a 1x1
projection of the block's input (the upsampled map joined with its skip), then ReLU: the residual unit the
multi-mineral rock study (Alekseev et al., Skoltech) compares with U-Net and LinkNet.
"""
from __future__ import annotations

from typing import Optional

import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
from torch import nn


class ResidualDecoderBlock(nn.Module):
    """smp's U-Net decoder block (same call) with a projected shortcut around its two convolutions."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.interpolation_mode = block.interpolation_mode
        self.attention1, self.attention2 = block.attention1, block.attention2
        self.conv1 = block.conv1
        self.conv2 = nn.Sequential(*list(block.conv2)[:-1])  # conv, norm: the ReLU comes after the sum
        conv_in, conv_out = block.conv1[0], block.conv2[0]
        self.shortcut = nn.Sequential(nn.Conv2d(conv_in.in_channels, conv_out.out_channels, 1, bias=False),
                                      nn.BatchNorm2d(conv_out.out_channels))

    def forward(self, feature_map: torch.Tensor, target_height: int, target_width: int,
                skip_connection: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = F.interpolate(feature_map, size=(target_height, target_width), mode=self.interpolation_mode)
        if skip_connection is not None:
            x = self.attention1(torch.cat([x, skip_connection], dim=1))
        return self.attention2(F.relu(self.conv2(self.conv1(x)) + self.shortcut(x)))


def ResUnet(**kwargs) -> smp.Unet:  # noqa: N802 - called like the smp model classes it sits beside
    """``smp.Unet(**kwargs)`` with residual decoder blocks (the same arguments)."""
    model = smp.Unet(**kwargs)
    blocks = model.decoder.blocks
    for i, block in enumerate(blocks):
        blocks[i] = ResidualDecoderBlock(block)
    return model
