"""Triton's official Python client examples, as calls: each test makes the calls one of
triton-inference-server/client's ``src/python/examples`` makes (infer sync, async and
streaming over HTTP and gRPC, health and metadata, strings, sequences with their control
inputs, system shared memory) with the installed ``tritonclient``, against models
equivalent to Triton's example models (``tests/triton_models.py``) served by a live
``mlfabric inference`` server on loopback. Written here; nothing is copied.

CUDA shared memory is the one call left out: it needs a GPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as grpcaio
import tritonclient.http as httpclient
import tritonclient.http.aio as httpaio
import tritonclient.utils.shared_memory as shm
from tritonclient.utils import (
    InferenceServerException,
    deserialize_bytes_tensor,
    serialize_byte_tensor,
    serialized_byte_size,
    triton_to_np_dtype,
)

from mlfabric import projects, serving
from tests.component.test_serving import example_server
from tests.triton_models import (
    write_examples,
    write_implicit_state_sequence,
    write_simple_string_dyna_sequence,
)

STRING_MODELS = ("simple_string", "simple_string_torch", "simple_string_py")
SEQUENCE_VALUES = [11, 7, 5, 3, 2, 0, 1]
REFUSED = {
    "implicit_state": "config.pbtxt: sequence_batching.state (implicit state) is not "
                      "supported here: it needs Triton's native onnxruntime or libtorch "
                      "backend; pass the state as inputs and outputs instead",
    "simple_string_dyna_sequence": "config.pbtxt: control input 'CORRID' has data_type "
                                   "TYPE_STRING, which this tritonserver rejects on every "
                                   "request; use TYPE_UINT64 (string sequence ids still "
                                   "work with models that take no CORRID)",
}


@dataclass
class Live:
    """A running server on the example models: its name, home and endpoints."""

    name: str
    home: str
    http: str  # host:port, as the examples' -u takes it
    grpc: str
    uid: int  # the project's: what the server runs as when the scheduler is root


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One ``mlfabric inference`` server on every example model, shared by the module."""
    home = tmp_path_factory.mktemp("triton-examples") / "home"

    def write(repo: Path) -> None:
        write_examples(repo)
        # Refused, by check and by the server alike:
        write_implicit_state_sequence(repo)
        write_simple_string_dyna_sequence(repo)

    with example_server(home, write, gpus=0.5, host_ipc=True) as server:
        broken = [m["name"] for m in server.models if m["state"] != "READY"]
        assert broken == sorted(REFUSED), server.models
        yield Live("examples", str(home), f"127.0.0.1:{server.http_port}",
                   f"127.0.0.1:{server.grpc_port}", projects.show("team", home=str(home)).uid)


# -- data and checks shared by the examples ---------------------------------------------
def simple_data() -> tuple[np.ndarray, np.ndarray]:
    """The examples' inputs: 0..15 and a row of ones (of minus ones for HTTP)."""
    return np.arange(16, dtype=np.int32)[None, :], np.ones((1, 16), dtype=np.int32)


def assert_add_sub(a: np.ndarray, b: np.ndarray, out0: np.ndarray, out1: np.ndarray) -> None:
    np.testing.assert_array_equal(out0, a + b)
    np.testing.assert_array_equal(out1, a - b)


def as_strings(x: np.ndarray) -> np.ndarray:
    """Integers as the BYTES tensor the string examples send (``str(x).encode()``)."""
    return np.array([str(v).encode("utf-8") for v in x.reshape(-1)],
                    dtype=np.object_).reshape(x.shape)


def as_ints(x: np.ndarray) -> np.ndarray:
    return np.vectorize(int, otypes=[np.int64])(x)


def simple_inputs(module: Any, a: np.ndarray, b: np.ndarray, dtype: str = "INT32") -> list[Any]:
    inputs = [module.InferInput("INPUT0", list(a.shape), dtype),
              module.InferInput("INPUT1", list(b.shape), dtype)]
    if module is httpclient:  # the HTTP example sends one as JSON, one as binary
        inputs[0].set_data_from_numpy(a, binary_data=False)
        inputs[1].set_data_from_numpy(b, binary_data=True)
    else:
        inputs[0].set_data_from_numpy(a)
        inputs[1].set_data_from_numpy(b)
    return inputs


