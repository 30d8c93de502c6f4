"""Mutual-information estimates between inputs and what leaves the trusted zone."""

from __future__ import annotations

import math

import numpy as np
import torch

from mlfabric.errors import InvalidInput
from mlfabric.extras import require


def gaussian_channel_bits(activations: torch.Tensor, scale: torch.Tensor | float) -> float:
    """Upper bound on I(input; activation + noise) in bits per input.

    With independent Gaussian noise of std ``scale`` per element,
    I <= sum_i 1/2 log2(1 + Var(a_i) / scale_i^2): the output entropy is at most that of a
    Gaussian of the same variance, element by element. ``activations`` is a batch
    [N, ...] of clean activations from different inputs.
    """
    var = activations.detach().float().var(dim=0, unbiased=True)
    s = torch.as_tensor(scale, dtype=torch.float32)
    return float((0.5 * torch.log2(1 + var / s.clamp_min(1e-12) ** 2)).sum())


def _reduce(x: np.ndarray, dims: int, seed: int) -> np.ndarray:
    PCA = require("sklearn.decomposition", "faces").PCA

    flat = x.reshape(len(x), -1).astype(np.float64)
    n = min(dims, flat.shape[1], len(flat) - 1)
    out = PCA(n_components=n, random_state=seed).fit_transform(flat)
    return out / (out.std(axis=0, keepdims=True) + 1e-12)


def knn_mutual_information(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, *,
                           k: int = 3, dims: int = 8, seed: int = 0) -> float:
    """Kraskov-Stoegbauer-Grassberger estimate of I(x; y) in bits, after reducing each side
    to ``dims`` principal components (k-NN estimators need few dimensions); ``k`` shrinks
    when there are fewer than k + 2 samples."""
    digamma = require("scipy.special", "faces").digamma
    KDTree = require("sklearn.neighbors", "faces").KDTree

    xs = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x)
    ys = np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y)
    n = len(xs)
    if n != len(ys) or n < 3:
        raise InvalidInput(f"need at least 3 paired samples, got {len(xs)} and {len(ys)}")
    k = min(k, n - 2)  # few samples: fewer neighbours (a rougher estimate)
    rng = np.random.default_rng(seed)
    a = _reduce(xs, dims, seed)
    b = _reduce(ys, dims, seed)
    a += 1e-10 * rng.standard_normal(a.shape)  # break ties between identical points
    b += 1e-10 * rng.standard_normal(b.shape)
    joint = np.hstack([a, b])
    dist, _ = KDTree(joint, metric="chebyshev").query(joint, k=k + 1)
    eps = np.nextafter(dist[:, -1], 0)  # strictly closer than the k-th joint neighbour
    nx = KDTree(a, metric="chebyshev").query_radius(a, eps, count_only=True) - 1
    ny = KDTree(b, metric="chebyshev").query_radius(b, eps, count_only=True) - 1
    nats = digamma(k) + digamma(n) - float(np.mean(digamma(nx + 1) + digamma(ny + 1)))
    return max(nats, 0.0) / math.log(2)
