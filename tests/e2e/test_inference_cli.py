"""``mlfabric model-repo check`` and ``mlfabric inference create|list|show|delete`` as a
user types them, against a real server on loopback."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient

from tests.component.test_serving import kill_leftovers, processes_of, wait_for
from tests.component.test_serving_models import ort_run, write_tail
from tests.helpers import Result, run_cli

LOCAL = {"MLFABRIC_RUNTIME": "local"}


def ok(home: Path, *args: str) -> Result:
    r = run_cli(home, *args, env=LOCAL)
    assert r.code == 0, f"{args}: {r.err}"
    return r


def fails(home: Path, *args: str) -> str:
    r = run_cli(home, *args, env=LOCAL)
    assert r.code == 1, f"{args}: {r.out} {r.err}"
    assert "Traceback" not in r.err
    return r.err.strip()


@pytest.fixture
def cluster(home: Path) -> Iterator[Path]:
    """A home with a node, a project and a ``models`` volume; its processes die after."""
    ok(home, "node", "add", "n1", "--gpus", "1")
    ok(home, "project", "create", "team", "--quota", "1")
    ok(home, "volume", "create", "models")
    yield home
    with contextlib.suppress(Exception):
        run_cli(home, "inference", "delete", "srv", env=LOCAL)
    kill_leftovers(home)


def test_model_repo_check(cluster: Path) -> None:
    home = cluster
    repo = Path(ok(home, "volume", "path", "models").out.strip())
    write_tail(repo)
    r = ok(home, "model-repo", "check", "models")
    assert "model repository 'models': 1 model(s), no problems" in r.out
    [tail] = ok(home, "model-repo", "check", "models", "--json").json()["models"]
    assert (tail["name"], tail["kind"], tail["versions"], tail["max_batch_size"]) == \
        ("tail", "onnx", ["1"], 32)
    assert tail["inputs"] == [{"name": "INPUT__0", "datatype": "FP32", "dims": [128, 32, 32]}]

    (repo / "plan" / "1").mkdir(parents=True)
    (repo / "plan" / "config.pbtxt").write_text('platform: "tensorrt_plan"\n')
    (repo / "tail" / "2").mkdir()
    (repo / "tail" / "2" / "model.onnx").write_bytes(b"half a file")
    r = run_cli(home, "model-repo", "check", "models", env=LOCAL)
    assert r.code == 1
    assert r.err.strip() == "error: model repository 'models': problems in plan, tail"
    assert "plan: config.pbtxt: platform 'tensorrt_plan' is not supported here" in r.out
    assert "tail: version 2: model.onnx cannot be loaded:" in r.out
    assert fails(home, "model-repo", "check", "nope") == "error: volume 'nope' not found"


def test_inference_create_list_show_delete(cluster: Path) -> None:
    home = cluster
    repo = Path(ok(home, "volume", "path", "models").out.strip())
    model = write_tail(repo)
    (repo / "plan" / "1").mkdir(parents=True)
    (repo / "plan" / "config.pbtxt").write_text('platform: "tensorrt_plan"\n')

    r = ok(home, "inference", "create", "srv", "--model-repo", "models", "-p", "team",
           "-g", "0.5")
    assert "created inference server srv in project team: ready" in r.out
    http = re.search(r"^http: http://127\.0\.0\.1:(\d+)$", r.out, re.M)
    grpc = re.search(r"^grpc: 127\.0\.0\.1:(\d+)$", r.out, re.M)
    metrics = re.search(r"^metrics: http://127\.0\.0\.1:(\d+)/metrics$", r.out, re.M)
    assert http and grpc and metrics, r.out
    assert "model plan: unavailable: config.pbtxt: platform 'tensorrt_plan'" in r.out

    c = httpclient.InferenceServerClient(f"127.0.0.1:{http.group(1)}")
    try:
        x = np.random.default_rng(0).random((2, 128, 32, 32), dtype=np.float32)
        inp = httpclient.InferInput("INPUT__0", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        got = c.infer("tail", [inp]).as_numpy("OUTPUT__0")
        np.testing.assert_allclose(got, ort_run(model, x)[0], rtol=1e-5, atol=1e-6)
    finally:
        c.close()

    [listed] = ok(home, "inference", "list", "--json").json()
    assert (listed["name"], listed["state"], listed["ready"], listed["http_port"]) == \
        ("srv", "ready", True, int(http.group(1)))
    shown = ok(home, "inference", "show", "srv", "--json").json()
    models = {m["name"]: m for m in shown["models"]}
    assert models["tail"] == {"name": "tail", "versions": ["1"], "state": "READY",
                              "reason": None}
    assert models["plan"]["state"] == "UNAVAILABLE"
    assert "tensorrt_plan" in models["plan"]["reason"]
    assert shown["grpc_url"] == f"127.0.0.1:{grpc.group(1)}"
    [job] = ok(home, "job", "list", "--json").json()
    assert (job["name"], job["state"], job["interactive"], job["preemptible"]) == \
        ("inference-srv", "Running", True, False)
    assert ok(home, "node", "show", "n1", "--json").json()["allocated"] == 0.5

    assert fails(home, "inference", "create", "srv", "--model-repo", "models", "-p",
                 "team") == "error: inference server 'srv' already exists"
    assert fails(home, "inference", "create", "other", "--model-repo", "models", "-p", "team",
                 "--http-port", http.group(1)) == \
        f"error: http port {http.group(1)} belongs to another inference server"

    assert processes_of(home)
    assert "deleted inference server srv" in ok(home, "inference", "delete", "srv").out
    wait_for(lambda: not processes_of(home), "the server's processes to exit", timeout=10)
    assert ok(home, "node", "show", "n1", "--json").json()["allocated"] == 0
    assert ok(home, "job", "list", "--json").json() == []
    assert ok(home, "inference", "list", "--json").json() == []
    assert fails(home, "inference", "show", "srv") == "error: inference server 'srv' not found"
