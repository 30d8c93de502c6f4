"""An ONNX model's inputs and outputs as Triton sees them: to complete a config that
leaves them out (as Triton's onnxruntime backend does) and to check one that names them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlfabric.serving.layout import model_config_pb2
from mlfabric.serving.sequences import control_inputs

# onnxruntime's type strings -> Triton data types
_ORT_TYPES = {
    "tensor(float)": "TYPE_FP32", "tensor(double)": "TYPE_FP64", "tensor(float16)": "TYPE_FP16",
    "tensor(bfloat16)": "TYPE_BF16", "tensor(int8)": "TYPE_INT8", "tensor(int16)": "TYPE_INT16",
    "tensor(int32)": "TYPE_INT32", "tensor(int64)": "TYPE_INT64", "tensor(uint8)": "TYPE_UINT8",
    "tensor(uint16)": "TYPE_UINT16", "tensor(uint32)": "TYPE_UINT32",
    "tensor(uint64)": "TYPE_UINT64", "tensor(bool)": "TYPE_BOOL", "tensor(string)": "TYPE_STRING",
}


def onnx_signature(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``{name, data_type, shape}`` of each input and output; a dynamic dimension is -1.
    Raises whatever onnxruntime raises for a file it cannot load."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def _one(arg: Any) -> dict[str, Any]:
        shape = [d if isinstance(d, int) and d >= 0 else -1 for d in (arg.shape or [])]
        return {"name": arg.name, "data_type": _ORT_TYPES.get(arg.type, arg.type),
                "shape": shape}

    return [_one(a) for a in sess.get_inputs()], [_one(a) for a in sess.get_outputs()]


def tensors(path: Path, batching: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``{name, data_type, dims}`` of each input and output of the ONNX file at ``path``,
    as a config declares them (without the batch dimension when ``batching``)."""
    inputs, outputs = onnx_signature(path)

    def _declared(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"name": t["name"], "data_type": t["data_type"],
                 "dims": t["shape"][1:] if batching and t["shape"] else t["shape"]}
                for t in found]

    return _declared(inputs), _declared(outputs)


def complete_config(config: Any, path: Path) -> None:
    """Fill a config's missing inputs/outputs from the ONNX file at ``path`` (in place),
    as Triton's onnxruntime backend does."""
    pb = model_config_pb2()
    inputs, outputs = tensors(path, config.max_batch_size > 0)
    controls = control_inputs(config)  # the sequence batcher supplies these, not clients
    for field, found in ((config.input, inputs), (config.output, outputs)):
        if len(field):
            continue
        for t in found:
            if field is config.input and t["name"] in controls:
                continue
            field.add(name=t["name"], data_type=pb.DataType.Value(t["data_type"]),
                      dims=t["dims"])


def mismatches(config: Any, path: Path) -> list[str]:
    """How a config's inputs and outputs disagree with the ONNX file (names, types, dims)."""
    pb = model_config_pb2()
    inputs, outputs = onnx_signature(path)
    batch = config.max_batch_size > 0
    problems: list[str] = []
    for what, declared, found in (("input", config.input, inputs),
                                  ("output", config.output, outputs)):
        by_name = {t["name"]: t for t in found}
        for t in declared:
            real = by_name.get(t.name)
            if real is None:
                problems.append(f"{what} '{t.name}' is not in the model (it has "
                                f"{', '.join(sorted(by_name)) or 'none'})")
                continue
            dtype = pb.DataType.Name(t.data_type)
            if real["data_type"] != dtype:
                problems.append(f"{what} '{t.name}' is {dtype} in the config but "
                                f"{real['data_type']} in the model")
            shape = real["shape"]
            if batch:
                if shape and shape[0] not in (-1,):
                    problems.append(f"{what} '{t.name}': max_batch_size > 0 needs a dynamic "
                                    f"first dimension, the model has {shape[0]}")
                shape = shape[1:]
            # The model sees the reshaped tensor; clients send (and get) ``dims``.
            reshaped = t.HasField("reshape")
            dims = [int(d) for d in (t.reshape.shape if reshaped else t.dims)]
            if len(dims) != len(shape) or any(a != b and -1 not in (a, b)
                                              for a, b in zip(dims, shape, strict=False)):
                problems.append(f"{what} '{t.name}' has {'reshape' if reshaped else 'dims'} "
                                f"{dims} in the config but {shape} in the model")
            sizes = (_elements(t.dims), _elements(t.reshape.shape))
            if reshaped and None not in sizes and sizes[0] != sizes[1]:
                problems.append(f"{what} '{t.name}': reshape {dims} does not hold the "
                                f"{[int(d) for d in t.dims]} of its dims")
    problems += _control_mismatches(config, inputs)
    return problems


def _control_mismatches(config: Any, inputs: list[dict[str, Any]]) -> list[str]:
    """Model inputs that neither the config nor its sequence batcher supplies, and control
    inputs the model lacks or types differently (what would fail at the first request)."""
    controls = control_inputs(config)
    declared = {t.name for t in config.input}
    by_name = {t["name"]: t for t in inputs}
    problems = [f"model input '{n}' is neither a config input nor a sequence_batching "
                "control input" for n in by_name if n not in declared and n not in controls]
    for name, dtype in controls.items():
        real = by_name.get(name)
        if real is None:
            problems.append(f"control input '{name}' is not an input of the model (it has "
                            f"{', '.join(sorted(by_name)) or 'none'})")
        elif real["data_type"] != dtype:
            problems.append(f"control input '{name}' is {dtype} in the config but "
                            f"{real['data_type']} in the model")
    return problems


def _elements(dims: Any) -> int | None:
    """How many elements a shape holds (None when a dimension is variable)."""
    n = 1
    for d in dims:
        if d < 0:
            return None
        n *= int(d)
    return n
