"""``lanes eval``: a checkpoint's lanes on a split, scored with TuSimple's metrics.

Evaluation runs on the CPU in one thread with a fixed batch, so the same checkpoint on
the same pictures gives bit-identical scores wherever it runs: how a restored snapshot
proves it holds the model it recorded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from mlfabric.apps.lanes.checkpoint import load_checkpoint
from mlfabric.apps.lanes.data import MAX_LANES, Split, load_split
from mlfabric.apps.lanes.metrics import scaled_threshold, score
from mlfabric.apps.lanes.model import SCNN
from mlfabric.apps.lanes.records import Metrics
from mlfabric.apps.lanes.tusimple import ABSENT

EVAL_BATCH = 8
MIN_SCORE = 0.5  # a slot's pixel counts as lane when its probability is above this


@contextmanager
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def decode(probs: np.ndarray, h_samples: list[int], src: tuple[int, int]) -> list[list[float]]:
    """Lanes in TuSimple's format from one picture's slot probabilities [6, h, w]: per
    slot and h_sample, the probability-weighted column of the lane's pixels in that row,
    in the original picture's pixels; slots with fewer than 2 points are no lane."""
    _, h, w = probs.shape
    lanes = []
    for slot in range(1, MAX_LANES + 1):
        lane = []
        for y in h_samples:
            row = min(h - 1, int((y + 0.5) * h / src[1]))
            p = probs[slot, row]
            hit = p > MIN_SCORE
            if hit.any():
                col = float((p * hit * np.arange(w)).sum() / (p * hit).sum())
                lane.append(round((col + 0.5) * src[0] / w - 0.5, 1))
            else:
                lane.append(ABSENT)
        if sum(x != ABSENT for x in lane) >= 2:
            lanes.append(lane)
    return lanes


def predict(model: SCNN, split: Split) -> list[list[list[float]]]:
    """Each picture's lanes, as TuSimple's ``lanes`` field."""
    model = model.cpu().eval()
    out: list[list[list[float]]] = []
    with one_thread(), torch.no_grad():
        for i in range(0, len(split.labels), EVAL_BATCH):
            x = torch.from_numpy(split.images[i:i + EVAL_BATCH]).float()
            probs = torch.softmax(model(x), dim=1).numpy()
            for k, p in enumerate(probs):
                label = split.labels[i + k]
                out.append(decode(p, label.h_samples, split.sizes[i + k]))
    return out


def score_split(model: SCNN, split: Split, name: str,
                pixel_thresh: float | None = None) -> Metrics:
    """TuSimple's metrics of ``model`` on a loaded split."""
    width = split.sizes[0][0] if split.sizes else 1280
    thresh = pixel_thresh if pixel_thresh is not None else scaled_threshold(width)
    preds = predict(model, split)
    m = score(((p, lab.lanes, lab.h_samples) for p, lab in zip(preds, split.labels,
                                                               strict=True)), thresh)
    return Metrics(split=name, accuracy=m["accuracy"], fp=m["fp"], fn=m["fn"],
                   pictures=int(m["pictures"]), pixel_thresh=thresh,
                   skipped=split.problems.as_dict())


def evaluate(data: str, *, checkpoint: str | None = None, split: str = "test",
             pixel_thresh: float | None = None) -> Metrics:
    """Score the checkpoint (default ``DATA/model``) on ``split`` of the dataset."""
    ckpt = load_checkpoint(checkpoint or str(Path(data) / "model"))
    model = ckpt.model()
    loaded = load_split(data, split, ckpt.size)
    return score_split(model, loaded, split, pixel_thresh)
