"""TuSimple's lane metrics, as its ``lane.py`` (LaneEval) computes them: a predicted point
is right when it is within the pixel threshold (widened by the lane's angle) of the
truth; a lane matches at 85 % of its points; accuracy, false-positive and
false-negative rates are averaged over pictures. Pure numpy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

PIXEL_THRESH = 20.0  # TuSimple's, in pixels of its 1280-pixel-wide pictures
TUSIMPLE_WIDTH = 1280
POINT_THRESH = 0.85


def scaled_threshold(width: int) -> float:
    """TuSimple's 20-pixel threshold for pictures ``width`` pixels wide."""
    return PIXEL_THRESH * width / TUSIMPLE_WIDTH


def _angle(xs: np.ndarray, ys: np.ndarray) -> float:
    keep = xs >= 0
    if keep.sum() > 1:
        slope = np.polyfit(ys[keep], xs[keep], 1)[0]  # least squares, as LinearRegression
        return float(np.arctan(slope))
    return 0.0


def _line_accuracy(pred: np.ndarray, gt: np.ndarray, thresh: float) -> float:
    p = np.where(pred >= 0, pred, -100)
    g = np.where(gt >= 0, gt, -100)
    return float(np.sum(np.abs(p - g) < thresh) / len(g))


def score_picture(pred: Sequence[Sequence[float]], gt: Sequence[Sequence[float]],
                  h_samples: Sequence[int], pixel_thresh: float) -> tuple[float, float, float]:
    """(accuracy, FP rate, FN rate) of one picture."""
    ys = np.asarray(h_samples, dtype=float)
    preds = [np.asarray(p, dtype=float) for p in pred]
    line_accs, fn, matched = [], 0.0, 0.0
    for g in (np.asarray(g, dtype=float) for g in gt):
        thresh = pixel_thresh / np.cos(_angle(g, ys))
        best = max((_line_accuracy(p, g, thresh) for p in preds), default=0.0)
        if best < POINT_THRESH:
            fn += 1
        else:
            matched += 1
        line_accs.append(best)
    fp = len(preds) - matched
    if len(gt) > 4 and fn > 0:
        fn -= 1
    s = sum(line_accs)
    if len(gt) > 4:
        s -= min(line_accs)
    denom = max(min(4.0, len(gt)), 1.0)
    return s / denom, (fp / len(preds) if preds else 0.0), fn / denom


def score(pictures: Iterable[tuple[Sequence[Sequence[float]], Sequence[Sequence[float]],
                                   Sequence[int]]],
          pixel_thresh: float) -> dict[str, float]:
    """Accuracy, FP and FN averaged over ``(pred, gt, h_samples)`` pictures."""
    rows = [score_picture(p, g, h, pixel_thresh) for p, g, h in pictures]
    if not rows:
        return {"accuracy": 0.0, "fp": 0.0, "fn": 0.0, "pictures": 0}
    acc, fp, fn = (float(sum(col) / len(rows)) for col in zip(*rows, strict=True))
    return {"accuracy": acc, "fp": fp, "fn": fn, "pictures": len(rows)}
