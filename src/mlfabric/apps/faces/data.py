"""Images in, tensors out: reading, checking and resizing pictures, the detector's input
normalisation, and the training-time augmentation."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mlfabric.apps.faces.fddb import Entry, read_dataset
from mlfabric.errors import InvalidInput
from mlfabric.progress import NO_PROGRESS, Progress

MIN_SIDE = 32
MIN_INPUT, MAX_INPUT = 64, 2048
BGR_MEAN = (104.0, 117.0, 123.0)  # FaceBoxes' input convention, kept for its checkpoints


def check_size(size: int) -> int:
    """A model input size: a multiple of 32 between 64 and 2048 pixels."""
    if not isinstance(size, int) or not MIN_INPUT <= size <= MAX_INPUT or size % 32:
        raise InvalidInput(f"input size must be a multiple of 32 between {MIN_INPUT} and "
                           f"{MAX_INPUT} pixels, got {size!r}", field="size", value=size)
    return size


def check_image(image: np.ndarray, what: str = "image") -> np.ndarray:
    """``image`` as uint8 RGB [H, W, 3], or a clear error for the wrong shape or size."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise InvalidInput(f"{what}: expected an RGB image [H, W, 3], got shape {list(arr.shape)}")
    if min(arr.shape[:2]) < MIN_SIDE:
        raise InvalidInput(f"{what}: {arr.shape[1]}x{arr.shape[0]} pixels is too small "
                           f"(at least {MIN_SIDE}x{MIN_SIDE})")
    if arr.dtype != np.uint8:
        arr = (np.clip(arr.astype(np.float32), 0, 1) * 255).round().astype(np.uint8) \
            if arr.dtype.kind == "f" and float(arr.max(initial=0)) <= 1.0 \
            else np.clip(arr, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr[:, :, :3])


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """A picture file as uint8 RGB [H, W, 3]; a clear error when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    try:
        with Image.open(p) as img:
            arr = np.array(img.convert("RGB"))
    except FileNotFoundError:
        raise InvalidInput(f"{p}: image file not found") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InvalidInput(f"{p}: cannot read image ({exc.__class__.__name__})") from None
    return check_image(arr, str(p))


def resize(image: np.ndarray, size: int) -> torch.Tensor:
    """uint8 RGB [H, W, 3] -> uint8 [3, size, size] (stretched: boxes scale per axis)."""
    arr = check_image(image)
    if not arr.flags.writeable:
        arr = arr.copy()
    t = torch.from_numpy(arr).permute(2, 0, 1)[None]
    out = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True,
                        align_corners=False)
    return out[0]


class Normalize(nn.Module):
    """RGB pixels in [0, 255] -> the BGR, mean-subtracted input FaceBoxes expects."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(BGR_MEAN).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float().flip(1) - self.mean


@dataclass
class Samples:
    """Pictures resized to the model input, with face boxes relative to the picture."""

    images: torch.Tensor  # uint8 [N, 3, S, S]
    boxes: list[torch.Tensor]  # each [n, 4] corners in [0, 1]
    folds: list[int]
    names: list[str]

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, folds: list[int]) -> Samples:
        keep = [i for i, f in enumerate(self.folds) if f in folds]
        return Samples(self.images[keep], [self.boxes[i] for i in keep],
                       [self.folds[i] for i in keep], [self.names[i] for i in keep])

    def pixels(self) -> torch.Tensor:
        """The pictures as float RGB in [0, 1] (what the attacker tries to recover)."""
        return self.images.float() / 255


def _boxes(entry: Entry, width: int, height: int) -> torch.Tensor:
    if not entry.faces:
        return torch.zeros(0, 4)
    b = torch.tensor([e.box() for e in entry.faces], dtype=torch.float32)
    b /= torch.tensor([width, height, width, height], dtype=torch.float32)
    return b.clamp(0, 1)


def load_samples(dataset: str, folds: list[int], size: int, *, limit: int | None = None,
                 progress: Progress = NO_PROGRESS) -> Samples:
    """Read the pictures of ``folds`` (at most ``limit`` per fold) resized to ``size``."""
    check_size(size)
    per_fold = read_dataset(dataset, folds)
    entries = [(fold, e) for fold, es in per_fold.items() for e in es[:limit]]
    if not entries:
        raise InvalidInput(f"{dataset}: folds {folds} list no images")
    images, boxes = [], []
    progress.start(f"reading {len(entries)} images", total=len(entries))
    try:
        for _, entry in entries:
            img = read_image(entry.path)
            images.append(resize(img, size))
            boxes.append(_boxes(entry, img.shape[1], img.shape[0]))
            progress.advance(1, nbytes=1)
    finally:
        progress.finish()
    return Samples(torch.stack(images), boxes, [f for f, _ in entries],
                   [e.name for _, e in entries])


def augment(images: torch.Tensor, boxes: list[torch.Tensor],
            gen: torch.Generator) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """A random square crop (60-100% of the side) resized back, a horizontal flip and a
    colour jitter; faces whose centre leaves the crop are dropped."""
    n, _, s, _ = images.shape
    out = torch.empty(n, 3, s, s)
    new_boxes = []
    for i in range(n):
        side = float(torch.empty(1).uniform_(0.6, 1.0, generator=gen))
        x0 = float(torch.rand(1, generator=gen)) * (1 - side)
        y0 = float(torch.rand(1, generator=gen)) * (1 - side)
        b = boxes[i]
        centre = (b[:, :2] + b[:, 2:]) / 2
        inside = ((centre[:, 0] > x0) & (centre[:, 0] < x0 + side) & (centre[:, 1] > y0)
                  & (centre[:, 1] < y0 + side))
        if b.numel() and not bool(inside.any()):  # keep the faces: no crop this time
            side, x0, y0, inside = 1.0, 0.0, 0.0, torch.ones(len(b), dtype=torch.bool)
        px0, py0, pside = int(x0 * s), int(y0 * s), max(8, int(side * s))
        crop = images[i:i + 1, :, py0:py0 + pside, px0:px0 + pside].float()
        img = F.interpolate(crop, size=(s, s), mode="bilinear", align_corners=False)[0]
        shift = torch.tensor([px0, py0, px0, py0], dtype=torch.float32) / s
        nb = ((b[inside] - shift) * (s / pside)).clamp(0, 1)
        if bool(torch.rand(1, generator=gen) < 0.5):
            img = img.flip(2)
            nb = torch.stack([1 - nb[:, 2], nb[:, 1], 1 - nb[:, 0], nb[:, 3]], 1)
        gain = torch.empty(3, 1, 1).uniform_(0.8, 1.2, generator=gen)
        out[i] = (img * gain + float(torch.empty(1).uniform_(-20, 20, generator=gen)))
        new_boxes.append(nb)
    return out.clamp(0, 255), new_boxes
