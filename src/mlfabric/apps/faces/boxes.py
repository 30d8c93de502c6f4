"""Box arithmetic: SSD encoding against priors, IoU, matching and non-maximum suppression."""

from __future__ import annotations

import torch

VARIANCE = (0.1, 0.2)


def to_corners(boxes: torch.Tensor) -> torch.Tensor:
    """(cx, cy, w, h) -> (x1, y1, x2, y2)."""
    return torch.cat([boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2], 1)


def iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU [len(a), len(b)] of corner boxes."""
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(2)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(1)
    return inter / (area_a[:, None] + area_b[None, :] - inter).clamp(min=1e-12)


def encode(matched: torch.Tensor, priors: torch.Tensor) -> torch.Tensor:
    """Corner boxes matched to each prior -> regression targets."""
    centre = ((matched[:, :2] + matched[:, 2:]) / 2 - priors[:, :2]) / (VARIANCE[0] * priors[:, 2:])
    wh = (matched[:, 2:] - matched[:, :2]).clamp(min=1e-6) / priors[:, 2:]
    return torch.cat([centre, torch.log(wh) / VARIANCE[1]], 1)


def decode(loc: torch.Tensor, priors: torch.Tensor) -> torch.Tensor:
    """Regressions [P, 4] -> corner boxes relative to the input."""
    centre = priors[:, :2] + loc[:, :2] * VARIANCE[0] * priors[:, 2:]
    wh = priors[:, 2:] * torch.exp(loc[:, 2:] * VARIANCE[1])
    return torch.cat([centre - wh / 2, centre + wh / 2], 1)


def match(truths: torch.Tensor, priors: torch.Tensor,
          threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Regression targets [P, 4] and labels [P] (1 face, 0 background) for one image.

    A prior is a face when its IoU with a face is at least ``threshold``; every face also
    keeps its best prior, so that no face goes unmatched.
    """
    n = priors.shape[0]
    if truths.numel() == 0:
        return torch.zeros(n, 4), torch.zeros(n, dtype=torch.long)
    overlaps = iou(truths, to_corners(priors))
    best_prior = overlaps.argmax(1)
    best_truth_overlap, best_truth = overlaps.max(0)
    best_truth_overlap[best_prior] = 2.0
    best_truth[best_prior] = torch.arange(len(truths))
    labels = (best_truth_overlap >= threshold).long()
    return encode(truths[best_truth], priors), labels


def nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """Indices of the boxes kept by greedy non-maximum suppression, best first."""
    order = scores.argsort(descending=True)
    keep: list[int] = []
    if order.numel() == 0:
        return torch.zeros(0, dtype=torch.long)
    overlaps = iou(boxes[order], boxes[order])
    suppressed = torch.zeros(len(order), dtype=torch.bool)
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(int(order[i]))
        suppressed |= overlaps[i] > threshold
    return torch.tensor(keep, dtype=torch.long)