@dataclass(frozen=True)
class Sequence:
    """One of the sequences the examples send: model, correlation id, values, and what
    the examples check it returns."""

    model: str
    id: int | str
    values: list[int]

    def expected(self) -> list[int]:
        # simple_sequence: each value back, one more on the start; simple_dyna_sequence:
        # the same plus the correlation id on the end; simple_string_dyna_sequence (a
        # string id): the running total, plus the id on the end.
        out, total = [], 0
        last = len(self.values) - 1
        for i, v in enumerate(self.values):
            if self.model == "simple_string_dyna_sequence":
                total = v if i == 0 else total + v
                out.append(total + (int(self.id) if i == last else 0))
            else:
                dyna = self.model == "simple_dyna_sequence"
                out.append(v + (i == 0) + (int(self.id) if dyna and i == last else 0))
        return out

    def requests(self) -> Iterator[tuple[int, int, dict[str, Any]]]:
        """(index, value, the sequence arguments of infer) per request."""
        for i, v in enumerate(self.values):
            yield i, v, {"sequence_id": self.id, "sequence_start": i == 0,
                         "sequence_end": i == len(self.values) - 1}


def sequences(dyna: bool) -> list[Sequence]:
    """The examples' sequences: two with integer ids and, for ``simple_sequence``, one with
    a string id. (With ``-d`` the examples send the string id "1002" to
    ``simple_string_dyna_sequence``, which is refused here: see REFUSED.)"""
    model = "simple_dyna_sequence" if dyna else "simple_sequence"
    down = [-v for v in SEQUENCE_VALUES]
    seqs = [Sequence(model, 1000, [0, *SEQUENCE_VALUES]), Sequence(model, 1001, [100, *down])]
    return seqs if dyna else [*seqs, Sequence(model, str(uuid.uuid4()), [20, *down])]


def sequence_input(module: Any, value: int) -> list[Any]:
    data = np.full((1, 1), value, dtype=np.int32)
    inp = module.InferInput("INPUT", [1, 1], "INT32")
    inp.set_data_from_numpy(data)
    return [inp]


# -- simple_http_infer_client / simple_grpc_infer_client -----------------------------------
def test_simple_http_infer_client(live: Live) -> None:
    a, _ = simple_data()
    b = np.full((1, 16), -1, dtype=np.int32)
    with httpclient.InferenceServerClient(live.http) as c:
        outputs = [httpclient.InferRequestedOutput("OUTPUT0", binary_data=True),
                   httpclient.InferRequestedOutput("OUTPUT1", binary_data=False)]
        for compression in (None, "gzip", "deflate"):
            res = c.infer("simple", simple_inputs(httpclient, a, b), outputs=outputs,
                          query_params={"test_1": 1, "test_2": 2},
                          headers={"X-Example": "1"},
                          request_compression_algorithm=compression,
                          response_compression_algorithm=compression)
            assert_add_sub(a, b, res.as_numpy("OUTPUT0"), res.as_numpy("OUTPUT1"))
        res = c.infer("simple", simple_inputs(httpclient, a, b), outputs=None,
                      query_params={"test_1": 1, "test_2": 2})
        assert_add_sub(a, b, res.as_numpy("OUTPUT0"), res.as_numpy("OUTPUT1"))
        stats = c.get_inference_statistics(model_name="simple")
        assert len(stats["model_stats"]) == 1
        with pytest.raises(InferenceServerException) as err:
            c.infer("wrong_model_name", simple_inputs(httpclient, a, b))
        assert err.value.message().startswith("Request for unknown model")


def test_simple_grpc_infer_client(live: Live) -> None:
    a, b = simple_data()
    with grpcclient.InferenceServerClient(live.grpc) as c:
        outputs = [grpcclient.InferRequestedOutput("OUTPUT0"),
                   grpcclient.InferRequestedOutput("OUTPUT1")]
        for compression in (None, "gzip", "deflate"):
            res = c.infer("simple", simple_inputs(grpcclient, a, b), outputs=outputs,
                          headers={"x-example": "1"}, client_timeout=30.0,
                          compression_algorithm=compression)
            assert_add_sub(a, b, res.as_numpy("OUTPUT0"), res.as_numpy("OUTPUT1"))
        res = c.infer("simple", simple_inputs(grpcclient, a, b))  # no outputs requested
        assert_add_sub(a, b, res.as_numpy("OUTPUT0"), res.as_numpy("OUTPUT1"))
        assert len(c.get_inference_statistics("simple").model_stats) == 1


