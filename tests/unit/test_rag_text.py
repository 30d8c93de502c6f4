"""The RAG app's pure parts: PII detectors and their checks, redaction and the indexing
policy, heading-aware chunking, extractive answers and their scores, ranking metrics
and the topic guardrail."""

from __future__ import annotations

import itertools

import pytest

from mlfabric.apps import rag
from mlfabric.errors import InvalidInput

# (type, text holding one valid value, the value)
VALID = [
    ("email", "write to jane.doe@example.org today", "jane.doe@example.org"),
    ("phone", "call +1 212 736 4821 after nine", "+1 212 736 4821"),
    ("iban", "pay DE89 3704 0044 0532 0130 00 now", "DE89 3704 0044 0532 0130 00"),
    ("iban", "or IT60X0542811101000000123456.", "IT60X0542811101000000123456"),
    ("credit_card", "card 4111-1111-1111-1111 on file", "4111-1111-1111-1111"),
    ("codice_fiscale", "CF RSSMRA85T10A562S.", "RSSMRA85T10A562S"),
    ("ssn", "SSN 536-90-4399 on record", "536-90-4399"),
    ("ip", "host 192.168.10.7 and", "192.168.10.7"),
    ("ip", "v6 2001:db8::8a2e:370:7334 up", "2001:db8::8a2e:370:7334"),
    ("person", "ask Linda Walker about it", "Linda Walker"),
]
# look-alikes that fail their check: nothing may be reported
INVALID = [
    "pay DE88 3704 0044 0532 0130 00 now",  # IBAN check digits wrong
    "card 4111 1111 1111 1112 on file",  # Luhn fails
    "CF RSSMRA85T10A562T.",  # wrong check character
    "SSN 000-12-3456 and 666-12-3456 and 912-34-5678",  # never issued
    "build 999.12.0.300 and time 12:30:45",  # no IP address
    "The Budget Office of Lisbon",  # capitalised words, no name
]


@pytest.mark.parametrize(("kind", "text", "value"), VALID)
def test_each_type_is_found_with_its_value(kind: str, text: str, value: str) -> None:
    found = rag.find_pii(text)
    assert [(f.type, f.value) for f in found] == [(kind, value)]
    assert text[found[0].start:found[0].end] == value


@pytest.mark.parametrize("text", INVALID)
def test_look_alikes_failing_their_check_are_not_reported(text: str) -> None:
    assert rag.find_pii(text) == []


def test_redaction_masks_or_hashes_each_value() -> None:
    text = "Linda Walker: jane.doe@example.org, again jane.doe@example.org"
    found = rag.find_pii(text)
    assert rag.redact(text, found, "mask") == "[PERSON]: [EMAIL], again [EMAIL]"
    hashed = rag.redact(text, found, "hash", b"k")
    assert "jane.doe" not in hashed and "Walker" not in hashed
    tokens = hashed.split(", again ")
    assert tokens[0].endswith(tokens[1])  # one value, one token
    assert rag.redact(text, found, "hash", b"other") != hashed  # keyed


SECTIONS = [rag.Section(("Guide", "Pay"), "Pay into DE89 3704 0044 0532 0130 00 please. "
                        + "filler " * 30),
            rag.Section(("Guide", "Talk"), "Talk to jane.doe@example.org. " + "more " * 30)]


def _prepare(policy: rag.Policy) -> rag.prepare:
    return rag.prepare(SECTIONS, "d.md", policy, b"k", size=20, overlap=5)


