"""A compact spatial CNN (SCNN, Pan et al. 2018): a small convolutional encoder, then
messages passed slice by slice down, up, right and left over its feature map, so a lane's
evidence travels along thin, long structures that plain convolutions see only locally;
a 3x3 head scores background and 5 lane slots per pixel. GroupNorm, not BatchNorm: a
picture's output does not depend on its batch, so data-parallel training over N
processes computes the same steps as one process over the same global batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mlfabric.apps.lanes.data import MAX_LANES


def _block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation,
                                   bias=False),
                         nn.GroupNorm(4, cout), nn.ReLU(inplace=True))


class MessagePassing(nn.Module):
    """SCNN's four sequential passes: each row (column) adds a convolution of the one
    before it, so information crosses the whole map in one layer."""

    def __init__(self, channels: int, kernel: int = 9) -> None:
        super().__init__()
        pad = kernel // 2
        self.down = nn.Conv2d(channels, channels, (1, kernel), padding=(0, pad), bias=False)
        self.up = nn.Conv2d(channels, channels, (1, kernel), padding=(0, pad), bias=False)
        self.right = nn.Conv2d(channels, channels, (kernel, 1), padding=(pad, 0), bias=False)
        self.left = nn.Conv2d(channels, channels, (kernel, 1), padding=(pad, 0), bias=False)

    @staticmethod
    def _pass(x: torch.Tensor, conv: nn.Module, dim: int, reverse: bool) -> torch.Tensor:
        slices = list(x.split(1, dim=dim))
        order = range(len(slices) - 2, -1, -1) if reverse else range(1, len(slices))
        for i in order:
            prev = slices[i + 1] if reverse else slices[i - 1]
            slices[i] = slices[i] + F.relu(conv(prev))
        return torch.cat(slices, dim=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._pass(x, self.down, 2, reverse=False)
        x = self._pass(x, self.up, 2, reverse=True)
        x = self._pass(x, self.right, 3, reverse=False)
        return self._pass(x, self.left, 3, reverse=True)


class SCNN(nn.Module):
    """Pictures [N, 3, H, W] (uint8 as float) in, lane-slot scores [N, 6, H, W] out."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.width = width
        self.encoder = nn.Sequential(_block(3, width // 2, 2), _block(width // 2, width),
                                     _block(width, width, 2), _block(width, width, dilation=2))
        self.scnn = MessagePassing(width)
        self.head = nn.Conv2d(width, MAX_LANES + 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        x = (x / 255.0 - 0.5) / 0.25
        y = self.head(self.scnn(self.encoder(x)))
        return F.interpolate(y, size=size, mode="bilinear", align_corners=False)
