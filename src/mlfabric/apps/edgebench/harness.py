"""``edgebench run``: a system under test driven by MLPerf LoadGen (``mlperf_loadgen``
from the ``mlcommons-loadgen`` package): its test settings, its log and summary files,
results read back from its summary and kept in the results volume.

Everything that can be wrong with the request (scenario, data, model, input shape,
servers) is checked before LoadGen starts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlfabric.apps.edgebench import store
from mlfabric.apps.edgebench.backends import Backend, LocalBackend, TritonBackend, check_shape
from mlfabric.apps.edgebench.data import (
    drop_cache,
    load_sample,
    read_dataset,
    read_labels,
    sample_paths,
)
from mlfabric.apps.edgebench.records import RunResult
from mlfabric.apps.edgebench.spec import check_model_name
from mlfabric.apps.edgebench.summary import Summary, accuracy_entries, read_logs
from mlfabric.errors import InvalidInput, MlfabricError, NotFound

SCENARIOS = {"offline": "Offline", "singlestream": "SingleStream", "multistream": "MultiStream"}
MIN_QUERIES = {"offline": 1, "singlestream": 64, "multistream": 662}  # LoadGen's early stop
MODELS_VOLUME = "edgebench-models"
OFFLINE_BATCH = 8


@dataclass(frozen=True)
class Settings:
    """The LoadGen test settings a run asks for."""

    scenario: str
    accuracy: bool = False
    min_duration_ms: int = 5000
    min_query_count: int | None = None
    samples_per_query: int = 8  # multistream
    performance_samples: int = 256

    def check(self) -> Settings:
        if self.scenario not in SCENARIOS:
            raise InvalidInput(f"unknown scenario '{self.scenario}': expected one of "
                               f"{', '.join(SCENARIOS)}", field="scenario", value=self.scenario)
        for name in ("min_duration_ms", "samples_per_query", "performance_samples"):
            if getattr(self, name) < 1:
                raise InvalidInput(f"{name.replace('_', ' ')} must be at least 1", field=name)
        return self

    def per_query(self) -> int:
        return self.samples_per_query if self.scenario == "multistream" else 1


def resolve_data(ref: str, home: str | None, pool: str | None = None
                 ) -> tuple[str, str, float]:
    """``VOLUME``, ``VOLUME@SNAP`` or ``DATASET:VERSION`` as (folder to read, the
    reference, seconds spent fetching it). A snapshot is read through a read-only linked
    clone ``edgebench-VOLUME-SNAP`` (made once, kept); a dataset version from its cache
    entry in ``pool``, cached from its lake first when missing (the fetch is what the
    seconds time)."""
    from mlfabric import volumes

    if ":" in ref:
        from mlfabric import caches  # type: ignore[attr-defined]

        t0 = time.monotonic()
        entry = caches.add(ref, pool=pool, home=home)
        fetched = time.monotonic() - t0 if entry.fetched_objects else 0.0
        return entry.path, ref, fetched
    volume, sep, snap = ref.partition("@")
    if not sep:
        return volumes.path(volume, home=home), ref, 0.0
    volumes.show(volume, home=home)  # NotFound for a missing volume
    clone = f"edgebench-{volume}-{snap}"[:63].rstrip("-")
    try:
        return volumes.path(clone, home=home), ref, 0.0
    except NotFound:
        volumes.clone(clone, ref, mode="link", home=home)
        return volumes.path(clone, home=home), ref, 0.0


def parse_target(target: str, servers: int | None) -> list[str]:
    """``local`` -> []; ``inference:A[,B...]`` -> the first ``servers`` names."""
    if target == "local":
        if servers not in (None, 1):
            raise InvalidInput("--servers needs --target inference:NAME[,NAME...]",
                               field="servers")
        return []
    kind, _, names = target.partition(":")
    listed = [n for n in names.split(",") if n]
    if kind != "inference" or not listed:
        raise InvalidInput(f"invalid target '{target}': expected local or "
                           "inference:NAME[,NAME...]", field="target", value=target)
    n = len(listed) if servers is None else servers
    if not 1 <= n <= len(listed):
        raise InvalidInput(f"--servers {n} needs {n} servers in the target, it names "
                           f"{len(listed)}", field="servers", value=n)
    return listed[:n]


def open_backend(model: str, target: str, servers: int | None, repo: str,
                 home: str | None) -> Backend:
    names = parse_target(target, servers)
    if not names:
        from mlfabric import volumes

        return LocalBackend(volumes.path(repo, home=home), model)
    from mlfabric import serving  # type: ignore[attr-defined]

    urls = [(n, serving.show(n, home=home).grpc_url.removeprefix("grpc://")) for n in names]
    return TritonBackend(urls, model)


class SystemUnderTest:
    """LoadGen's SUT and QSL over a backend: samples are read from storage when LoadGen
    loads them, batches run on the backend's lanes, every response completed even when
    inference fails (the failure is raised after the test)."""

    def __init__(self, backend: Backend, paths: list[Path], batch: int,
                 accuracy: bool) -> None:
        self.backend, self.paths, self.batch, self.accuracy = backend, paths, batch, accuracy
        self.samples: dict[int, np.ndarray] = {}
        self.load_seconds = 0.0
        self.error: BaseException | None = None
        self.pool = ThreadPoolExecutor(backend.lanes) if backend.lanes > 1 else None
        self._lock = threading.Lock()

    def load(self, indices: list[int]) -> None:
        started = time.monotonic()
        for i in indices:
            self.samples[i] = load_sample(self.paths[i])
        self.load_seconds += time.monotonic() - started

    def unload(self, indices: list[int]) -> None:
        for i in indices:
            self.samples.pop(i, None)

    def issue(self, queries: list) -> None:  # list[lg.QuerySample]
        chunks = [queries[i:i + self.batch] for i in range(0, len(queries), self.batch)]
        if self.pool is None or len(chunks) == 1:
            for chunk in chunks:
                self._run(chunk)
        else:
            for f in [self.pool.submit(self._run, c) for c in chunks]:
                f.result()

    def _run(self, chunk: list) -> None:
        import mlperf_loadgen as lg

        keep: list[np.ndarray] = []
        try:
            out = self.backend.infer(np.stack([self.samples[q.index] for q in chunk]))
            if self.accuracy:
                keep = [np.asarray([int(np.argmax(o))], dtype=np.int32) for o in out]
        except BaseException as exc:
            with self._lock:
                self.error = self.error or exc
        responses = [lg.QuerySampleResponse(q.id, a.ctypes.data, a.nbytes) if keep else
                     lg.QuerySampleResponse(q.id, 0, 0)
                     for q, a in zip(chunk, keep or [None] * len(chunk), strict=True)]
        lg.QuerySamplesComplete(responses)

    def latency(self, samples: int, repeat: int = 3) -> float:
        """Best seconds for ``samples`` pictures through the backend (warm)."""
        x = np.stack([self.samples[i % len(self.samples)] for i in range(samples)])
        self.backend.infer(x)
        best = float("inf")
        for _ in range(repeat):
            t = time.monotonic()
            self.backend.infer(x)
            best = min(best, time.monotonic() - t)
        return best

    def throughput(self, rounds: int = 3) -> float:
        """Samples per second with a batch on every lane at once (warm)."""
        x = np.stack([self.samples[i % len(self.samples)] for i in range(self.batch)])
        lanes = self.backend.lanes

        def burst() -> None:
            if self.pool is None:
                self.backend.infer(x)
            else:
                for f in [self.pool.submit(self.backend.infer, x) for _ in range(lanes)]:
                    f.result()

        burst()
        burst()
        t = time.monotonic()
        for _ in range(rounds):
            burst()
        return rounds * lanes * self.batch / (time.monotonic() - t)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
        self.backend.close()


def test_settings(s: Settings, sut: SystemUnderTest):  # -> lg.TestSettings
    """LoadGen's settings for ``s``, its expected rate from a warm measurement (LoadGen
    generates the queries of a run up front from it)."""
    import mlperf_loadgen as lg

    ts = lg.TestSettings()
    ts.scenario = getattr(lg.TestScenario, SCENARIOS[s.scenario])
    ts.mode = lg.TestMode.AccuracyOnly if s.accuracy else lg.TestMode.PerformanceOnly
    ts.min_duration_ms = s.min_duration_ms
    ts.min_query_count = s.min_query_count or MIN_QUERIES[s.scenario]
    if s.scenario == "offline":
        ts.offline_expected_qps = 2.0 * sut.throughput()
    elif s.scenario == "singlestream":
        ts.single_stream_expected_latency_ns = max(1, int(sut.latency(1) * 0.5e9))
    else:
        ts.multi_stream_samples_per_query = s.samples_per_query
        ts.multi_stream_expected_latency_ns = max(1, int(sut.latency(s.samples_per_query)
                                                         * 0.5e9))
    return ts


def too_short(s: Summary) -> bool:
    """Invalid only because the run ended before ``min_duration`` (the rate it expected
    was too low)."""
    return not s.valid and s.invalid_reasons == ["Min duration satisfied"] and bool(
        s.samples_per_second)


def raise_expected(ts, s: Summary) -> None:  # ts: lg.TestSettings
    """Expect twice the rate the last run saw."""
    rate = float(s.samples_per_second or 0)
    if s.scenario == "Offline":
        ts.offline_expected_qps = max(ts.offline_expected_qps, 2.0 * rate)
    elif s.scenario == "SingleStream":
        ts.single_stream_expected_latency_ns = max(1, int(0.5e9 / rate))
    else:
        ts.multi_stream_expected_latency_ns = max(1, int(0.5e9 * s.samples_per_query / rate))


def _start_loadgen(sut: SystemUnderTest, count: int, performance: int, ts, logs: Path) -> None:
    import mlperf_loadgen as lg

    lg_sut = lg.ConstructSUT(sut.issue, lambda: None)
    qsl = lg.ConstructQSL(count, performance, sut.load, sut.unload)
    log = lg.LogSettings()
    log.log_output.outdir = str(logs)
    log.log_output.copy_summary_to_stdout = False
    log.enable_trace = False
    try:
        lg.StartTestWithLogSettings(lg_sut, qsl, ts, log)
    finally:
        lg.DestroyQSL(qsl)
        lg.DestroySUT(lg_sut)


def _accuracy(logs: Path, labels: list[int]) -> float:
    found = accuracy_entries(logs)
    if not found:
        raise MlfabricError(f"LoadGen logged no accuracy responses in {logs}")
    right = sum(int(np.frombuffer(v, dtype=np.int32)[0]) == labels[i] for i, v in found.items())
    return right / len(found)


def run(scenario: str, *, model: str, data: str, target: str = "local",
        servers: int | None = None, repo: str = MODELS_VOLUME,
        results: str = store.RESULTS, accuracy: bool = False, min_duration_ms: int = 5000,
        min_query_count: int | None = None, samples_per_query: int = 8,
        performance_samples: int = 256, read_from: str | None = None,
        storage: str = "local", drop_page_cache: bool = True, pool: str | None = None,
        home: str | None = None,
        on_start: Callable[[str], None] | None = None) -> RunResult:
    """Run LoadGen's ``scenario`` on ``model`` over the pictures of volume ``data``
    (``VOLUME[@SNAP]``), in process (``target='local'``) or on ``mlfabric inference``
    servers (``inference:A[,B]``, the first ``servers`` of them, round-robin).

    ``pool``: the cache pool a ``DATASET:VERSION`` is read from (the default pool).
    ``read_from``: another path to the same data set (a network mount of it), labelled
    ``storage``. The data set's files leave the page cache first (``drop_page_cache``), so
    the query sample library's load reads the storage."""
    settings = Settings(scenario, accuracy, min_duration_ms, min_query_count,
                        samples_per_query, performance_samples).check()
    check_model_name(model)
    folder, data_ref, fetch_seconds = resolve_data(data, home, pool)
    info = read_dataset(folder)
    labels = read_labels(folder) if accuracy else None
    if accuracy and (labels is None or info.kind != "imagenet" or model != "resnet"):
        raise InvalidInput(f"accuracy mode needs labels: data set '{data}' ({info.kind}) with "
                           "model resnet", field="accuracy")
    read_root = Path(read_from) if read_from else Path(folder)
    paths = sample_paths(read_root, info.count)
    if not paths[0].exists():
        raise NotFound("data set file", str(paths[0]))
    backend = open_backend(model, target, servers, repo, home)
    sut = SystemUnderTest(backend, paths, settings.per_query() if scenario != "offline"
                          else OFFLINE_BATCH, accuracy)
    try:
        check_shape(backend, model, [3, info.size, info.size], data)
        performance = min(info.count, settings.performance_samples)
        sut.load([0])
        ts = test_settings(settings, sut)
        sut.unload([0])
        sut.load_seconds = 0.0
        if drop_page_cache:
            drop_cache(sample_paths(folder, info.count))
            drop_cache(paths)
        run_id, logs = store.run_folder(results, f"{scenario}-{model}", home=home)
        if on_start is not None:
            on_start(run_id)
        started, t0 = time.time(), time.monotonic()
        _start_loadgen(sut, info.count, performance, ts, logs)
        seconds = time.monotonic() - t0
        s = None if accuracy or sut.error is not None else read_logs(logs)
        notes = []
        if s is not None and too_short(s):
            # LoadGen's own advice for a run shorter than min_duration: expect a higher
            # rate, so it generates more queries; once, at twice the rate it just saw
            notes.append(f"rerun: the first try ended before min_duration at "
                         f"{s.samples_per_second:.1f} samples/s")
            raise_expected(ts, s)
            sut.load_seconds = 0.0
            if drop_page_cache:
                drop_cache(paths)
            started, t0 = time.time(), time.monotonic()
            _start_loadgen(sut, info.count, performance, ts, logs)
            seconds = time.monotonic() - t0
    finally:
        sut.close()
    if sut.error is not None:
        raise MlfabricError(f"inference failed during the run (logs in {logs}): "
                            f"{sut.error}") from sut.error
    s = read_logs(logs, accuracy)
    acc = _accuracy(logs, labels) if labels is not None else None

    def ms(ns: float | None) -> float | None:
        return None if ns is None else round(ns / 1e6, 3)

    result = RunResult(
        id=run_id, scenario=scenario, mode="accuracy" if accuracy else "performance",
        model=model, data=data_ref, target=backend.name, servers=max(1, len(
            parse_target(target, servers))), storage=storage,
        valid=None if accuracy else s.valid, result=s.result,
        samples_per_second=None if s.samples_per_second is None else round(
            s.samples_per_second, 2),
        p90_latency_ms=ms(s.p90_latency_ns), p99_latency_ms=ms(s.p99_latency_ns),
        mean_latency_ms=ms(s.mean_latency_ns), samples_per_query=s.samples_per_query,
        queries=s.queries, load_seconds=round(sut.load_seconds, 4),
        fetch_seconds=round(fetch_seconds, 4),
        accuracy=None if acc is None else round(acc, 4), logs=str(logs),
        started_at=started, seconds=round(seconds, 3),
        notes=notes + [f"not satisfied: {r}" for r in s.invalid_reasons])
    store.save(result, logs)
    return result


__all__ = ["SCENARIOS", "Settings", "SystemUnderTest", "run"]
