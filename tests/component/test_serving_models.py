"""Models for the serving tests, built here with ``onnx.helper`` and ``torch.jit`` (never
downloaded), and a check that each builder yields the signature its config declares."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

TAIL_CONFIG = """\
name: "tail"
platform: "onnxruntime_onnx"
max_batch_size: 32
input [ { name: "INPUT__0" data_type: TYPE_FP32 dims: [ 128, 32, 32 ] } ]
output [
  { name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ 4, 32, 32 ] },
  { name: "OUTPUT__1" data_type: TYPE_FP32 dims: [ 8 ] }
]
dynamic_batching { max_queue_delay_microseconds: 500 }
instance_group [ { count: 1 kind: KIND_CPU } ]
"""

FUNCTION_CONFIG = """\
name: "double"
backend: "python"
max_batch_size: 8
input [ { name: "X" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "Y" data_type: TYPE_FP32 dims: [ 4 ] } ]
"""

FUNCTION_SOURCE = """\
import numpy as np


def infer(X):
    return {"Y": X * 2.0 + 1.0}
"""

TORCHSCRIPT_CONFIG = """\
name: "linear"
platform: "pytorch_libtorch"
max_batch_size: 8
input [ { name: "INPUT__0" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ 2 ] } ]
"""


def tail_onnx(seed: int = 0) -> bytes:
    """The detector tail: ``INPUT__0`` [N,128,32,32] -> ``OUTPUT__0`` [N,4,32,32] (a 3x3
    then 1x1 convolution) and ``OUTPUT__1`` [N,8] (global average of the hidden map)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    weights = {
        "w1": (rng.standard_normal((8, 128, 3, 3)) * 0.05).astype(np.float32),
        "b1": (rng.standard_normal(8) * 0.1).astype(np.float32),
        "w2": (rng.standard_normal((4, 8, 1, 1)) * 0.1).astype(np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["INPUT__0", "w1", "b1"], ["h"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Conv", ["r", "w2"], ["OUTPUT__0"]),
        helper.make_node("GlobalAveragePool", ["r"], ["g"]),
        helper.make_node("Flatten", ["g"], ["OUTPUT__1"]),
    ]
    graph = helper.make_graph(
        nodes, "tail",
        [helper.make_tensor_value_info("INPUT__0", TensorProto.FLOAT, ["N", 128, 32, 32])],
        [helper.make_tensor_value_info("OUTPUT__0", TensorProto.FLOAT, ["N", 4, 32, 32]),
         helper.make_tensor_value_info("OUTPUT__1", TensorProto.FLOAT, ["N", 8])],
        [numpy_helper.from_array(v, k) for k, v in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def write_tail(repo: Path, version: int = 1, seed: int = 0, name: str = "tail") -> Path:
    """``repo/<name>/config.pbtxt`` and ``repo/<name>/<version>/model.onnx``."""
    folder = repo / name
    (folder / str(version)).mkdir(parents=True, exist_ok=True)
    (folder / "config.pbtxt").write_text(TAIL_CONFIG.replace('"tail"', f'"{name}"'))
    path = folder / str(version) / "model.onnx"
    path.write_bytes(tail_onnx(seed))
    return path


def write_function_model(repo: Path) -> None:
    """``double``: a Python model exposing ``infer(X) -> {"Y": 2X + 1}``."""
    (repo / "double" / "1").mkdir(parents=True)
    (repo / "double" / "config.pbtxt").write_text(FUNCTION_CONFIG)
    (repo / "double" / "1" / "model.py").write_text(FUNCTION_SOURCE)


def write_torchscript(repo: Path) -> object:
    """``linear``: a TorchScript ``Linear(4, 2)``; returns the torch module."""
    import torch

    torch.manual_seed(0)
    with warnings.catch_warnings():
        # TorchScript is deprecated in torch, but it is what pytorch_libtorch serves.
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.script(torch.nn.Linear(4, 2).eval())
    (repo / "linear" / "1").mkdir(parents=True)
    (repo / "linear" / "config.pbtxt").write_text(TORCHSCRIPT_CONFIG)
    module.save(str(repo / "linear" / "1" / "model.pt"))
    return module


def ort_run(model: Path, x: np.ndarray) -> list[np.ndarray]:
    """The reference: in-process onnxruntime on the same input."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return sess.run(["OUTPUT__0", "OUTPUT__1"], {"INPUT__0": x})


def test_tail_builder_matches_the_reference_signature(tmp_path: Path) -> None:
    from mlfabric.serving.onnx_io import onnx_signature

    path = write_tail(tmp_path)
    inputs, outputs = onnx_signature(path)
    assert inputs == [{"name": "INPUT__0", "data_type": "TYPE_FP32", "shape": [-1, 128, 32, 32]}]
    assert [(o["name"], o["shape"]) for o in outputs] == [("OUTPUT__0", [-1, 4, 32, 32]),
                                                         ("OUTPUT__1", [-1, 8])]
    x = np.random.default_rng(1).random((3, 128, 32, 32), dtype=np.float32)
    out0, out1 = ort_run(path, x)
    assert out0.shape == (3, 4, 32, 32) and out1.shape == (3, 8)
    assert np.all(out1 >= 0)  # an average of ReLU outputs
