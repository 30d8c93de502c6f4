"""The pictures that ship with scikit-image and scikit-learn, sorted into faces,
non-face patches and face-free backgrounds (nothing is downloaded)."""

from __future__ import annotations

import functools

import numpy as np

from mlfabric.extras import require

# lfw_subset: 100 face crops, then 100 non-face patches (25x25 grey).
LFW_FACES = 100
# Faces and patches of the held-out folds (9 and 10) are never seen in folds 1-8.
HELD_OUT_FROM = 80
ASTRONAUT_FACE = (slice(72, 184), slice(168, 282))  # rows, columns of Eileen Collins' face
# Pictures without a human face (camera and astronaut have one, so they are not here).
BACKGROUNDS = ("brick", "grass", "gravel", "coffee", "chelsea", "rocket", "hubble_deep_field",
               "immunohistochemistry", "moon", "page", "text", "coins", "clock", "horse",
               "cell", "retina", "colorwheel")


def _rgb(image: np.ndarray) -> np.ndarray:
    """Any skimage picture as float RGB in [0, 1]."""
    img = np.asarray(image)
    img = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img.astype(np.float32)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.clip(img[:, :, :3], 0, 1)


@functools.lru_cache(maxsize=1)
def faces_and_patches() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(faces, non-face patches): float RGB crops."""
    data = require("skimage.data", "faces")
    lfw = data.lfw_subset()
    faces = [_rgb(f) for f in lfw[:LFW_FACES]]
    patches = [_rgb(p) for p in lfw[LFW_FACES:]]
    astronaut = _rgb(data.astronaut())[ASTRONAUT_FACE]
    return [*faces, astronaut], patches


def pools(held_out: bool) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The faces and patches a fold may use: disjoint between folds 1-8 and 9-10, except
    the astronaut's face (the only colour face), which both use."""
    faces, patches = faces_and_patches()
    lfw, astronaut = faces[:-1], faces[-1]
    part = slice(HELD_OUT_FROM, None) if held_out else slice(0, HELD_OUT_FROM)
    return [*lfw[part], astronaut], patches[part]


@functools.lru_cache(maxsize=1)
def backgrounds() -> list[np.ndarray]:
    """Face-free pictures and textures from scikit-image and scikit-learn."""
    data = require("skimage.data", "faces")
    samples = require("sklearn.datasets", "faces").load_sample_images()
    out = [_rgb(getattr(data, name)()) for name in BACKGROUNDS]
    out += [_rgb(img) for img in samples.images]
    return out
