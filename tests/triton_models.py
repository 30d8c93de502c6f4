"""Models equivalent to Triton's example models (same names, tensors and semantics as the
official client examples expect), built here with ``onnx.helper``, ``torch.jit`` and plain
Python; nothing is downloaded or copied.

- ``simple``: INPUT0, INPUT1 INT32 [16] -> OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 = INPUT0 - INPUT1
  (ONNX).
- ``simple_string``: the same on BYTES tensors holding decimal integers (ONNX, casting the
  strings to numbers and back); ``simple_string_torch`` (TorchScript, ``List[str]``) and
  ``simple_string_py`` (a Python function) do the same.
- ``simple_sequence``: direct sequence batching with START and READY control inputs;
  OUTPUT = INPUT, plus one on the request that starts the sequence (ONNX). The examples
  expect exactly this: 0 -> 1 on start, then each value back.
- ``simple_dyna_sequence``: the oldest strategy with START, END, READY and CORRID; as above,
  plus the correlation id on the request that ends the sequence (a Python function).
- ``simple_string_dyna_sequence``: string correlation ids (CORRID is BYTES); OUTPUT is the
  running total of the sequence's inputs, plus the id (a number) on the request that ends
  it (a Python function keeping each sequence's total). The bundled tritonserver rejects
  every request to it, so mlfabric refuses it; it is not part of ``write_examples``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

SIMPLE_CONFIG = """\
name: "simple"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [
  { name: "INPUT0" data_type: TYPE_INT32 dims: [ 16 ] },
  { name: "INPUT1" data_type: TYPE_INT32 dims: [ 16 ] }
]
output [
  { name: "OUTPUT0" data_type: TYPE_INT32 dims: [ 16 ] },
  { name: "OUTPUT1" data_type: TYPE_INT32 dims: [ 16 ] }
]
"""

STRING_CONFIG = """\
name: "{name}"
{engine}
max_batch_size: 8
input [
  {{ name: "INPUT0" data_type: TYPE_STRING dims: [ 16 ] }},
  {{ name: "INPUT1" data_type: TYPE_STRING dims: [ 16 ] }}
]
output [
  {{ name: "OUTPUT0" data_type: TYPE_STRING dims: [ 16 ] }},
  {{ name: "OUTPUT1" data_type: TYPE_STRING dims: [ 16 ] }}
]
"""

_CONTROL = """\
    {{ name: "{name}" control [ {{ kind: CONTROL_SEQUENCE_{kind} {how} }} ] }}"""

SEQUENCE_CONFIG = """\
name: "{name}"
{engine}
max_batch_size: 8
sequence_batching {{
{strategy}
  control_input [
{controls}
  ]
}}
input [ {{ name: "INPUT" data_type: TYPE_INT32 dims: [ 1 ] }} ]
output [ {{ name: "OUTPUT" data_type: TYPE_INT32 dims: [ 1 ] }} ]
instance_group [ {{ count: {instances} kind: KIND_CPU }} ]
"""

DYNA_SEQUENCE_SOURCE = """\
import numpy as np


def infer(INPUT, START, END, READY, CORRID):
    out = INPUT.astype(np.int64) + START + END * CORRID.astype(np.int64)
    return {"OUTPUT": (out * READY).astype(np.int32)}
"""

STRING_DYNA_SEQUENCE_SOURCE = """\
import numpy as np

_totals = {}  # correlation id -> running total; the sequence batcher keeps a sequence on
              # one instance, so each instance's own totals are complete


def infer(INPUT, START, END, READY, CORRID):
    out = np.zeros_like(INPUT)
    for row in range(INPUT.shape[0]):
        if not READY[row, 0]:
            continue
        key = CORRID[row, 0]
        total = (0 if START[row, 0] else _totals.get(key, 0)) + int(INPUT[row, 0])
        _totals[key] = total
        out[row, 0] = total + (int(key) if END[row, 0] else 0)
        if END[row, 0]:
            del _totals[key]
    return {"OUTPUT": out}
