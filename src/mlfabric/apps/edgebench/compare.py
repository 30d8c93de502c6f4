"""The two comparisons of the reference: the data set on local storage vs on a network
file system, and one vs two inference servers; runs interleaved (A, B, A, B, ...) so a
drift of the machine hits both, with noise bounds and PNG charts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlfabric.apps.edgebench import harness, netfs, store
from mlfabric.apps.edgebench.charts import bar_chart
from mlfabric.apps.edgebench.records import Comparison, RunResult
from mlfabric.apps.edgebench.stats import compare
from mlfabric.errors import InvalidInput

# scenario -> its LoadGen metric (the bigger the better for samples/s, not for latency)
METRIC = {"offline": "samples_per_second", "singlestream": "p90_latency_ms",
          "multistream": "p99_latency_ms"}


def _charts_folder(results: str, home: str | None) -> Path:
    from mlfabric import volumes

    return Path(volumes.path(results, home=home)) / "charts"


def _check_runs(runs: int) -> None:
    if runs < 1:
        raise InvalidInput("give at least one run per configuration", field="runs",
                           value=runs)


def compare_storage(*, model: str, data: str, scenario: str = "offline", runs: int = 3,
                    target: str = "local", repo: str = harness.MODELS_VOLUME,
                    results: str = store.RESULTS, min_duration_ms: int = 5000,
                    min_query_count: int | None = None, samples_per_query: int = 8,
                    performance_samples: int = 256, home: str | None = None,
                    on_run: Callable[[RunResult], None] | None = None) -> list[Comparison]:
    """``runs`` LoadGen runs with the data set read from its volume and as many through
    the loopback network file system, page cache dropped before each; compared on the
    scenario's metric and on the query sample library's load time."""
    _check_runs(runs)
    harness.Settings(scenario).check()
    folder, _ = harness.resolve_data(data, home)
    kw = dict(model=model, data=data, target=target, repo=repo, results=results,
              min_duration_ms=min_duration_ms, min_query_count=min_query_count,
              samples_per_query=samples_per_query, performance_samples=performance_samples,
              home=home)
    local: list[RunResult] = []
    remote: list[RunResult] = []
    with netfs.sftp_mount(folder) as mount:
        for _ in range(runs):
            for out, extra in ((local, {}), (remote, {"read_from": mount,
                                                      "storage": netfs.STORAGE})):
                r = harness.run(scenario, **kw, **extra)  # type: ignore[arg-type]
                out.append(r)
                if on_run is not None:
                    on_run(r)
    charts = _charts_folder(results, home)
    ids = [r.id for r in local + remote]
    out_list = []
    for metric in (METRIC[scenario], "load_seconds"):
        c = compare("storage", "local", netfs.STORAGE, metric,
                    [float(getattr(r, metric)) for r in local],
                    [float(getattr(r, metric)) for r in remote], runs=ids)
        chart = bar_chart(c, charts, f"{model} {scenario}: local vs network storage")
        out_list.append(compare("storage", "local", netfs.STORAGE, metric, c.a_values,
                                c.b_values, charts=[chart], runs=ids))
    return out_list


def compare_servers(*, model: str, data: str, target: str, runs: int = 3,
                    repo: str = harness.MODELS_VOLUME, results: str = store.RESULTS,
                    min_duration_ms: int = 5000, performance_samples: int = 256,
                    home: str | None = None,
                    on_run: Callable[[RunResult], None] | None = None) -> Comparison:
    """Offline throughput on the first server of ``target`` (``inference:A,B``) against
    all of its servers, round-robin."""
    _check_runs(runs)
    names = harness.parse_target(target, None)
    if len(names) < 2:
        raise InvalidInput("compare-servers needs a target with at least two servers, "
                           "e.g. inference:edge-1,edge-2", field="target", value=target)
    kw = dict(model=model, data=data, target=target, repo=repo, results=results,
              min_duration_ms=min_duration_ms, performance_samples=performance_samples,
              home=home)
    one: list[RunResult] = []
    many: list[RunResult] = []
    for _ in range(runs):
        for out, n in ((one, 1), (many, len(names))):
            r = harness.run("offline", servers=n, **kw)  # type: ignore[arg-type]
            out.append(r)
            if on_run is not None:
                on_run(r)
    values = ([float(r.samples_per_second or 0) for r in one],
              [float(r.samples_per_second or 0) for r in many])
    ids = [r.id for r in one + many]
    c = compare("servers", "1 server", f"{len(names)} servers", "samples_per_second",
                *values, runs=ids)
    chart = bar_chart(c, _charts_folder(results, home),
                      f"{model} offline: 1 vs {len(names)} servers")
    return compare("servers", c.a, c.b, c.metric, *values, charts=[chart], runs=ids)
