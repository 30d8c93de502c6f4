"""FaceBoxes prior (anchor) boxes, with the paper's anchor densification."""

from __future__ import annotations

import functools
import itertools
import math

import torch

STEPS = (32, 64, 128)
MIN_SIZES = ((32, 64, 128), (256,), (512,))
# Small anchors are tiled 4x4 (32 px) and 2x2 (64 px) times per location so that small
# faces get as many anchors as large ones (the paper's densification).
DENSITY = {32: 4, 64: 2}


@functools.lru_cache(maxsize=16)
def _priors(size: int) -> torch.Tensor:
    boxes: list[tuple[float, float, float, float]] = []
    for step, sizes in zip(STEPS, MIN_SIZES, strict=True):
        cells = math.ceil(size / step)
        for i, j in itertools.product(range(cells), range(cells)):
            for anchor in sizes:
                n = DENSITY.get(anchor, 1)
                offsets = [k / n for k in range(n)] if n > 1 else [0.5]
                for dy, dx in itertools.product(offsets, offsets):
                    boxes.append(((j + dx) * step / size, (i + dy) * step / size,
                                  anchor / size, anchor / size))
    return torch.tensor(boxes, dtype=torch.float32)


def prior_boxes(size: int) -> torch.Tensor:
    """Priors [P, 4] as (cx, cy, w, h) relative to a square input of ``size`` pixels, in
    the order the detector's outputs use."""
    return _priors(int(size)).clone()
