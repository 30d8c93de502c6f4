"""Generated image sets in a volume, and the reads the query sample library does.

A data set is a folder: ``dataset.json`` (kind, side, count), ``images/NNNNNN.npy``
(uint8 HxWx3, one file per picture, ImageNet's 224 or COCO-SSD's 300 pixels a side) and,
for the labelled ``imagenet`` kind, ``labels.json``. Pictures of class ``k`` have
background hue ``k`` under random rectangles, which a briefly trained classifier learns.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from mlfabric.apps.edgebench.records import DataSetInfo
from mlfabric.errors import AlreadyExists, CorruptData, InvalidInput, NotFound

CLASSES = 10
KINDS = {"imagenet": 224, "coco": 300}  # kind -> default side
MANIFEST = "dataset.json"
MEAN, STD = 0.45, 0.25


def _palette() -> np.ndarray:
    hues = np.arange(CLASSES) / CLASSES
    rgb = np.stack([np.abs(hues * 6 - 3) - 1, 2 - np.abs(hues * 6 - 2),
                    2 - np.abs(hues * 6 - 4)], 1)
    return (np.clip(rgb, 0, 1) * 200 + 30).astype(np.float32)


def class_images(rng: np.random.Generator, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pictures (uint8 [n, size, size, 3]) and their classes."""
    labels = rng.integers(0, CLASSES, n)
    base = _palette()[labels][:, None, None, :]
    images = base + rng.normal(0, 20, (n, size, size, 3)).astype(np.float32)
    for i in range(n):
        for _ in range(3):
            x0, y0 = rng.integers(0, size * 3 // 4, 2)
            w, h = rng.integers(size // 8, size // 3, 2)
            images[i, y0:y0 + h, x0:x0 + w] = rng.integers(0, 256, 3)
    return np.clip(images, 0, 255).astype(np.uint8), labels


def normalize(images: np.ndarray) -> np.ndarray:
    """uint8 [..., H, W, 3] pictures as the networks' float32 [..., 3, H, W] input."""
    x = (images.astype(np.float32) / 255.0 - MEAN) / STD
    return np.ascontiguousarray(np.moveaxis(x, -1, -3))


def make_dataset(folder: str | os.PathLike[str], *, kind: str = "imagenet",
                 images: int = 256, size: int | None = None, seed: int = 0,
                 force: bool = False) -> DataSetInfo:
    """Generate a data set of ``kind`` into ``folder`` (ImageNet-like: labelled classes;
    COCO-like: unlabelled scenes)."""
    if kind not in KINDS:
        raise InvalidInput(f"unknown data kind '{kind}': expected one of {', '.join(KINDS)}",
                           field="kind", value=kind)
    side = size or KINDS[kind]
    if side < 16 or images < 1:
        raise InvalidInput("give at least one image of at least 16 pixels a side",
                           field="images")
    root = Path(folder)
    if (root / MANIFEST).exists() and not force:
        raise AlreadyExists("data set", str(root))
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels: list[int] = []
    for start in range(0, images, 64):
        batch, classes = class_images(rng, min(64, images - start), side)
        for i, picture in enumerate(batch):
            np.save(root / "images" / f"{start + i:06d}.npy", picture)
        labels += [int(c) for c in classes]
    if kind == "imagenet":
        (root / "labels.json").write_text(json.dumps(labels))
    info = DataSetInfo(path=str(root), kind=kind, size=side, count=images,
                       labelled=kind == "imagenet", bytes=sum(
                           f.stat().st_size for f in (root / "images").iterdir()),
                       created_at=time.time())
    (root / MANIFEST).write_text(json.dumps(info.to_dict()))
    return info


def read_dataset(folder: str | os.PathLike[str]) -> DataSetInfo:
    """The data set in ``folder`` (``NotFound`` when it holds none)."""
    root = Path(folder)
    try:
        meta = json.loads((root / MANIFEST).read_text())
    except FileNotFoundError:
        raise NotFound("data set", str(root)) from None
    except (OSError, ValueError) as exc:
        raise CorruptData(f"unreadable {root / MANIFEST}: {exc}") from None
    meta.pop("created_at", None)
    return DataSetInfo(**{**meta, "path": str(root)}, created_at=0.0)


def sample_paths(folder: str | os.PathLike[str], count: int) -> list[Path]:
    return [Path(folder) / "images" / f"{i:06d}.npy" for i in range(count)]


def read_labels(folder: str | os.PathLike[str]) -> list[int] | None:
    path = Path(folder) / "labels.json"
    return json.loads(path.read_text()) if path.exists() else None


def drop_cache(paths: Iterable[str | os.PathLike[str]]) -> int:
    """Evict these files from the page cache (``POSIX_FADV_DONTNEED``), so the next read
    goes to their storage; how many were evicted. Per file, without root and without
    disturbing other processes' cached data (unlike ``/proc/sys/vm/drop_caches``)."""
    done = 0
    for p in paths:
        try:
            fd = os.open(p, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            done += 1
        finally:
            os.close(fd)
    return done


def load_sample(path: Path) -> np.ndarray:
    """One picture as the networks' input ([3, H, W] float32), read from its storage."""
    with open(path, "rb") as f:
        return normalize(np.load(f, allow_pickle=False))
