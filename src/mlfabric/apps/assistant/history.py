"""Conversation history: the day's turns as CSV (``intent`` and ``tags`` are what the
model understood; an annotator corrects them), and labelled CSV converted to NeMo format
next to the data the live model was trained on."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from mlfabric.apps.assistant.nemo import Example, check_tags, read_split, write_nemo
from mlfabric.apps.assistant.service import CORPUS_DIR, TURNS, database, model_volume
from mlfabric.errors import InvalidInput
from mlfabric.records import Record

COLUMNS = ["at", "user", "session", "text", "tokens", "intent", "confidence", "tags",
           "reply", "flow"]


@dataclass(frozen=True)
class Export(Record):
    """A day's turns written as CSV."""

    day: str
    path: str
    turns: int


@dataclass(frozen=True)
class Conversion(Record):
    """Labelled history in NeMo format, with the base data it joins."""

    path: str
    history_rows: int
    skipped: int
    train: int
    test: int
    intents: list[str]


def _day(day: str | None) -> str:
    if day is None:
        return dt.datetime.now(dt.UTC).date().isoformat()
    try:
        return dt.date.fromisoformat(day).isoformat()
    except ValueError:
        raise InvalidInput(f"day '{day}' is not YYYY-MM-DD", field="day", value=day) from None


def export(out: str | Path, *, day: str | None = None, home: str | None = None) -> Export:
    """Write the turns of ``day`` (UTC, default today) to the CSV file ``out``."""
    d = _day(day)
    with database(home).connect() as c:
        rows = c.execute(sa.select(TURNS).where(TURNS.c.day == d).order_by(TURNS.c.id)).all()
    path = Path(out)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for r in rows:
            at = dt.datetime.fromtimestamp(r.at, dt.UTC).isoformat(timespec="seconds")
            w.writerow([at, r.user, r.session, r.text, r.tokens, r.intent,
                        f"{r.confidence:.3f}", r.tags, r.reply, r.flow])
    tmp.replace(path)
    return Export(d, str(path), len(rows))


def read_labelled(path: str | Path) -> tuple[list[Example], int]:
    """The labelled rows of a history CSV (rows with an empty intent are skipped), each
    checked: a known header, an intent name, one BIO tag per token."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInput(f"'{path}' does not exist", field="history", value=str(path))
    with open(p, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"tokens", "intent", "tags"} - set(reader.fieldnames or ())
        if missing:
            raise InvalidInput(f"{path}:1: no column {', '.join(sorted(missing))}")
        out, skipped = [], 0
        for n, row in enumerate(reader, start=2):
            intent = (row["intent"] or "").strip()
            if not intent:
                skipped += 1
                continue
            where = f"{path}:{n}"
            if not re.fullmatch(r"[A-Za-z_][\w.-]*", intent):
                raise InvalidInput(f"{where}: intent '{intent}' is not a name")
            tokens, tags = (row["tokens"] or "").split(), (row["tags"] or "").split()
            if not tokens or len(tokens) != len(tags):
                raise InvalidInput(f"{where}: {len(tokens)} tokens but {len(tags)} tags")
            check_tags(tags, where)
            out.append(Example(tuple(tokens), intent, tuple(tags)))
    return out, skipped


def _held_out(e: Example, fraction: float) -> bool:
    """A stable choice per sentence, so a sentence never lands on both sides."""
    h = int(hashlib.sha256(e.text.encode()).hexdigest()[:8], 16)
    return h / 0xFFFFFFFF < fraction


def to_nemo(history: Sequence[str | Path], out: str | Path, *, base: str | Path | None = None,
            test_fraction: float = 0.25, home: str | None = None) -> Conversion:
    """Labelled history CSV files plus the base data (default: the live model's) as a
    NeMo-format folder; a share of the history is held out for the test split."""
    if not 0 < test_fraction < 1:
        raise InvalidInput("test fraction is between 0 and 1", field="test_fraction")
    rows: list[Example] = []
    skipped = 0
    for h in history:
        got, s = read_labelled(h)
        rows += got
        skipped += s
    if not rows:
        raise InvalidInput("no labelled rows in the history (fill the intent and tags "
                           "columns)")
    folder = Path(base) if base is not None else model_volume(home) / CORPUS_DIR
    train, test = read_split(folder, "train"), read_split(folder, "test")
    seen = {e.tokens for e in [*train, *test]}
    new = [e for e in dict.fromkeys(rows) if e.tokens not in seen]
    train += [e for e in new if not _held_out(e, test_fraction)]
    test += [e for e in new if _held_out(e, test_fraction)]
    write_nemo(out, {"train": train, "test": test})
    read_split(out, "train")  # what was written reads back
    return Conversion(str(out), len(rows), skipped, len(train), len(test),
                      sorted({e.intent for e in train}))
