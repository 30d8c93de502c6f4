"""``mlfabric edgebench make-models|make-data|run|results|compare-storage|compare-servers|io``."""

from __future__ import annotations

import typer

from mlfabric.apps import edgebench
from mlfabric.console import OPTIONS, emit_json, listing, note, say, table

app = typer.Typer(no_args_is_help=True)  # its help: APP in mlfabric.apps.edgebench

_REPO = "Model repository volume (Triton layout) holding the ONNX models."
_RESULTS = "Volume the runs are kept in (made on first use)."
_DURATION = "LoadGen's min_duration_ms (MLPerf's own: 600000)."
_QUERIES = "LoadGen's min_query_count (default 1 offline, 64 single-stream, 662 multi-stream)."


@app.command("make-models")
def make_models(volume: str = typer.Argument(..., help="Model repository volume to write."),
                model: list[str] = typer.Option([], "--model", "-m", help="resnet or "
                                                "ssd-mobilenet (default both)."),
                size: int | None = typer.Option(None, "--size", help="Classifier input side "
                                                "(default 224)."),
                det_size: int | None = typer.Option(None, "--det-size", help="Detector input "
                                                    "side (default 300)."),
                train_steps: int = typer.Option(30, "--train-steps", help="Training steps for "
                                                "the classifier on generated pictures."),
                seed: int = typer.Option(0, "--seed", help="Random seed.")) -> None:
    """Generate the ResNet-style classifier and SSD-MobileNet-style detector as ONNX."""
    made = edgebench.make_models(volume, names=model or None, size=size, det_size=det_size,
                                 train_steps=train_steps, seed=seed, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(made)
        return
    for m in made:
        say(f"wrote {m.name} ({m.kind}, {m.size}x{m.size}) to {m.path}")


@app.command("make-data")
def make_data(volume: str = typer.Argument(..., help="Volume to write the image set into."),
              kind: str = typer.Option("imagenet", "--kind", help="imagenet (labelled, 224 px) "
                                       "or coco (300 px)."),
              images: int = typer.Option(256, "--images", help="Pictures to generate."),
              size: int | None = typer.Option(None, "--size", help="Side in pixels."),
              seed: int = typer.Option(0, "--seed", help="Random seed."),
              force: bool = typer.Option(False, "--force", help="Overwrite a data set "
                                         "already there.")) -> None:
    """Generate an ImageNet- or COCO-like image set in a volume."""
    d = edgebench.make_data(volume, kind=kind, images=images, size=size, seed=seed,
                            force=force, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(d)
    else:
        say(f"generated {d.count} {d.kind} pictures of {d.size}x{d.size} in {d.path}")


def _row(r: edgebench.RunResult) -> list[object]:
    return [r.id, r.scenario, r.model, r.target, r.storage, r.result, r.samples_per_second,
            r.p90_latency_ms, r.p99_latency_ms, r.accuracy]


_COLUMNS = ["RUN", "SCENARIO", "MODEL", "TARGET", "STORAGE", "RESULT", "SAMPLES/S",
            "P90 MS", "P99 MS", "ACCURACY"]


@app.command("run")
def run(scenario: str = typer.Option(..., "--scenario", "-s", help="offline, singlestream "
                                     "or multistream."),
        model: str = typer.Option(..., "--model", "-m", help="resnet or ssd-mobilenet."),
        data: str = typer.Option(..., "--data", "-d", help="Image set: VOLUME[@SNAPSHOT] "
                                 "or a dataset version DATASET:VERSION (read from its cache)."),
        pool: str | None = typer.Option(None, "--pool", help="Cache pool a DATASET:VERSION "
                                        "is read from (default pool)."),
        target: str = typer.Option("local", "--target", help="local (onnxruntime here) or "
                                   "inference:NAME[,NAME...]."),
        servers: int | None = typer.Option(None, "--servers", help="Use the first N servers "
                                           "of the target, round-robin."),
        repo: str = typer.Option("edgebench-models", "--repo", help=_REPO),
        results: str = typer.Option("edgebench-results", "--results", help=_RESULTS),
        accuracy: bool = typer.Option(False, "--accuracy", help="LoadGen's accuracy mode "
                                      "(labelled data)."),
        min_duration_ms: int = typer.Option(5000, "--min-duration-ms", help=_DURATION),
        min_queries: int | None = typer.Option(None, "--min-queries", help=_QUERIES),
        samples_per_query: int = typer.Option(8, "--samples-per-query", help="Multi-stream "
                                              "samples per query."),
        performance_samples: int = typer.Option(256, "--performance-samples", help="Pictures "
                                                "LoadGen loads for the timed run.")) -> None:
    """Run a LoadGen scenario; keep its logs and results in the results volume."""
    r = edgebench.run(scenario, model=model, data=data, target=target, servers=servers,
                      pool=pool, repo=repo, results=results, accuracy=accuracy,
                      min_duration_ms=min_duration_ms, min_query_count=min_queries,
                      samples_per_query=samples_per_query,
                      performance_samples=performance_samples, home=OPTIONS.home,
                      on_start=lambda run_id: note(f"LoadGen run {run_id} started"))
    if OPTIONS.json:
        emit_json(r)
        return
    table(_COLUMNS, [_row(r)])
    say(f"LoadGen logs: {r.logs}")
    for line in r.notes:
        say(line)


@app.command("results")
def results(scenario: str | None = typer.Option(None, "--scenario", "-s", help="Only this "
                                                "scenario."),
            volume: str = typer.Option("edgebench-results", "--results", help=_RESULTS)) -> None:
    """List stored runs, oldest first."""
    rows = edgebench.results(results=volume, scenario=scenario, home=OPTIONS.home)
    listing(rows, _COLUMNS, [_row(r) for r in rows], [r.id for r in rows])


def _comparison_table(comparisons: list[edgebench.Comparison]) -> None:
    table(["COMPARISON", "METRIC", "A", "A MEAN", "A NOISE %", "B", "B MEAN", "B NOISE %",
           "B/A", "DIFF %", "WITHIN NOISE"],
          [[c.what, c.metric, c.a, c.a_mean, c.a_noise_pct, c.b, c.b_mean, c.b_noise_pct,
            c.ratio, c.difference_pct, "yes" if c.within_noise else "no"]
           for c in comparisons])
    for c in comparisons:
        for chart in c.charts:
            say(f"chart: {chart}")


@app.command("compare-storage")
def compare_storage(model: str = typer.Option(..., "--model", "-m", help="resnet or "
                                              "ssd-mobilenet."),
                    data: str = typer.Option(..., "--data", "-d", help="VOLUME[@SNAPSHOT] "
                                             "or DATASET:VERSION."),
                    scenario: str = typer.Option("offline", "--scenario", "-s"),
                    runs: int = typer.Option(3, "--runs", help="Runs per configuration."),
                    target: str = typer.Option("local", "--target"),
                    lake: str | None = typer.Option(None, "--lake", help="Compare with a "
                                                    "dataset cache filled from this remote "
                                                    "before each run (an S3 lake: the "
                                                    "S3-backed cache) instead of the network "
                                                    "file system."),
                    repo: str = typer.Option("edgebench-models", "--repo", help=_REPO),
                    results: str = typer.Option("edgebench-results", "--results",
                                                help=_RESULTS),
                    min_duration_ms: int = typer.Option(5000, "--min-duration-ms",
                                                        help=_DURATION),
                    min_queries: int | None = typer.Option(None, "--min-queries",
                                                           help=_QUERIES)) -> None:
    """Local volume vs the same data over a loopback network file system (SFTP + FUSE),
    or through a dataset cache filled from a lake (--lake)."""
    out = edgebench.compare_storage(model=model, data=data, scenario=scenario, runs=runs,
                                    target=target, lake=lake, repo=repo, results=results,
                                    min_duration_ms=min_duration_ms,
                                    min_query_count=min_queries, home=OPTIONS.home,
                                    on_run=lambda r: note(f"{r.storage}: {r.result} {r.id}"))
    if OPTIONS.json:
        emit_json(out)
    else:
        _comparison_table(out)


@app.command("serve")
def serve(prefix: str = typer.Argument(..., help="Servers are named PREFIX-1..PREFIX-N."),
          repo: str = typer.Option("edgebench-models", "--repo", help=_REPO),
          servers: int = typer.Option(1, "--servers", help="How many servers."),
          project: str = typer.Option(..., "--project", "-p", help="Project they run in."),
          gpus: float | None = typer.Option(None, "--gpus", help="GPU share of each."),
          pin_cores: bool = typer.Option(True, "--pin/--no-pin", help="Pin each server to "
                                         "its own share of the cores.")) -> None:
    """Start N inference servers on the model repository (scheduled jobs)."""
    names = edgebench.start_servers(prefix, repo=repo, count=servers, project=project,
                                    gpus=gpus, pin_cores=pin_cores, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json({"servers": names, "target": "inference:" + ",".join(names)})
    else:
        say(f"started {', '.join(names)}; target: inference:{','.join(names)}")


@app.command("compare-servers")
def compare_servers(model: str = typer.Option(..., "--model", "-m"),
                    data: str = typer.Option(..., "--data", "-d", help="VOLUME[@SNAPSHOT]."),
                    target: str = typer.Option(..., "--target", help="inference:A,B"),
                    runs: int = typer.Option(3, "--runs", help="Runs per configuration."),
                    repo: str = typer.Option("edgebench-models", "--repo", help=_REPO),
                    results: str = typer.Option("edgebench-results", "--results",
                                                help=_RESULTS),
                    min_duration_ms: int = typer.Option(5000, "--min-duration-ms",
                                                        help=_DURATION)) -> None:
    """Offline throughput on one server vs all servers of the target, round-robin."""
    c = edgebench.compare_servers(model=model, data=data, target=target, runs=runs,
                                  repo=repo, results=results, min_duration_ms=min_duration_ms,
                                  home=OPTIONS.home,
                                  on_run=lambda r: note(f"{r.servers} server(s): {r.result} "
                                                        f"{r.samples_per_second} samples/s"))
    if OPTIONS.json:
        emit_json(c)
    else:
        _comparison_table([c])


@app.command("io")
def io(volume: str = typer.Argument(..., help="Volume whose storage to measure."),
       file_mib: int = typer.Option(256, "--file-mib", help="Size of the test file."),
       frames: int = typer.Option(32, "--frames", help="HD frames to read whole."),
       random_ops: int = typer.Option(2000, "--random-ops", help="Random reads per block "
                                      "size."),
       network: bool = typer.Option(False, "--network", help="Read through the loopback "
                                    "network file system.")) -> None:
    """Sequential and random read throughput and IOPS, and frame-sized reads."""
    r = edgebench.io(volume, file_mib=file_mib, frames=frames, random_ops=random_ops,
                     network=network, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(r)
        return
    table(["PATTERN", "BLOCK", "MIB/S", "IOPS", "OPS", "SECONDS"],
          [[x.pattern, x.block_bytes, x.mib_per_second, x.iops, x.operations, x.seconds]
           for x in r.rows], title=f"{r.volume} ({'network' if network else 'local'})")