# -- async and streaming ---------------------------------------------------------------
def test_simple_http_async_infer_client(live: Live) -> None:
    a, b = simple_data()
    with httpclient.InferenceServerClient(live.http, concurrency=4) as c:
        pending = [c.async_infer("simple", simple_inputs(httpclient, a + i, b),
                                 request_id=str(i),
                                 outputs=[httpclient.InferRequestedOutput("OUTPUT0"),
                                          httpclient.InferRequestedOutput("OUTPUT1")])
                   for i in range(4)]
        for i, request in enumerate(pending):
            res = request.get_result()
            assert res.get_response()["id"] == str(i)
            assert_add_sub(a + i, b, res.as_numpy("OUTPUT0"), res.as_numpy("OUTPUT1"))


def _collect(results: queue.Queue[Any], result: Any, error: Any) -> None:
    results.put(error if error else result)


def _drain(results: queue.Queue[Any], n: int) -> list[Any]:
    got = []
    for _ in range(n):
        item = results.get(timeout=30)
        if isinstance(item, InferenceServerException):
            raise item
        got.append(item)
    return got


def test_simple_grpc_async_infer_client(live: Live) -> None:
    a, b = simple_data()
    results: queue.Queue[Any] = queue.Queue()
    with grpcclient.InferenceServerClient(live.grpc) as c:
        for i in range(4):
            c.async_infer("simple", simple_inputs(grpcclient, a + i, b),
                          callback=partial(_collect, results), request_id=str(i),
                          outputs=[grpcclient.InferRequestedOutput("OUTPUT0"),
                                   grpcclient.InferRequestedOutput("OUTPUT1")])
        for res in _drain(results, 4):
            i = int(res.get_response().id)
            assert_add_sub(a + i, b, res.as_numpy("OUTPUT0"), res.as_numpy("OUTPUT1"))


def test_simple_grpc_stream_infer_client(live: Live) -> None:
    a, b = simple_data()
    results: queue.Queue[Any] = queue.Queue()
    with grpcclient.InferenceServerClient(live.grpc) as c:
        c.start_stream(callback=partial(_collect, results))
        for i in range(4):
            c.async_stream_infer("simple", simple_inputs(grpcclient, a + i, b),
                                 request_id=str(i))
        got = _drain(results, 4)
        c.stop_stream()
    for res in got:
        i = int(res.get_response().id)
        assert_add_sub(a + i, b, res.as_numpy("OUTPUT0"), res.as_numpy("OUTPUT1"))


def test_simple_grpc_aio_infer_client(live: Live) -> None:
    a, b = simple_data()

    async def run() -> None:
        async with grpcaio.InferenceServerClient(live.grpc) as c:
            assert await c.is_server_live() and await c.is_model_ready("simple")
            res = await c.infer("simple", simple_inputs(grpcclient, a, b))
            assert_add_sub(a, b, res.as_numpy("OUTPUT0"), res.as_numpy("OUTPUT1"))

    asyncio.run(run())


def test_simple_http_aio_infer_client(live: Live) -> None:
    a, b = simple_data()

    async def run() -> None:
        c = httpaio.InferenceServerClient(live.http)
        try:
            assert await c.is_server_live() and await c.is_model_ready("simple")
            assert (await c.get_model_metadata("simple"))["name"] == "simple"
            res = await c.infer("simple", simple_inputs(httpclient, a, b))
            assert_add_sub(a, b, res.as_numpy("OUTPUT0"), res.as_numpy("OUTPUT1"))
        finally:
            await c.close()

    asyncio.run(run())


def test_simple_grpc_keepalive_and_custom_args_client(live: Live) -> None:
    a, b = simple_data()
    keepalive = grpcclient.KeepAliveOptions(keepalive_time_ms=2**31 - 1,
                                            keepalive_timeout_ms=20000,
                                            keepalive_permit_without_calls=False,
                                            http2_max_pings_without_data=2)
    channel_args = [("grpc.max_send_message_length", 2**20),
                    ("grpc.max_receive_message_length", 2**20)]
    for kwargs in ({"keepalive_options": keepalive}, {"channel_args": channel_args}):
        with grpcclient.InferenceServerClient(live.grpc, **kwargs) as c:
            res = c.infer("simple", simple_inputs(grpcclient, a, b))
            assert_add_sub(a, b, res.as_numpy("OUTPUT0"), res.as_numpy("OUTPUT1"))


