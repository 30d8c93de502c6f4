"""NeMo's joint intent and slot format: ``dict.intents.csv`` and ``dict.slots.csv`` (one
label a line, its index the id), ``{split}.tsv`` (header ``sentence<TAB>label``, then the
space-tokenized sentence and its intent id) and ``{split}_slots.tsv`` (one slot id per
token). Public sets converted for NeMo (its ``import_datasets.py`` output) read as they
are; slot labels without ``B-``/``I-`` are read as BIO spans of equal neighbours."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlfabric.errors import InvalidInput

TOKEN = re.compile(r"\w+(?:[-'.]\w+)*|[^\w\s]")
OUTSIDE = "O"


@dataclass(frozen=True)
class Example:
    """One labelled sentence: its tokens, intent and a BIO tag per token."""

    tokens: tuple[str, ...]
    intent: str
    tags: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.tokens)


def tokenize(text: str) -> list[str]:
    """Lower-case word and punctuation tokens, as the training files hold them."""
    return TOKEN.findall(text.lower())


def check_tags(tags: Sequence[str], where: str) -> None:
    """BIO well-formedness: an ``I-x`` follows a ``B-x`` or ``I-x``."""
    prev = OUTSIDE
    for i, t in enumerate(tags):
        if t != OUTSIDE and not re.fullmatch(r"[BI]-[A-Za-z_][\w.-]*", t):
            raise InvalidInput(f"{where}: tag {i + 1} '{t}' is not O, B-slot or I-slot")
        if t.startswith("I-") and prev[2:] != t[2:]:
            raise InvalidInput(f"{where}: tag {i + 1} '{t}' does not continue a {t[2:]} span")
        prev = t


def as_bio(labels: Sequence[str]) -> list[str]:
    """Plain slot labels (NeMo's usual form) as BIO; BIO labels stay as they are."""
    if any(x.startswith(("B-", "I-")) for x in labels):
        return list(labels)
    out, prev = [], OUTSIDE
    for x in labels:
        out.append(OUTSIDE if x == OUTSIDE else (f"I-{x}" if x == prev else f"B-{x}"))
        prev = x
    return out


def spans(tokens: Sequence[str], tags: Sequence[str]) -> dict[str, str]:
    """The slot values of a tagged sentence (the first span of each slot)."""
    out: dict[str, str] = {}
    cur: str | None = None
    words: list[str] = []
    for tok, tag in [*zip(tokens, tags, strict=True), ("", OUTSIDE)]:
        if cur is not None and tag != f"I-{cur}":
            out.setdefault(cur, " ".join(words))
            cur = None
        if tag.startswith("B-") or (tag.startswith("I-") and cur is None):
            cur, words = tag[2:], [tok]
        elif cur is not None:
            words.append(tok)
    return out


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise InvalidInput(f"'{path}' is missing (NeMo format needs dict.intents.csv, "
                           "dict.slots.csv, {split}.tsv and {split}_slots.tsv)")
    return path.read_text(encoding="utf-8").splitlines()


def read_split(folder: str | Path, split: str = "train") -> list[Example]:
    """The examples of one split of a NeMo-format folder, checked line by line."""
    base = Path(folder)
    intents = [x.strip() for x in _lines(base / "dict.intents.csv") if x.strip()]
    slots = [x.strip() for x in _lines(base / "dict.slots.csv") if x.strip()]
    rows = _lines(base / f"{split}.tsv")
    slot_rows = _lines(base / f"{split}_slots.tsv")
    if not rows or rows[0].split("\t")[0].strip() != "sentence":
        raise InvalidInput(f"{base / f'{split}.tsv'}:1: the header 'sentence\\tlabel' is "
                           "missing")
    rows = rows[1:]
    if len(rows) != len(slot_rows):
        raise InvalidInput(f"{base}: {split}.tsv has {len(rows)} sentences but "
                           f"{split}_slots.tsv {len(slot_rows)} lines")
    out = []
    for n, (row, slot_row) in enumerate(zip(rows, slot_rows, strict=True), start=2):
        where = f"{base / f'{split}.tsv'}:{n}"
        sentence, _, label = row.rpartition("\t")
        tokens = sentence.split()
        try:
            intent = intents[int(label)]
            labels = [slots[int(i)] for i in slot_row.split()]
        except (ValueError, IndexError):
            raise InvalidInput(f"{where}: an intent or slot id outside the dictionaries"
                               ) from None
        if len(labels) != len(tokens):
            raise InvalidInput(f"{where}: {len(tokens)} tokens but {len(labels)} slot ids")
        tags = as_bio(labels)
        check_tags(tags, where)
        out.append(Example(tuple(tokens), intent, tuple(tags)))
    return out


def write_nemo(folder: str | Path, splits: dict[str, Iterable[Example]]) -> Path:
    """Write splits (``{"train": [...], "test": [...]}``) with shared dictionaries."""
    base = Path(folder)
    base.mkdir(parents=True, exist_ok=True)
    data = {k: list(v) for k, v in splits.items()}
    intents = sorted({e.intent for v in data.values() for e in v})
    slots = sorted({t for v in data.values() for e in v for t in e.tags} - {OUTSIDE})
    slots.append(OUTSIDE)  # NeMo's convention: O last
    (base / "dict.intents.csv").write_text("".join(f"{x}\n" for x in intents))
    (base / "dict.slots.csv").write_text("".join(f"{x}\n" for x in slots))
    iid = {x: i for i, x in enumerate(intents)}
    sid = {x: i for i, x in enumerate(slots)}
    for split, examples in data.items():
        with open(base / f"{split}.tsv", "w", encoding="utf-8") as f:
            f.write("sentence\tlabel\n")
            f.writelines(f"{e.text}\t{iid[e.intent]}\n" for e in examples)
        with open(base / f"{split}_slots.tsv", "w", encoding="utf-8") as f:
            f.writelines(" ".join(str(sid[t]) for t in e.tags) + "\n" for e in examples)
    return base
