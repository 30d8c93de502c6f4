"""The two benchmark networks, generated here (never downloaded): a small ResNet-style
image classifier and an SSD-MobileNet-style detector, exported to ONNX with a fixed input
shape and written as a Triton model repository (``NAME/config.pbtxt``,
``NAME/1/model.onnx``) that both the in-process SUT and ``mlfabric inference`` serve."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mlfabric.apps.edgebench.data import CLASSES, class_images, normalize
from mlfabric.apps.edgebench.records import ModelInfo
from mlfabric.apps.edgebench.spec import INPUT, MODELS, check_model_name
from mlfabric.errors import InvalidInput

OPSET = 17
MAX_BATCH = 32
DETECTOR_CLASSES = 4
ANCHORS = 3


class BasicBlock(nn.Module):
    """ResNet's two 3x3 convolutions with a shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout))
        self.short = (nn.Identity() if stride == 1 and cin == cout else
                      nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                    nn.BatchNorm2d(cout)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.short(x))


class ResNetSmall(nn.Module):
    """A ResNet-18-shaped classifier at a quarter of its width and depth."""

    def __init__(self, classes: int = CLASSES, width: int = 16) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(3, w, 7, 2, 3, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1), BasicBlock(w, w, 1), BasicBlock(w, 2 * w, 2),
            BasicBlock(2 * w, 4 * w, 2), BasicBlock(4 * w, 8 * w, 2),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(8 * w, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def separable(cin: int, cout: int, stride: int) -> nn.Sequential:
    """MobileNet's depthwise 3x3 then pointwise 1x1 convolution."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
        nn.ReLU6(inplace=True), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True))


class SSDMobileNetSmall(nn.Module):
    """SSD heads on two scales of a MobileNet-style backbone: per anchor, a box
    (4 offsets) and softmax class scores (background first)."""

    def __init__(self, classes: int = DETECTOR_CLASSES, width: int = 16) -> None:
        super().__init__()
        w = width
        self.classes = classes
        self.stem = nn.Sequential(nn.Conv2d(3, w, 3, 2, 1, bias=False), nn.BatchNorm2d(w),
                                  nn.ReLU6(inplace=True), separable(w, 2 * w, 2),
                                  separable(2 * w, 4 * w, 2), separable(4 * w, 8 * w, 2))
        self.extra = separable(8 * w, 8 * w, 2)
        self.loc = nn.ModuleList(nn.Conv2d(8 * w, ANCHORS * 4, 3, 1, 1) for _ in range(2))
        self.conf = nn.ModuleList(nn.Conv2d(8 * w, ANCHORS * classes, 3, 1, 1)
                                  for _ in range(2))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f1 = self.stem(x)
        f2 = self.extra(f1)
        n = x.shape[0]
        boxes = [h(f).permute(0, 2, 3, 1).reshape(n, -1, 4)
                 for h, f in zip(self.loc, (f1, f2), strict=True)]
        conf = [h(f).permute(0, 2, 3, 1).reshape(n, -1, self.classes)
                for h, f in zip(self.conf, (f1, f2), strict=True)]
        return torch.cat(boxes, 1), torch.softmax(torch.cat(conf, 1), -1)


def build(name: str, seed: int = 0) -> nn.Module:
    """A fresh network ``name`` (``resnet`` or ``ssd-mobilenet``) with seeded weights."""
    check_model_name(name)
    torch.manual_seed(seed)
    return ResNetSmall() if name == "resnet" else SSDMobileNetSmall()


def train_classifier(net: nn.Module, size: int, steps: int, seed: int = 0) -> float:
    """A few AdamW steps on generated class images (class = background hue), so accuracy
    mode has something to find; the final batch's loss."""
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    rng = np.random.default_rng(seed + 1000)
    loss = torch.tensor(0.0)
    for _ in range(steps):
        images, labels = class_images(rng, 16, size)
        x = torch.from_numpy(normalize(images))
        loss = nn.functional.cross_entropy(net(x), torch.from_numpy(labels).long())
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    return float(loss.detach())


def triton_config(name: str, size: int, outputs: dict[str, list[int]]) -> str:
    """``config.pbtxt``: fixed [3, size, size] FP32 input, batching up to 32 on CPU."""
    outs = ",\n".join(f'  {{ name: "{k}" data_type: TYPE_FP32 dims: [ '
                      f'{", ".join(str(d) for d in v)} ] }}' for k, v in outputs.items())
    return (f'name: "{name}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: {MAX_BATCH}\n'
            f'input [ {{ name: "{INPUT}" data_type: TYPE_FP32 dims: [ 3, {size}, {size} ] }} ]\n'
            f'output [\n{outs}\n]\n'
            'dynamic_batching { max_queue_delay_microseconds: 200 }\n'
            'instance_group [ { count: 1 kind: KIND_CPU } ]\n')


def export(name: str, repo: str | os.PathLike[str], *, size: int | None = None,
           train_steps: int = 0, seed: int = 0) -> ModelInfo:
    """Write model ``name`` at input ``size`` into the repository folder ``repo``."""
    kind, outputs, default = MODELS[check_model_name(name)]
    size = size or default
    if size < 32:
        raise InvalidInput(f"invalid size {size}: expected at least 32 pixels",
                           field="size", value=size)
    started = time.monotonic()
    net = build(name, seed)
    loss = train_classifier(net, size, train_steps, seed) if (
        kind == "classification" and train_steps > 0) else None
    net.eval()
    dummy = torch.zeros(1, 3, size, size)
    with torch.no_grad():
        out = net(dummy)
    shapes = {n: list(t.shape[1:]) for n, t in zip(outputs, out if isinstance(out, tuple)
                                                   else (out,), strict=True)}
    root = Path(repo) / name
    target = root / "1" / "model.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name("model.onnx.tmp")
    axes = {n: {0: "batch"} for n in (INPUT, *outputs)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (dummy,), str(tmp), input_names=[INPUT],
                          output_names=list(outputs), opset_version=OPSET, dynamo=False,
                          dynamic_axes=axes)
    os.replace(tmp, target)
    (root / "config.pbtxt").write_text(triton_config(name, size, shapes))
    return ModelInfo(name=name, kind=kind, path=str(root), onnx=str(target), size=size,
                     outputs=shapes, train_steps=train_steps,
                     final_loss=None if loss is None else round(loss, 4),
                     seconds=round(time.monotonic() - started, 2))
