"""What the call-center pipeline's operations return (plain JSON fields)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlfabric.records import Record


@dataclass(frozen=True)
class CallDataset(Record):
    """A generated corpus of support calls."""

    path: str
    conversations: int
    sentences: int
    agents: int
    seed: int
    labels: dict[str, int]  # gold sentiment label -> sentences
    held_out: int  # conversations held out for evaluation
    volume: str | None
    created_at: float


@dataclass(frozen=True)
class FileError(Record):
    """One file the batch skipped, and why."""

    file: str
    reason: str


@dataclass(frozen=True)
class PrepareReport(Record):
    """MP3 to 16 kHz mono WAV over a corpus (or one shard of it)."""

    path: str
    files: int  # in this shard
    converted: int
    already: int  # done by an earlier run, left alone
    errors: list[FileError]
    workers: int
    shard: str  # "K/N"
    seconds: float


@dataclass(frozen=True)
class AsrModel(Record):
    """A domain language model and dictionary built from training transcripts."""

    path: str
    lm: str
    dictionary: str
    sentences: int
    words: int  # vocabulary size
    domain_words: int  # of them, words of the transcripts
    new_words: list[str]  # not in the stock dictionary: pronounced by rule
    order: int


@dataclass(frozen=True)
class WerReport(Record):
    """Word error rate of the stock and the adapted model on held-out calls."""

    path: str
    sentences: int
    stock_wer: float
    adapted_wer: float
    errors: list[FileError]
    seconds: float
    audio_seconds: float


@dataclass(frozen=True)
class SentimentModel(Record):
    """A sentence classifier trained on the center's labelled sentences."""

    path: str
    volume: str | None
    snapshot: str | None
    dataset: str | None  # the dataset version it was trained on (lineage), if known
    sentences: int
    encoder: str
    labels: list[str]
    trained_at: float


@dataclass(frozen=True)
class ModelScores(Record):
    """One sentiment model's scores against gold labels on held-out sentences."""

    model: str
    text: str  # "gold" or "asr": which transcripts it labelled
    macro_f1: float
    accuracy: float
    per_class: dict[str, dict[str, float]]  # label -> precision, recall, f1, support
    confusion: list[list[int]]  # rows gold, columns predicted, in LABELS order


@dataclass(frozen=True)
class SentimentReport(Record):
    """Stock vs adapted sentiment, measured properly and by the seed's one number."""

    path: str
    sentences: int
    scores: list[ModelScores]
    # mean |sentiment(gold text) - sentiment(ASR text)| per model, labels as -1/0/1
    seed_metric: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SentenceEvent(Record):
    """One sentence of a live call, as it was heard and labelled."""

    agent: str
    call: str
    index: int
    text: str
    label: str
    start: float  # seconds into the call
    end: float
    heard_at: float