def test_reuse_infer_objects_client(live: Live) -> None:
    """The same InferInput and InferRequestedOutput objects across requests and clients."""
    a, b = simple_data()
    for module, url in ((httpclient, live.http), (grpcclient, live.grpc)):
        inputs = simple_inputs(module, a, b)
        outputs = [module.InferRequestedOutput("OUTPUT0"),
                   module.InferRequestedOutput("OUTPUT1")]
        with module.InferenceServerClient(url) as c:
            for _ in range(2):
                res = c.infer("simple", inputs, outputs=outputs)
                assert_add_sub(a, b, res.as_numpy("OUTPUT0"), res.as_numpy("OUTPUT1"))


# -- health and metadata ----------------------------------------------------------------
def test_simple_http_health_metadata(live: Live) -> None:
    with httpclient.InferenceServerClient(live.http) as c:
        assert c.is_server_live() and c.is_server_ready()
        assert c.is_model_ready("simple")
        assert c.get_server_metadata()["name"] == "triton"
        meta = c.get_model_metadata("simple")
        assert meta["name"] == "simple"
        assert [(t["name"], t["datatype"], t["shape"]) for t in meta["inputs"]] == \
            [("INPUT0", "INT32", [-1, 16]), ("INPUT1", "INT32", [-1, 16])]
        assert c.get_model_config("simple")["name"] == "simple"
        assert c.get_model_metadata("simple_string")["inputs"][0]["datatype"] == "BYTES"
        with pytest.raises(InferenceServerException):
            c.get_model_metadata("wrong_model_name")


def test_simple_grpc_health_metadata(live: Live) -> None:
    with grpcclient.InferenceServerClient(live.grpc) as c:
        assert c.is_server_live() and c.is_server_ready()
        assert c.is_model_ready("simple")
        assert c.get_server_metadata().name == "triton"
        meta = c.get_model_metadata("simple")
        assert meta.name == "simple" and [t.name for t in meta.outputs] == ["OUTPUT0", "OUTPUT1"]
        assert c.get_model_config("simple").config.name == "simple"
        names = {m.name for m in c.get_model_repository_index().models}
        assert {"simple", "simple_string", "simple_sequence"} <= names


# -- strings (item 1) --------------------------------------------------------------------
@pytest.mark.parametrize("model", STRING_MODELS)
def test_simple_http_string_infer_client(live: Live, model: str) -> None:
    a, b = simple_data()
    with httpclient.InferenceServerClient(live.http) as c:
        for binary in (True, False):
            inputs = [httpclient.InferInput("INPUT0", [1, 16], "BYTES"),
                      httpclient.InferInput("INPUT1", [1, 16], "BYTES")]
            inputs[0].set_data_from_numpy(as_strings(a), binary_data=binary)
            inputs[1].set_data_from_numpy(as_strings(b), binary_data=binary)
            outputs = [httpclient.InferRequestedOutput("OUTPUT0", binary_data=binary),
                       httpclient.InferRequestedOutput("OUTPUT1", binary_data=binary)]
            res = c.infer(model, inputs, outputs=outputs)
            out0, out1 = res.as_numpy("OUTPUT0"), res.as_numpy("OUTPUT1")
            assert out0.dtype == np.object_ and out0.shape == (1, 16)
            assert_add_sub(a, b, as_ints(out0), as_ints(out1))


@pytest.mark.parametrize("model", STRING_MODELS)
def test_simple_grpc_string_infer_client(live: Live, model: str) -> None:
    a, b = simple_data()
    with grpcclient.InferenceServerClient(live.grpc) as c:
        # Strings as the examples build them, then as str objects (the client encodes them).
        for data in (as_strings, lambda x: x.astype(str).astype(np.object_)):
            inputs = [grpcclient.InferInput("INPUT0", [1, 16], "BYTES"),
                      grpcclient.InferInput("INPUT1", [1, 16], "BYTES")]
            inputs[0].set_data_from_numpy(data(a))
            inputs[1].set_data_from_numpy(data(b))
            res = c.infer(model, inputs)
            assert_add_sub(a, b, as_ints(res.as_numpy("OUTPUT0")),
                           as_ints(res.as_numpy("OUTPUT1")))


