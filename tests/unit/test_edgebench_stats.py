"""Comparisons of two configurations' runs and the servers' share of the cores."""

from __future__ import annotations

import os

import pytest

from mlfabric.apps.edgebench.servers import cores_for
from mlfabric.apps.edgebench.stats import compare, noise_pct
from mlfabric.errors import InvalidInput

CASES = {
    # name: (A runs, B runs, ratio, difference %, within noise)
    "same within spread": ([100, 102, 98], [101, 99, 100], 1.0, 0.0, True),
    "double": ([100, 100, 100], [190, 200, 210], 2.0, 100.0, False),
    "one percent inside 4% noise": ([98, 100, 102], [99, 101, 103], 1.01, 1.0, True),
    "one percent outside 0.5% noise": ([100, 100.2, 100.4], [101.2, 101.2, 101.2], 1.01,
                                       1.0, False),
}


@pytest.mark.parametrize("case", CASES)
def test_difference_counts_only_outside_the_noise(case: str) -> None:
    a, b, ratio, diff, within = CASES[case]
    c = compare("storage", "local", "fuse-sftp", "samples_per_second", a, b)
    assert c.ratio == pytest.approx(ratio, abs=1e-3)
    assert c.difference_pct == pytest.approx(diff, abs=0.1)
    assert c.within_noise is within
    assert c.a_noise_pct == pytest.approx(noise_pct(a), abs=0.01)


def test_noise_is_spread_over_mean_and_empty_runs_are_refused() -> None:
    assert noise_pct([90, 110]) == pytest.approx(20.0)
    assert noise_pct([5, 5, 5]) == 0.0
    with pytest.raises(InvalidInput):
        compare("servers", "1", "2", "samples_per_second", [], [1.0])


def test_servers_get_disjoint_core_shares() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    shares = [cores_for(i, 2) for i in range(2)]
    if len(cpus) >= 2:
        assert not shares[0] & shares[1] and shares[0] | shares[1] <= set(cpus)
    assert cores_for(0, len(cpus) + 1) == set(cpus)  # more servers than cores: all share
