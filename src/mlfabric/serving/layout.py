"""A model repository in Triton's layout, read from a folder:
``<model>/config.pbtxt`` (or ``config.json``) and ``<model>/<version>/model.onnx``
(``model.pt`` for TorchScript, ``model.py`` for Python models).

Configs are parsed with Triton's own ``ModelConfig`` protobuf (shipped in
``tritonclient``), so what parses here parses in ``tritonserver`` too.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlfabric.serving.sequences import refusal

_BACKEND_KIND = {"onnxruntime": "onnx", "pytorch": "torchscript", "python": "python"}
_PLATFORM_KIND = {"onnxruntime_onnx": "onnx", "pytorch_libtorch": "torchscript"}
PLATFORM_OF = {"onnx": "onnxruntime_onnx", "torchscript": "pytorch_libtorch"}
BACKEND_OF = {"onnx": "onnxruntime", "torchscript": "pytorch"}
DEFAULT_FILE = {"onnx": "model.onnx", "torchscript": "model.pt", "python": "model.py"}
CONFIG_FILES = ("config.pbtxt", "config.json")
ENTRYPOINT = "infer"  # the function a Python model exposes, unless parameter "entrypoint"


def model_config_pb2() -> Any:
    """Triton's ``model_config.proto`` module (imported late: it pulls in protobuf)."""
    from tritonclient.grpc import model_config_pb2 as pb

    return pb


@dataclass
class ModelDir:
    """One model folder as read: its parsed config, kind, usable versions, problems.

    ``versions`` are the numeric folders that hold the model file; a version without
    one is a problem, not a version. A model with problems in its config has no kind."""

    name: str
    path: Path
    config: Any = None  # model_config_pb2.ModelConfig
    config_file: str | None = None
    kind: str | None = None
    versions: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def model_file(self) -> str:
        """The file name Triton looks for in each version folder."""
        if self.config is not None and self.config.default_model_filename:
            return str(self.config.default_model_filename)
        return DEFAULT_FILE[self.kind or "onnx"]

    @property
    def servable(self) -> bool:
        """Config understood and at least one version present."""
        return self.kind is not None and self.config is not None and bool(self.versions)

    def parameter(self, key: str, default: str | None = None) -> str | None:
        """A ``parameters { key: ... value: { string_value: ... } }`` entry of the config."""
        if self.config is None or key not in self.config.parameters:
            return default
        return str(self.config.parameters[key].string_value)


def parse_config(path: Path) -> Any:
    """A ``config.pbtxt`` (protobuf text) or ``config.json`` file as a ``ModelConfig``;
    ``ValueError`` with the parser's message (line and column) when it does not parse."""
    from google.protobuf import json_format, text_format

    pb = model_config_pb2()
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            return json_format.Parse(text, pb.ModelConfig())
        return text_format.Parse(text, pb.ModelConfig())
    except (text_format.ParseError, json_format.ParseError) as exc:
        raise ValueError(str(exc)) from None


def _kind_of(config: Any) -> tuple[str | None, str | None]:
    """(kind, problem) from ``backend`` / ``platform``."""
    backend, platform = str(config.backend), str(config.platform)
    kind = _BACKEND_KIND.get(backend) if backend else None
    if backend and kind is None:
        return None, (f"backend '{backend}' is not supported here "
                      "(use onnxruntime, pytorch or python)")
    if platform:
        pkind = _PLATFORM_KIND.get(platform)
        if pkind is None:
            return None, (f"platform '{platform}' is not supported here "
                          "(use onnxruntime_onnx or pytorch_libtorch)")
        if kind is not None and kind != pkind:
            return None, f"backend '{backend}' does not match platform '{platform}'"
        kind = pkind
    if kind is None:
        return None, "config names no backend or platform (e.g. platform: \"onnxruntime_onnx\")"
    return kind, None


