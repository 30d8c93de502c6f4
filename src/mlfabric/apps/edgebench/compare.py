"""The two comparisons of the reference: the data set on local storage vs on a network
file system (or in a dataset cache filled from a lake), and one vs two inference servers;
runs interleaved (A, B, A, B, ...) so a drift of the machine hits both, with noise bounds
and PNG charts."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from mlfabric.apps.edgebench import harness, netfs, store
from mlfabric.apps.edgebench.charts import bar_chart
from mlfabric.apps.edgebench.records import Comparison, RunResult
from mlfabric.apps.edgebench.stats import compare
from mlfabric.errors import InvalidInput, NotFound

# scenario -> its LoadGen metric (the bigger the better for samples/s, not for latency)
# the cache pool the lake comparison fills and empties (no other entry shares its objects)
FETCH_POOL = "edgebench-fetch"
METRIC = {"offline": "samples_per_second", "singlestream": "p90_latency_ms",
          "multistream": "p99_latency_ms"}


def _charts_folder(results: str, home: str | None) -> Path:
    from mlfabric import volumes

    return Path(volumes.path(results, home=home)) / "charts"


def _check_runs(runs: int) -> None:
    if runs < 1:
        raise InvalidInput("give at least one run per configuration", field="runs",
                           value=runs)


def _lake_storage(lake: str, home: str | None) -> str:
    """The storage label of a cache filled from ``lake``: ``cache-s3``, ``cache-file``."""
    from mlfabric import remotes  # type: ignore[attr-defined]

    found = [r for r in remotes.list(home=home) if r.name == lake]
    if not found:
        raise NotFound("remote", lake)
    scheme, sep, _ = found[0].url.partition("://")
    return f"cache-{scheme if sep else 'file'}"


def _on_lake(data: str, lake: str, home: str | None) -> str:
    """``DATASET:VERSION`` of ``data`` on ``lake``: a dataset version as it is, a volume
    (or snapshot) pushed there as the next version of dataset ``edgebench-VOLUME``."""
    if ":" in data:
        return data
    from mlfabric import datasets  # type: ignore[attr-defined]

    name = f"edgebench-{data.partition('@')[0]}"[:63].rstrip("-")
    v = datasets.push(data, remote=lake, name=name, home=home)
    return f"{name}:{v.version}"


def _empty_pool(home: str | None) -> None:
    """Remove every entry of edgebench's own pool, so the next run fetches each object
    from its lake again (a pool drops an object once no entry of it needs the object)."""
    from mlfabric import caches  # type: ignore[attr-defined]

    caches.config(FETCH_POOL, home=home)  # made on first use, under the home's cache/
    for e in caches.list(pool=FETCH_POOL, home=home):
        caches.remove(f"{e.dataset}:{e.version}", pool=FETCH_POOL, home=home)


@contextlib.contextmanager
def _second_storage(folder: str, data: str, lake: str | None, home: str | None
                    ) -> Iterator[tuple[str, Callable[[], dict[str, str]]]]:
    """The second configuration: its label, and the run arguments for each of its runs."""
    if lake is None:
        with netfs.sftp_mount(folder) as mount:
            yield netfs.STORAGE, lambda: {"read_from": mount, "storage": netfs.STORAGE}
        return
    label, ref = _lake_storage(lake, home), _on_lake(data, lake, home)

    def fresh() -> dict[str, str]:
        _empty_pool(home)
        return {"data": ref, "storage": label, "pool": FETCH_POOL}

    yield label, fresh


def _ready_seconds(r: RunResult) -> float:
    return r.fetch_seconds + r.load_seconds


def compare_storage(*, model: str, data: str, scenario: str = "offline", runs: int = 3,
                    target: str = "local", lake: str | None = None,
                    repo: str = harness.MODELS_VOLUME,
                    results: str = store.RESULTS, min_duration_ms: int = 5000,
                    min_query_count: int | None = None, samples_per_query: int = 8,
                    performance_samples: int = 256, home: str | None = None,
                    on_run: Callable[[RunResult], None] | None = None) -> list[Comparison]:
    """``runs`` LoadGen runs with the data set read where it is (its volume, or its
    cache entry for ``DATASET:VERSION``) against as many from remote storage, page cache
    dropped before each, interleaved; compared on the scenario's metric and on how long
    the data took to be ready.

    Remote storage is the loopback network file system, or with ``lake`` (a remote's
    name) a dataset cache filled from that lake before each run: a volume is pushed there
    once as dataset ``edgebench-VOLUME``, and edgebench's own cache pool
    (``edgebench-fetch``) is emptied before every run so the run fetches it again (an S3
    lake makes this the S3-backed dataset cache); the second metric is then fetch + load
    seconds."""
    _check_runs(runs)
    harness.Settings(scenario).check()
    folder, _, _ = harness.resolve_data(data, home)
    kw = dict(model=model, data=data, target=target, repo=repo, results=results,
              min_duration_ms=min_duration_ms, min_query_count=min_query_count,
              samples_per_query=samples_per_query, performance_samples=performance_samples,
              home=home)
    local: list[RunResult] = []
    remote: list[RunResult] = []
    with _second_storage(folder, data, lake, home) as (label, second):
        for _ in range(runs):
            for out, extra in ((local, dict), (remote, second)):
                r = harness.run(scenario, **{**kw, **extra()})  # type: ignore[arg-type]
                out.append(r)
                if on_run is not None:
                    on_run(r)
    charts = _charts_folder(results, home)
    ids = [r.id for r in local + remote]
    ready: tuple[str, Callable[[RunResult], float]] = (
        ("load_seconds", lambda r: r.load_seconds) if lake is None
        else ("fetch_and_load_seconds", _ready_seconds))
    out_list = []
    for metric, value in ((METRIC[scenario], lambda r: float(getattr(r, METRIC[scenario]))),
                          ready):
        a, b = [value(r) for r in local], [value(r) for r in remote]
        c = compare("storage", "local", label, metric, a, b, runs=ids)
        chart = bar_chart(c, charts, f"{model} {scenario}: local vs {label}")
        out_list.append(compare("storage", "local", label, metric, a, b, charts=[chart],
                                runs=ids))
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
