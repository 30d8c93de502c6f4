"""``evaluate``: per-fold average precision at IoU 0.5, clean or with learned noise between
the head and the tail."""

from __future__ import annotations

from pathlib import Path

import torch

from mlfabric.apps.faces.boxes import iou
from mlfabric.apps.faces.data import Samples, load_samples
from mlfabric.apps.faces.detector import (
    Detection,
    Detector,
    face_scores,
    load_detector,
    postprocess,
)
from mlfabric.apps.faces.fddb import parse_folds
from mlfabric.apps.faces.model import DEFAULT_SPLIT, check_split
from mlfabric.apps.faces.noise import FIT_EPOCHS, obtain_noise
from mlfabric.apps.faces.records import EvalReport, FoldAP
from mlfabric.apps.faces.training import DETECTOR_FILE, TRAIN_FOLDS
from mlfabric.errors import InvalidInput
from mlfabric.privacy import NoiseLayer, check_alpha, snr_db
from mlfabric.progress import NO_PROGRESS, Progress

EVAL_FOLDS = "9-10"
IOU = 0.5


def average_precision(found: list[Detection], truths: list[torch.Tensor],
                      threshold: float = IOU) -> float:
    """VOC-style all-point average precision: each face counts once, extra boxes on a
    face are false positives."""
    n_faces = sum(len(t) for t in truths)
    if n_faces == 0:
        return 0.0
    scored: list[tuple[float, bool]] = []
    for det, truth in zip(found, truths, strict=True):
        used = torch.zeros(len(truth), dtype=torch.bool)
        overlaps = iou(det.boxes, truth) if len(truth) and len(det.boxes) else None
        for k in range(len(det.boxes)):  # already best first
            hit = False
            if overlaps is not None:
                cand = overlaps[k].masked_fill(used, -1)
                best = int(cand.argmax())
                if float(cand[best]) >= threshold:
                    used[best] = hit = True
            scored.append((float(det.scores[k]), hit))
    scored.sort(key=lambda s: -s[0])
    hits = torch.tensor([h for _, h in scored], dtype=torch.float64)
    if not len(hits):
        return 0.0
    tp = hits.cumsum(0)
    precision = tp / torch.arange(1, len(hits) + 1, dtype=torch.float64)
    recall = tp / n_faces
    # precision envelope, then the area under the recall steps
    envelope = precision.flip(0).cummax(0).values.flip(0)
    steps = torch.cat([recall[:1], recall[1:] - recall[:-1]])
    return float((steps * envelope).sum())


def detect(detector: Detector, images: torch.Tensor, *, split: str = DEFAULT_SPLIT,
           noise: NoiseLayer | None = None, batch_size: int = 32) -> list[Detection]:
    """Run head, noise (if any) and tail over uint8 pictures [N, 3, S, S]."""
    head, tail = detector.split(split)
    priors = detector.priors()
    out: list[Detection] = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            act = head(images[i:i + batch_size].float())
            if noise is not None:
                act = noise(act)
            loc, conf = tail(act)
            out += postprocess(loc, face_scores(conf), priors)
    return out


def fold_aps(samples: Samples, found: list[Detection]) -> list[FoldAP]:
    """AP per fold of the detections of ``samples``."""
    rows = []
    for fold in sorted(set(samples.folds)):
        idx = [i for i, f in enumerate(samples.folds) if f == fold]
        truths = [samples.boxes[i] for i in idx]
        rows.append(FoldAP(fold=fold, ap=average_precision([found[i] for i in idx], truths),
                           images=len(idx), faces=sum(len(t) for t in truths),
                           detections=sum(len(found[i].boxes) for i in idx)))
    return rows


def measure_snr(detector: Detector, noise: NoiseLayer, images: torch.Tensor, split: str,
                batch_size: int = 32) -> float:
    """SNR in dB of the noisy activations of ``images`` against the clean ones."""
    head, _ = detector.split(split)
    clean, noisy = [], []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            act = head(images[i:i + batch_size].float())
            clean.append(act)
            noisy.append(noise(act))
    return snr_db(torch.cat(clean), torch.cat(noisy))


def ap_lines(report: EvalReport) -> list[str]:
    """The reference output: one line per fold, the average over folds, the pooled mAP."""
    lines = [f"Fddb-fold-{row['fold']} Val AP: {row['ap']:.4f}" for row in report.folds]
    return [*lines, f"Fddb Dataset Average AP: {report.average_ap:.4f}",
            f"mAP: {report.map:.4f}"]


def evaluate(dataset: str, *, detector: str | None = None, folds: str = EVAL_FOLDS,
             noisy: bool = False, alpha: float = 0.5, noise: str | None = None,
             split: str = DEFAULT_SPLIT, fit_folds: str = TRAIN_FOLDS, fit_epochs: int = FIT_EPOCHS,
             adapt_tail: bool = False, adapt_epochs: int = 3, size: int | None = None,
             limit: int | None = None, seed: int = 0, home: str | None = None,
             progress: Progress = NO_PROGRESS) -> EvalReport:
    """AP at IoU 0.5 per fold of an FDDB-format dataset, its average and the pooled mAP.

    With ``noisy``, the head's activation gets learned noise: read from ``noise`` when that
    file exists, else fitted at ``alpha`` on ``fit_folds`` (and saved to ``noise`` if
    given). ``adapt_tail`` fine-tunes the tail to that noise first. ``size`` overrides the
    input size the detector runs at.
    """
    check_split(split)
    alpha = check_alpha(alpha)
    if adapt_tail and not noisy:
        raise InvalidInput("--adapt-tail needs --noisy")
    det_path = Path(detector) if detector else Path(dataset) / DETECTOR_FILE
    model = load_detector(det_path, size=size)
    chosen = parse_folds(folds)
    samples = load_samples(dataset, chosen, model.size, limit=limit, progress=progress)
    layer = None
    if noisy:
        layer, fit_samples = obtain_noise(model, dataset=dataset, alpha=alpha, path=noise,
                                          split=split, folds=fit_folds, epochs=fit_epochs,
                                          limit=limit, seed=seed, progress=progress)
        if adapt_tail:
            from mlfabric.apps.faces.training import adapt_tail as adapt

            model = adapt(model, layer, fit_samples or load_samples(
                dataset, parse_folds(fit_folds), model.size, limit=limit, progress=progress),
                split=split, epochs=adapt_epochs, seed=seed, progress=progress)
    torch.manual_seed(seed)
    progress.start(f"detecting faces in {len(samples)} images", total=len(samples))
    try:
        found: list[Detection] = []
        for i in range(0, len(samples), 16):
            found += detect(model, samples.images[i:i + 16], split=split, noise=layer)
            progress.advance(min(16, len(samples) - i), nbytes=min(16, len(samples) - i))
    finally:
        progress.finish()
    rows = fold_aps(samples, found)
    pooled = average_precision(found, samples.boxes)
    return EvalReport(
        dataset=str(dataset), detector=str(det_path), size=model.size, split=split,
        noisy=noisy, alpha=alpha if noisy else None, folds=[r.to_dict() for r in rows],
        average_ap=sum(r.ap for r in rows) / len(rows), map=pooled,
        snr_db=None if layer is None else round(measure_snr(model, layer, samples.images,
                                                            split), 3),
        mean_scale=None if layer is None else round(layer.mean_scale(), 5),
        noise=noise, adapted_tail=adapt_tail)
