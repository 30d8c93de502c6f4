"""Triton's client examples for model repositories, as calls against a live ``mlfabric
inference`` server: image classification as ``image_client`` does it (model metadata
and config, then ``class_count`` on the output, labels in the answer, over HTTP and
gRPC) on a classifier equivalent to Triton's ``densenet_onnx`` example (the same
tensor names, shapes, ``reshape`` and ``label_filename``; small generated weights), and
model control as the ``model_control`` examples do it (repository index, load, unload,
load with a config override). The models are built here; nothing is downloaded."""

from __future__ import annotations

import json
import queue
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from google.protobuf.json_format import MessageToDict
from tritonclient.utils import InferenceServerException

from mlfabric import serving
from tests.component.test_serving import example_server
from tests.helpers import run_cli

CLASSES = 1000

DENSENET_CONFIG = """\
name: "densenet_onnx"
platform: "onnxruntime_onnx"
max_batch_size: 0
input [
  {
    name: "data_0"
    data_type: TYPE_FP32
    format: FORMAT_NCHW
    dims: [ 3, 224, 224 ]
    reshape { shape: [ 1, 3, 224, 224 ] }
  }
]
output [
  {
    name: "fc6_1"
    data_type: TYPE_FP32
    dims: [ 1000 ]
    reshape { shape: [ 1, 1000, 1, 1 ] }
    label_filename: "densenet_labels.txt"
  }
]
"""

# A config that leaves its inputs and outputs to the ONNX file, as Triton allows.
SCALE_CONFIG = 'name: "scale"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 8\n'

# Declares tensors, but its model file is not ONNX: it fails to load.
BROKEN_CONFIG = """\
name: "broken"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "X" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "Y" data_type: TYPE_FP32 dims: [ 4 ] } ]
"""


def _save(model: object, path: Path) -> None:
    import onnx

    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())  # type: ignore[attr-defined]


def classifier_weights(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The classifier's 1x1 convolution: weights [1000, 3] and bias [1000]."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((CLASSES, 3)).astype(np.float32),
            rng.standard_normal(CLASSES).astype(np.float32))


def write_densenet(repo: Path) -> None:
    """``densenet_onnx``: ``data_0`` [1,3,224,224] -> global average -> 1x1 convolution
    -> ``fc6_1`` [1,1000,1,1], with a labels file next to its config."""
    from onnx import TensorProto, helper, numpy_helper

    w, b = classifier_weights()
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["data_0"], ["pooled"]),
         helper.make_node("Conv", ["pooled", "w", "b"], ["fc6_1"])],
        "densenet_onnx",
        [helper.make_tensor_value_info("data_0", TensorProto.FLOAT, [1, 3, 224, 224])],
        [helper.make_tensor_value_info("fc6_1", TensorProto.FLOAT, [1, CLASSES, 1, 1])],
        [numpy_helper.from_array(w.reshape(CLASSES, 3, 1, 1), "w"),
         numpy_helper.from_array(b, "b")])
    folder = repo / "densenet_onnx"
    _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8),
          folder / "1" / "model.onnx")
    (folder / "config.pbtxt").write_text(DENSENET_CONFIG)
    (folder / "densenet_labels.txt").write_text(
        "".join(f"{label(i)}\n" for i in range(CLASSES)))


def label(index: int) -> str:
    return f"class-{index:03d}"


def write_scale(repo: Path) -> None:
    """``scale``: ``INPUT0`` [-1,4] -> ``OUTPUT0`` = 2 * ``INPUT0``; the config names no
    tensors."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Mul", ["INPUT0", "two"], ["OUTPUT0"])], "scale",
        [helper.make_tensor_value_info("INPUT0", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("OUTPUT0", TensorProto.FLOAT, ["N", 4])],
        [numpy_helper.from_array(np.float32(2.0).reshape(()), "two")])
    _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8),
          repo / "scale" / "1" / "model.onnx")
    (repo / "scale" / "config.pbtxt").write_text(SCALE_CONFIG)


def write_broken(repo: Path) -> None:
    (repo / "broken" / "1").mkdir(parents=True)
    (repo / "broken" / "config.pbtxt").write_text(BROKEN_CONFIG)
    (repo / "broken" / "1" / "model.onnx").write_bytes(b"not an onnx file")


@dataclass
class Served:
    home: Path
    server: serving.InferenceServer

    def client(self, module):  # type: ignore[no-untyped-def]
        url = self.server.http_url.removeprefix("http://") if module is httpclient \
            else self.server.grpc_url
        return module.InferenceServerClient(url)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server on a repository of the classifier, ``scale`` and a broken model."""
    home = tmp_path_factory.mktemp("triton-examples") / "home"

    def write(repo: Path) -> None:
        write_densenet(repo)
        write_scale(repo)
        write_broken(repo)

    with example_server(home, write) as server:
        yield Served(home, server)


