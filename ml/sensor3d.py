"""A Sensor-3D-like model (Novikov et al., IEEE TMI 38 (2019) 1207): a 2-D encoder shared by the slices of a
serial-section context, a layer across slices at every scale, and a 2-D decoder for the centre slice.

Input: the 2.5D channels of ``foundation.slicestack.slice_input`` with a context of ``SLICES`` (3): per detector
the slices k, k-1, k+1, so ``in_channels`` = detectors x 3. Each slice (all its detectors as channels) goes through
the same smp U-Net encoder; at every encoder scale the three slices' features are mixed by a 3-D convolution over
(slice, row, column) that collapses the slice axis, added to the centre slice's own features, and the smp U-Net
decoder segments slice k from them. Registered in ``ml.models.ARCHITECTURES`` as ``sensor3d``.
"""
from __future__ import annotations

import segmentation_models_pytorch as smp
import torch
from torch import nn

SLICES = 3
_ORDER = (1, 0, 2)  # slice_input's order k, k-1, k+1 -> the sequence k-1, k, k+1


class _AcrossSlices(nn.Module):
    """(N, S, C, h, w) -> (N, C, h, w): a 3-D convolution over the S slices (no padding in depth) plus the centre.

    A 3-D kernel as deep as the context is a 2-D convolution of the slices' features side by side (S x C input
    channels): computed that way, the model keeps 4-D weights (channels_last, ONNX export)."""

    def __init__(self, channels: int, spatial: int):
        super().__init__()
        self.conv = nn.Conv2d(SLICES * channels, channels, spatial, padding=spatial // 2, bias=False)
        self.norm = nn.BatchNorm2d(channels)
        nn.init.zeros_(self.norm.weight)  # starts as the centre slice alone: a 2-D U-Net, then learns the context

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mixed = self.conv(x.flatten(1, 2))
        return x[:, SLICES // 2] + self.norm(torch.relu(mixed))


class Sensor3D(nn.Module):
    def __init__(self, encoder_name: str = "resnet18", encoder_weights: str | None = None, in_channels: int = 3,
                 classes: int = 2, decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 16)):
        super().__init__()
        if in_channels % SLICES:
            raise ValueError(f"sensor3d takes detectors x {SLICES} slices as input channels (k, k-1, k+1 per "
                             f"detector: `grainloop stack prepare --slices {SLICES}`), got {in_channels} channels")
        self.detectors = in_channels // SLICES
        unet = smp.Unet(encoder_name=encoder_name, encoder_weights=encoder_weights, in_channels=self.detectors,
                        classes=classes, decoder_channels=decoder_channels)
        self.encoder, self.decoder, self.segmentation_head = unet.encoder, unet.decoder, unet.segmentation_head
        chans = self.encoder.out_channels
        self.across = nn.ModuleList([_AcrossSlices(c, 3 if i == len(chans) - 1 else 1) for i, c in enumerate(chans)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        seq = x.reshape(n, self.detectors, SLICES, h, w)[:, :, list(_ORDER)].transpose(1, 2)  # N, S, D, H, W
        features = self.encoder(seq.reshape(n * SLICES, self.detectors, h, w))
        fused = [mix(f.reshape(n, SLICES, *f.shape[1:])) for mix, f in zip(self.across, features)]
        return self.segmentation_head(self.decoder(fused))
