"""``mlfabric ctr make-data|train|report|runs``."""

from __future__ import annotations

import os

import typer

from mlfabric.apps import ctr
from mlfabric.console import OPTIONS, emit_json, note, progress, say, table

app = typer.Typer(no_args_is_help=True)  # its help: APP in mlfabric.apps.ctr

_MEMORY = ("Memory budget: the pandas engine refuses runs it estimates above it; each Dask "
           "worker may allocate this much (RLIMIT_DATA) while training.")
_ADDRESS = "Dask scheduler of an existing cluster (default: the gang job's, else a local one)."
_SUBMIT = "Run as a Dask gang job of this project instead of here."
_GPUS = "GPU share each rank of the gang job holds (the training runs on CPUs)."
_VERSION = "The data's version to record (default: the newest snapshot of its volume)."


# Options train and report share (one definition each).
MEMORY = typer.Option(None, "--memory", help=_MEMORY)
WORKERS = typer.Option(2, "--workers", help="Workers of a local Dask cluster.")
THREADS = typer.Option(1, "--threads", help="Threads per Dask worker.")
ADDRESS = typer.Option(None, "--scheduler-address", help=_ADDRESS)
SEED = typer.Option(0, "--seed", help="Random seed.")
VERSION = typer.Option(None, "--data-version", help=_VERSION)
SUBMIT = typer.Option(None, "--submit", help=_SUBMIT)
PROCESSES = typer.Option(3, "--processes", help="Ranks of the gang job (scheduler + workers).")
GPUS = typer.Option(0.25, "--gpus", help=_GPUS)


def _announce(address: str, dashboard: str | None, workers: int) -> None:
    if not OPTIONS.json:
        note(f"dask cluster {address} with {workers} worker(s); dashboard: {dashboard}")


def _submitted(job) -> None:  # type: ignore[no-untyped-def]
    if OPTIONS.json:
        emit_json(job)
    else:
        say(f"submitted job {job.project}/{job.name}: {job.state}")


@app.command("make-data")
def make_data(path: str = typer.Argument(..., help="Folder to write the shards into (inside "
                                         "the volume with --to-volume)."),
              rows: int = typer.Option(..., "--rows", help="Lines in all."),
              days: int = typer.Option(1, "--days", help="Days (day_N folders) to spread them "
                                       "over."),
              shard_rows: int = typer.Option(1_000_000, "--shard-rows", help="Lines per shard "
                                             "file."),
              seed: int = typer.Option(0, "--seed", help="Random seed."),
              to_volume: str | None = typer.Option(None, "--to-volume", help="Write into this "
                                                   "volume and snapshot it."),
              force: bool = typer.Option(False, "--force", help="Overwrite data already "
                                         "there.")) -> None:
    """Generate Criteo Terabyte-format click logs with a planted signal."""
    d = ctr.make_data(path, rows=rows, days=days, shard_rows=shard_rows, seed=seed,
                      to_volume=to_volume, force=force, home=OPTIONS.home, progress=progress())
    if OPTIONS.json:
        emit_json(d)
        return
    say(f"wrote {d.rows:,} lines in {d.shards} shards over {d.days} day(s) to {d.path} "
        f"({d.bytes / 2**20:.1f} MiB), click rate {d.positive_rate:.3f}")
    say(f"Bayes-optimal AUC {d.bayes_auc:.4f}, log-loss {d.bayes_log_loss:.4f}")
    if d.snapshot:
        say(f"snapshot {d.snapshot}")


