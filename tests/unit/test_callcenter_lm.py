"""The call-center app's n-gram estimation and pronunciation rules (pure)."""

from __future__ import annotations

import math

import pytest

from mlfabric.apps.callcenter import lm
from mlfabric.apps.callcenter.script import LABELS, script_corpus

SENTENCES = [line.text for call in script_corpus(30, seed=2, agents=3) for line in call.lines]


@pytest.mark.parametrize("background", [None, {"the": 0.05, "weather": 0.001, "sister": 1e-4}])
def test_every_history_sums_to_one(background: dict[str, float] | None) -> None:
    probs, backoff = lm.estimate(SENTENCES, 3, background=background)
    vocab = [g[0] for g in probs[0]]
    assert ("weather" in vocab) == (background is not None)
    for history in [(lm.BOS,), (lm.BOS, "my"), ("the",), ("refund",), ("zzz", "unseen")]:
        total = sum(lm._p(probs, (*history, w), backoff) for w in vocab)
        assert total == pytest.approx(1.0, abs=1e-9), history


def test_arpa_text_matches_the_model() -> None:
    probs, backoff = lm.estimate(SENTENCES, 3)
    arpa = lm.to_arpa(probs, backoff)
    header = dict(line.split("=") for line in arpa.splitlines() if line.startswith("ngram "))
    assert header == {"ngram 1": str(len(probs[0]) + 1), "ngram 2": str(len(probs[1])),
                      "ngram 3": str(len(probs[2]))}
    row = next(r for r in arpa.splitlines() if r.split("\t")[1:2] == ["<s> thank"])
    p = probs[1][(lm.BOS, "thank")]
    assert float(row.split("\t")[0]) == pytest.approx(math.log10(p), abs=1e-6)
    assert float(row.split("\t")[2]) == pytest.approx(math.log10(backoff[(lm.BOS, "thank")]),
                                                       abs=1e-6)
    with pytest.raises(ValueError, match="no words"):
        lm.estimate([], 3)


def test_new_words_are_pronounced_from_their_parts_then_by_letter() -> None:
    lexicon = {"zen": "Z EH N", "box": "B AA K S", "sky": "S K AY", "router": "R AW T ER",
               "a": "AH"}
    assert lm.pronounce("zenbox", lexicon) == "Z EH N B AA K S"
    assert lm.pronounce("skyrouter", lexicon) == "S K AY R AW T ER"
    assert lm.pronounce("zenboxq", lexicon) == "Z EH N B AA K S K"
    assert lm.pronounce("box", lexicon) == "B AA K S"
    assert lm.parse_dictionary("a AH\na(2) EY\nbox B AA K S\n") == {"a": "AH",
                                                                  "box": "B AA K S"}


def test_scripted_corpus_is_balanced_enough_for_f1() -> None:
    labels = [line.label for call in script_corpus(200, seed=0, agents=4)
              for line in call.lines]
    shares = {k: labels.count(k) / len(labels) for k in LABELS}
    assert all(0.2 < share < 0.55 for share in shares.values()), shares