def image(seed: int = 0) -> np.ndarray:
    """An RGB image as image_client hands it over: CHW FP32, INCEPTION scaling."""
    pixels = np.random.default_rng(seed).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    return np.transpose(pixels.astype(np.float32) / 127.5 - 1, (2, 0, 1))


def expected_top(x: np.ndarray, k: int) -> list[tuple[float, int, str]]:
    w, b = classifier_weights()
    scores = w @ x.mean(axis=(1, 2)) + b
    top = np.argsort(-scores, kind="stable")[:k]
    return [(float(scores[i]), int(i), label(int(i))) for i in top]


@pytest.mark.parametrize("module", [httpclient, grpcclient], ids=["http", "grpc"])
def test_image_client_classification_with_labels(served: Served, module) -> None:  # type: ignore[no-untyped-def]
    c = served.client(module)
    try:
        metadata = c.get_model_metadata("densenet_onnx")
        config = c.get_model_config("densenet_onnx")
        if module is grpcclient:
            inp, out = metadata.inputs[0], metadata.outputs[0]
            meta_in = (inp.name, inp.datatype, list(inp.shape))
            meta_out = (out.name, out.datatype, list(out.shape))
            cfg = MessageToDict(config.config, preserving_proto_field_name=True)
        else:
            inp, out = metadata["inputs"][0], metadata["outputs"][0]
            meta_in = (inp["name"], inp["datatype"], inp["shape"])
            meta_out = (out["name"], out["datatype"], out["shape"])
            cfg = config
        # What image_client's parse_model reads: one input CHW, one FP32 vector output.
        assert meta_in == ("data_0", "FP32", [3, 224, 224])
        assert meta_out == ("fc6_1", "FP32", [1000])
        assert cfg.get("max_batch_size", 0) == 0
        assert cfg["input"][0]["format"] == "FORMAT_NCHW"

        x = image()
        inputs = [module.InferInput("data_0", list(x.shape), "FP32")]
        inputs[0].set_data_from_numpy(x)
        outputs = [module.InferRequestedOutput("fc6_1", class_count=3)]
        answer = c.infer("densenet_onnx", inputs, outputs=outputs).as_numpy("fc6_1")
    finally:
        c.close()
    assert answer.shape == (3,)
    got = [s.decode().split(":") for s in answer]
    want = expected_top(x, 3)
    assert [(int(i), name) for _, i, name in got] == [(i, name) for _, i, name in want]
    np.testing.assert_allclose([float(v) for v, _, _ in got], [v for v, _, _ in want],
                               rtol=1e-4)


