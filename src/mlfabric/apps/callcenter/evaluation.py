"""Sentiment measured properly: per-class precision/recall/F1, macro-F1 and confusion
against gold labels, a paired bootstrap over whole conversations for adapted minus
stock, and, beside them, the seed's one number (mean absolute difference between the
sentiment of gold and of ASR transcripts) with an always-neutral model that scores a
perfect 0 on it."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mlfabric.apps.callcenter.dataset import read_manifest
from mlfabric.apps.callcenter.prepare import skipped
from mlfabric.apps.callcenter.records import ModelScores, SentimentReport
from mlfabric.apps.callcenter.script import LABELS, SCORES
from mlfabric.errors import InvalidInput
from mlfabric.extras import require

TRANSCRIPTS = "transcripts.json"  # ASR text of the held-out sentences, by wer
RESAMPLES = 1000


def confusion(gold: Sequence[str], pred: Sequence[str]) -> np.ndarray:
    """Rows gold, columns predicted, in ``LABELS`` order."""
    index = {k: i for i, k in enumerate(LABELS)}
    m = np.zeros((len(LABELS), len(LABELS)), dtype=np.int64)
    for g, p in zip(gold, pred, strict=True):
        m[index[g], index[p]] += 1
    return m


def per_class(m: np.ndarray) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for i, label in enumerate(LABELS):
        tp, predicted, actual = m[i, i], m[:, i].sum(), m[i, :].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[label] = {"precision": float(precision), "recall": float(recall),
                      "f1": float(f1), "support": int(actual)}
    return out


def macro_f1(m: np.ndarray) -> float:
    """Mean F1 over the classes present in gold or predictions."""
    classes = [c for i, c in enumerate(per_class(m).values())
               if m[i, :].sum() or m[:, i].sum()]
    return float(np.mean([c["f1"] for c in classes])) if classes else 0.0


def scores(model: str, text: str, gold: Sequence[str], pred: Sequence[str]) -> ModelScores:
    m = confusion(gold, pred)
    return ModelScores(model=model, text=text, macro_f1=macro_f1(m),
                       accuracy=float(np.trace(m) / m.sum()) if m.sum() else 0.0,
                       per_class=per_class(m), confusion=m.tolist())


def seed_metric(on_gold: Sequence[str], on_asr: Sequence[str]) -> float:
    """The reference's number: mean |sentiment(gold text) - sentiment(ASR text)|, labels
    as -1/0/1. It never looks at the gold labels."""
    if not on_gold:
        return 0.0
    return float(np.mean([abs(SCORES[a] - SCORES[b])
                          for a, b in zip(on_gold, on_asr, strict=True)]))


def paired_bootstrap(groups: Sequence[str], gold: Sequence[str], stock: Sequence[str],
                     adapted: Sequence[str], *, resamples: int = RESAMPLES,
                     seed: int = 0) -> dict[str, float]:
    """Macro-F1 of adapted minus stock, with a 95% percentile interval from resampling
    whole conversations (``groups``) with replacement."""
    calls = sorted(set(groups))
    members = {c: [i for i, g in enumerate(groups) if g == c] for c in calls}
    rng = np.random.default_rng(seed)
    g, s, a = np.array(gold), np.array(stock), np.array(adapted)
    diffs = []
    for _ in range(resamples):
        idx = np.concatenate([members[calls[j]] for j in rng.integers(len(calls),
                                                                       size=len(calls))])
        diffs.append(macro_f1(confusion(g[idx], a[idx])) - macro_f1(confusion(g[idx], s[idx])))
    point = macro_f1(confusion(gold, adapted)) - macro_f1(confusion(gold, stock))
    low, high = np.percentile(diffs, [2.5, 97.5])
    return {"difference": float(point), "low": float(low), "high": float(high),
            "resamples": resamples, "conversations": len(calls)}


def evaluate_sentiment(path: str, *, model: str, resamples: int = RESAMPLES,
                       seed: int = 0) -> SentimentReport:
    """Stock (VADER), adapted (``model``) and always-neutral on the held-out sentences
    of the corpus at ``path``: against gold labels on the gold transcripts and, when
    ``wer`` has left ASR transcripts, on those too, with the seed's number."""
    from mlfabric.apps.callcenter.sentiment import load_classifier, vader_label

    clf = load_classifier(model)
    _, sentences = read_manifest(path)
    test = [s for s in sentences if s.split == "test"]
    if not test:
        raise InvalidInput(f"{path}: no held-out sentences")
    gold = [s.label for s in test]
    texts = [s.text for s in test]
    on_gold = {"stock": [vader_label(t) for t in texts], "adapted": clf.predict(texts),
               "always-neutral": ["neutral"] * len(texts)}
    out = [scores(name, "gold", gold, pred) for name, pred in on_gold.items()]
    extra: dict[str, object] = {
        "paired_macro_f1": paired_bootstrap([s.call for s in test], gold, on_gold["stock"],
                                            on_gold["adapted"], resamples=resamples,
                                            seed=seed),
        "skipped": len(skipped(path))}
    metric: dict[str, float] = {}
    file = Path(path) / TRANSCRIPTS
    if file.is_file():
        asr = json.loads(file.read_text())
        keep = [i for i, s in enumerate(test) if s.audio in asr["stock"]]
        heard = {"stock": [vader_label(asr["stock"][test[i].audio]) for i in keep],
                 "adapted": clf.predict([asr["adapted"][test[i].audio] for i in keep]),
                 "always-neutral": ["neutral"] * len(keep)}
        kept_gold = [gold[i] for i in keep]
        for name, pred in heard.items():
            out.append(scores(name, "asr", kept_gold, pred))
            metric[name] = seed_metric([on_gold[name][i] for i in keep], pred)
        extra["asr_sentences"] = len(keep)
        jiwer = require("jiwer", "callcenter")
        refs = [texts[i] for i in keep]
        extra["wer"] = {name: float(jiwer.wer(refs, [asr[name][test[i].audio] for i in keep]))
                        for name in ("stock", "adapted")} if keep else {}
    return SentimentReport(path=str(path), sentences=len(test), scores=out,
                           seed_metric=metric, extra=extra)


def submit_eval(path: str, *, model: str, report: str, project: str, name: str = "eval",
                resamples: int = RESAMPLES, home: str | None = None) -> str:
    """Queue ``mlfabric callcenter eval-sentiment`` as a scheduler job of ``project``: the
    corpus, the model and the report folder must each be inside a volume, which the job
    gets mounted (under the volume's name in its working folder) and writes its report
    to. Returns the job's name."""
    from mlfabric import jobs, volumes

    mounts: dict[str, str] = {}
    args = []
    for what, where in (("corpus", path), ("model", model), ("report", report)):
        found = volumes.holding(where, home=home)
        if found is None:
            raise InvalidInput(f"a job reads and writes volumes only: the {what} folder "
                               f"'{where}' is in none", field=what, value=where)
        volume, inside = found
        mounts[volume] = f"{volume}:{volume}"
        args.append(str(Path(volume) / inside))
    exe = str(Path(sys.executable).parent / "mlfabric")
    jobs.submit(name, project=project, volumes=list(mounts.values()),
                command=[exe, "callcenter", "eval-sentiment", args[0], "--model", args[1],
                         "--report", args[2], "--resamples", str(resamples)], home=home)
    return name
