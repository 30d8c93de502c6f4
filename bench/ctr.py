"""Benchmark click-through-rate training: Dask on a local cluster against its named peer,
the single-process reference recipe (pandas + scikit-learn, or XGBoost in one process),
on the same rows of the same generated Criteo-format data.

For each model (the recipe's random forest, then XGBoost) and each row count: rows per
second for read + train + score on each engine, the AUC of each, and the ratio of Dask's
speed to pandas' at equal rows (above 1: Dask is faster). The seed (TR-4904) reported a
262x speed-up from RAPIDS + Dask on 3 GPU nodes over pandas + scikit-learn, by
extrapolating from unequal amounts of data; this prints our equal-rows ratio next to it.

Run:  .venv/bin/python bench/ctr.py [--rows 1000000,4000000] [--workers 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

from mlfabric.apps import ctr

SEED_RATIO = 262.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000000,4000000")
    parser.add_argument("--shard-rows", type=int, default=500_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", default="rf,xgboost")
    args = parser.parse_args()
    counts = ctr.parse_rows(args.rows)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="ctr-bench-") as tmp:
        data = os.path.join(tmp, "clicks")
        t = time.monotonic()
        made = ctr.make_data(data, rows=max(counts), shard_rows=args.shard_rows, seed=0)
        print(f"data: {made.rows:,} rows, {made.bytes / 2**30:.2f} GiB in {made.shards} "
              f"shards, written in {time.monotonic() - t:.1f}s "
              f"({made.rows / (time.monotonic() - t):,.0f} rows/s); Bayes-optimal AUC "
              f"{made.bayes_auc:.4f}")
        for model in args.models.split(","):
            r = ctr.report(data, rows=counts, out=os.path.join(tmp, f"report-{model}"),
                           model=model, workers=args.workers, threads=args.threads)
            print(f"\n{model}: {args.workers} Dask workers x {args.threads} thread(s) "
                  "against one pandas process (all cores)")
            print(f"{'rows':>12} {'engine':>7} {'seconds':>8} {'rows/s':>10} {'AUC':>7} "
                  f"{'log-loss':>8}")
            by = {(x["engine"], x["rows"]): x for x in r.runs}
            for n in counts:
                for engine in ("pandas", "dask"):
                    x = by[engine, n]
                    print(f"{n:>12,} {engine:>7} {x['seconds']:>8.2f} "
                          f"{n / x['seconds']:>10,.0f} {x['auc']:>7.4f} {x['log_loss']:>8.4f}")
                ratio = by["pandas", n]["seconds"] / by["dask", n]["seconds"]
                print(f"{n:>12,}   dask speed / pandas speed at equal rows: {ratio:.2f}x "
                      f"(seed: {SEED_RATIO:.0f}x at unequal rows and hardware)")


if __name__ == "__main__":
    main()
