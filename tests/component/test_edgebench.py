"""The edgebench app in process on tiny models and image sets: the real MLPerf LoadGen
drives onnxruntime through all three scenarios, its logs are read back and kept in the
results volume, accuracy mode scores the classifier, and bad requests fail before LoadGen
starts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from mlfabric import volumes
from mlfabric.apps import edgebench
from mlfabric.apps.edgebench.data import load_sample, read_labels, sample_paths
from mlfabric.errors import InvalidInput, MlfabricError, NotFound
from tests.component.test_transfer_s3 import _aws_env, bucket, endpoint, keys

__all__ = ["_aws_env", "bucket", "endpoint"]  # S3 fixtures shared with the transfer tests

SIDE = 32
FAST = {"min_duration_ms": 200, "samples_per_query": 2}


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A home with the two models at 32 px, a labelled image set and a COCO-like one at
    48 px (which the classifier does not take)."""
    home = str(tmp_path_factory.mktemp("edgebench") / "home")
    for v in ("edgebench-models", "imgs", "scenes"):
        volumes.create(v, home=home)
    edgebench.make_models("edgebench-models", size=SIDE, det_size=SIDE, train_steps=2,
                          home=home)
    edgebench.make_data("imgs", images=40, size=SIDE, home=home)
    edgebench.make_data("scenes", kind="coco", images=8, size=48, home=home)
    yield home


def test_models_are_onnx_in_triton_layout_and_take_the_pictures(bench: str) -> None:
    repo = Path(volumes.path("edgebench-models", home=bench))
    x = load_sample(sample_paths(volumes.path("imgs", home=bench), 1)[0])[None]
    assert x.shape == (1, 3, SIDE, SIDE) and x.dtype == np.float32
    logits = ort.InferenceSession(str(repo / "resnet/1/model.onnx")).run(None, {"images": x})
    assert logits[0].shape == (1, 10)
    boxes, scores = ort.InferenceSession(str(repo / "ssd-mobilenet/1/model.onnx")).run(
        None, {"images": np.concatenate([x, x])})
    assert boxes.shape[0] == 2 and boxes.shape[2] == 4 and scores.shape[:2] == boxes.shape[:2]
    np.testing.assert_allclose(scores.sum(-1), 1.0, rtol=1e-4)
    config = (repo / "resnet/config.pbtxt").read_text()
    assert f"dims: [ 3, {SIDE}, {SIDE} ]" in config and 'platform: "onnxruntime_onnx"' in config


@pytest.mark.parametrize("scenario", ["offline", "singlestream", "multistream"])
def test_loadgen_runs_are_valid_and_kept(bench: str, scenario: str) -> None:
    r = edgebench.run(scenario, model="resnet", data="imgs", home=bench, **FAST)
    logs = Path(r.logs)
    summary = (logs / "mlperf_log_summary.txt").read_text()
    assert r.valid and r.result == "VALID" and "Result is : VALID" in summary
    assert logs.parent.parent == Path(volumes.path("edgebench-results", home=bench))
    parsed = edgebench.read_logs(logs)
    assert parsed.scenario == {"offline": "Offline", "singlestream": "SingleStream",
                               "multistream": "MultiStream"}[scenario]
    assert r.p99_latency_ms == pytest.approx(parsed.p99_latency_ns / 1e6, abs=1e-3)
    assert r.samples_per_second and r.samples_per_second > 0
    assert r.samples_per_query == (2 if scenario == "multistream" else r.samples_per_query)
    assert r.queries is not None and r.queries >= {"offline": 1, "singlestream": 64,
                                                   "multistream": 662}[scenario]
    assert r.id in [k.id for k in edgebench.results(scenario=scenario, home=bench)]
    assert json.loads((logs / "result.json").read_text())["result"] == "VALID"


