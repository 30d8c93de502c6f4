"""PNG bar charts of a comparison: each configuration's mean with its min-max range, as
the reference's charts show one bar per configuration."""

from __future__ import annotations

import os
from pathlib import Path

from mlfabric.apps.edgebench.records import Comparison


def bar_chart(c: Comparison, folder: str | os.PathLike[str], title: str) -> str:
    """Write ``<what>-<metric>.png`` into ``folder``; its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.5), dpi=100)
    means = [c.a_mean, c.b_mean]
    lows = [c.a_mean - min(c.a_values), c.b_mean - min(c.b_values)]
    highs = [max(c.a_values) - c.a_mean, max(c.b_values) - c.b_mean]
    ax.bar([c.a, c.b], means, yerr=[lows, highs], capsize=8, color=["#4c72b0", "#dd8452"])
    ax.set_ylabel(c.metric)
    ax.set_title(f"{title}\n{c.b} / {c.a} = {c.ratio:.3f} ({c.difference_pct:+.1f}%)",
                 fontsize=9)
    fig.tight_layout()
    Path(folder).mkdir(parents=True, exist_ok=True)
    path = Path(folder) / f"{c.what}-{c.metric.replace('/', '-').replace(' ', '_')}.png"
    fig.savefig(path)
    plt.close(fig)
    return str(path)
