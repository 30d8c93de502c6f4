"""Sequence batching in a model repository: one reading of ``sequence_batching`` for
``model-repo check`` and for serving (control inputs supplied by Triton's sequence
batcher are model inputs; implicit state is refused)."""

from __future__ import annotations

from pathlib import Path

from mlfabric.serving.layout import read_model
from mlfabric.serving.onnx_io import mismatches
from mlfabric.serving.staging import staged_config
from tests.triton_models import (
    write_implicit_state_sequence,
    write_simple_sequence,
    write_simple_string_dyna_sequence,
)


def _edit(config: Path, old: str, new: str) -> None:
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new))


def test_control_inputs_are_model_inputs_the_config_supplies(tmp_path: Path) -> None:
    onnx = write_simple_sequence(tmp_path)
    model = read_model(tmp_path / "simple_sequence")
    assert model.problems == [] and model.servable
    assert mismatches(model.config, onnx) == []
    assert read_model(tmp_path / "simple_sequence").kind == "onnx"


def test_a_model_input_nobody_supplies_is_a_problem(tmp_path: Path) -> None:
    onnx = write_simple_sequence(tmp_path)
    config = tmp_path / "simple_sequence" / "config.pbtxt"
    # Without its READY control the model's READY input would be missing at every request.
    _edit(config, 'int32_false_true: [ 0, 1 ] } ] },\n    { name: "READY"',
          'int32_false_true: [ 0, 1 ] } ] },\n    { name: "NOT_READY"')
    problems = mismatches(read_model(tmp_path / "simple_sequence").config, onnx)
    assert problems == [
        "model input 'READY' is neither a config input nor a sequence_batching control input",
        "control input 'NOT_READY' is not an input of the model (it has INPUT, READY, START)"]


def test_a_control_typed_unlike_the_model_is_a_problem(tmp_path: Path) -> None:
    onnx = write_simple_sequence(tmp_path)
    config = tmp_path / "simple_sequence" / "config.pbtxt"
    _edit(config, "CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ]",
          "CONTROL_SEQUENCE_START fp32_false_true: [ 0, 1 ]")
    assert mismatches(read_model(tmp_path / "simple_sequence").config, onnx) == [
        "control input 'START' is TYPE_FP32 in the config but TYPE_INT32 in the model"]


def test_implicit_state_is_refused_for_check_and_serving(tmp_path: Path) -> None:
    write_implicit_state_sequence(tmp_path)
    model = read_model(tmp_path / "implicit_state")
    assert not model.servable  # the launcher does not stage it; check lists the problem
    assert len(model.problems) == 1
    assert model.problems[0].startswith(
        "config.pbtxt: sequence_batching.state (implicit state) is not supported here")


def test_a_string_corrid_is_refused(tmp_path: Path) -> None:
    # The bundled tritonserver fails every request of such a model (seen with the direct
    # and oldest strategies, batching or not), so neither check nor serving accepts it.
    write_simple_string_dyna_sequence(tmp_path)
    model = read_model(tmp_path / "simple_string_dyna_sequence")
    assert not model.servable
    assert model.problems == ["config.pbtxt: control input 'CORRID' has data_type TYPE_STRING, "
                              "which this tritonserver rejects on every request; use "
                              "TYPE_UINT64 (string sequence ids still work with models that "
                              "take no CORRID)"]


def test_completed_inputs_leave_out_the_control_inputs(tmp_path: Path) -> None:
    write_simple_sequence(tmp_path)
    config = tmp_path / "simple_sequence" / "config.pbtxt"
    text = config.read_text()
    config.write_text(text[:text.index("input [ {")])  # no inputs or outputs declared
    model = read_model(tmp_path / "simple_sequence")
    staged = staged_config(model, "onnx")
    assert [t.name for t in staged.input] == ["INPUT"]
    assert [t.name for t in staged.output] == ["OUTPUT"]
