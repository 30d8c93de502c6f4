"""``report``: both engines on the same rows (time and metrics), the largest rows each
handles within a memory budget, and a PNG of time against rows."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from mlfabric.apps.ctr.dask_engine import ADDRESS_ENV, connect
from mlfabric.apps.ctr.pandas_engine import MemoryBudgetExceeded
from mlfabric.apps.ctr.records import ReportResult, TrainResult
from mlfabric.apps.ctr.training import train
from mlfabric.errors import InvalidInput
from mlfabric.units import parse_size

COLUMNS = ("ENGINE", "ROWS", "SECONDS", "ROWS/S", "AUC", "LOG-LOSS", "ACCURACY", "NOTE")


def parse_rows(text: str | list[int]) -> list[int]:
    """``"100000,200000"`` as sorted distinct row counts."""
    values = text if isinstance(text, list) else [
        int(v.replace("_", "")) for v in str(text).split(",") if v.strip()]
    if not values or any(v < 10 for v in values):
        raise InvalidInput(f"--rows needs row counts of at least 10 (got {text})")
    return sorted(set(values))


def row_line(r: dict) -> list[str]:
    """One table row of a run (or of a refusal)."""
    if r.get("refused"):
        return [r["engine"], f"{r['rows']:,}", "-", "-", "-", "-", "-", "refused: over budget"]
    return [r["engine"], f"{r['rows']:,}", f"{r['seconds']:.2f}",
            f"{r['rows'] / r['seconds']:,.0f}" if r["seconds"] else "-",
            f"{r['auc']:.4f}", f"{r['log_loss']:.4f}", f"{r['accuracy']:.4f}", ""]


def _plot(runs: list[dict], path: Path, budget: int | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for engine, mark in (("pandas", "o-"), ("dask", "s-")):
        done = [r for r in runs if r["engine"] == engine and not r.get("refused")]
        if done:
            ax.plot([r["rows"] for r in done], [r["seconds"] for r in done], mark,
                    label=f"{engine} ({done[0]['model']})")
        refused = [r for r in runs if r["engine"] == engine and r.get("refused")]
        for r in refused:
            ax.axvline(r["rows"], color="grey", linestyle=":", linewidth=1)
    if any(r.get("refused") for r in runs):
        ax.plot([], [], ":", color="grey", label="pandas refused (memory budget)")
    ax.set_xlabel("rows (train + held out)")
    ax.set_ylabel("seconds (read + train + score)")
    title = "CTR training time against rows"
    ax.set_title(title + (f", budget {budget / 2**20:.0f} MiB" if budget else ""))
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(data: str, *, rows: str | list[int], out: str, model: str = "xgboost",
           engines: tuple[str, ...] = ("pandas", "dask"), memory: str | int | None = None,
           workers: int = 2, threads: int = 1, scheduler_address: str | None = None,
           seed: int = 0, version: str | None = None, home: str | None = None,
           on_run: Callable[[dict], None] | None = None,
           on_cluster: Callable[[str, str | None, int], None] | None = None) -> ReportResult:
    """Train every engine at every row count; write report.json, report.md and
    time-vs-rows.png into ``out``."""
    counts = parse_rows(rows)
    budget = parse_size(memory) if memory is not None else None
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    runs: list[dict] = []
    largest: dict[str, int | None] = {e: None for e in engines}
    with contextlib.ExitStack() as stack:
        if "dask" in engines and not (scheduler_address or os.environ.get(ADDRESS_ENV)):
            # one local cluster for every run (its start is no part of any run's time)
            client = stack.enter_context(connect(None, workers, threads))
            scheduler_address = client.scheduler.address
        for n in counts:
            for engine in engines:
                try:
                    r: TrainResult = train(data, engine=engine, model=model, rows=n,
                                           memory=budget, workers=workers, threads=threads,
                                           scheduler_address=scheduler_address, seed=seed,
                                           version=version, home=home, on_cluster=on_cluster)
                    row = {**r.to_dict(), "refused": False}
                    largest[engine] = max(largest[engine] or 0, r.rows)
                except MemoryBudgetExceeded as exc:
                    if engine != "pandas":
                        raise
                    row = {"engine": engine, "model": model, "rows": n, "refused": True,
                           "estimate": exc.estimate, "reason": str(exc)}
                runs.append(row)
                if on_run is not None:
                    on_run(row)
    plot = folder / "time-vs-rows.png"
    _plot(runs, plot, budget)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row_line(r)) + " |" for r in runs]
    table = folder / "report.md"
    table.write_text("\n".join(lines) + "\n")
    result = ReportResult(data=os.path.abspath(data), rows=counts, runs=runs, largest=largest,
                          memory_budget=budget, plot=str(plot), table=str(table),
                          seconds=time.monotonic() - started)
    (folder / "report.json").write_text(json.dumps(result.to_dict(), indent=1) + "\n")
    return result
