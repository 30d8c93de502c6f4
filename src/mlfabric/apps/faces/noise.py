"""Learned noise for the detector: fitted on a dataset's training folds, or read back."""

from __future__ import annotations

from pathlib import Path

import torch

from mlfabric.apps.faces.data import Samples, load_samples
from mlfabric.apps.faces.detector import Detector
from mlfabric.apps.faces.fddb import parse_folds
from mlfabric.apps.faces.loss import MultiBoxLoss
from mlfabric.errors import InvalidInput
from mlfabric.privacy import NoiseLayer, fit_noise, load_noise, noise_meta, save_noise
from mlfabric.progress import NO_PROGRESS, Progress

FIT_LR = 0.1
# Passes over the fitting pictures. Three left the scales near their start (the bench's
# AP at alpha 0.2 was 0.966 learned vs 0.974 plain Gaussian); ten let them settle
# (0.969 vs 0.906).
FIT_EPOCHS = 10


def batches(samples: Samples, batch_size: int = 16) -> list[tuple[torch.Tensor, list]]:
    """``(float pictures, face boxes)`` batches, as ``fit_noise`` takes them."""
    return [(samples.images[i:i + batch_size].float(), samples.boxes[i:i + batch_size])
            for i in range(0, len(samples), batch_size)]


def fit_detector_noise(detector: Detector, samples: Samples, *, alpha: float, split: str,
                       epochs: int = FIT_EPOCHS, seed: int = 0,
                       progress: Progress = NO_PROGRESS) -> NoiseLayer:
    """Noise between the detector's head and tail, trained with the multibox loss."""
    torch.manual_seed(seed)
    head, tail = detector.split(split)
    return fit_noise(head, tail, MultiBoxLoss(detector.priors()), batches(samples), alpha,
                     epochs=epochs, lr=FIT_LR, progress=progress)


def check_noise_file(path: str, *, split: str, size: int) -> dict:
    """The ``meta`` of the noise file at ``path`` (alpha, split, size), checked against the
    split and input size it is about to be used at."""
    meta = noise_meta(path)
    for key, want in (("split", split), ("size", size)):
        if key in meta and meta[key] != want:
            raise InvalidInput(f"{path}: the noise was fitted for {key} {meta[key]}, "
                               f"not {want}")
    return meta


def obtain_noise(detector: Detector, *, dataset: str, alpha: float, path: str | None,
                 split: str, folds: str, epochs: int, limit: int | None, seed: int,
                 progress: Progress = NO_PROGRESS) -> tuple[NoiseLayer, Samples | None]:
    """The noise in ``path`` if that file exists (checked against the detector), else
    noise fitted at ``alpha`` on ``folds`` and saved to ``path`` when given; with the
    samples it was fitted on, if any."""
    if path and Path(path).exists():
        check_noise_file(path, split=split, size=detector.size)
        return load_noise(path), None
    samples = load_samples(dataset, parse_folds(folds), detector.size, limit=limit,
                           progress=progress)
    layer = fit_detector_noise(detector, samples, alpha=alpha, split=split, epochs=epochs,
                               seed=seed, progress=progress)
    if path:
        save_noise(layer, path, meta={"alpha": alpha, "split": split, "size": detector.size})
    return layer, samples
