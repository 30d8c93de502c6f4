"""Joint intent classification and BIO slot tagging: a linear model (logistic regression)
over TF-IDF word and character n-grams for the intent, a CRF (CRFsuite) for the slots
whose features include the sentence's intent; metrics as NeMo reports them (intent
accuracy, slot span F1 by seqeval, sentence accuracy)."""

from __future__ import annotations

import json
import pickle
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlfabric.apps.assistant.engine import Understanding
from mlfabric.apps.assistant.nemo import Example, read_split, spans, tokenize
from mlfabric.errors import InvalidInput, NotFound
from mlfabric.records import Record

MODEL_FILE = "nlu.pkl"
META_FILE = "nlu.json"


@dataclass(frozen=True)
class Metrics(Record):
    """How well a model does on a labelled set."""

    examples: int
    intent_accuracy: float
    slot_f1: float
    sentence_accuracy: float


def _token_features(tokens: Sequence[str], i: int, intent: str) -> dict[str, Any]:
    w = tokens[i]
    f: dict[str, Any] = {"bias": 1.0, "w": w, "suf3": w[-3:], "pre3": w[:3],
                         "digit": w.isdigit(), "len": min(len(w), 8), "intent": intent,
                         "intent_w": f"{intent}|{w}"}
    for d in (-2, -1, 1, 2):
        j = i + d
        f[f"w{d}"] = tokens[j] if 0 <= j < len(tokens) else ("<s>" if j < 0 else "</s>")
    f["bigram"] = f"{f['w-1']}|{w}"
    return f


def _sentence_features(tokens: Sequence[str], intent: str) -> list[dict[str, Any]]:
    return [_token_features(tokens, i, intent) for i in range(len(tokens))]


class NluModel:
    """A trained joint model; ``understand`` answers the flow engine."""

    def __init__(self, intent_model: Any, crf: Any, intents: list[str]) -> None:
        self.intent_model = intent_model
        self.crf = crf
        self.intents = intents

    def predict(self, sentences: Sequence[Sequence[str]]
                ) -> tuple[list[str], list[float], list[list[str]]]:
        """Intents, their confidence and the tags of tokenized sentences."""
        if not sentences:
            return [], [], []
        texts = [" ".join(s) for s in sentences]
        proba = self.intent_model.predict_proba(texts)
        classes = list(self.intent_model.classes_)
        best = proba.argmax(axis=1)
        intents = [classes[i] for i in best]
        conf = [float(proba[n, i]) for n, i in enumerate(best)]
        tags = self.crf.predict([_sentence_features(s, it) for s, it in
                                 zip(sentences, intents, strict=True)])
        return intents, conf, [list(t) for t in tags]

    def understand(self, text: str) -> Understanding:
        tokens = tokenize(text)
        if not tokens:
            return Understanding("", 0.0)
        (intent,), (conf,), (tags,) = self.predict([tokens])
        return Understanding(intent, conf, spans(tokens, tags), tokens, tags)

    def evaluate(self, examples: Sequence[Example]) -> Metrics:
        """Intent accuracy, slot span F1 and sentence accuracy on ``examples``."""
        from seqeval.metrics import f1_score

        if not examples:
            raise InvalidInput("no examples to evaluate on")
        intents, _, tags = self.predict([e.tokens for e in examples])
        gold = [list(e.tags) for e in examples]
        with warnings.catch_warnings():  # no span at all: seqeval warns and says 0
            warnings.simplefilter("ignore")
            f1 = float(f1_score(gold, tags)) if any(
                t != "O" for g in gold for t in g) else 1.0
        right = [p == e.intent for p, e in zip(intents, examples, strict=True)]
        whole = [r and t == g for r, t, g in zip(right, tags, gold, strict=True)]
        n = len(examples)
        return Metrics(n, sum(right) / n, f1, sum(whole) / n)


def fit(examples: Sequence[Example], *, c: float = 10.0, seed: int = 0) -> NluModel:
    """Train both parts on labelled examples."""
    import sklearn_crfsuite
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    intents = sorted({e.intent for e in examples})
    if len(intents) < 2:
        raise InvalidInput("training needs examples of at least two intents")
    features = FeatureUnion([
        ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"\S+")),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)),
    ])
    intent_model = Pipeline([("tfidf", features),
                             ("clf", LogisticRegression(C=c, max_iter=2000,
                                                        random_state=seed))])
    intent_model.fit([e.text for e in examples], [e.intent for e in examples])
    crf = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=0.05, c2=0.05, max_iterations=100)
    crf.fit([_sentence_features(e.tokens, e.intent) for e in examples],
            [list(e.tags) for e in examples])
    return NluModel(intent_model, crf, intents)


@dataclass(frozen=True)
class TrainReport(Record):
    """A trained model: where, on what, and its held-out metrics."""

    model: str
    data: str
    train_examples: int
    intents: list[str]
    seconds: float
    test: Metrics | None


def train(data: str | Path, out: str | Path, *, seed: int = 0) -> TrainReport:
    """Train on a NeMo-format folder's train split, score its test split when it has one,
    and save the model in ``out``."""
    t0 = time.monotonic()
    examples = read_split(data, "train")
    model = fit(examples, seed=seed)
    test = model.evaluate(read_split(data, "test")) if (Path(data) / "test.tsv").is_file() \
        else None
    seconds = time.monotonic() - t0
    report = TrainReport(str(out), str(data), len(examples), model.intents, seconds, test)
    save(model, out, report)
    return report


def save(model: NluModel, out: str | Path, report: TrainReport) -> None:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (MODEL_FILE + ".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(model, f)
    tmp.replace(folder / MODEL_FILE)
    (folder / META_FILE).write_text(json.dumps(report.to_dict(), indent=1))


def load(folder: str | Path) -> NluModel:
    """A model saved by ``train`` (a folder this platform wrote: pickles are trusted)."""
    path = Path(folder) / MODEL_FILE
    if not path.is_file():
        raise NotFound("NLU model", str(folder))
    with open(path, "rb") as f:
        model = pickle.load(f)
    if not isinstance(model, NluModel):
        raise InvalidInput(f"'{path}' is not an NLU model")
    return model


def evaluate(model: str | Path, data: str | Path, split: str = "test") -> Metrics:
    """Score a saved model on a split of a NeMo-format folder."""
    return load(model).evaluate(read_split(data, split))
