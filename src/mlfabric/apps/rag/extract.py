"""Extractive answers without a generative model, pure: the sentence of the retrieved
chunks that shares most words with the question, cut to the span the question does not
already say (``What is the X budget?`` over ``The X budget is 40,000 euros.`` gives
``40,000 euros``); and SQuAD's exact-match and token F1 to score them."""

from __future__ import annotations

import re
import string
from collections import Counter

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\[])")
_WORD = re.compile(r"\S+")
STOPWORDS = frozenset({
    "a", "an", "the", "is", "are", "was", "were", "be", "of", "in", "on", "at", "to", "for",
    "by", "from", "and", "or", "with", "does", "do", "did", "what", "which", "who", "whom",
    "when", "where", "how", "long", "much", "many", "often", "it", "its", "this", "that",
    "there"})


def _stem(word: str) -> str:
    w = word.lower().strip(string.punctuation)
    for suffix in ("es", "s"):
        if len(w) > 4 and w.endswith(suffix) and not w.endswith("ss"):
            return w[: -len(suffix)]
    return w


def sentences(text: str) -> list[str]:
    """``text`` split into sentences."""
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def best_sentence(question: str, texts: list[tuple[float, str]]) -> str | None:
    """The sentence of ``texts`` ((retrieval score, text), best first) that shares most
    stemmed content words with the question; ties go to the better-retrieved text."""
    asked = {_stem(w) for w in question.split()} - STOPWORDS - {""}
    best, best_key = None, (0.0, 0.0)
    for score, text in texts:
        for s in sentences(text):
            words = {_stem(w) for w in s.split()}
            key = (len(asked & words) / max(len(asked), 1), score)
            if key > best_key:
                best, best_key = s, key
    return best


def answer_span(question: str, sentence: str) -> str:
    """The part of ``sentence`` between the first and last word the question lacks."""
    asked = {_stem(w) for w in question.split()}
    words = [m.group() for m in _WORD.finditer(sentence)]
    new = [i for i, w in enumerate(words)
           if _stem(w) and _stem(w) not in asked and _stem(w) not in STOPWORDS]
    if not new:
        return sentence
    return " ".join(words[new[0]:new[-1] + 1]).strip(string.punctuation + " ")


def extract(question: str, texts: list[tuple[float, str]]) -> str | None:
    """An extractive answer to ``question`` from ``texts``, or None."""
    s = best_sentence(question, texts)
    return answer_span(question, s) if s else None


def normalize(text: str) -> list[str]:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    t = "".join(c for c in text.lower() if c not in string.punctuation)
    return [w for w in t.split() if w not in ("a", "an", "the")]


def exact_match(prediction: str | None, truth: str) -> float:
    return float(normalize(prediction or "") == normalize(truth))


def f1(prediction: str | None, truth: str) -> float:
    p, t = normalize(prediction or ""), normalize(truth)
    common = sum((Counter(p) & Counter(t)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(t)
    return 2 * precision * recall / (precision + recall)
