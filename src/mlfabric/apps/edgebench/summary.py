"""LoadGen's log files read back: ``mlperf_log_summary.txt`` (its ``key : value`` lines),
``mlperf_log_detail.txt`` (``:::MLLOG {json}`` lines) and ``mlperf_log_accuracy.json``.
Pure parsing; no LoadGen import."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from mlfabric.errors import CorruptData

SUMMARY = "mlperf_log_summary.txt"
DETAIL = "mlperf_log_detail.txt"
ACCURACY = "mlperf_log_accuracy.json"
_LINE = re.compile(r"^\s*([^:]+?)\s*:\s*(.+?)\s*$")


@dataclass(frozen=True)
class Summary:
    """What the summary and detail logs say about a run."""

    scenario: str
    mode: str
    result: str  # VALID | INVALID
    samples_per_second: float | None
    p90_latency_ns: float | None
    p99_latency_ns: float | None
    mean_latency_ns: float | None
    samples_per_query: int
    queries: int | None
    invalid_reasons: list[str]

    @property
    def valid(self) -> bool:
        return self.result == "VALID"


def summary_fields(text: str) -> dict[str, str]:
    """The summary's ``key : value`` lines (the first of each key)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m and not line.lstrip().startswith("*"):
            out.setdefault(m.group(1), m.group(2))
    return out


def detail_fields(text: str) -> dict[str, object]:
    """The detail log's keys and values (the last of each key)."""
    out: dict[str, object] = {}
    for line in text.splitlines():
        if line.startswith(":::MLLOG "):
            try:
                entry = json.loads(line[len(":::MLLOG "):])
            except ValueError:
                continue
            out[str(entry.get("key"))] = entry.get("value")
    return out


def _num(fields: dict[str, str], key: str) -> float | None:
    try:
        return float(fields[key])
    except (KeyError, ValueError):
        return None


def parse_summary(summary: str, detail: str = "") -> Summary:
    """A run's results from the text of its summary (and detail) log."""
    f = summary_fields(summary)
    if "Result is" not in f or "Scenario" not in f:
        raise CorruptData("not a LoadGen summary: no 'Result is' or 'Scenario' line")
    d = detail_fields(detail)
    scenario = f["Scenario"]
    per_query = int(_num(f, "samples_per_query") or 1)
    rate = _num(f, "Samples per second")
    if rate is None:  # the latency scenarios report queries per second
        qps = _num(f, "QPS w/o loadgen overhead")
        rate = None if qps is None else qps * per_query
    mean = _num(f, "Mean latency (ns)")
    if rate is None and mean:  # multi-stream: one query at a time, so its mean latency
        rate = per_query * 1e9 / mean
    queries = d.get("result_query_count")
    reasons = [k for k in ("Min duration satisfied", "Min queries satisfied",
                           "Early stopping satisfied") if f.get(k, "Yes").upper() == "NO"]
    return Summary(scenario=scenario, mode=f.get("Mode", ""), result=f["Result is"],
                   samples_per_second=rate,
                   p90_latency_ns=_num(f, "90.00 percentile latency (ns)"),
                   p99_latency_ns=_num(f, "99.00 percentile latency (ns)"),
                   mean_latency_ns=mean,
                   samples_per_query=per_query,
                   queries=int(queries) if isinstance(queries, int | float) else None,
                   invalid_reasons=reasons)


def read_logs(folder: str | Path, accuracy: bool = False) -> Summary:
    """Parse the summary and detail logs LoadGen wrote into ``folder``; an accuracy run's
    summary holds no results (``result`` is ``ACCURACY``)."""
    root = Path(folder)
    try:
        summary = (root / SUMMARY).read_text()
    except OSError as exc:
        raise CorruptData(f"LoadGen wrote no summary in {root}: {exc}") from None
    detail = (root / DETAIL).read_text() if (root / DETAIL).exists() else ""
    if accuracy:
        d = detail_fields(detail)
        return Summary(str(d.get("effective_scenario", "")), "AccuracyOnly", "ACCURACY",
                       None, None, None, None, 1, None, [])
    return parse_summary(summary, detail)


def accuracy_entries(folder: str | Path) -> dict[int, bytes]:
    """The accuracy log's responses: sample index -> the bytes the SUT returned."""
    try:
        entries = json.loads((Path(folder) / ACCURACY).read_text() or "[]")
    except (OSError, ValueError) as exc:
        raise CorruptData(f"unreadable LoadGen accuracy log in {folder}: {exc}") from None
    return {int(e["qsl_idx"]): bytes.fromhex(e["data"]) for e in entries}
