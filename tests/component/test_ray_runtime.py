"""The ``ray`` runtime on a real Ray cluster of three nodes on loopback (tests/raybed.py)."""

from __future__ import annotations

import ipaddress

import pytest

from mlfabric.scheduler.runtimes import RUNTIMES, Runtime
from mlfabric.scheduler.runtimes.ray import ADDRESS_ENV
from mlfabric.testing.runtimes import RuntimeConformance
from tests.raybed import RayBed, listening


def test_the_bed_listens_on_loopback_only(ray_bed: RayBed) -> None:
    pids = ray_bed.pids()
    sockets = listening(pids)
    assert len(pids) >= 6 and len(sockets) >= 6, (pids, sockets)
    outside = sorted(s for s in sockets if not ipaddress.ip_address(s[0]).is_loopback)
    assert outside == []
    assert ("127.0.0.1", 0) not in sockets and any(a == "127.0.0.1" for a, _ in sockets)


class TestRayRuntime(RuntimeConformance, runtime="ray", node="ray-a"):
    @pytest.fixture
    def rt(self, ray_bed: RayBed, monkeypatch: pytest.MonkeyPatch) -> Runtime:
        monkeypatch.setenv(ADDRESS_ENV, ray_bed.address)
        return RUNTIMES.get("ray")