def _version_dirs(path: Path) -> list[int]:
    out = []
    with os.scandir(path) as it:
        for entry in it:
            if entry.is_dir() and entry.name.isdigit() and not entry.name.startswith("0"):
                out.append(int(entry.name))
    return sorted(out)


def read_model(path: Path) -> ModelDir:
    """Read one model folder; every problem found is recorded, none raised."""
    model = ModelDir(name=path.name, path=path)
    for name in CONFIG_FILES:
        if (path / name).is_file():
            model.config_file = name
            break
    versions = _version_dirs(path)
    if model.config_file is None:
        if any((path / str(v) / DEFAULT_FILE["onnx"]).is_file() for v in versions):
            # Triton completes a missing ONNX config from the model itself; so do we.
            model.config = model_config_pb2().ModelConfig(name=model.name,
                                                          platform=PLATFORM_OF["onnx"])
        else:
            model.problems.append("no config.pbtxt or config.json")
            return model
    else:
        try:
            model.config = parse_config(path / model.config_file)
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            model.problems.append(f"{model.config_file}: {exc}")
            return model
    config = model.config
    if config.name and config.name != model.name:
        model.problems.append(f"{model.config_file}: name '{config.name}' does not match the "
                              f"folder '{model.name}'")
    kind, problem = _kind_of(config)
    problem = problem or refusal(config)
    if problem:
        model.problems.append(f"{model.config_file or 'config'}: {problem}")
        return model
    model.kind = kind
    if kind != "onnx" and (not config.input or not config.output):
        model.problems.append(f"{model.config_file}: a {kind} model must declare its inputs "
                              "and outputs")
    if config.max_batch_size < 0:
        model.problems.append(f"{model.config_file}: max_batch_size must not be negative")
    for v in versions:
        if (path / str(v) / model.model_file).is_file():
            model.versions.append(v)
        else:
            model.problems.append(f"version {v}: no {model.model_file}")
    if not versions:
        model.problems.append(f"no version folder (e.g. 1/{model.model_file})")
    return model


def read_repository(root: Path) -> tuple[list[ModelDir], list[str]]:
    """Every model folder under ``root`` (hidden ones skipped), and the repository's own
    problems."""
    if not root.is_dir():
        return [], [f"'{root}' is not a folder"]
    models = [read_model(Path(e.path)) for e in sorted(os.scandir(root), key=lambda e: e.name)
              if e.is_dir() and not e.name.startswith(".")]
    problems = [] if models else ["no model folders (expected <model>/config.pbtxt and "
                                  "<model>/<version>/model.onnx)"]
    return models, problems


def python_style(source: str) -> str | None:
    """``"triton"`` for a native Triton Python model (a ``TritonPythonModel`` class),
    ``"function"`` when it defines functions only, None when it does not parse."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    names = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    return "triton" if "TritonPythonModel" in names else "function"


def defined_functions(source: str) -> set[str]:
    """Top-level function names of a Python source (empty when it does not parse)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def fingerprint(path: Path) -> tuple[tuple[str, int, int], ...]:
    """(relative path, size, mtime_ns) of every file under ``path``: what changes when a
    version is added or a file is rewritten."""
    out: list[tuple[str, int, int]] = []
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            full = os.path.join(dirpath, name)
            try:
                st = os.stat(full)
            except FileNotFoundError:
                continue  # removed while we looked: the next poll sees the new state
            out.append((os.path.relpath(full, path), st.st_size, st.st_mtime_ns))
    return tuple(sorted(out))


def signature(config: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Inputs and outputs of a config as ``{name, datatype, dims}`` (``FP32``...)."""
    pb = model_config_pb2()

    def _one(t: Any) -> dict[str, Any]:
        dtype = pb.DataType.Name(t.data_type).removeprefix("TYPE_")
        return {"name": t.name, "datatype": "BYTES" if dtype == "STRING" else dtype,
                "dims": [int(d) for d in t.dims]}

    return [_one(t) for t in config.input], [_one(t) for t in config.output]