"""

STRING_FUNCTION_SOURCE = """\
import numpy as np


def infer(INPUT0, INPUT1):
    a = np.vectorize(int, otypes=[np.int64])(INPUT0)
    b = np.vectorize(int, otypes=[np.int64])(INPUT1)
    text = np.vectorize(lambda v: str(v).encode(), otypes=[object])
    return {"OUTPUT0": text(a + b), "OUTPUT1": text(a - b)}
"""


def _onnx_model(nodes: list, inputs: list, outputs: list, name: str) -> bytes:  # type: ignore[type-arg]
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, name, inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _write(repo: Path, name: str, config: str, filename: str, content: bytes | str) -> Path:
    (repo / name / "1").mkdir(parents=True, exist_ok=True)
    (repo / name / "config.pbtxt").write_text(config)
    path = repo / name / "1" / filename
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def _add_sub(elem: int, name: str) -> bytes:
    """INPUT0, INPUT1 of ``elem`` type [N,16] -> their sum and difference, computed in
    INT32 (string tensors are cast to numbers and back, as Triton's string model does)."""
    from onnx import TensorProto, helper

    numeric = elem != TensorProto.STRING
    nodes = [] if numeric else [
        helper.make_node("Cast", ["INPUT0"], ["a"], to=TensorProto.INT32),
        helper.make_node("Cast", ["INPUT1"], ["b"], to=TensorProto.INT32)]
    a, b = ("INPUT0", "INPUT1") if numeric else ("a", "b")
    s, d = ("OUTPUT0", "OUTPUT1") if numeric else ("s", "d")
    nodes += [helper.make_node("Add", [a, b], [s]), helper.make_node("Sub", [a, b], [d])]
    if not numeric:
        nodes += [helper.make_node("Cast", ["s"], ["OUTPUT0"], to=TensorProto.STRING),
                  helper.make_node("Cast", ["d"], ["OUTPUT1"], to=TensorProto.STRING)]
    io = [helper.make_tensor_value_info(n, elem, ["N", 16]) for n in ("INPUT0", "INPUT1")]
    out = [helper.make_tensor_value_info(n, elem, ["N", 16]) for n in ("OUTPUT0", "OUTPUT1")]
    return _onnx_model(nodes, io, out, name)


def write_simple(repo: Path) -> Path:
    """``simple``: INT32 add and subtract, ONNX."""
    from onnx import TensorProto

    return _write(repo, "simple", SIMPLE_CONFIG, "model.onnx",
                  _add_sub(TensorProto.INT32, "simple"))


def write_simple_string(repo: Path) -> Path:
    """``simple_string``: add and subtract on strings of integers, ONNX."""
    from onnx import TensorProto

    config = STRING_CONFIG.format(name="simple_string", engine='platform: "onnxruntime_onnx"')
    return _write(repo, "simple_string", config, "model.onnx",
                  _add_sub(TensorProto.STRING, "simple_string"))


def write_simple_string_torch(repo: Path) -> Path:
    """``simple_string_torch``: the same as a TorchScript module on ``List[str]``."""
    import torch

    class AddSubStrings(torch.nn.Module):
        def forward(self, a: list[str], b: list[str]) -> tuple[list[str], list[str]]:
            sums: list[str] = []
            diffs: list[str] = []
            for i in range(len(a)):
                sums.append(str(int(a[i]) + int(b[i])))
                diffs.append(str(int(a[i]) - int(b[i])))
            return sums, diffs

    with warnings.catch_warnings():
        # TorchScript is deprecated in torch, but it is what pytorch_libtorch serves.
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.script(AddSubStrings())
    config = STRING_CONFIG.format(name="simple_string_torch", engine='platform: "pytorch_libtorch"')
    path = _write(repo, "simple_string_torch", config, "model.pt", b"")
    module.save(str(path))
    return path


def write_simple_string_py(repo: Path) -> Path:
    """``simple_string_py``: the same as a Python function."""
    config = STRING_CONFIG.format(name="simple_string_py", engine='backend: "python"')
    return _write(repo, "simple_string_py", config, "model.py", STRING_FUNCTION_SOURCE)


def _controls(*kinds: str, corrid: str = "TYPE_UINT64") -> str:
    how = {"CORRID": f"data_type: {corrid}"}
    return ",\n".join(_CONTROL.format(name=k, kind=k, how=how.get(k, "int32_false_true: [ 0, 1 ]"))
                      for k in kinds)


def write_simple_sequence(repo: Path) -> Path:
    """``simple_sequence``: direct strategy, START and READY; OUTPUT = (INPUT + START) * READY,
    ONNX."""
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Add", ["INPUT", "START"], ["s"]),
             helper.make_node("Mul", ["s", "READY"], ["OUTPUT"])]
    io = [helper.make_tensor_value_info(n, TensorProto.INT32, ["N", 1])
          for n in ("INPUT", "START", "READY")]
    out = [helper.make_tensor_value_info("OUTPUT", TensorProto.INT32, ["N", 1])]
    config = SEQUENCE_CONFIG.format(name="simple_sequence", engine='platform: "onnxruntime_onnx"',
                                    strategy="", controls=_controls("START", "READY"),
                                    instances=1)
    return _write(repo, "simple_sequence", config, "model.onnx",
                  _onnx_model(nodes, io, out, "simple_sequence"))


