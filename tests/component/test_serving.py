"""Inference servers as real processes on loopback: ``tritonserver`` from the
nvidia-pytriton wheel, run by the local runtime as a scheduled job, called with the
official ``tritonclient`` HTTP and gRPC clients."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from mlfabric import jobs, nodes, projects, serving, volumes
from mlfabric.errors import MlfabricError
from mlfabric.serving.engine import port_free
from mlfabric.serving.status import read_status, remove_shm, server_dir, shm_prefix
from tests.component.test_serving_models import (
    TAIL_CONFIG,
    ort_run,
    write_function_model,
    write_tail,
    write_torchscript,
)

SHAPE = [1, 128, 32, 32]


@dataclass
class Served:
    home: str
    repo: Path
    server: serving.InferenceServer


def setup_home(home: Path) -> Path:
    """A node with one GPU, a project, and an empty ``models`` volume; its path."""
    nodes.add("n1", gpus=1, home=str(home))
    projects.create("team", quota=1, home=str(home))
    volumes.create("models", home=str(home))
    return Path(volumes.path("models", home=str(home)))


def processes_of(home: Path) -> list[int]:
    """Live processes whose command line names ``home`` (launcher, tritonserver, stubs)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if str(home).encode() in (entry / "cmdline").read_bytes():
                out.append(int(entry.name))
    return out


def host_pid(inner: int, home: Path) -> int:
    """The host pid of the process of ``home``'s server that its sandbox calls ``inner``
    (a server runs confined, in a pid namespace of its own: the status file it writes
    holds the pids it sees there)."""
    for pid in processes_of(home):
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{pid}/status").read_text()
            nspid = next(line.split()[1:] for line in status.splitlines()
                         if line.startswith("NSpid:"))
            if len(nspid) > 1 and int(nspid[-1]) == inner:
                return pid
    raise AssertionError(f"no process of {home} is pid {inner} in its sandbox")


def kill_leftovers(home: Path) -> None:
    """After a failed test: no process or shared-memory region of ``home`` survives."""
    for pid in processes_of(home):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for folder in (home / "serving").glob("*"):
        remove_shm(folder)


@contextlib.contextmanager
def example_server(home: Path, write: Callable[[Path], None],
                   **create: object) -> Iterator[serving.InferenceServer]:
    """A server ``examples`` of project ``team`` on the ``models`` volume that ``write``
    fills; deleted after, and whatever of it is left killed."""
    write(setup_home(home))
    try:
        yield serving.create("examples", model_repo="models", project="team",
                             home=str(home), **create)  # type: ignore[arg-type]
    finally:
        with contextlib.suppress(MlfabricError):
            serving.delete("examples", home=str(home))
        kill_leftovers(home)


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> float:
    """Seconds until ``check()`` held."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, f"timed out waiting for {what}"
        time.sleep(0.1)
    return time.monotonic() - start


def tail_input(x: np.ndarray, module=httpclient, binary: bool = True):  # type: ignore[no-untyped-def]
    inp = module.InferInput("INPUT__0", list(x.shape), "FP32")
    if module is httpclient:
        inp.set_data_from_numpy(x, binary_data=binary)
    else:
        inp.set_data_from_numpy(x)
    return inp


def sample(seed: int, n: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *SHAPE[1:]), dtype=np.float32)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server on a repository holding the detector tail, shared by this module."""
    home = tmp_path_factory.mktemp("serving") / "home"
    repo = setup_home(home)
    write_tail(repo)
    try:
        server = serving.create("srv", model_repo="models", project="team", gpus=0.5,
                                home=str(home))
        yield Served(str(home), repo, server)
    finally:
        with contextlib.suppress(MlfabricError):
            serving.delete("srv", home=str(home))
        kill_leftovers(home)


def test_create_reports_endpoints_models_and_holds_a_gpu_share(served: Served) -> None:
    s = served.server
    assert s.state == "ready" and s.ready
    assert s.models == [{"name": "tail", "versions": ["1"], "state": "READY", "reason": None}]
    assert s.http_url == f"http://127.0.0.1:{s.http_port}"
    assert s.grpc_url == f"127.0.0.1:{s.grpc_port}"
    assert httpx.get(s.metrics_url).status_code == 200
    assert len({s.http_port, s.grpc_port, s.metrics_port}) == 3
    job = jobs.get(s.job, project="team", home=served.home)
    assert job.interactive and not job.preemptible and job.gpus == 0.5
    assert nodes.show("n1", home=served.home).allocated == 0.5
    assert [x.name for x in serving.list(project="team", home=served.home)] == ["srv"]
    assert serving.show("srv", home=served.home).to_dict()["http_url"] == s.http_url


