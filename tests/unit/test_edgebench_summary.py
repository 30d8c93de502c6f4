"""LoadGen's summary and detail logs read back (texts as LoadGen 6.0 writes them)."""

from __future__ import annotations

import pytest

from mlfabric.apps.edgebench.summary import parse_summary
from mlfabric.errors import CorruptData

INVALID_OFFLINE = """\
================================================
MLPerf Results Summary
================================================
SUT name : PySUT
Scenario : Offline
Mode     : PerformanceOnly
Samples per second: 17819.9
Result is : INVALID
  Min duration satisfied : NO
  Min queries satisfied : Yes
  Early stopping satisfied: Yes
Recommendations:
 * Increase expected QPS so the loadgen pre-generates a larger (coalesced) query.

================================================
Additional Stats
================================================
Min latency (ns)                : 37037222
Mean latency (ns)               : 37037222
90.00 percentile latency (ns)   : 37037222
99.00 percentile latency (ns)   : 37037222

================================================
Test Parameters Used
================================================
samples_per_query : 660
"""

VALID_MULTISTREAM = """\
SUT name : PySUT
Scenario : MultiStream
Mode     : PerformanceOnly
99.0th percentile latency (ns) : 9743231
Result is : VALID
  Min duration satisfied : Yes
  Min queries satisfied : Yes
  Early stopping satisfied: Yes
Per-query latency:
Min latency (ns)                : 2074091
Mean latency (ns)               : 2500000
90.00 percentile latency (ns)   : 3859062
99.00 percentile latency (ns)   : 9743231
samples_per_query : 8
"""

DETAIL = (':::MLLOG {"key": "result_query_count", "value": 662, "time_ms": 1.0}\n'
          ':::MLLOG {"key": "result_validity", "value": "VALID", "time_ms": 1.0}\n')


def test_offline_summary_gives_rate_and_why_it_is_invalid() -> None:
    s = parse_summary(INVALID_OFFLINE)
    assert (s.scenario, s.result, s.valid) == ("Offline", "INVALID", False)
    assert s.samples_per_second == pytest.approx(17819.9)
    assert s.invalid_reasons == ["Min duration satisfied"]
    assert s.samples_per_query == 660 and s.queries is None


def test_multistream_summary_gives_percentiles_streams_and_queries() -> None:
    s = parse_summary(VALID_MULTISTREAM, DETAIL)
    assert s.valid and s.invalid_reasons == []
    assert (s.p90_latency_ns, s.p99_latency_ns) == (3859062, 9743231)
    assert s.samples_per_query == 8 and s.queries == 662
    assert s.samples_per_second == pytest.approx(8 / 0.0025)  # one query at a time


def test_text_that_is_no_summary_is_refused() -> None:
    with pytest.raises(CorruptData, match="not a LoadGen summary"):
        parse_summary("No warnings encountered during test.\n")


def test_a_run_that_ended_early_is_rerun_expecting_twice_its_rate() -> None:
    from types import SimpleNamespace

    from mlfabric.apps.edgebench.harness import raise_expected, too_short

    early = parse_summary(INVALID_OFFLINE)
    assert too_short(early) and not too_short(parse_summary(VALID_MULTISTREAM, DETAIL))
    ts = SimpleNamespace(offline_expected_qps=1000.0)
    raise_expected(ts, early)
    assert ts.offline_expected_qps == pytest.approx(2 * 17819.9)
    ts = SimpleNamespace(multi_stream_expected_latency_ns=10**9)
    raise_expected(ts, parse_summary(VALID_MULTISTREAM, DETAIL))
    assert ts.multi_stream_expected_latency_ns == int(0.5e9 * 8 / 3200)
