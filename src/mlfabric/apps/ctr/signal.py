"""The planted signal of generated click logs, and what the best possible model scores.

A click's probability is a logistic function of what a line shows: log counts of six of
the integer features (a constant of its own where missing) and a per-value effect of
the informative categorical columns. Nothing hidden enters it, so that probability is
the Bayes-optimal score: its AUC and log-loss on the population are the ceiling any
model trained on the data can reach, computed here while the lines are drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlfabric.apps.ctr.criteo import CATS, INTS

BIAS = -2.0
INFORMATIVE_INTS = 6
VOCABULARIES = (3, 8, 25, 60, 150, 400, 1000, 3000, 10000, 40000)
_BINS = 1 << 16
_LOGIT_RANGE = 24.0


@dataclass(frozen=True)
class Signal:
    """What the generator draws from (all fixed by the seed)."""

    int_mu: np.ndarray
    int_sigma: np.ndarray
    int_missing: np.ndarray
    int_weight: np.ndarray
    int_missing_effect: np.ndarray
    int_mean: np.ndarray
    cat_missing: np.ndarray
    vocabulary: list[np.ndarray]  # uint32 codes per column (never 0: 0 is missing)
    effect: list[np.ndarray]  # per-value effect per column

    @classmethod
    def draw(cls, seed: int) -> Signal:
        rng = np.random.default_rng([seed, 0xC7])
        n_int, n_cat = len(INTS), len(CATS)
        mu = rng.uniform(0.0, 3.0, n_int)
        sigma = rng.uniform(0.5, 1.5, n_int)
        weight = np.zeros(n_int)
        weight[:INFORMATIVE_INTS] = rng.choice([-1.0, 1.0], INFORMATIVE_INTS) * rng.uniform(
            0.5, 0.9, INFORMATIVE_INTS)
        vocab, effect = [], []
        for k in range(n_cat):
            size = VOCABULARIES[k % len(VOCABULARIES)]
            vocab.append(_distinct_codes(rng, size))
            informative = k % 2 == 0
            effect.append(rng.normal(0, 0.6, size) if informative else np.zeros(size))
        return cls(int_mu=mu, int_sigma=sigma, int_missing=rng.uniform(0.0, 0.4, n_int),
                   int_weight=weight, int_missing_effect=rng.normal(0, 0.3, n_int),
                   int_mean=np.log1p(np.exp(mu)), cat_missing=rng.uniform(0.0, 0.3, n_cat),
                   vocabulary=vocab, effect=effect)

    def sample(self, rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray,
                                                                     np.ndarray, np.ndarray]:
        """``rows`` lines: click probabilities, labels, integers (NaN where missing) and
        category indexes (-1 where missing)."""
        logit = np.full(rows, BIAS)
        ints = np.floor(rng.lognormal(self.int_mu, self.int_sigma, (rows, len(INTS))))
        missing = rng.random((rows, len(INTS))) < self.int_missing
        ints[missing] = np.nan
        logit += np.where(missing, self.int_missing_effect,
                          self.int_weight * (np.log1p(np.nan_to_num(ints)) - self.int_mean)
                          ).sum(axis=1)
        index = np.empty((rows, len(CATS)), dtype=np.int64)
        for k, effect in enumerate(self.effect):
            # a skewed draw: a few values are common, most are rare (as in real logs)
            idx = np.minimum((len(effect) * rng.random(rows) ** 3).astype(np.int64),
                             len(effect) - 1)
            gone = rng.random(rows) < self.cat_missing[k]
            logit += np.where(gone, 0.0, effect[idx])
            index[:, k] = np.where(gone, -1, idx)
        p = 1.0 / (1.0 + np.exp(-logit))
        labels = (rng.random(rows) < p).astype(np.int8)
        return p, labels, ints, index


def _distinct_codes(rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` distinct 32-bit codes, none 0 (a missing value reads as 0)."""
    codes = np.zeros(0, dtype=np.uint32)
    while len(codes) < size:
        more = rng.integers(1, 1 << 32, size - len(codes), dtype=np.uint64).astype(np.uint32)
        codes = np.concatenate([codes, more])
        _, first = np.unique(codes, return_index=True)
        codes = codes[np.sort(first)]
    return codes


class BayesMeter:
    """The population AUC and log-loss of the true probabilities, accumulated in a
    histogram over logits (expected positives and negatives per bin), so it streams."""

    def __init__(self) -> None:
        self.pos = np.zeros(_BINS)
        self.neg = np.zeros(_BINS)
        self.entropy = 0.0
        self.rows = 0

    def add(self, p: np.ndarray) -> None:
        p = np.clip(p, 1e-12, 1 - 1e-12)
        logit = np.log(p) - np.log1p(-p)
        b = np.clip(((logit + _LOGIT_RANGE) / (2 * _LOGIT_RANGE) * _BINS).astype(np.int64),
                    0, _BINS - 1)
        self.pos += np.bincount(b, weights=p, minlength=_BINS)
        self.neg += np.bincount(b, weights=1 - p, minlength=_BINS)
        self.entropy -= float((p * np.log(p) + (1 - p) * np.log1p(-p)).sum())
        self.rows += len(p)

    def auc(self) -> float:
        """P(score of a click > score of a non-click), ties counted half."""
        below = np.cumsum(self.neg) - self.neg
        total = self.pos.sum() * self.neg.sum()
        return float((self.pos * (below + 0.5 * self.neg)).sum() / total) if total else 0.5

    def log_loss(self) -> float:
        return self.entropy / self.rows if self.rows else 0.0

    def positive_rate(self) -> float:
        return float(self.pos.sum() / self.rows) if self.rows else 0.0