def test_grpc_explicit_byte_content_client(live: Live) -> None:
    """A request built by hand (``ModelInferRequest`` with ``bytes_contents``)."""
    import grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    a, b = simple_data()
    request = service_pb2.ModelInferRequest(model_name="simple_string")
    for name, x in (("INPUT0", a), ("INPUT1", b)):
        t = service_pb2.ModelInferRequest().InferInputTensor(name=name, datatype="BYTES",
                                                             shape=[1, 16])
        t.contents.bytes_contents.extend(str(v).encode() for v in x.reshape(-1))
        request.inputs.append(t)
    for name in ("OUTPUT0", "OUTPUT1"):
        request.outputs.append(
            service_pb2.ModelInferRequest().InferRequestedOutputTensor(name=name))
    with grpc.insecure_channel(live.grpc) as channel:
        response = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request)
    outs = {o.name: deserialize_bytes_tensor(raw).reshape(1, 16)
            for o, raw in zip(response.outputs, response.raw_output_contents, strict=True)}
    assert_add_sub(a, b, as_ints(outs["OUTPUT0"]), as_ints(outs["OUTPUT1"]))


# -- system shared memory ------------------------------------------------------------------
# The server is created with host_ipc (docker's --ipc=host): its sandbox sees the host's
# /dev/shm. When the scheduler runs as root the server runs as its project's uid, so a
# region must be that uid's to open (the one step the examples do not take); a laptop's
# single user has nothing to do.
def create_region(live: Live, name: str, key: str, size: int) -> Any:
    handle = shm.create_shared_memory_region(name, key, size)
    if os.geteuid() == 0:
        os.chown(f"/dev/shm{key}", live.uid, -1)
    return handle


def unregister_when_released(c: Any) -> None:
    """Unregister every region, as the examples do after their last inference. Triton
    releases a request's regions after its response is sent (the Python backend frees
    the request once ``execute`` returns), so an unregister right after the response may
    find them still held: "Failed to unregister ..."; a moment later it succeeds."""
    deadline = time.monotonic() + 5
    while True:
        try:
            c.unregister_system_shared_memory()
            return
        except InferenceServerException as exc:
            if "Failed to unregister" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _shm_key(what: str) -> str:
    return f"/mlfabric_test_{uuid.uuid4().hex[:8]}_{what}"


@contextlib.contextmanager
def system_regions(live: Live, module: Any, sizes: dict[str, int]) -> Iterator[
        tuple[Any, dict[str, Any]]]:
    """A client with fresh system shared-memory regions of ``sizes`` registered, as the
    shm examples set them up; unregistered and destroyed after."""
    keys = {n: _shm_key(n) for n in sizes}
    handles = {n: create_region(live, n, keys[n], sizes[n]) for n in sizes}
    c = module.InferenceServerClient(live.http if module is httpclient else live.grpc)
    try:
        c.unregister_system_shared_memory()
        c.unregister_cuda_shared_memory()
        for n in sizes:
            c.register_system_shared_memory(n, keys[n], sizes[n])
        yield c, handles
        unregister_when_released(c)
    finally:
        c.close()
        for h in handles.values():
            shm.destroy_shared_memory_region(h)


@pytest.mark.parametrize("module", [httpclient, grpcclient], ids=["http", "grpc"])
def test_simple_shm_client(live: Live, module: Any) -> None:
    a, b = simple_data()
    size = a.nbytes
    sizes = {"input_data": 2 * size, "output0_data": size, "output1_data": size}
    with system_regions(live, module, sizes) as (c, handles):
        shm.set_shared_memory_region(handles["input_data"], [a])
        shm.set_shared_memory_region(handles["input_data"], [b], offset=size)
        status = c.get_system_shared_memory_status()
        registered = {r["name"] for r in status} if module is httpclient else \
            set(status.regions)
        assert registered == set(sizes)

        inputs = [module.InferInput("INPUT0", [1, 16], "INT32"),
                  module.InferInput("INPUT1", [1, 16], "INT32")]
        inputs[0].set_shared_memory("input_data", size)
        inputs[1].set_shared_memory("input_data", size, offset=size)
        outputs = [module.InferRequestedOutput("OUTPUT0"),
                   module.InferRequestedOutput("OUTPUT1")]
        outputs[0].set_shared_memory("output0_data", size)
        outputs[1].set_shared_memory("output1_data", size)
        res = c.infer("simple", inputs, outputs=outputs)
        got = []
        for name, region in (("OUTPUT0", "output0_data"), ("OUTPUT1", "output1_data")):
            meta = res.get_output(name)
            dtype, shape = (meta["datatype"], meta["shape"]) if module is httpclient else \
                (meta.datatype, list(meta.shape))
            got.append(shm.get_contents_as_numpy(handles[region], triton_to_np_dtype(dtype),
                                                 shape))
        assert_add_sub(a, b, *got)