def test_accuracy_mode_scores_what_onnxruntime_predicts(bench: str) -> None:
    data = volumes.path("imgs", home=bench)
    session = ort.InferenceSession(str(Path(volumes.path("edgebench-models", home=bench))
                                       / "resnet/1/model.onnx"))
    x = np.stack([load_sample(p) for p in sample_paths(data, 40)])
    expected = float(np.mean(session.run(None, {"images": x})[0].argmax(1) ==
                             np.asarray(read_labels(data))))
    r = edgebench.run("offline", model="resnet", data="imgs", accuracy=True, home=bench,
                      **FAST)
    assert r.mode == "accuracy" and r.result == "ACCURACY"
    assert r.accuracy == pytest.approx(expected, abs=1e-4)
    with pytest.raises(InvalidInput, match="accuracy mode needs labels"):
        edgebench.run("offline", model="ssd-mobilenet", data="scenes", accuracy=True,
                      home=bench, **FAST)


def test_a_snapshot_is_benchmarked_as_it_was(bench: str) -> None:
    from mlfabric import snapshots

    snapshots.create("imgs", name="v1", home=bench)
    r = edgebench.run("singlestream", model="resnet", data="imgs@v1", home=bench, **FAST)
    assert r.valid and r.data == "imgs@v1"


def runs(home: str) -> int:
    return len(list((Path(volumes.path("edgebench-results", home=home)) / "runs").iterdir()))


def test_bad_requests_fail_before_loadgen_starts(bench: str) -> None:
    before = runs(bench)
    with pytest.raises(InvalidInput, match="takes 3x32x32 inputs but data set 'scenes' "
                                           "holds 3x48x48"):
        edgebench.run("offline", model="resnet", data="scenes", home=bench, **FAST)
    with pytest.raises(NotFound, match="nosuch"):
        edgebench.run("offline", model="resnet", data="nosuch", home=bench, **FAST)
    with pytest.raises(NotFound, match="nosuch"):
        edgebench.run("offline", model="resnet", data="nosuch@v1", home=bench, **FAST)
    with pytest.raises(InvalidInput, match="unknown scenario"):
        edgebench.run("server", model="resnet", data="imgs", home=bench, **FAST)
    with pytest.raises(NotFound, match="inference server"):
        edgebench.run("offline", model="resnet", data="imgs", target="inference:gone",
                      home=bench, **FAST)
    with pytest.raises(InvalidInput, match="--servers 2 needs 2 servers"):
        edgebench.run("offline", model="resnet", data="imgs", target="inference:a",
                      servers=2, home=bench, **FAST)
    assert runs(bench) == before


def test_an_unreachable_server_is_named(unused_port: int) -> None:
    from mlfabric.apps.edgebench.backends import TritonBackend

    with pytest.raises(MlfabricError, match=f"inference server 'edge' at grpc://127.0.0.1:"
                                            f"{unused_port} is unreachable"):
        TritonBackend([("edge", f"127.0.0.1:{unused_port}")], "resnet")


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fuse_mounts() -> list[str]:
    return [line for line in Path("/proc/mounts").read_text().splitlines()
            if "fuse.rclone" in line]


def test_storage_comparison_reads_through_a_loopback_network_file_system(bench: str) -> None:
    seen: list[tuple[str, int]] = []
    before = fuse_mounts()
    out = edgebench.compare_storage(model="resnet", data="imgs", scenario="singlestream",
                                    runs=3, home=bench, on_run=lambda r: seen.append(
                                        (r.storage, len(fuse_mounts()))), **FAST)
    assert [s for s, _ in seen] == ["local", "fuse-sftp"] * 3
    assert all(n == len(before) + 1 for _, n in seen)  # mounted during the runs
    assert fuse_mounts() == before  # and unmounted after
    latency, load = out
    assert (latency.metric, load.metric) == ("p90_latency_ms", "load_seconds")
    stored = {r.id: r for r in edgebench.results(home=bench)}
    assert sorted(latency.a_values + latency.b_values) == sorted(
        stored[i].p90_latency_ms for i in latency.runs)
    assert all(stored[i].valid for i in latency.runs)
    assert len(latency.a_values) == len(latency.b_values) == 3
    for c in out:
        assert c.a_noise_pct >= 0 and c.b_noise_pct >= 0
        assert c.within_noise == (abs(c.difference_pct) <= max(c.a_noise_pct, c.b_noise_pct))
        png = Path(c.charts[0]).read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 2000


