"""The training recipe: FaceBoxes from scratch on CPU, and the optional noise-aware
fine-tuning of the tail (``--adapt-tail``) with the head frozen."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from mlfabric.apps.faces.data import Normalize, Samples, augment, check_size, load_samples
from mlfabric.apps.faces.detector import Detector, save_detector
from mlfabric.apps.faces.fddb import parse_folds
from mlfabric.apps.faces.loss import MultiBoxLoss
from mlfabric.apps.faces.model import DEFAULT_SPLIT, FaceBoxes, check_split
from mlfabric.apps.faces.records import TrainReport
from mlfabric.errors import InvalidInput
from mlfabric.privacy import NoiseLayer, frozen
from mlfabric.progress import NO_PROGRESS, Progress

TRAIN_FOLDS = "1-8"
DETECTOR_FILE = "faceboxes.pt"
WEIGHT_DECAY = 5e-4


def run_epochs(params: list[nn.Parameter], forward: Callable[[torch.Tensor], object],
               samples: Samples, *, loss: MultiBoxLoss, epochs: int, batch_size: int,
               lr: float, seed: int, progress: Progress, what: str) -> list[float]:
    """AdamW with a short warm-up and cosine decay over augmented batches; the mean loss
    of each epoch."""
    if epochs < 1 or batch_size < 2:
        raise InvalidInput(f"need epochs >= 1 and batch size >= 2, got {epochs}, {batch_size}")
    gen = torch.Generator().manual_seed(seed)
    steps_per_epoch = max(1, len(samples) // batch_size)
    total = epochs * steps_per_epoch
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=WEIGHT_DECAY)
    warmup = max(1, total // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: min(1.0, (step + 1) / warmup)
        * 0.5 * (1 + torch.cos(torch.tensor(step / total * torch.pi)).item()))
    losses = []
    progress.start(what, total=total)
    try:
        for _ in range(epochs):
            order = torch.randperm(len(samples), generator=gen)
            running = []
            for k in range(steps_per_epoch):
                idx = order[k * batch_size:(k + 1) * batch_size]
                if len(idx) < 2:  # batch norm needs two samples
                    continue
                images, boxes = augment(samples.images[idx], [samples.boxes[i] for i in idx],
                                        gen)
                value = loss(forward(images), boxes)
                opt.zero_grad(set_to_none=True)
                value.backward()
                opt.step()
                sched.step()
                running.append(float(value.detach()))
                progress.advance(1, nbytes=1)
            losses.append(sum(running) / max(1, len(running)))
    finally:
        progress.finish()
    return losses


def fit_detector(samples: Samples, *, size: int, epochs: int, batch_size: int = 16,
                 lr: float = 3e-3, seed: int = 0,
                 progress: Progress = NO_PROGRESS) -> tuple[Detector, list[float]]:
    """Train FaceBoxes from scratch on ``samples``."""
    torch.manual_seed(seed)
    model = FaceBoxes()
    normalize = Normalize()
    model.train()
    losses = run_epochs(list(model.parameters()), lambda x: model(normalize(x)), samples,
                        loss=MultiBoxLoss(Detector(model, size).priors()), epochs=epochs,
                        batch_size=batch_size, lr=lr, seed=seed, progress=progress,
                        what="training the detector")
    model.eval()
    return Detector(model, size), losses


def adapt_tail(detector: Detector, noise: NoiseLayer, samples: Samples, *,
               split: str = DEFAULT_SPLIT, epochs: int = 5, batch_size: int = 16,
               lr: float = 3e-4, seed: int = 0,
               progress: Progress = NO_PROGRESS) -> Detector:
    """A copy of ``detector`` whose tail is fine-tuned on noisy activations; the head is
    untouched, so clients keep the same head (and noise)."""
    adapted = detector.copy()
    head, tail = adapted.split(check_split(split))
    tail.train()

    def forward(images: torch.Tensor) -> object:
        with torch.no_grad():
            act = noise(head(images))
        return tail(act)

    with frozen(head, noise):
        run_epochs(list(tail.parameters()), forward, samples,
                   loss=MultiBoxLoss(adapted.priors()), epochs=epochs,
                   batch_size=batch_size, lr=lr, seed=seed, progress=progress,
                   what="adapting the tail to the noise")
    adapted.model.eval()
    adapted.meta = {**adapted.meta, "adapted_tail": True, "split": split}
    return adapted


def inference_size(size: int) -> int:
    """The input size a detector trained at ``size`` runs at by default: 1.5 times larger,
    so that faces below the smallest anchor (32 px) at the training scale are found."""
    return min(2048, (size * 3 // 2 + 31) // 32 * 32)


def train(dataset: str, *, out: str | None = None, folds: str = TRAIN_FOLDS, size: int = 256,
          infer_size: int | None = None, epochs: int = 40, batch_size: int = 16,
          lr: float = 3e-3, seed: int = 0, limit: int | None = None, home: str | None = None,
          progress: Progress = NO_PROGRESS) -> TrainReport:
    """Train a detector on the ``folds`` of an FDDB-format dataset at ``size`` px and save
    it to ``out`` (default ``DATASET/faceboxes.pt``) to run at ``infer_size`` px."""
    check_size(size)
    runs_at = check_size(infer_size) if infer_size else inference_size(size)
    chosen = parse_folds(folds)
    started = time.monotonic()
    samples = load_samples(dataset, chosen, size, limit=limit, progress=progress)
    if len(samples) < 2:
        raise InvalidInput(f"{dataset}: need at least 2 training images, found {len(samples)}")
    detector, losses = fit_detector(samples, size=size, epochs=epochs,
                                    batch_size=min(batch_size, len(samples)), lr=lr,
                                    seed=seed, progress=progress)
    detector.size = runs_at
    detector.meta = {"dataset": str(dataset), "folds": chosen, "epochs": epochs,
                     "train_size": size}
    target = Path(out) if out else Path(dataset) / DETECTOR_FILE
    save_detector(detector, target)
    return TrainReport(detector=str(target), dataset=str(dataset), folds=chosen,
                       images=len(samples), size=size, infer_size=runs_at, epochs=epochs,
                       final_loss=round(losses[-1], 4),
                       seconds=round(time.monotonic() - started, 1),
                       finished_at=time.time(), losses=[round(v, 4) for v in losses])
