"""``mlfabric model-repo check VOL``: validate a volume as a Triton model repository."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from mlfabric.serving.layout import (
    ENTRYPOINT,
    ModelDir,
    defined_functions,
    python_style,
    read_repository,
    signature,
)
from mlfabric.serving.records import RepoReport
from mlfabric.serving.staging import served_config


def first_line(error: BaseException | str) -> str:
    """An error's message, first line only (onnxruntime and Triton add tracebacks)."""
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def _version_problems(model: ModelDir, config: Any, version: int) -> list[str]:
    """Problems of one version's model file against the config as served (loads it for
    ONNX; parses it for Python)."""
    path = model.path / str(version) / model.model_file
    where = f"version {version}: {model.model_file}"
    if model.kind == "onnx":
        from mlfabric.serving.onnx_io import mismatches

        try:
            return [f"{where}: {p}" for p in mismatches(config, path)]
        except Exception as exc:  # onnxruntime raises its own classes for bad files
            return [f"{where} cannot be loaded: {first_line(exc)}"]
    if model.kind == "torchscript":
        return [] if zipfile.is_zipfile(path) else [f"{where} is not a TorchScript archive"]
    source = path.read_text(encoding="utf-8", errors="replace")
    style = python_style(source)
    if style is None:
        return [f"{where} has a syntax error"]
    entry = model.parameter("entrypoint", ENTRYPOINT) or ENTRYPOINT
    if style == "function" and entry not in defined_functions(source):
        return [f"{where} defines neither class TritonPythonModel nor function '{entry}'"]
    return []


def describe(model: ModelDir, config: Any) -> dict[str, Any]:
    """A model as a report row (JSON-ready), with ``config`` as it is served."""
    inputs, outputs = signature(config) if config is not None else ([], [])
    instances = sum(g.count or 1 for g in config.instance_group) if config is not None else 0
    return {
        "name": model.name, "kind": model.kind,
        "platform": (config.platform or config.backend or None) if config is not None else None,
        "versions": [str(v) for v in model.versions],
        "max_batch_size": int(config.max_batch_size) if config is not None else None,
        "dynamic_batching": bool(config is not None and config.HasField("dynamic_batching")),
        "instances": instances or None, "inputs": inputs, "outputs": outputs,
        "problems": list(model.problems),
    }


def check_repo(volume: str, *, home: str | None = None) -> RepoReport:
    """Validate a volume as a Triton model repository: layout, configs, and that every
    model file loads and agrees with its config; each model's problems are listed."""
    from mlfabric import volumes

    root = Path(volumes.path(volume, home=home))
    models, problems = read_repository(root)
    rows = []
    for model in models:
        config = model.config
        if model.kind is not None and config is not None:
            try:
                config = served_config(model)  # what the server loads, completed
            except Exception:  # the file's own problem is listed below
                config = model.config
            for v in model.versions:
                model.problems.extend(_version_problems(model, config, v))
        rows.append(describe(model, config))
    return RepoReport(volume=volume, path=str(root), models=rows, problems=problems)