@pytest.mark.parametrize("network", [False, True], ids=["local", "fuse-sftp"])
def test_io_characterisation_reads_every_pattern_and_leaves_nothing(bench: str,
                                                                     network: bool) -> None:
    r = edgebench.io("imgs", file_mib=2, frames=2, random_ops=8, blocks=(4096, 1 << 20),
                     frame_bytes=1 << 20, network=network, home=bench)
    assert [(x.pattern, x.block_bytes) for x in r.rows] == [
        ("sequential", 4096), ("random", 4096), ("sequential", 1 << 20), ("random", 1 << 20),
        ("frames", 1 << 20)]
    ops = {(x.pattern, x.block_bytes): x.operations for x in r.rows}
    assert ops[("sequential", 4096)] == 512 and ops[("random", 4096)] == 8
    assert ops[("sequential", 1 << 20)] == 2 and ops[("random", 1 << 20)] == 2
    assert ops[("frames", 1 << 20)] == 2
    assert all(x.mib_per_second > 0 and x.iops > 0 for x in r.rows)
    assert not (Path(volumes.path("imgs", home=bench)) / ".edgebench-io").exists()
    with pytest.raises(NotFound):
        edgebench.io("nosuch", home=bench)


def test_samples_load_from_a_dataset_cache(bench: str, tmp_path: Path) -> None:
    from mlfabric import caches, datasets, remotes

    remotes.add("lake", str(tmp_path / "lake"), home=bench)
    version = datasets.push("imgs", remote="lake", name="imgs-ds", home=bench)
    r = edgebench.run("singlestream", model="resnet", data=f"imgs-ds:{version.version}",
                      home=bench, **FAST)
    assert r.valid and r.data == f"imgs-ds:{version.version}"
    [entry] = caches.list(home=bench)
    assert entry.dataset == "imgs-ds"


def test_storage_comparison_through_an_s3_backed_dataset_cache(bench: str, endpoint: str,
                                                               bucket: str) -> None:
    """The second remote option: the data set pushed to an S3 lake (moto on loopback) and
    fetched into a fresh cache entry before every run."""
    from mlfabric import caches, remotes

    remotes.add("s3lake", f"s3://{bucket}/lake", endpoint_url=endpoint, home=bench)
    before = {r.id for r in edgebench.results(home=bench)}
    with pytest.raises(NotFound, match="remote 'nosuch'"):
        edgebench.compare_storage(model="resnet", data="imgs", lake="nosuch", home=bench)
    assert {r.id for r in edgebench.results(home=bench)} == before  # no run started

    seen: list[edgebench.RunResult] = []
    out = edgebench.compare_storage(model="resnet", data="imgs", scenario="singlestream",
                                    runs=2, lake="s3lake", home=bench,
                                    on_run=seen.append, **FAST)
    assert [r.storage for r in seen] == ["local", "cache-s3"] * 2
    local, cached = seen[0::2], seen[1::2]
    assert all(r.data == "imgs" and r.fetch_seconds == 0 for r in local)
    [ref] = {r.data for r in cached}
    assert ref.startswith("edgebench-imgs:") and all(r.fetch_seconds > 0 for r in cached)
    assert all(r.valid for r in seen)
    # every picture (and the labels) went to the bucket; the last fetch is still cached
    objects = keys(endpoint, bucket, "lake/objects/")
    assert len(objects) >= 40
    [entry] = [e for e in caches.list(home=bench) if f"{e.dataset}:{e.version}" == ref]
    assert sorted(load_sample(p).shape for p in sample_paths(entry.path, 40)) == [
        (3, SIDE, SIDE)] * 40
    latency, ready = out
    assert (latency.a, latency.b) == ("local", "cache-s3")
    assert (latency.metric, ready.metric) == ("p90_latency_ms", "fetch_and_load_seconds")
    assert ready.b_values == [round(r.fetch_seconds + r.load_seconds, 4) for r in cached]
    assert ready.a_values == [round(r.load_seconds, 4) for r in local]
    assert latency.runs == [r.id for r in local + cached]
