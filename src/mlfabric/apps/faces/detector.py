"""A trained detector: the FaceBoxes weights with their input size, saved as one file;
public FaceBoxes.PyTorch checkpoints load too."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from mlfabric.apps.faces.boxes import decode, nms
from mlfabric.apps.faces.data import Normalize, check_size
from mlfabric.apps.faces.model import DEFAULT_SPLIT, FaceBoxes, Head, Tail, split_model
from mlfabric.apps.faces.priors import prior_boxes
from mlfabric.errors import InvalidInput

FORMAT = "mlfabric-faceboxes/1"
REFERENCE_SIZE = 1024  # the input size FaceBoxes.PyTorch trains at
SCORE_THRESHOLD = 0.05
NMS_THRESHOLD = 0.3
TOP_K = 400
KEEP = 100


@dataclass
class Detector:
    """FaceBoxes and the square input size it runs at."""

    model: FaceBoxes
    size: int
    meta: dict = field(default_factory=dict)

    def split(self, split: str = DEFAULT_SPLIT) -> tuple[Head, Tail]:
        """Head (input normalisation included) and tail, sharing this model's weights."""
        head, tail = split_model(self.model, split)
        wrapped = Head(Normalize(), *head)
        wrapped.training = self.model.training
        return wrapped, tail

    def copy(self) -> Detector:
        return Detector(copy.deepcopy(self.model), self.size, dict(self.meta))

    def priors(self) -> torch.Tensor:
        return prior_boxes(self.size)


@dataclass(frozen=True)
class Detection:
    """Faces found in one picture: corner boxes relative to it, and their scores."""

    boxes: torch.Tensor
    scores: torch.Tensor


def postprocess(loc: torch.Tensor, scores: torch.Tensor, priors: torch.Tensor, *,
                threshold: float = SCORE_THRESHOLD) -> list[Detection]:
    """Regressions [N, P, 4] and face probabilities [N, P] -> detections after NMS."""
    out = []
    for i in range(loc.shape[0]):
        keep = scores[i] > threshold
        s = scores[i][keep]
        boxes = decode(loc[i][keep], priors[keep])
        order = s.argsort(descending=True)[:TOP_K]
        boxes, s = boxes[order], s[order]
        kept = nms(boxes, s, NMS_THRESHOLD)[:KEEP]
        out.append(Detection(boxes[kept].clamp(0, 1), s[kept]))
    return out


def face_scores(conf: torch.Tensor) -> torch.Tensor:
    """Class logits [N, P, 2] -> probability of a face [N, P]."""
    return F.softmax(conf, dim=-1)[..., 1]


def save_detector(detector: Detector, path: str | os.PathLike[str]) -> str:
    """Write the weights, input size and metadata to ``path`` (temp file, then rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    torch.save({"format": FORMAT, "size": detector.size, "meta": detector.meta,
                "state_dict": detector.model.state_dict()}, tmp)
    os.replace(tmp, target)
    return str(target)


def _strip(state: dict) -> dict:
    """A FaceBoxes.PyTorch state dict may carry DataParallel's ``module.`` prefix."""
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_detector(path: str | os.PathLike[str], *, size: int | None = None) -> Detector:
    """Read a detector saved by ``faces train``, or a FaceBoxes.PyTorch checkpoint
    (``FaceBoxesProd.pth``), which runs at 1024 px unless ``size`` says otherwise."""
    from mlfabric.privacy import load_state_file

    p = Path(path)
    state = load_state_file(p, "detector checkpoint")
    ours = state.get("format") == FORMAT
    weights = state["state_dict"] if ours or "state_dict" in state else state
    model = FaceBoxes()
    try:
        model.load_state_dict(_strip(weights), strict=True)
    except (RuntimeError, KeyError, TypeError) as exc:
        raise InvalidInput(f"{p}: the weights do not fit FaceBoxes "
                           f"({str(exc).splitlines()[0]})") from exc
    model.eval()
    chosen = size or (int(state["size"]) if ours else REFERENCE_SIZE)
    return Detector(model, check_size(chosen), dict(state.get("meta") or {}) if ours else {})