@app.command("train")
def train(data: str = typer.Argument(..., help="Click-log file or folder of shards."),
          engine: str = typer.Option("pandas", "--engine", help="pandas or dask."),
          model: str = typer.Option("rf", "--model", help="rf (the reference forest) or "
                                    "xgboost."),
          rows: int | None = typer.Option(None, "--rows", help="Read the first N rows "
                                          "(default all)."),
          categorical: str | None = typer.Option(None, "--categorical", help="none, hash or "
                                                 "target (default: none for rf, target for "
                                                 "xgboost)."),
          trees: int = typer.Option(10, "--trees", help="Trees of the forest."),
          max_depth: int = typer.Option(10, "--max-depth", help="Depth of each tree."),
          rounds: int = typer.Option(60, "--rounds", help="Boosting rounds (xgboost)."),
          memory: str | None = MEMORY,
          jobs: int = typer.Option(-1, "--jobs", help="Cores of the pandas engine (-1: all)."),
          workers: int = WORKERS, threads: int = THREADS,
          scheduler_address: str | None = ADDRESS,
          out: str | None = typer.Option(None, "--out", help="Volume to record the run in "
                                         "(then snapshotted)."),
          out_dir: str | None = typer.Option(None, "--out-dir", help="Or a folder."),
          run: str | None = typer.Option(None, "--run", help="Name of the run."),
          seed: int = SEED, version: str | None = VERSION, submit: str | None = SUBMIT,
          processes: int = PROCESSES, gpus: float = GPUS) -> None:
    """Train on the first N rows and score the held-out ones (accuracy, AUC, log-loss)."""
    if submit is not None:
        from mlfabric import volumes
        from mlfabric.apps.ctr import submit as jobs_

        run = run or f"ctr-{engine}-{model}"
        target = volumes.path(out, home=OPTIONS.home) if out else out_dir
        _submitted(jobs_.submit(
            run, project=submit, command="train", data=os.path.abspath(data),
            options={"engine": engine, "model": model, "rows": rows,
                     "categorical": categorical, "trees": trees, "max_depth": max_depth,
                     "rounds": rounds, "memory": memory, "jobs": jobs,
                     "out_dir": os.path.join(target, "runs") if out else out_dir,
                     "run": run, "seed": seed},
            out_path=target, processes=processes, gpus=gpus, home=OPTIONS.home))
        return
    r = ctr.train(data, engine=engine, model=model, rows=rows, categorical=categorical,
                  trees=trees, max_depth=max_depth, rounds=rounds, memory=memory, jobs=jobs,
                  workers=workers, threads=threads, scheduler_address=scheduler_address,
                  out=out, out_dir=out_dir, run=run, seed=seed, version=version,
                  home=OPTIONS.home, on_cluster=_announce)
    if OPTIONS.json:
        emit_json(r)
        return
    bayes = f" (Bayes-optimal {r.bayes_auc:.4f})" if r.bayes_auc is not None else ""
    say(f"{r.engine} {r.model} on {r.train_rows:,} rows, scored on {r.test_rows:,}: "
        f"accuracy {r.accuracy:.4f}, AUC {r.auc:.4f}{bayes}, log-loss {r.log_loss:.4f}")
    say(f"{r.seconds:.2f}s (read {r.read_seconds:.2f}s, train {r.train_seconds:.2f}s) on "
        f"{r.workers} worker(s)")
    if r.malformed:
        say(f"skipped {r.malformed} malformed line(s):")
        for rep in r.shard_reports:
            reasons = ", ".join(f"{k} {v}" for k, v in rep["skipped"].items())
            say(f"  {rep['path']}: {reasons}")
    if r.out:
        say(f"recorded in {r.out}" + (f", snapshot {r.snapshot}" if r.snapshot else "")
            + (f"; data {r.data_version}" if r.data_version else ""))


@app.command("report")
def report(data: str = typer.Argument(..., help="Click-log file or folder of shards."),
           rows: str = typer.Option(..., "--rows", help="Row counts, e.g. 100000,1000000."),
           out: str = typer.Option(..., "--out", "-o", help="Folder for report.md, "
                                   "report.json and time-vs-rows.png."),
           model: str = typer.Option("xgboost", "--model", help="rf or xgboost."),
           memory: str | None = MEMORY, workers: int = WORKERS, threads: int = THREADS,
           scheduler_address: str | None = ADDRESS, seed: int = SEED,
           version: str | None = VERSION, submit: str | None = SUBMIT,
           processes: int = PROCESSES, gpus: float = GPUS) -> None:
    """Both engines at equal rows: time and metrics, the largest rows within the memory
    budget, and a PNG of time against rows."""
    if submit is not None:
        from mlfabric.apps.ctr import submit as jobs_

        _submitted(jobs_.submit(
            "ctr-report", project=submit, command="report", data=os.path.abspath(data),
            options={"rows": rows, "out": os.path.abspath(out), "model": model,
                     "memory": memory, "seed": seed},
            out_path=os.path.abspath(out), processes=processes, gpus=gpus,
            home=OPTIONS.home))
        return

    def _row(r: dict) -> None:
        if not OPTIONS.json and not OPTIONS.quiet:
            note(" ".join(x for x in ctr.report_row(r) if x))

    r = ctr.report(data, rows=rows, out=out, model=model, memory=memory, workers=workers,
                   threads=threads, scheduler_address=scheduler_address, seed=seed,
                   version=version, home=OPTIONS.home, on_run=_row, on_cluster=_announce)
    if OPTIONS.json:
        emit_json(r)
        return
    table(list(ctr.REPORT_COLUMNS), [ctr.report_row(x) for x in r.runs],
          title="CTR training at equal rows")
    for engine, n in r.largest.items():
        say(f"largest rows trained by {engine}"
            + (f" within {r.memory_budget / 2**20:.0f} MiB" if r.memory_budget else "")
            + f": {n:,}" if n else f"{engine} trained on none of the row counts")
    say(f"plot: {r.plot}")


@app.command("runs")
def runs(volume: str = typer.Argument(..., help="Volume the runs were recorded in.")) -> None:
    """Runs recorded in a volume, newest first, with their metrics."""
    found = ctr.runs(volume, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(found)
        return
    table(["RUN", "ENGINE", "MODEL", "ROWS", "AUC", "LOG-LOSS", "SECONDS", "DATA"],
          [[r["run"], r["engine"], r["model"], f"{r['rows']:,}", f"{r['auc']:.4f}",
            f"{r['log_loss']:.4f}", f"{r['seconds']:.2f}", r.get("data_version") or ""]
           for r in found])
