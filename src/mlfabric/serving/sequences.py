"""Triton's sequence batching as this engine serves it: one reading of a config's
``sequence_batching`` for ``model-repo check``, staging and the launcher.

Triton's own sequence batcher (the ``direct`` and ``oldest`` strategies) routes each
sequence to one model instance and adds the control inputs it declares (START, END,
READY, CORRID) to every request; the runner hands them to the model with its other
inputs. Implicit state (``state``) and iterative sequences need the native onnxruntime
or libtorch backend, which this bundle does not have: such configs are refused, as is a
string (``TYPE_STRING``) CORRID, which this ``tritonserver`` rejects on every request.
"""

from __future__ import annotations

from typing import Any

# Which oneof of a control says the tensor's data type
_FALSE_TRUE = {"int32_false_true": "TYPE_INT32", "fp32_false_true": "TYPE_FP32",
               "bool_false_true": "TYPE_BOOL"}


def control_inputs(config: Any) -> dict[str, str]:
    """``{name: TYPE_...}`` of the control inputs a config's sequence batcher supplies."""
    if not config.HasField("sequence_batching"):
        return {}
    pb = type(config).DESCRIPTOR.file  # model_config.proto, without importing layout
    type_names = pb.enum_types_by_name["DataType"].values_by_number
    out: dict[str, str] = {}
    for ci in config.sequence_batching.control_input:
        for control in ci.control:
            dtype = next((t for field, t in _FALSE_TRUE.items() if getattr(control, field)),
                         None)
            out[ci.name] = dtype or type_names[control.data_type].name
    return out


def refusal(config: Any) -> str | None:
    """Why this engine cannot serve a config's sequence batching, or None."""
    if not config.HasField("sequence_batching"):
        return None
    seq = config.sequence_batching
    if len(seq.state):
        return ("sequence_batching.state (implicit state) is not supported here: it needs "
                "Triton's native onnxruntime or libtorch backend; pass the state as inputs "
                "and outputs instead")
    if seq.iterative_sequence:
        return "sequence_batching.iterative_sequence is not supported here"
    strings = [n for n, t in control_inputs(config).items() if t == "TYPE_STRING"]
    if strings:
        # tritonserver 2.51 (this bundle) rejects every request of such a model with
        # "unexpected number of string elements 2 for inference input 'CORRID'".
        return (f"control input '{strings[0]}' has data_type TYPE_STRING, which this "
                "tritonserver rejects on every request; use TYPE_UINT64 (string sequence "
                "ids still work with models that take no CORRID)")
    return None
