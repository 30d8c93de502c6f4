"""Fair share: how much of a pool each project deserves this cycle, given what it asks for."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

_EPS = 1e-9


@dataclass(frozen=True)
class ShareRequest:
    """One project's inputs to the fair-share computation (any consistent unit)."""

    quota: float
    weight: float
    demand: float  # what its running and pending jobs add up to
    limit: float | None = None


def water_fill(amount: float, caps: Mapping[str, float],
               weights: Mapping[str, float]) -> dict[str, float]:
    """Divide ``amount`` in proportion to ``weights``, never giving anyone more than its cap.

    What a capped project cannot take is divided again among the others. Projects with
    weight 0 share (equally) only what every positive-weight project leaves over.
    """
    given = {name: 0.0 for name in caps}
    active = [n for n in caps if caps[n] > _EPS]
    remaining = amount
    for tier in ([n for n in active if weights[n] > 0], [n for n in active if weights[n] <= 0]):
        w = {n: (weights[n] if weights[n] > 0 else 1.0) for n in tier}
        while remaining > _EPS and tier:
            total = sum(w[n] for n in tier)
            # The smallest weighted headroom is where the next project fills up.
            step = min((caps[n] - given[n]) / w[n] for n in tier)
            if step * total >= remaining:
                for n in tier:
                    given[n] += remaining * w[n] / total
                remaining = 0.0
                break
            for n in tier:
                given[n] += step * w[n]
            remaining -= step * total
            tier = [n for n in tier if caps[n] - given[n] > _EPS]
    return given


def fair_shares(capacity: float, requests: Mapping[str, ShareRequest]) -> dict[str, float]:
    """Each project's fair share of ``capacity``.

    A project first deserves min(quota, demand, limit); if quotas are oversubscribed that
    is scaled down in proportion to quota. What is left goes to projects with unmet
    demand in proportion to their weight, up to their demand and limit.
    """
    caps = {n: r.demand if r.limit is None else min(r.demand, r.limit)
            for n, r in requests.items()}
    deserved = {n: max(0.0, min(r.quota, caps[n])) for n, r in requests.items()}
    if sum(deserved.values()) > capacity + _EPS:
        return water_fill(capacity, deserved, {n: r.quota for n, r in requests.items()})
    extra = water_fill(capacity - sum(deserved.values()),
                       {n: caps[n] - deserved[n] for n in requests},
                       {n: r.weight for n, r in requests.items()})
    return {n: deserved[n] + extra[n] for n in requests}