@pytest.mark.parametrize("module", [httpclient, grpcclient], ids=["http", "grpc"])
def test_simple_shm_string_client(live: Live, module: Any) -> None:
    a, b = simple_data()
    in0, in1 = serialize_byte_tensor(as_strings(a)), serialize_byte_tensor(as_strings(b))
    out0 = serialize_byte_tensor(as_strings(a + b))
    out1 = serialize_byte_tensor(as_strings(a - b))
    sizes = {n: serialized_byte_size(x) for n, x in (
        ("input0_data", in0), ("input1_data", in1), ("output0_data", out0),
        ("output1_data", out1))}
    with system_regions(live, module, sizes) as (c, handles):
        shm.set_shared_memory_region(handles["input0_data"], [in0])
        shm.set_shared_memory_region(handles["input1_data"], [in1])
        inputs = [module.InferInput("INPUT0", [1, 16], "BYTES"),
                  module.InferInput("INPUT1", [1, 16], "BYTES")]
        inputs[0].set_shared_memory("input0_data", sizes["input0_data"])
        inputs[1].set_shared_memory("input1_data", sizes["input1_data"])
        outputs = [module.InferRequestedOutput("OUTPUT0"),
                   module.InferRequestedOutput("OUTPUT1")]
        outputs[0].set_shared_memory("output0_data", sizes["output0_data"])
        outputs[1].set_shared_memory("output1_data", sizes["output1_data"])
        c.infer("simple_string", inputs, outputs=outputs)
        got = [shm.get_contents_as_numpy(handles[r], np.object_, [1, 16])
               for r in ("output0_data", "output1_data")]
        assert_add_sub(a, b, as_ints(got[0]), as_ints(got[1]))


@pytest.mark.parametrize("module", [httpclient, grpcclient], ids=["http", "grpc"])
def test_simple_cudashm_client(live: Live, module: Any) -> None:
    """The one example allowed to skip: CUDA shared memory needs a GPU (and cuda-python).
    Never run on the machines this suite was written on (no GPU there)."""
    if not Path("/dev/nvidia0").exists():
        pytest.skip("CUDA shared memory needs an NVIDIA GPU")
    try:
        import tritonclient.utils.cuda_shared_memory as cudashm
    except RuntimeError as exc:  # raised at import without cuda-python
        pytest.skip(str(exc))
    a, b = simple_data()
    size = a.nbytes
    handles = {n: cudashm.create_shared_memory_region(n, size, 0)
               for n in ("input0_data", "input1_data", "output0_data", "output1_data")}
    url = live.http if module is httpclient else live.grpc
    c = module.InferenceServerClient(url)
    try:
        c.unregister_cuda_shared_memory()
        cudashm.set_shared_memory_region(handles["input0_data"], [a])
        cudashm.set_shared_memory_region(handles["input1_data"], [b])
        for n, h in handles.items():
            c.register_cuda_shared_memory(n, cudashm.get_raw_handle(h), 0, size)
        inputs = [module.InferInput("INPUT0", [1, 16], "INT32"),
                  module.InferInput("INPUT1", [1, 16], "INT32")]
        inputs[0].set_shared_memory("input0_data", size)
        inputs[1].set_shared_memory("input1_data", size)
        outputs = [module.InferRequestedOutput("OUTPUT0"),
                   module.InferRequestedOutput("OUTPUT1")]
        outputs[0].set_shared_memory("output0_data", size)
        outputs[1].set_shared_memory("output1_data", size)
        c.infer("simple", inputs, outputs=outputs)
        got = [cudashm.get_contents_as_numpy(handles[r], np.int32, [1, 16])
               for r in ("output0_data", "output1_data")]
        assert_add_sub(a, b, *got)
        c.unregister_cuda_shared_memory()
    finally:
        c.close()
        for h in handles.values():
            cudashm.destroy_shared_memory_region(h)


# -- sequences (item 2) ------------------------------------------------------------------
def _check_sequences(seqs: list[Sequence], got: dict[Any, list[int]]) -> None:
    for seq in seqs:
        assert got[seq.id] == seq.expected(), (seq, got[seq.id])


