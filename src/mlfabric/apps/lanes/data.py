"""Datasets on disk: ``make-data`` writes one (pictures, TuSimple labels, splits), and
``load_split`` reads a split back as tensors with lane masks, skipping bad input."""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from mlfabric.apps.lanes.records import LanesDataset
from mlfabric.apps.lanes.synth import make_scene, render
from mlfabric.apps.lanes.tusimple import (
    ABSENT,
    SPLITS,
    Label,
    Problems,
    read_labels,
    split_files,
    write_labels,
)
from mlfabric.errors import InvalidInput
from mlfabric.progress import NO_PROGRESS, Progress

MAX_LANES = 5  # lane slots of the model, left to right (TuSimple has up to 5)
FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}
META = "dataset.json"


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` as (width, height), each from 16 to 4096 pixels."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
    if not m or not all(16 <= int(v) <= 4096 for v in m.groups()):
        raise InvalidInput(f"invalid size '{text}': expected WxH, 16 to 4096 pixels each",
                           field="size", value=text)
    return int(m[1]), int(m[2])


def split_counts(images: int) -> dict[str, int]:
    """Pictures per split: 70/10/20, at least one in each."""
    if images < len(SPLITS):
        raise InvalidInput(f"--images must be at least {len(SPLITS)} (one per split), "
                           f"got {images}", field="images", value=images)
    val = max(1, round(images * FRACTIONS["val"]))
    test = max(1, round(images * FRACTIONS["test"]))
    return {"train": images - val - test, "val": val, "test": test}


def make_data(path: str, *, images: int = 200, size: str = "256x128", seed: int = 0,
              progress: Progress = NO_PROGRESS) -> LanesDataset:
    """Write a synthetic TuSimple-format dataset into ``path``: ``clips/SPLIT/N.jpg``,
    ``SPLIT.json`` label lines for train, val and test, and ``dataset.json``."""
    width, height = parse_size(size)
    counts = split_counts(images)
    root = Path(path)
    if (root / META).exists():
        raise InvalidInput(f"{root}: a dataset is already there ({META})")
    rng = np.random.default_rng(seed)
    progress.start("generating pictures", images)
    for split, n in counts.items():
        (root / "clips" / split).mkdir(parents=True, exist_ok=True)
        labels = []
        for i in range(n):
            scene = make_scene(rng, width, height)
            raw = f"clips/{split}/{i:05d}.jpg"
            render(scene, rng).save(root / raw, quality=92)
            labels.append(scene.label(raw))
            progress.advance()
        write_labels(root / f"{split}.json", labels)
    progress.finish()
    version = fingerprint(root)
    d = LanesDataset(path=str(root), images=images, splits=counts, width=width,
                     height=height, seed=seed, version=version, created_at=time.time())
    (root / META).write_text(json.dumps(d.to_dict(), indent=1) + "\n", encoding="utf-8")
    return d


def fingerprint(root: Path) -> str:
    """The dataset's version: a hash of its label files and every picture they name."""
    h = hashlib.sha256()
    for f in (f for split in SPLITS for f in split_files(root, split)):
        h.update(f.name.encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    for pic in sorted((root / "clips").rglob("*")) if (root / "clips").is_dir() else []:
        if pic.is_file():
            h.update(str(pic.relative_to(root)).encode() + b"\0" +
                     hashlib.sha256(pic.read_bytes()).digest())
    return h.hexdigest()[:16]


@dataclass
class Split:
    """A split in memory at the model's size: pictures [N, 3, H, W] uint8, lane masks
    [N, H, W] (0 background, 1..5 lanes left to right), and the labels (original size)."""

    images: np.ndarray
    masks: np.ndarray
    labels: list[Label]
    sizes: list[tuple[int, int]]  # each picture's original (width, height)
    problems: Problems


def lane_order(lanes: list[list[float]], h_samples: list[int]) -> list[int]:
    """Lane indexes left to right by the x of their lowest labelled point."""
    def key(i: int) -> float:
        pts = [(y, x) for x, y in zip(lanes[i], h_samples, strict=True) if x != ABSENT]
        return max(pts)[1] if pts else 0.0
    return sorted(range(len(lanes)), key=key)


def lane_mask(label: Label, src: tuple[int, int], dst: tuple[int, int]) -> np.ndarray:
    """The label drawn at ``dst`` (width, height): lane k (left to right) as value k."""
    sx, sy = dst[0] / src[0], dst[1] / src[1]
    mask = Image.new("L", dst, 0)
    draw = ImageDraw.Draw(mask)
    thick = max(1, round(dst[0] / 40))
    for slot, i in enumerate(lane_order(label.lanes, label.h_samples)[:MAX_LANES], 1):
        pts = [(x * sx, y * sy) for x, y in zip(label.lanes[i], label.h_samples, strict=True)
               if x != ABSENT]
        if len(pts) >= 2:
            draw.line(pts, fill=slot, width=thick)
    return np.asarray(mask, dtype=np.uint8)


def load_split(root: str | Path, split: str, size: tuple[int, int],
               problems: Problems | None = None) -> Split:
    """Read ``split`` of the dataset at ``root`` resized to ``size`` (width, height);
    unreadable pictures join the bad label lines in ``problems``."""
    base = Path(root)
    problems = problems if problems is not None else Problems()
    labels, pics, masks, sizes = [], [], [], []
    for label in read_labels(base, split, problems):
        try:
            data = (base / label.raw_file).read_bytes()
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                rgb = im.convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError):
            problems.add("corrupt image", label.raw_file)
            continue
        sizes.append(rgb.size)
        pics.append(np.asarray(rgb.resize(size, Image.BILINEAR), dtype=np.uint8)
                    .transpose(2, 0, 1))
        masks.append(lane_mask(label, rgb.size, size))
        labels.append(label)
    w, h = size
    return Split(images=np.stack(pics) if pics else np.zeros((0, 3, h, w), np.uint8),
                 masks=np.stack(masks) if masks else np.zeros((0, h, w), np.uint8),
                 labels=labels, sizes=sizes, problems=problems)
