"""TuSimple's lane label format: one JSON object a line with ``lanes`` (x per h_sample,
-2 where the lane is absent), ``h_samples`` (the rows) and ``raw_file`` (the picture,
relative to the dataset folder). Reading checks every line and every picture; what is
bad is counted by kind, reported, and skipped."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from mlfabric.errors import InvalidInput

ABSENT = -2  # TuSimple's x for "no lane at this h_sample"
SPLITS = ("train", "val", "test")
# Real TuSimple names its label files so; ours are SPLIT.json.
TUSIMPLE_FILES = {"train": ("label_data_*.json",), "test": ("test_label.json",)}
BAD_KINDS = ("bad JSON", "missing raw_file", "mismatched lengths", "corrupt image")


@dataclass(frozen=True)
class Label:
    """One labelled picture: ``lanes[i][j]`` is the x of lane i at row ``h_samples[j]``."""

    raw_file: str
    h_samples: list[int]
    lanes: list[list[float]]

    def line(self) -> str:
        return json.dumps({"lanes": self.lanes, "h_samples": self.h_samples,
                           "raw_file": self.raw_file})


@dataclass
class Problems:
    """Bad input met while reading: counts by kind and the first few examples."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def add(self, kind: str, where: str) -> None:
        self.counts[kind] += 1
        if len(self.examples) < 5:
            self.examples.append(f"{where}: {kind}")

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, int]:
        return {k: self.counts[k] for k in BAD_KINDS if self.counts[k]}


def parse_line(text: str) -> Label:
    """One label line, or ``ValueError`` naming what is wrong with it (its bad kind)."""
    try:
        doc = json.loads(text)
        lanes, h_samples = doc["lanes"], doc["h_samples"]
        if not isinstance(lanes, list) or not isinstance(h_samples, list):
            raise TypeError("lanes and h_samples must be lists")
        h = [int(y) for y in h_samples]
        lanes_f = [[float(x) for x in lane] for lane in lanes]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError("bad JSON") from exc
    raw = doc.get("raw_file")
    if not isinstance(raw, str) or not raw:
        raise ValueError("missing raw_file")
    if any(len(lane) != len(h) for lane in lanes_f):
        raise ValueError("mismatched lengths")
    return Label(raw, h, lanes_f)


def split_files(root: Path, split: str) -> list[Path]:
    """The label files of ``split`` in a dataset folder: ours (``SPLIT.json``) or real
    TuSimple's (``label_data_*.json`` for train, ``test_label.json`` for test)."""
    if split not in SPLITS:
        raise InvalidInput(f"unknown split '{split}': expected one of {', '.join(SPLITS)}",
                           field="split", value=split)
    ours = root / f"{split}.json"
    if ours.is_file():
        return [ours]
    return sorted(p for pattern in TUSIMPLE_FILES.get(split, ()) for p in root.glob(pattern))


def read_labels(root: str | Path, split: str, problems: Problems) -> list[Label]:
    """The good labels of ``split``; bad lines and missing pictures go to ``problems``."""
    base = Path(root)
    files = split_files(base, split)
    if not files:
        raise InvalidInput(f"{base}: no labels for split '{split}' (expected {split}.json"
                           + (f" or {', '.join(TUSIMPLE_FILES[split])}"
                              if split in TUSIMPLE_FILES else "") + ")")
    out: list[Label] = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            for n, text in enumerate(f, 1):
                if not text.strip():
                    continue
                where = f"{path.name}:{n}"
                try:
                    label = parse_line(text)
                except ValueError as exc:
                    problems.add(str(exc), where)
                    continue
                if not (base / label.raw_file).is_file():
                    problems.add("missing raw_file", where)
                    continue
                out.append(label)
    return out


def write_labels(path: Path, labels: list[Label]) -> None:
    path.write_text("".join(label.line() + "\n" for label in labels), encoding="utf-8")
