"""Model repositories in Triton's layout: reading, problems, staging for the Python
backend, and the per-model states the launcher reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlfabric.serving.launch import Tracked, model_states
from mlfabric.serving.layout import read_model, read_repository
from mlfabric.serving.onnx_io import mismatches
from mlfabric.serving.staging import stage_model
from tests.component.test_serving_models import (
    FUNCTION_SOURCE,
    TAIL_CONFIG,
    write_function_model,
    write_tail,
)

LINEAR = """\
platform: "pytorch_libtorch"
max_batch_size: 8
input [ { name: "INPUT__0" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ 2 ] } ]
"""


def model_dir(root: Path, name: str, files: dict[str, str | bytes]) -> Path:
    """A model folder from ``{relative path: content}``."""
    folder = root / name
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


CASES = {
    "onnx with config": (
        {"config.pbtxt": TAIL_CONFIG.replace('"tail"', '"m"'), "1/model.onnx": b"x"}, "onnx",
        [1], []),
    "onnx config.json": (
        {"config.json": '{"platform": "onnxruntime_onnx", "max_batch_size": 4}',
         "3/model.onnx": b"x"}, "onnx", [3], []),
    "onnx backend name": (
        {"config.pbtxt": 'backend: "onnxruntime"', "1/model.onnx": b"x"}, "onnx", [1], []),
    "no config, onnx file": ({"1/model.onnx": b"x"}, "onnx", [1], []),
    "no config at all": ({"1/model.pt": b"x"}, None, [], ["no config.pbtxt or config.json"]),
    "config does not parse": (
        {"config.pbtxt": 'platform: "onnxruntime_onnx"\nbogus: 1\n', "1/model.onnx": b"x"},
        None, [], ["config.pbtxt: 2:1 : Message type \"inference.ModelConfig\" has no field "
                   "named \"bogus\"."]),
    "name differs from folder": (
        {"config.pbtxt": 'name: "other" platform: "onnxruntime_onnx"', "1/model.onnx": b"x"},
        "onnx", [1], ["config.pbtxt: name 'other' does not match the folder 'm'"]),
    "unsupported platform": (
        {"config.pbtxt": 'platform: "tensorrt_plan"', "1/model.plan": b"x"}, None, [],
        ["config.pbtxt: platform 'tensorrt_plan' is not supported here (use "
         "onnxruntime_onnx or pytorch_libtorch)"]),
    "backend and platform disagree": (
        {"config.pbtxt": 'backend: "python" platform: "onnxruntime_onnx"'}, None, [],
        ["config.pbtxt: backend 'python' does not match platform 'onnxruntime_onnx'"]),
    "neither backend nor platform": (
        {"config.pbtxt": "max_batch_size: 4", "1/model.onnx": b"x"}, None, [],
        ['config.pbtxt: config names no backend or platform (e.g. platform: '
         '"onnxruntime_onnx")']),
    "version without its file": (
        {"config.pbtxt": TAIL_CONFIG.replace('"tail"', '"m"'), "1/model.onnx": b"x",
         "2/readme.txt": "later"}, "onnx", [1], ["version 2: no model.onnx"]),
    "no versions": (
        {"config.pbtxt": 'platform: "onnxruntime_onnx"', "latest/model.onnx": b"x"},
        "onnx", [], ["no version folder (e.g. 1/model.onnx)"]),
    "torchscript needs inputs": (
        {"config.pbtxt": 'platform: "pytorch_libtorch"', "1/model.pt": b"x"}, "torchscript",
        [1], ["config.pbtxt: a torchscript model must declare its inputs and outputs"]),
    "torchscript": ({"config.pbtxt": LINEAR, "1/model.pt": b"x"}, "torchscript", [1], []),
    "default_model_filename": (
        {"config.pbtxt": LINEAR + 'default_model_filename: "net.pt"', "1/net.pt": b"x"},
        "torchscript", [1], []),
}


@pytest.mark.parametrize("files,kind,versions,problems", CASES.values(), ids=list(CASES))
def test_read_model(tmp_path: Path, files: dict, kind: str | None, versions: list[int],
                    problems: list[str]) -> None:
    model = read_model(model_dir(tmp_path, "m", files))
    assert (model.kind, model.versions, model.problems) == (kind, versions, problems)


def test_repository_lists_model_folders_and_flags_an_empty_one(tmp_path: Path) -> None:
    assert read_repository(tmp_path / "missing") == ([], [f"'{tmp_path / 'missing'}' is not "
                                                          "a folder"])
    assert read_repository(tmp_path)[1] == ["no model folders (expected <model>/config.pbtxt "
                                            "and <model>/<version>/model.onnx)"]
    write_tail(tmp_path)
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "README.md").write_text("models")
    models, problems = read_repository(tmp_path)
    assert [m.name for m in models] == ["tail"] and problems == []


def test_config_mismatches_with_the_onnx_file(tmp_path: Path) -> None:
    from mlfabric.serving.layout import parse_config

    path = write_tail(tmp_path)
    cfg_path = tmp_path / "tail" / "config.pbtxt"
    assert mismatches(parse_config(cfg_path), path) == []
    cfg_path.write_text(TAIL_CONFIG.replace('"INPUT__0" data_type: TYPE_FP32 dims: [ 128, 32, 32 ]',
                                            '"INPUT__0" data_type: TYPE_FP16 dims: [ 3, 32, 32 ]')
                        .replace('"OUTPUT__1"', '"SCORES"'))
    assert mismatches(parse_config(cfg_path), path) == [
        "input 'INPUT__0' is TYPE_FP16 in the config but TYPE_FP32 in the model",
        "input 'INPUT__0' has dims [3, 32, 32] in the config but [128, 32, 32] in the model",
        "output 'SCORES' is not in the model (it has OUTPUT__0, OUTPUT__1)",
    ]


def _staged_text(staging: Path, name: str) -> str:
    return (staging / name / "config.pbtxt").read_text()


def test_onnx_model_is_staged_for_this_engines_onnxruntime_backend(tmp_path: Path) -> None:
    repo, staging, build = tmp_path / "repo", tmp_path / "staging", tmp_path / "build"
    staging.mkdir()
    write_tail(repo)
    (repo / "tail" / "config.pbtxt").write_text(
        TAIL_CONFIG.replace("KIND_CPU", "KIND_GPU gpus: [ 0 ]")
        + 'optimization { execution_accelerators { gpu_execution_accelerator '
          '[ { name: "tensorrt" } ] } }\n')
    stage_model(read_model(repo / "tail"), staging, build)
    text = _staged_text(staging, "tail")
    assert 'backend: "onnxruntime"' in text and 'platform: "onnxruntime_onnx"' in text
    assert "max_batch_size: 32" in text and "max_queue_delay_microseconds: 500" in text
    assert "kind: KIND_CPU" in text and "gpus" not in text and "optimization" not in text
    assert 'string_value: "onnx"' in text and 'string_value: "model.onnx"' in text
    staged = staging / "tail" / "1"
    assert (staged / "model.onnx").read_bytes() == (repo / "tail" / "1" / "model.onnx")\
        .read_bytes()
    assert sorted(p.name for p in staged.iterdir()) == ["model.onnx"]


def test_every_file_next_to_the_config_is_staged(tmp_path: Path) -> None:
    repo, staging, build = tmp_path / "repo", tmp_path / "staging", tmp_path / "build"
    staging.mkdir()
    write_tail(repo)
    (repo / "tail" / "labels.txt").write_text("cat\ndog\n")
    (repo / "tail" / "tokenizer").mkdir()
    (repo / "tail" / "tokenizer" / "vocab.json").write_text("{}")
    (repo / "tail" / "7").mkdir()  # a version folder without a model is not staged
    stage_model(read_model(repo / "tail"), staging, build)
    staged = staging / "tail"
    assert sorted(p.name for p in staged.iterdir()) == ["1", "config.pbtxt", "labels.txt",
                                                        "tokenizer"]
    assert (staged / "labels.txt").read_text() == "cat\ndog\n"
    assert (staged / "tokenizer" / "vocab.json").read_text() == "{}"


def test_reshape_is_what_the_model_file_is_checked_against(tmp_path: Path) -> None:
    write_tail(tmp_path)
    config = read_model(tmp_path / "tail").config
    config.input[0].ClearField("dims")
    config.input[0].dims.extend([128, 1024])
    config.input[0].reshape.shape.extend([128, 32, 32])
    path = tmp_path / "tail" / "1" / "model.onnx"
    assert mismatches(config, path) == []
    config.input[0].reshape.ClearField("shape")
    config.input[0].reshape.shape.extend([128, 16, 32])
    assert mismatches(config, path) == [
        "input 'INPUT__0' has reshape [128, 16, 32] in the config but [128, 32, 32] in the "
        "model",
        "input 'INPUT__0': reshape [128, 16, 32] does not hold the [128, 1024] of its dims"]


def test_onnx_config_without_inputs_is_completed_from_the_model(tmp_path: Path) -> None:
    repo, staging, build = tmp_path / "repo", tmp_path / "staging", tmp_path / "build"
    staging.mkdir()
    write_tail(repo)
    (repo / "tail" / "config.pbtxt").write_text('platform: "onnxruntime_onnx"\n'
                                                "max_batch_size: 16\n")
    stage_model(read_model(repo / "tail"), staging, build)
    text = " ".join(_staged_text(staging, "tail").split())
    assert ('input { name: "INPUT__0" data_type: TYPE_FP32 dims: 128 dims: 32 dims: 32 }'
            in text)
    assert 'output { name: "OUTPUT__1" data_type: TYPE_FP32 dims: 8 }' in text


def test_restaging_replaces_the_previous_copy(tmp_path: Path) -> None:
    repo, staging, build = tmp_path / "repo", tmp_path / "staging", tmp_path / "build"
    staging.mkdir()
    write_tail(repo, version=1)
    stage_model(read_model(repo / "tail"), staging, build)
    write_tail(repo, version=2, seed=1)
    (repo / "tail" / "1" / "model.onnx").unlink()
    (repo / "tail" / "1").rmdir()
    stage_model(read_model(repo / "tail"), staging, build)
    assert sorted(p.name for p in (staging / "tail").iterdir()) == ["2", "config.pbtxt"]
    assert list(build.iterdir()) == []


def test_python_models_function_style_and_native(tmp_path: Path) -> None:
    repo, staging, build = tmp_path / "repo", tmp_path / "staging", tmp_path / "build"
    staging.mkdir()
    write_function_model(repo)
    stage_model(read_model(repo / "double"), staging, build)
    staged = staging / "double" / "1"
    assert (staged / "user_model.py").read_text() == FUNCTION_SOURCE
    assert "mlfabric.serving.runner" in (staged / "model.py").read_text()
    assert 'string_value: "function"' in _staged_text(staging, "double")

    native = "class TritonPythonModel:\n    def execute(self, requests):\n        return []\n"
    (repo / "double" / "1" / "model.py").write_text(native)
    stage_model(read_model(repo / "double"), staging, build)
    assert (staged / "model.py").read_text() == native
    assert not (staged / "user_model.py").exists()
    assert "mlfabric_kind" not in _staged_text(staging, "double")


STATES = {
    "ready": ([{"name": "a", "version": "1", "state": "READY"}], {},
              [{"name": "a", "versions": ["1"], "state": "READY", "reason": None}]),
    "new version failed, old serves": (
        [{"name": "a", "version": "1", "state": "READY"},
         {"name": "a", "version": "2", "state": "UNAVAILABLE",
          "reason": "Internal: bad file\n\nAt:\n  model.py(3)"}],
        {"a": Tracked((), error="load failed for model 'a': ...")},
        [{"name": "a", "versions": ["1"], "state": "READY",
          "reason": "version 2: Internal: bad file"}]),
    "retired version is not a failure": (
        [{"name": "a", "version": "1", "state": "UNAVAILABLE", "reason": "unloaded"},
         {"name": "a", "version": "2", "state": "READY"}], {},
        [{"name": "a", "versions": ["2"], "state": "READY", "reason": None}]),
    "never staged": ([], {"b": Tracked((), problems=["no config.pbtxt or config.json"])},
                     [{"name": "b", "versions": [], "state": "UNAVAILABLE",
                       "reason": "no config.pbtxt or config.json"}]),
    "config rejected by triton": (
        [{"name": "c"}], {"c": Tracked((), error="failed to load 'c': bad config")},
        [{"name": "c", "versions": [], "state": "UNAVAILABLE",
          "reason": "failed to load 'c': bad config"}]),
    "loading": ([{"name": "d", "version": "1", "state": "LOADING"}], {},
                [{"name": "d", "versions": [], "state": "LOADING", "reason": None}]),
}


@pytest.mark.parametrize("index,tracked,expected", STATES.values(), ids=list(STATES))
def test_model_states(index: list, tracked: dict, expected: list) -> None:
    assert model_states(tracked, index) == expected