def test_redaction_modes_and_the_refusing_policy() -> None:
    masked = _prepare(rag.Policy("mask"))
    text = " ".join(c["text"] for c in masked.chunks)
    assert "[IBAN]" in text and "[EMAIL]" in text and "DE89" not in text
    assert masked.pii == {"email": 1, "iban": 1}
    assert [c["chunk"] for c in masked.chunk_pii] == [0, 2]  # per chunk
    hashed = " ".join(c["text"] for c in _prepare(rag.Policy("hash")).chunks)
    assert "[IBAN:" in hashed and "DE89" not in hashed
    dropped = _prepare(rag.Policy("drop"))
    assert dropped.dropped == 2 and all("DE89" not in c["text"] and "@" not in c["text"]
                                        for c in dropped.chunks)
    # nothing redacted: the refused type (IBAN) keeps its chunk out, the email goes in
    raw = _prepare(rag.Policy("none", refuse=("iban",)))
    assert raw.refused == 1
    kept = " ".join(c["text"] for c in raw.chunks)
    assert "DE89" not in kept and "jane.doe@example.org" in kept
    # redacting only emails leaves the IBAN unredacted: refused all the same
    only_email = _prepare(rag.Policy("mask", redact_types=("email",), refuse=("iban",)))
    assert only_email.refused == 1 and "[EMAIL]" in " ".join(c["text"]
                                                              for c in only_email.chunks)
    with pytest.raises(InvalidInput):
        rag.Policy("blur")
    with pytest.raises(InvalidInput):
        rag.Policy("mask", refuse=("passport",))


def test_chunks_overlap_and_never_cross_a_heading() -> None:
    md = "# Title\n\nintro words\n\n## A\n\n" + " ".join(f"a{i}" for i in range(25)) \
        + "\n\n## B\n\nb0 b1 b2\n\n### B1\n\ndeep"
    sections = rag.markdown_sections(md)
    assert [s.heading for s in sections] == [("Title",), ("Title", "A"), ("Title", "B"),
                                             ("Title", "B", "B1")]
    chunks = rag.chunk_sections(sections, size=10, overlap=3)
    a = [c.text.split() for c in chunks if c.heading == "Title > A"]
    assert [w[0] for w in a] == ["a0", "a7", "a14", "a21"]
    assert all(x[-3:] == y[:3] for x, y in itertools.pairwise(a))  # the overlap
    assert [c.text for c in chunks if c.heading == "Title > B"] == ["b0 b1 b2"]
    with pytest.raises(InvalidInput):
        rag.chunk_sections(sections, size=5, overlap=5)


def test_plain_text_headings_are_found() -> None:
    doc = "Annual report\n\nSummary\nIt went well.\nCosts\nThey fell by a third.\n"
    assert [(s.heading, s.text) for s in rag.plain_sections(doc)] == [
        (("Annual report", "Summary"), "It went well."),
        (("Annual report", "Costs"), "They fell by a third.")]


def test_extractive_answers_and_their_scores() -> None:
    texts = [(0.9, "Filler here. The Oslo ferry budget is 41,200 euros. The Oslo ferry team works "
                   "from Vienna."), (0.5, "The Oslo ferry codename is Quartz.")]
    assert rag.extract_answer("What is the Oslo ferry budget?", texts) == "41,200 euros"
    assert rag.extract_answer("Where does the Oslo ferry team work?", texts) == "Vienna"
    assert rag.extract_answer("What is the Oslo ferry codename?", texts) == "Quartz"
    assert rag.exact_match("41,200 Euros.", "41,200 euros") == 1.0
    assert rag.f1("every 3 weeks", "3 weeks") == pytest.approx(0.8)
    assert rag.f1(None, "x") == 0.0


def test_ranking_metrics() -> None:
    assert rag.rank_metrics([1, 2, None, 6], k=5) == (0.5, (1 + 0.5) / 4)


def test_topic_guardrail() -> None:
    assert rag.topic_refusal("What is the payroll budget?", None, ["payroll"]) \
        == "the topic 'payroll' is denied"
    assert rag.topic_refusal("What is the pay budget?", None, ["payroll"]) is None
    assert rag.topic_refusal("Who won the match?", ["ferry", "budget"], None) \
        .startswith("outside the allowed topics")
    assert rag.topic_refusal("What is the ferry budget?", ["ferry"], None) is None