def test_official_http_client_unchanged(served: Served) -> None:
    x = sample(1)
    ref = ort_run(served.repo / "tail" / "1" / "model.onnx", x)
    c = serving.client("srv", home=served.home)
    try:
        assert c.is_server_live() and c.is_server_ready() and c.is_model_ready("tail")
        meta = c.get_model_metadata("tail")
        assert meta["platform"] == "onnxruntime_onnx" and meta["versions"] == ["1"]
        assert meta["inputs"] == [{"name": "INPUT__0", "datatype": "FP32",
                                   "shape": [-1, 128, 32, 32]}]
        assert [o["name"] for o in meta["outputs"]] == ["OUTPUT__0", "OUTPUT__1"]
        for binary in (True, False):
            outputs = [httpclient.InferRequestedOutput(n, binary_data=binary)
                       for n in ("OUTPUT__0", "OUTPUT__1")]
            res = c.infer("tail", [tail_input(x, binary=binary)], outputs=outputs)
            np.testing.assert_allclose(res.as_numpy("OUTPUT__0"), ref[0], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(res.as_numpy("OUTPUT__1"), ref[1], rtol=1e-5, atol=1e-6)
        # The backend counts a request once its response is on its way: poll briefly.
        def counted() -> bool:
            stats = c.get_inference_statistics("tail")
            assert [m["name"] for m in stats["model_stats"]] == ["tail"]
            return stats["model_stats"][0]["inference_count"] >= 2

        wait_for(counted, "both requests in the model's statistics", timeout=10)
    finally:
        c.close()


def test_official_grpc_client_unchanged(served: Served) -> None:
    x = sample(2, n=3)
    ref = ort_run(served.repo / "tail" / "1" / "model.onnx", x)
    c = serving.client("srv", protocol="grpc", home=served.home)
    try:
        assert c.is_server_live() and c.is_model_ready("tail")
        meta = c.get_model_metadata("tail", as_json=True)
        assert meta["inputs"][0]["shape"] == ["-1", "128", "32", "32"]
        res = c.infer("tail", [tail_input(x, grpcclient)],
                      outputs=[grpcclient.InferRequestedOutput("OUTPUT__0"),
                               grpcclient.InferRequestedOutput("OUTPUT__1")])
        np.testing.assert_allclose(res.as_numpy("OUTPUT__0"), ref[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(res.as_numpy("OUTPUT__1"), ref[1], rtol=1e-5, atol=1e-6)
        stats = c.get_inference_statistics("tail", as_json=True)
        assert len(stats["model_stats"]) == 1
    finally:
        c.close()


def test_dynamic_batching_under_32_concurrent_clients(served: Served) -> None:
    x = sample(3)
    ref = ort_run(served.repo / "tail" / "1" / "model.onnx", x)
    errors: list[BaseException] = []
    start = threading.Barrier(32)

    def one_client() -> None:
        c = httpclient.InferenceServerClient(f"127.0.0.1:{served.server.http_port}")
        try:
            start.wait()
            for _ in range(4):
                out = c.infer("tail", [tail_input(x)]).as_numpy("OUTPUT__1")
                np.testing.assert_allclose(out, ref[1], rtol=1e-5, atol=1e-6)
        except BaseException as exc:  # reported by the main thread below
            errors.append(exc)
        finally:
            c.close()

    threads = [threading.Thread(target=one_client) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:3]
    c = serving.client("srv", home=served.home)
    try:
        batches = c.get_inference_statistics("tail")["model_stats"][0]["batch_stats"]
    finally:
        c.close()
    sizes = {b["batch_size"] for b in batches if b["compute_infer"]["count"] > 0}
    assert max(sizes) > 1, sizes


def _post(url: str, body: bytes | str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(url, content=body, headers=headers or {}, timeout=30)


def test_bad_requests_get_triton_errors_and_the_server_keeps_serving(served: Served) -> None:
    c = serving.client("srv", home=served.home)
    base = served.server.http_url
    try:
        cases = {
            "wrong shape": lambda: c.infer("tail", [tail_input(sample(4)[:, :3])]),
            "wrong dtype": lambda: c.infer("tail", [_fp64_input()]),
            "unknown model": lambda: c.infer("nope", [tail_input(sample(4))]),
            "unknown version": lambda: c.infer("tail", [tail_input(sample(4))],
                                               model_version="9"),
        }
        expected = {"wrong shape": ("400", "unexpected shape for input 'INPUT__0'"),
                    "wrong dtype": ("400", "data-type is 'FP64', but model 'tail' expects 'FP32'"),
                    "unknown model": ("404", "Request for unknown model: 'nope'"),
                    "unknown version": ("404", "'tail' version 9 is not found")}
        for what, call in cases.items():
            with pytest.raises(InferenceServerException) as err:
                call()
            status, text = expected[what]
            assert err.value.status() == status, (what, err.value)
            assert text in err.value.message(), (what, err.value)

        infer = f"{base}/v2/models/tail/infer"
        malformed = {
            "header length beyond the body": (b'{"inputs":[]}',
                                              {"Inference-Header-Content-Length": "500"}),
            "input without data": (b'{"inputs":[{"name":"INPUT__0","shape":[1,128,32,32],'
                                   b'"datatype":"FP32"}]}', {}),
            "binary size beyond the body": (
                _BINARY_HEADER, {"Inference-Header-Content-Length": str(len(_BINARY_HEADER))}),
        }
        for what, (body, headers) in malformed.items():
            r = _post(infer, body, headers)
            assert 400 <= r.status_code < 500, (what, r.status_code, r.text)
            assert set(r.json()) == {"error"} and r.json()["error"], (what, r.text)
        # Not JSON at all: Triton answers in its error format; this tritonserver (2.51)
        # classifies it as internal (500), fixed upstream to 400 (server issue #8762).
        r = _post(infer, b"{not json")
        assert r.status_code in (400, 500)
        assert r.json()["error"].startswith("failed to parse the request JSON buffer")

        assert c.is_server_live() and c.is_model_ready("tail")
        assert c.infer("tail", [tail_input(sample(5))]).as_numpy("OUTPUT__1").shape == (1, 8)
    finally:
        c.close()


_BINARY_HEADER = (b'{"inputs":[{"name":"INPUT__0","shape":[1,128,32,32],"datatype":"FP32",'
                  b'"parameters":{"binary_data_size":524288}}]}')


def test_a_second_server_beyond_the_quota_waits_with_a_reason(served: Served) -> None:
    waiting = serving.create("more", model_repo="models", project="team", gpus=1,
                             home=served.home)
    try:
        assert waiting.state == "pending" and not waiting.ready and waiting.models == []
        assert waiting.message and "quota" in waiting.message
        assert not processes_of(server_dir(Path(served.home), "more"))
    finally:
        serving.delete("more", home=served.home)
    assert nodes.show("n1", home=served.home).allocated == 0.5


def test_a_killed_tritonserver_is_restarted_on_its_ports(served: Served) -> None:
    folder = server_dir(Path(served.home), "srv")
    before = read_status(folder)
    assert before is not None and before["restarts"] == 0
    os.kill(host_pid(before["engine_pid"], Path(served.home)), signal.SIGKILL)

    def _restarted() -> bool:
        now = read_status(folder) or {}
        return now.get("restarts") == 1 and now.get("server") == "ready" and \
            bool(now.get("models")) and now["models"][0]["state"] == "READY"

    wait_for(_restarted, "tritonserver to be restarted", timeout=60)
    c = serving.client("srv", home=served.home)
    try:
        assert c.infer("tail", [tail_input(sample(7))]).as_numpy("OUTPUT__1").shape == (1, 8)
    finally:
        c.close()


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_killed_launcher_takes_tritonserver_along_and_delete_cleans_up(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_tail(setup_home(home))
    try:
        serving.create("k", model_repo="models", project="team", gpus=0.5, home=str(home))
        status = read_status(server_dir(home, "k"))
        assert status is not None
        engine = host_pid(status["engine_pid"], home)
        os.kill(host_pid(status["pid"], home), signal.SIGKILL)  # not through the scheduler
        wait_for(lambda: not alive(engine), "tritonserver to follow its launcher",
                 timeout=15)
        serving.delete("k", home=str(home))
        wait_for(lambda: not processes_of(home), "every server process to exit", timeout=10)
        assert nodes.show("n1", home=str(home)).allocated == 0
    finally:
        kill_leftovers(home)


def _fp64_input() -> httpclient.InferInput:
    inp = httpclient.InferInput("INPUT__0", SHAPE, "FP64")
    inp.set_data_from_numpy(np.zeros(SHAPE, np.float64))
    return inp


def test_hot_update_broken_models_and_delete_leaves_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    repo = setup_home(home)
    write_tail(repo)
    try:
        server = serving.create("hot", model_repo="models", project="team", gpus=0.5,
                                http_port=None, home=str(home))
        assert server.ready
        c = serving.client("hot", home=str(home))
        try:
            # A new version copied in is served within 10 s, without a restart.
            staged = tmp_path / "v2"
            write_tail(staged, version=2, seed=7)
            os.rename(staged / "tail" / "2", repo / "tail" / "2")
            took = wait_for(lambda: c.is_model_ready("tail", "2"), "version 2", timeout=10)
            assert took < 10
            x = sample(6)
            ref = ort_run(repo / "tail" / "2" / "model.onnx", x)
            got = c.infer("tail", [tail_input(x)], model_version="2")
            np.testing.assert_allclose(got.as_numpy("OUTPUT__0"), ref[0], rtol=1e-5, atol=1e-6)

            # A broken model, and a broken version of a good one: reported, and the
            # good versions keep serving.
            (repo / "broken" / "1").mkdir(parents=True)
            (repo / "broken" / "config.pbtxt").write_text(
                TAIL_CONFIG.replace('"tail"', '"broken"'))
            (repo / "broken" / "1" / "model.onnx").write_bytes(b"not an onnx file")
            (repo / "tail" / "3").mkdir()
            (repo / "tail" / "3" / "model.onnx").write_bytes(b"truncated")

            def _reported() -> bool:
                models = {m["name"]: m for m in serving.show("hot", home=str(home)).models}
                return "broken" in models and bool(models["tail"]["reason"])

            wait_for(_reported, "the broken models to be reported", timeout=30)
            models = {m["name"]: m for m in serving.show("hot", home=str(home)).models}
            assert models["broken"]["state"] == "UNAVAILABLE"
            assert "Protobuf parsing failed" in models["broken"]["reason"]
            assert str(repo / "broken" / "1" / "model.onnx") in models["broken"]["reason"]
            assert models["tail"]["state"] == "READY" and models["tail"]["versions"] == ["2"]
            assert models["tail"]["reason"].startswith("version 3: ")
            assert c.infer("tail", [tail_input(x)]).as_numpy("OUTPUT__1").shape == (1, 8)
        finally:
            c.close()

        pids = processes_of(home)
        assert len(pids) >= 4  # job's launch parent, launcher, tritonserver, backend stubs
        gone = serving.delete("hot", home=str(home))
        assert gone.state == "deleted"
        wait_for(lambda: not processes_of(home), "every server process to exit", timeout=10)
        assert nodes.show("n1", home=str(home)).allocated == 0
        assert projects.show("team", home=str(home)).allocated == 0
        assert jobs.list(home=str(home)) == []
        assert serving.list(home=str(home)) == []
        folder = server_dir(home, "hot")
        assert not folder.exists()
        assert not [p for p in os.listdir("/dev/shm") if p.startswith(shm_prefix(folder))]
        assert all(port_free("127.0.0.1", p)
                   for p in (server.http_port, server.grpc_port, server.metrics_port))
        with pytest.raises(MlfabricError, match="inference server 'hot' not found"):
            serving.show("hot", home=str(home))
    finally:
        kill_leftovers(home)


def test_torchscript_and_python_function_models(tmp_path: Path) -> None:
    import torch

    home = tmp_path / "home"
    repo = setup_home(home)
    write_function_model(repo)
    module = write_torchscript(repo)
    try:
        server = serving.create("kinds", model_repo="models", project="team", gpus=0.5,
                                home=str(home))
        assert {m["name"]: m["state"] for m in server.models} == \
            {"double": "READY", "linear": "READY"}, server.models
        c = serving.client("kinds", protocol="grpc", home=str(home))
        try:
            x = np.arange(8, dtype=np.float32).reshape(2, 4)
            inp = grpcclient.InferInput("X", [2, 4], "FP32")
            inp.set_data_from_numpy(x)
            np.testing.assert_array_equal(c.infer("double", [inp]).as_numpy("Y"), x * 2 + 1)
            inp = grpcclient.InferInput("INPUT__0", [2, 4], "FP32")
            inp.set_data_from_numpy(x)
            with torch.inference_mode():
                ref = module(torch.from_numpy(x)).numpy()
            got = c.infer("linear", [inp]).as_numpy("OUTPUT__0")
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
            assert c.get_model_metadata("linear", as_json=True)["platform"] == \
                "pytorch_libtorch"
        finally:
            c.close()
    finally:
        with contextlib.suppress(MlfabricError):
            serving.delete("kinds", home=str(home))
        kill_leftovers(home)


def test_create_rejects_bad_requests_before_starting_anything(tmp_path: Path) -> None:
    home = tmp_path / "home"
    setup_home(home)
    h = str(home)
    with pytest.raises(MlfabricError, match="volume 'nope' not found"):
        serving.create("x", model_repo="nope", project="team", home=h)
    with pytest.raises(MlfabricError, match="project 'other' not found"):
        serving.create("x", model_repo="models", project="other", home=h)
    with pytest.raises(MlfabricError, match="ports must differ"):
        serving.create("x", model_repo="models", project="team", http_port=18500,
                       grpc_port=18500, home=h)
    with pytest.raises(MlfabricError, match="longer than 53 characters"):
        serving.create("a" * 54, model_repo="models", project="team", home=h)
    with pytest.raises(MlfabricError, match="unknown protocol"):
        serving.client("x", protocol="tcp", home=h)
    assert serving.list(home=h) == [] and jobs.list(home=h) == []