def _by_request_id(seqs: list[Sequence], answers: list[tuple[str, int]]) -> dict[Any, list[int]]:
    """Outputs per sequence in request order, from (request id "<seq>_<i>", output)."""
    ids = {str(s.id): s.id for s in seqs}
    got: dict[Any, list[tuple[int, int]]] = {}
    for request_id, value in answers:
        seq, i = request_id.rsplit("_", 1)
        got.setdefault(ids[seq], []).append((int(i), value))
    return {s: [v for _, v in sorted(r)] for s, r in got.items()}


DYNA = pytest.mark.parametrize("dyna", [False, True], ids=["simple_sequence", "dyna"])


@DYNA
@pytest.mark.parametrize("module", [httpclient, grpcclient], ids=["http", "grpc"])
def test_simple_sequence_sync_infer_client(live: Live, module: Any, dyna: bool) -> None:
    url = live.http if module is httpclient else live.grpc
    got: dict[Any, list[int]] = {}
    seqs = sequences(dyna)
    with module.InferenceServerClient(url) as c:
        for seq in seqs:
            got[seq.id] = []
            for _, value, args in seq.requests():
                res = c.infer(seq.model, sequence_input(module, value),
                              outputs=[module.InferRequestedOutput("OUTPUT")], **args)
                got[seq.id].append(int(res.as_numpy("OUTPUT")[0][0]))
    _check_sequences(seqs, got)


@DYNA
def test_simple_grpc_sequence_stream_infer_client(live: Live, dyna: bool) -> None:
    results: queue.Queue[Any] = queue.Queue()
    seqs = sequences(dyna)
    with grpcclient.InferenceServerClient(live.grpc) as c:
        c.start_stream(callback=partial(_collect, results))
        for seq in seqs:  # sent one after the other, answered as they come
            for i, value, args in seq.requests():
                c.async_stream_infer(seq.model, sequence_input(grpcclient, value),
                                     outputs=[grpcclient.InferRequestedOutput("OUTPUT")],
                                     request_id=f"{seq.id}_{i}", **args)
        items = _drain(results, sum(len(s.values) for s in seqs))
        c.stop_stream()
    _check_sequences(seqs, _by_request_id(
        seqs, [(r.get_response().id, int(r.as_numpy("OUTPUT")[0][0])) for r in items]))


@DYNA
def test_simple_grpc_aio_sequence_stream_infer_client(live: Live, dyna: bool) -> None:
    seqs = sequences(dyna)
    total = sum(len(s.values) for s in seqs)

    async def requests() -> Any:
        for seq in seqs:
            for i, value, args in seq.requests():
                yield {"model_name": seq.model, "inputs": sequence_input(grpcclient, value),
                       "outputs": [grpcclient.InferRequestedOutput("OUTPUT")],
                       "request_id": f"{seq.id}_{i}", **args}

    async def run() -> list[tuple[str, int]]:
        answers = []
        async with grpcaio.InferenceServerClient(live.grpc) as c:
            async for result, error in c.stream_infer(requests()):
                if error:
                    raise error
                answers.append((result.get_response().id,
                                int(result.as_numpy("OUTPUT")[0][0])))
                if len(answers) == total:
                    break
        return answers

    _check_sequences(seqs, _by_request_id(seqs, asyncio.run(run())))


def test_a_sequence_model_refuses_requests_without_a_sequence(live: Live) -> None:
    with grpcclient.InferenceServerClient(live.grpc) as c, \
            pytest.raises(InferenceServerException, match="sequence"):
        c.infer("simple_sequence", sequence_input(grpcclient, 1))


def test_model_repo_check_and_the_server_read_configs_alike(live: Live) -> None:
    report = serving.check_repo("models", home=live.home)
    rows = {m["name"]: m for m in report.models}
    assert set(rows) == {"simple", "simple_sequence", "simple_dyna_sequence",
                         "simple_string_dyna_sequence", "implicit_state", *STRING_MODELS}
    assert {n: r["problems"] for n, r in rows.items() if r["problems"]} == \
        {n: [why] for n, why in REFUSED.items()}
    served = {m["name"]: m for m in serving.show(live.name, home=live.home).models}
    for name, why in REFUSED.items():
        assert (served[name]["state"], served[name]["reason"]) == ("UNAVAILABLE", why)
