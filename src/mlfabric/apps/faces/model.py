"""FaceBoxes (Zhang et al., IJCB 2017; the paper's design) in PyTorch, split into the
head that runs in the trusted zone and the tail that may run remotely.

Module names follow the public FaceBoxes.PyTorch checkpoints so their weights load as is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mlfabric.errors import InvalidInput

SPLITS = ("conv1", "pool1", "conv2", "pool2")
"""Where the network may be cut: after the first CReLU convolution, its pooling, the second
CReLU convolution, or its pooling (the 128-channel head output, the default)."""
DEFAULT_SPLIT = "pool2"
ANCHORS = (21, 1, 1)  # per location of the three detection sources
NUM_CLASSES = 2


class BasicConv2d(nn.Module):
    """Convolution, batch norm, ReLU."""

    def __init__(self, cin: int, cout: int, **kwargs: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(cout, eps=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class CRelu(nn.Module):
    """Convolution and batch norm, then ReLU of the output and of its negation: twice
    the channels for the cost of one convolution (the paper's speed trick)."""

    def __init__(self, cin: int, cout: int, **kwargs: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(cout, eps=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return F.relu(torch.cat([x, -x], 1))


class Inception(nn.Module):
    """The paper's 128-channel inception block: four branches of 32 channels."""

    def __init__(self) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(128, 32, kernel_size=1, padding=0)
        self.branch1x1_2 = BasicConv2d(128, 32, kernel_size=1, padding=0)
        self.branch3x3_reduce = BasicConv2d(128, 24, kernel_size=1, padding=0)
        self.branch3x3 = BasicConv2d(24, 32, kernel_size=3, padding=1)
        self.branch3x3_reduce_2 = BasicConv2d(128, 24, kernel_size=1, padding=0)
        self.branch3x3_2 = BasicConv2d(24, 32, kernel_size=3, padding=1)
        self.branch3x3_3 = BasicConv2d(32, 32, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)
        return torch.cat([
            self.branch1x1(x),
            self.branch1x1_2(pooled),
            self.branch3x3(self.branch3x3_reduce(x)),
            self.branch3x3_3(self.branch3x3_2(self.branch3x3_reduce_2(x))),
        ], 1)


def _pool() -> nn.MaxPool2d:
    return nn.MaxPool2d(kernel_size=3, stride=2, padding=1)


class FaceBoxes(nn.Module):
    """The detector: raw box regressions [N, P, 4] and class logits [N, P, 2] per prior."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = CRelu(3, 24, kernel_size=7, stride=4, padding=3)
        self.pool1 = _pool()
        self.conv2 = CRelu(48, 64, kernel_size=5, stride=2, padding=2)
        self.pool2 = _pool()
        self.inception1 = Inception()
        self.inception2 = Inception()
        self.inception3 = Inception()
        self.conv3_1 = BasicConv2d(128, 128, kernel_size=1, stride=1, padding=0)
        self.conv3_2 = BasicConv2d(128, 256, kernel_size=3, stride=2, padding=1)
        self.conv4_1 = BasicConv2d(256, 128, kernel_size=1, stride=1, padding=0)
        self.conv4_2 = BasicConv2d(128, 256, kernel_size=3, stride=2, padding=1)
        sources = (128, 256, 256)
        self.loc = nn.Sequential(*[nn.Conv2d(c, a * 4, kernel_size=3, padding=1)
                                   for c, a in zip(sources, ANCHORS, strict=True)])
        self.conf = nn.Sequential(*[nn.Conv2d(c, a * NUM_CLASSES, kernel_size=3, padding=1)
                                    for c, a in zip(sources, ANCHORS, strict=True)])

    def front(self) -> list[tuple[str, nn.Module]]:
        """The layers a split point can follow, in order."""
        return [("conv1", self.conv1), ("pool1", self.pool1), ("conv2", self.conv2),
                ("pool2", self.pool2)]

    def detect(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """From the pool2 output (the 128-channel head output) to (loc, conf logits)."""
        return detect(self, x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for _, layer in self.front():
            x = layer(x)
        return self.detect(x)


DETECTION_LAYERS = ("inception1", "inception2", "inception3", "conv3_1", "conv3_2", "conv4_1",
                    "conv4_2", "loc", "conf")


def detect(m: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The detection layers of ``m`` (a FaceBoxes or a Tail) on a pool2 output."""
    x = m.inception3(m.inception2(m.inception1(x)))
    sources = [x]
    x = m.conv3_2(m.conv3_1(x))
    sources.append(x)
    x = m.conv4_2(m.conv4_1(x))
    sources.append(x)
    n = x.shape[0]
    loc = torch.cat([layer(s).permute(0, 2, 3, 1).reshape(n, -1)
                     for layer, s in zip(m.loc, sources, strict=True)], 1)
    conf = torch.cat([layer(s).permute(0, 2, 3, 1).reshape(n, -1)
                      for layer, s in zip(m.conf, sources, strict=True)], 1)
    return loc.view(n, -1, 4), conf.view(n, -1, NUM_CLASSES)


class Head(nn.Sequential):
    """The part that runs in the trusted zone: the layers up to the split point."""


class Tail(nn.Module):
    """The rest: the front layers after the split point, then the detection layers."""

    def __init__(self, model: FaceBoxes, rest: list[nn.Module]) -> None:
        super().__init__()
        self.rest = nn.Sequential(*rest)
        for name in DETECTION_LAYERS:  # the model's own modules: weights stay shared
            setattr(self, name, getattr(model, name))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return detect(self, self.rest(x))


def check_split(split: str) -> str:
    """``split`` if it names a split point, else a clear error."""
    if split not in SPLITS:
        raise InvalidInput(f"unknown split point {split!r}: choose one of {', '.join(SPLITS)}",
                           field="split", value=split)
    return split


def split_model(model: FaceBoxes, split: str = DEFAULT_SPLIT) -> tuple[Head, Tail]:
    """Cut ``model`` after ``split``; head and tail share the model's parameters."""
    names = [n for n, _ in model.front()]
    k = names.index(check_split(split)) + 1
    layers = [m for _, m in model.front()]
    head, tail = Head(*layers[:k]), Tail(model, layers[k:])
    # New wrappers start in training mode; take the model's, so that head.train(flag)
    # later restores what the shared layers had.
    head.training = tail.training = model.training
    return head, tail


def head_shape(split: str, size: int) -> tuple[int, int, int]:
    """The activation shape [C, H, W] after ``split`` for a square input of ``size``."""
    k = SPLITS.index(check_split(split))
    h = size
    for kernel, stride, pad in ((7, 4, 3), (3, 2, 1), (5, 2, 2), (3, 2, 1))[:k + 1]:
        h = (h + 2 * pad - kernel) // stride + 1
    return (48 if k < 2 else 128, h, h)