_OLDEST = ("  max_sequence_idle_microseconds: 10000000\n"
           "  oldest { max_candidate_sequences: 64 max_queue_delay_microseconds: 1000 }")


def write_simple_dyna_sequence(repo: Path) -> Path:
    """``simple_dyna_sequence``: oldest strategy, START, END, READY and CORRID; the
    correlation id is added on the request that ends the sequence (a Python function)."""
    config = SEQUENCE_CONFIG.format(name="simple_dyna_sequence", engine='backend: "python"',
                                    strategy=_OLDEST,
                                    controls=_controls("START", "END", "READY", "CORRID"),
                                    instances=2)
    return _write(repo, "simple_dyna_sequence", config, "model.py", DYNA_SEQUENCE_SOURCE)


IMPLICIT_STATE = ('  state [ { input_name: "IN_STATE" output_name: "OUT_STATE" '
                  'data_type: TYPE_INT32 dims: [ 1 ] } ]\n')


def write_implicit_state_sequence(repo: Path) -> Path:
    """``implicit_state``: the dynamic-sequence model with implicit state added, which this
    engine refuses (for ``model-repo check`` and for serving alike)."""
    config = SEQUENCE_CONFIG.format(name="implicit_state", engine='backend: "python"',
                                    strategy=IMPLICIT_STATE.rstrip(),
                                    controls=_controls("START", "END", "READY", "CORRID"),
                                    instances=1)
    return _write(repo, "implicit_state", config, "model.py", DYNA_SEQUENCE_SOURCE)


def write_simple_string_dyna_sequence(repo: Path) -> Path:
    """``simple_string_dyna_sequence``: string correlation ids, a running total per sequence
    (a Python function)."""
    config = SEQUENCE_CONFIG.format(
        name="simple_string_dyna_sequence", engine='backend: "python"', strategy=_OLDEST,
        controls=_controls("START", "END", "READY", "CORRID", corrid="TYPE_STRING"),
        instances=1)
    return _write(repo, "simple_string_dyna_sequence", config, "model.py",
                  STRING_DYNA_SEQUENCE_SOURCE)


def write_examples(repo: Path) -> None:
    """Every model above into ``repo``."""
    for write in (write_simple, write_simple_string, write_simple_string_torch,
                  write_simple_string_py, write_simple_sequence, write_simple_dyna_sequence):
        write(repo)
