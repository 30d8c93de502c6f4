"""``make_dataset``: an FDDB-format dataset composited from the faces that ship with
scikit-image onto face-free backgrounds, with scale, rotation, colour and blur changes."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from mlfabric.apps.faces import sources
from mlfabric.apps.faces.fddb import FOLDS, FOLDS_DIR, IMAGES_DIR, Ellipse, write_fold
from mlfabric.apps.faces.records import FacesDataset
from mlfabric.errors import AlreadyExists, InvalidInput
from mlfabric.progress import NO_PROGRESS, Progress

HELD_OUT_FOLDS = (9, 10)
FACE_SIDE = (0.12, 0.4)  # face width relative to the image's short side
MAX_TILT = 20.0  # degrees
SKIN = np.array([[1.0, 0.86, 0.74], [0.92, 0.72, 0.58], [0.72, 0.53, 0.40],
                 [0.50, 0.36, 0.27], [1.0, 1.0, 1.0]], dtype=np.float32)


def _background(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    pool = sources.backgrounds()
    src = pool[rng.integers(len(pool))]
    h, w = src.shape[:2]
    scale = rng.uniform(0.4, 1.0)
    ch, cw = max(16, int(h * scale)), max(16, int(w * scale))
    y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    crop = src[y:y + ch, x:x + cw] * rng.uniform(0.6, 1.3, size=3).astype(np.float32)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return Image.fromarray(_to_u8(crop)).resize((width, height), Image.Resampling.BILINEAR)


def _to_u8(img: np.ndarray) -> np.ndarray:
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def _ellipse_mask(width: int, height: int) -> np.ndarray:
    """An ellipse filling the box, with a soft edge so no seam gives a patch away."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = np.sqrt(((x + 0.5) / width * 2 - 1) ** 2 + ((y + 0.5) / height * 2 - 1) ** 2)
    return np.clip((1.0 - r) / 0.12, 0, 1)


def _sprite(rng: np.random.Generator, crop: np.ndarray, width: int, height: int,
            tilt: float) -> Image.Image:
    """A face or a patch as an RGBA sprite: recoloured, resized, blurred, tilted."""
    grey = np.allclose(crop[..., 0], crop[..., 1])
    tint = SKIN[rng.integers(len(SKIN))] if grey else np.ones(3, np.float32)
    contrast, brightness = rng.uniform(0.7, 1.3), rng.uniform(-0.15, 0.15)
    img = np.clip((crop - 0.5) * contrast + 0.5 + brightness, 0, 1) * tint
    if rng.random() < 0.5:
        img = img[:, ::-1]
    rgb = Image.fromarray(_to_u8(img)).resize((width, height), Image.Resampling.BICUBIC)
    blur = rng.uniform(0, 1.5)
    if blur > 0.2:
        rgb = rgb.filter(ImageFilter.GaussianBlur(blur))
    rgba = rgb.convert("RGBA")
    rgba.putalpha(Image.fromarray(_to_u8(_ellipse_mask(width, height))))
    return rgba.rotate(tilt, resample=Image.Resampling.BICUBIC, expand=True)


def _free(box: tuple[float, float, float, float],
          taken: list[tuple[float, float, float, float]]) -> bool:
    return all(box[2] < t[0] or t[2] < box[0] or box[3] < t[1] or t[3] < box[1]
               for t in taken)


def compose(rng: np.random.Generator, size: int, held_out: bool) -> tuple[Image.Image,
                                                                          list[Ellipse]]:
    """One picture and the ellipses of the faces in it."""
    width, height = size, size
    aspect = rng.choice([1.0, 0.75, 4 / 3])
    if aspect < 1:
        height = int(size * aspect)
    elif aspect > 1:
        width = int(size / aspect)
    canvas = _background(rng, width, height)
    faces, patches = sources.pools(held_out)
    n_faces = int(rng.choice([1, 1, 2, 2, 3, 4]))
    n_patches = int(rng.integers(0, 4))
    taken: list[tuple[float, float, float, float]] = []
    ellipses: list[Ellipse] = []
    short = min(width, height)
    for k in range(n_faces + n_patches):
        is_face = k < n_faces
        crop = faces[rng.integers(len(faces))] if is_face else patches[rng.integers(len(patches))]
        fw = int(short * rng.uniform(*FACE_SIDE))
        fh = int(fw * rng.uniform(1.0, 1.25))
        tilt = rng.uniform(-MAX_TILT, MAX_TILT)
        sprite = _sprite(rng, crop, fw, fh, tilt)
        sw, sh = sprite.size
        if sw >= width or sh >= height:
            continue
        for _ in range(30):
            x, y = int(rng.integers(0, width - sw)), int(rng.integers(0, height - sh))
            box = (x, y, x + sw, y + sh)
            if _free(box, taken):
                break
        else:
            continue
        taken.append(box)
        canvas.paste(sprite, (x, y), sprite)
        if is_face:
            # PIL turns counter-clockwise on screen (y down): a vertical major axis ends
            # at pi/2 - tilt from the x axis.
            ellipses.append(Ellipse(major=fh / 2, minor=fw / 2,
                                    angle=math.pi / 2 - math.radians(tilt),
                                    cx=x + sw / 2, cy=y + sh / 2))
    if not ellipses:
        return compose(rng, size, held_out)
    return canvas, ellipses


def make_dataset(path: str, *, images: int = 500, size: int = 512, seed: int = 0,
                 force: bool = False, home: str | None = None,
                 progress: Progress = NO_PROGRESS) -> FacesDataset:
    """Generate an FDDB-format dataset of ``images`` pictures (10 folds) in ``path``."""
    if images < FOLDS:
        raise InvalidInput(f"need at least {FOLDS} images (one per fold), got {images}")
    if not 64 <= size <= 4096:
        raise InvalidInput(f"image size must be between 64 and 4096 pixels, got {size}")
    root = Path(path)
    if (root / FOLDS_DIR).exists() and not force:
        raise AlreadyExists("dataset", str(root))
    (root / IMAGES_DIR / "synth").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    total_faces = 0
    progress.start("generating images", total=images)
    try:
        for fold in range(1, FOLDS + 1):
            held_out = fold in HELD_OUT_FOLDS
            count = images // FOLDS + (1 if fold <= images % FOLDS else 0)
            entries = []
            for _ in range(count):
                name = f"synth/img_{fold:02d}_{len(entries) + 1:05d}"
                picture, ellipses = compose(rng, size, held_out)
                target = root / IMAGES_DIR / f"{name}.jpg"
                tmp = target.with_name(target.name + ".tmp")
                picture.save(tmp, format="JPEG", quality=90)
                os.replace(tmp, target)
                entries.append((name, ellipses))
                total_faces += len(ellipses)
                progress.advance(1, nbytes=1)
            write_fold(root, fold, entries)
    finally:
        progress.finish()
    return FacesDataset(path=str(root), images=images, faces=total_faces, folds=FOLDS,
                        size=size, seed=seed, created_at=time.time())
