"""The multibox loss of SSD as FaceBoxes uses it: smooth-L1 box regression on the matched
priors plus cross-entropy with hard negative mining (7 negatives per positive)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mlfabric.apps.faces.boxes import match

OVERLAP = 0.35
NEG_POS = 7
LOC_WEIGHT = 2.0


class MultiBoxLoss:
    """``loss(outputs, truths)`` with ``outputs = (loc [N, P, 4], conf [N, P, 2])`` and
    ``truths`` a list of corner boxes [n_i, 4] relative to the input, one per image."""

    def __init__(self, priors: torch.Tensor) -> None:
        self.priors = priors

    def targets(self, truths: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        pairs = [match(t, self.priors, OVERLAP) for t in truths]
        return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])

    def __call__(self, outputs: tuple[torch.Tensor, torch.Tensor],
                 truths: list[torch.Tensor]) -> torch.Tensor:
        loc, conf = outputs
        loc_t, labels = self.targets(truths)
        pos = labels > 0
        n_pos = pos.sum(1, keepdim=True)
        loss_l = F.smooth_l1_loss(loc[pos], loc_t[pos], reduction="sum")
        # Hard negatives: the background priors the model is most wrong about.
        per_prior = F.cross_entropy(conf.reshape(-1, conf.shape[-1]), labels.reshape(-1),
                                    reduction="none").view_as(labels)
        mining = per_prior.detach().masked_fill(pos, 0)
        rank = mining.argsort(1, descending=True).argsort(1)
        n_neg = (NEG_POS * n_pos).clamp(max=labels.shape[1] - 1)
        neg = rank < n_neg
        loss_c = per_prior[pos | neg].sum()
        total = max(float(n_pos.sum()), 1.0)
        return (LOC_WEIGHT * loss_l + loss_c) / total
