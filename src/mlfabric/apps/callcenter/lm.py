"""A domain language model and dictionary from transcripts: pure policy, no I/O.

No maintained estimator installs here from a registry (KenLM's ``lmplz`` is a C++ tool
its PyPI package leaves out; the package only queries models; NLTK's ``nltk.lm`` writes
no ARPA), so the estimation is ours: an interpolated absolute-discounting n-gram model
(Ney's discount per order, D = n1 / (n1 + 2 n2)), written in ARPA backoff form the way
SRILM writes interpolated models (each seen n-gram's interpolated probability, each
history's interpolation weight as its backoff weight), so it sums to one and
pocketsphinx reads it as is.

Pronunciations of words the stock dictionary lacks come from splitting them into the
fewest dictionary words (the product names are compounds: ``zenbox`` = ``zen`` +
``box``), with letter rules for what no split covers.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping

BOS, EOS = "<s>", "</s>"

# Letter (or letter pair) to ARPAbet, for the parts of a word no dictionary word covers.
LETTERS = {
    "ch": "CH", "sh": "SH", "th": "TH", "ph": "F", "ck": "K", "ng": "NG", "qu": "K W",
    "ee": "IY", "oo": "UW", "ea": "IY", "ai": "EY", "ay": "EY", "ou": "AW", "ow": "OW",
    "a": "AE", "b": "B", "c": "K", "d": "D", "e": "EH", "f": "F", "g": "G", "h": "HH",
    "i": "IH", "j": "JH", "k": "K", "l": "L", "m": "M", "n": "N", "o": "AA", "p": "P",
    "q": "K", "r": "R", "s": "S", "t": "T", "u": "AH", "v": "V", "w": "W", "x": "K S",
    "y": "Y", "z": "Z",
}


def tokens(sentence: str) -> list[str]:
    return sentence.lower().split()


def count_ngrams(sentences: Iterable[str], order: int) -> list[Counter[tuple[str, ...]]]:
    """Counts of every k-gram, k = 1..order, of ``<s> words </s>``."""
    counts: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(order)]
    for s in sentences:
        words = [BOS, *tokens(s), EOS]
        for k in range(1, order + 1):
            for i in range(len(words) - k + 1):
                gram = tuple(words[i:i + k])
                if gram != (BOS,):
                    counts[k - 1][gram] += 1
    return counts


def discount(counts: Counter[tuple[str, ...]]) -> float:
    n1 = sum(1 for c in counts.values() if c == 1)
    n2 = sum(1 for c in counts.values() if c == 2)
    d = n1 / (n1 + 2 * n2) if n1 + n2 else 0.5
    return min(max(d, 0.1), 0.9)


def estimate(sentences: Iterable[str], order: int = 3, *,
             background: Mapping[str, float] | None = None, weight: float = 0.8,
             ) -> tuple[list[dict[tuple[str, ...], float]], dict[tuple[str, ...], float]]:
    """(probabilities per order, backoff weights per history), natural numbers not logs.

    ``background``: unigram probabilities of general English (they need not sum to one);
    the unigram level is then ``weight`` domain + (1 - ``weight``) background over both
    vocabularies, so words the transcripts never had stay in reach."""
    if order < 1:
        raise ValueError("order must be at least 1")
    counts = count_ngrams(sentences, order)
    uni = counts[0]
    total = sum(uni.values())
    if total == 0:
        raise ValueError("no words to estimate a language model from")
    # a closed vocabulary: the words of the center's transcripts, at their frequency
    probs: list[dict[tuple[str, ...], float]] = [{w: c / total for w, c in uni.items()}]
    if background:
        norm = sum(background.values())
        mixed = {w: weight * p for w, p in probs[0].items()}
        for word, p in background.items():
            mixed[(word,)] = mixed.get((word,), 0.0) + (1 - weight) * p / norm
        probs[0] = mixed
    backoff: dict[tuple[str, ...], float] = {}
    for k in range(2, order + 1):
        grams = counts[k - 1]
        d = discount(grams)
        context: Counter[tuple[str, ...]] = Counter()
        followers: defaultdict[tuple[str, ...], int] = defaultdict(int)
        for g, c in grams.items():
            context[g[:-1]] += c
            followers[g[:-1]] += 1
        gamma = {h: d * followers[h] / context[h] for h in context}
        backoff.update(gamma)
        probs.append({g: (c - d) / context[g[:-1]] + gamma[g[:-1]] * _p(probs, g[1:], backoff)
                      for g, c in grams.items()})
    return probs, backoff


def _p(probs: list[dict[tuple[str, ...], float]], gram: tuple[str, ...],
       backoff: Mapping[tuple[str, ...], float]) -> float:
    """The model's probability of the last word of ``gram`` after the rest."""
    table = probs[len(gram) - 1]
    if gram in table:
        return table[gram]
    return backoff.get(gram[:-1], 1.0) * _p(probs, gram[1:], backoff)


def to_arpa(probs: list[dict[tuple[str, ...], float]],
            backoff: Mapping[tuple[str, ...], float]) -> str:
    """The model as ARPA text (log10 probabilities and backoff weights)."""
    order = len(probs)
    unigrams = dict(probs[0])
    lines = ["\\data\\"]
    sizes = [len(unigrams) + 1] + [len(p) for p in probs[1:]]
    lines += [f"ngram {k}={n}" for k, n in enumerate(sizes, start=1)]
    for k in range(1, order + 1):
        lines += ["", f"\\{k}-grams:"]
        table = dict(probs[k - 1])
        if k == 1:
            table[(BOS,)] = 0.0
        for gram in sorted(table):
            p = table[gram]
            logp = -99.0 if gram == (BOS,) else math.log10(p)
            row = f"{logp:.6f}\t{' '.join(gram)}"
            if k < order and gram in backoff:
                row += f"\t{math.log10(backoff[gram]):.6f}"
            lines.append(row)
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)


def pronounce(word: str, lexicon: Mapping[str, str]) -> str:
    """A pronunciation of ``word``: the dictionary's, else the fewest dictionary words
    (of two letters or more) that spell it, else letter rules for the gaps."""
    if word in lexicon:
        return lexicon[word]
    n = len(word)
    # best[i]: (pieces, letters by rule, phones) for word[:i]
    best: list[tuple[int, int, str] | None] = [None] * (n + 1)
    best[0] = (0, 0, "")
    for i in range(n):
        cur = best[i]
        if cur is None:
            continue
        steps = [(word[i:j], lexicon[word[i:j]], 0) for j in range(i + 2, n + 1)
                 if word[i:j] in lexicon]
        for size in (2, 1):
            chunk = word[i:i + size]
            if len(chunk) == size and chunk in LETTERS:
                steps.append((chunk, LETTERS[chunk], size))
        for piece, phones, ruled in steps:
            j = i + len(piece)
            cand = (cur[0] + 1, cur[1] + ruled, f"{cur[2]} {phones}".strip())
            old = best[j]
            if old is None or (cand[1], cand[0]) < (old[1], old[0]):
                best[j] = cand
    end = best[n]
    if end is None:  # letters outside a-z: spell what we can
        return " ".join(LETTERS[c] for c in word if c in LETTERS) or "AH"
    return end[2]


def parse_dictionary(text: str) -> dict[str, str]:
    """A CMU-format dictionary: each word's first pronunciation."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        word, _, phones = line.strip().partition(" ")
        if word and phones and "(" not in word:
            out.setdefault(word, phones.strip())
    return out
