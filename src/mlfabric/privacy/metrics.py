"""Image-similarity and signal measures used to score privacy: PSNR, SSIM, SNR in dB."""

from __future__ import annotations

import math

import torch

from mlfabric.extras import require


def psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean over images of the PSNR in dB, for images in [0, 1] shaped [N, C, H, W]."""
    mse = ((pred.float() - target.float()) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return float((10 * torch.log10(1.0 / mse)).mean())


def ssim(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean over images of the structural similarity (scikit-image), images in [0, 1]."""
    structural_similarity = require("skimage.metrics", "faces").structural_similarity

    p = pred.detach().float().clamp(0, 1).cpu().numpy()
    t = target.detach().float().cpu().numpy()
    win = min(7, p.shape[-1], p.shape[-2])
    win -= 1 - win % 2  # an odd window that fits the image
    scores = [structural_similarity(a, b, data_range=1.0, channel_axis=0, win_size=win)
              for a, b in zip(p, t, strict=True)]
    return float(sum(scores) / len(scores))


def snr_db(clean: torch.Tensor, noisy: torch.Tensor) -> float:
    """Signal-to-noise ratio of ``noisy`` against ``clean`` in dB (power of the signal over
    the power of everything the noise added, its learned mean included)."""
    clean, noisy = clean.detach().float(), noisy.detach().float()
    signal = float((clean ** 2).sum())
    noise = float(((noisy - clean) ** 2).sum())
    if noise == 0:
        return math.inf
    return 10 * math.log10(max(signal, 1e-30) / noise)


def noise_std_for_snr(clean: torch.Tensor, db: float) -> float:
    """The standard deviation of plain Gaussian noise that gives ``clean`` an SNR of ``db``."""
    power = float((clean.detach().float() ** 2).mean())
    return math.sqrt(power / 10 ** (db / 10))