def test_image_client_async_and_streaming_classification(served: Served) -> None:
    """``image_client -a`` over HTTP and ``--streaming`` over gRPC."""
    x = image(seed=1)
    want = [f"{i}:{name}" for _, i, name in expected_top(x, 2)]

    def _labels(answer: np.ndarray) -> list[str]:
        return [s.decode().split(":", 1)[1] for s in answer]

    c = served.client(httpclient)
    try:
        inp = httpclient.InferInput("data_0", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        pending = c.async_infer("densenet_onnx", [inp], request_id="1", outputs=[
            httpclient.InferRequestedOutput("fc6_1", class_count=2)])
        assert _labels(pending.get_result().as_numpy("fc6_1")) == want
    finally:
        c.close()

    answers: queue.Queue = queue.Queue()
    g = served.client(grpcclient)
    try:
        g.start_stream(lambda result, error: answers.put((result, error)))
        inp = grpcclient.InferInput("data_0", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        g.async_stream_infer("densenet_onnx", [inp], request_id="1", outputs=[
            grpcclient.InferRequestedOutput("fc6_1", class_count=2)])
        result, error = answers.get(timeout=30)
        g.stop_stream()
    finally:
        g.close()
    assert error is None
    assert result.get_response().id == "1"
    assert _labels(result.as_numpy("fc6_1")) == want


def test_model_control_index_load_unload_and_config_override(served: Served) -> None:
    c = served.client(httpclient)
    try:
        index = {m["name"] for m in c.get_model_repository_index()}
        assert index == {"densenet_onnx", "scale", "broken"}
        c.load_model("scale")
        assert c.is_model_ready("scale")
        assert c.get_model_config("scale")["max_batch_size"] == 8

        with pytest.raises(InferenceServerException, match="failed to load"):
            c.load_model("scale", config='"parameters": {"config": {{"max_batch_size": "16"}}}')

        # The override names no backend and no tensors: Triton completes them, as for a
        # config file, from the model's files.
        c.load_model("scale", config='{"max_batch_size":"16"}')
        config = c.get_model_config("scale")
        assert config["max_batch_size"] == 16
        assert [(t["name"], t["dims"]) for t in config["input"]] == [("INPUT0", [4])]
        x = np.arange(12 * 4, dtype=np.float32).reshape(12, 4)  # more than the file's 8
        inp = httpclient.InferInput("INPUT0", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        np.testing.assert_array_equal(c.infer("scale", [inp]).as_numpy("OUTPUT0"), 2 * x)

        c.unload_model("scale")
        assert not c.is_model_ready("scale")
        with pytest.raises(InferenceServerException, match="failed to load"):
            c.load_model("wrong_model_name")
    finally:
        c.close()


def test_grpc_model_control_with_a_full_config_override(served: Served) -> None:
    c = served.client(grpcclient)
    try:
        override = {"backend": "onnxruntime", "max_batch_size": 2,
                    "input": [{"name": "INPUT0", "data_type": "TYPE_FP32", "dims": [4]}],
                    "output": [{"name": "OUTPUT0", "data_type": "TYPE_FP32", "dims": [4]}]}
        c.load_model("scale", config=json.dumps(override))
        assert c.is_model_ready("scale")
        assert c.get_model_config("scale").config.max_batch_size == 2
        x = np.ones((2, 4), np.float32)
        inp = grpcclient.InferInput("INPUT0", [2, 4], "FP32")
        inp.set_data_from_numpy(x)
        np.testing.assert_array_equal(c.infer("scale", [inp]).as_numpy("OUTPUT0"), 2 * x)
        index = {m.name: m.state for m in c.get_model_repository_index().models}
        assert index["scale"] == "READY" and index["densenet_onnx"] == "READY"
        c.unload_model("scale")
        assert not c.is_model_ready("scale")
    finally:
        c.close()


def test_a_failed_model_leaves_the_server_ready(served: Served) -> None:
    base = served.server.http_url
    assert httpx.get(f"{base}/v2/models/broken/ready").status_code == 400
    assert httpx.get(f"{base}/v2/models/densenet_onnx/ready").status_code == 200
    assert httpx.get(f"{base}/v2/health/ready").status_code == 200
    c = served.client(grpcclient)
    try:
        assert c.is_server_ready() and not c.is_model_ready("broken")
    finally:
        c.close()

    shown = run_cli(served.home, "inference", "show", "examples", "--json").json()
    table = run_cli(served.home, "inference", "show", "examples").out
    assert shown["state"] == "ready"
    assert re.search(r"^ state +│ ready +$", table, re.M), table
    models = {m["name"]: m["state"] for m in shown["models"]}
    assert models["broken"] == "UNAVAILABLE" and models["densenet_onnx"] == "READY"


def test_model_repo_check_reads_the_config_as_the_server_does(served: Served) -> None:
    r = run_cli(served.home, "model-repo", "check", "models", "--json")
    models = {m["name"]: m for m in json.loads(r.out)["models"]}
    assert models["densenet_onnx"]["problems"] == []
    assert models["scale"]["problems"] == []
    assert models["scale"]["inputs"] == [{"name": "INPUT0", "datatype": "FP32", "dims": [4]}]
    assert models["scale"]["outputs"] == [{"name": "OUTPUT0", "datatype": "FP32", "dims": [4]}]
    assert models["broken"]["problems"]
    table = run_cli(served.home, "model-repo", "check", "models", env={"COLUMNS": "200"}).out
    assert re.search(r"^ scale .* INPUT0 FP32 \[4\] .* OUTPUT0 FP32 \[4\] .* ok +$", table,
                     re.M), table
    assert re.search(r"^ densenet_onnx .* data_0 FP32 \[3, 224, 224\] .* ok +$", table,
                     re.M), table
