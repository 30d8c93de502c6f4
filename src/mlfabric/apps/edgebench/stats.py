"""Two configurations' runs side by side: means, run-to-run noise, the difference and
whether it stands out of the noise. Pure arithmetic."""

from __future__ import annotations

from statistics import fmean

from mlfabric.apps.edgebench.records import Comparison
from mlfabric.errors import InvalidInput


def noise_pct(values: list[float]) -> float:
    """Run-to-run spread: (max - min) / mean, in percent."""
    m = fmean(values)
    return 0.0 if m == 0 else 100.0 * (max(values) - min(values)) / m


def compare(what: str, a: str, b: str, metric: str, a_values: list[float],
            b_values: list[float], *, charts: list[str] | None = None,
            runs: list[str] | None = None) -> Comparison:
    """B against A on ``metric``: the difference counts only when it is larger than the
    larger of the two configurations' own spreads."""
    if not a_values or not b_values:
        raise InvalidInput("a comparison needs at least one run of each configuration",
                           field="runs")
    am, bm = fmean(a_values), fmean(b_values)
    ratio = bm / am if am else float("inf")
    diff = 100.0 * (ratio - 1.0)
    an, bn = noise_pct(a_values), noise_pct(b_values)
    return Comparison(what=what, a=a, b=b, metric=metric,
                      a_values=[round(v, 4) for v in a_values],
                      b_values=[round(v, 4) for v in b_values], a_mean=round(am, 4),
                      b_mean=round(bm, 4), a_noise_pct=round(an, 2), b_noise_pct=round(bn, 2),
                      ratio=round(ratio, 4), difference_pct=round(diff, 2),
                      within_noise=abs(diff) <= max(an, bn), charts=charts or [],
                      runs=runs or [])
