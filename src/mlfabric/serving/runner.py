"""The model that runs inside Triton's Python backend stub for every staged model.

The generated ``model.py`` of a staged ONNX, TorchScript or function-style Python model
imports ``TritonPythonModel`` from here. It runs onnxruntime or torch in the stub's
process with one intra-op thread per instance (Triton's instance count gives the
parallelism; an ONNX config may ask for more with the ``intra_op_thread_count``
parameter, as with Triton's onnxruntime backend), and serves a dynamic batch of
requests with one call: the requests' inputs are concatenated along the batch dimension
and the outputs split back.

It is also the ``onnxruntime`` and ``pytorch`` backends (``backend_model``): a config
override loaded through model control names no mlfabric parameters, so the kind comes
from the config's backend and the file from ``default_model_filename``, and an ONNX
model's missing inputs and outputs are completed from its file (``auto_complete_config``)
as for a repository config.

The stub imports this module, the layout constants and, to complete a config,
``onnx_io``; nothing heavier of mlfabric.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mlfabric.serving.layout import BACKEND_OF, DEFAULT_FILE
from mlfabric.serving.staging import USER_FUNCTION_FILE

Feeds = dict[str, np.ndarray]
Run = Callable[[Feeds], list[np.ndarray]]


def as_text(x: np.ndarray) -> np.ndarray:
    """A BYTES tensor (bytes objects, as Triton passes them) as ``str`` objects."""
    return np.vectorize(lambda b: b.decode("utf-8") if isinstance(b, bytes) else str(b),
                        otypes=[np.object_])(x) if x.size else x.astype(np.object_)


def as_bytes(x: np.ndarray) -> np.ndarray:
    """A string output as the bytes objects a Triton BYTES tensor holds."""
    return np.vectorize(lambda v: v if isinstance(v, bytes) else str(v).encode("utf-8"),
                        otypes=[np.object_])(x) if x.size else x.astype(np.object_)


def control_names(config: dict[str, Any]) -> list[str]:
    """The ``sequence_batching`` control inputs (START, END, READY, CORRID...) Triton's
    sequence batcher adds to every request: the model receives them as inputs."""
    seq = config.get("sequence_batching") or {}
    return [c["name"] for c in seq.get("control_input", []) if c.get("name")]


def _onnx(path: Path, outputs: list[str], params: dict[str, str]) -> Run:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    # Triton's onnxruntime backend reads the same two parameters.
    opts.intra_op_num_threads = int(params.get("intra_op_thread_count") or 1)
    opts.inter_op_num_threads = int(params.get("inter_op_thread_count") or 1)
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    known = {o.name for o in sess.get_outputs()}
    missing = [o for o in outputs if o not in known]
    if missing:
        raise ValueError(f"output(s) {', '.join(missing)} not in {path.name} (it has "
                         f"{', '.join(sorted(known))})")
    strings = {i.name for i in sess.get_inputs() if i.type == "tensor(string)"}

    def run(feeds: Feeds) -> list[np.ndarray]:
        # Triton hands BYTES tensors over as bytes objects; onnxruntime's strings are str.
        return sess.run(outputs, {n: as_text(v) if n in strings else v
                                  for n, v in feeds.items()})

    return run


def _torchscript(path: Path, inputs: list[str]) -> Run:
    import torch

    torch.set_num_threads(1)
    module = torch.jit.load(str(path), map_location="cpu").eval()

    def arg(x: np.ndarray) -> Any:
        # A BYTES tensor goes in as List[str], as Triton's libtorch backend passes it.
        if x.dtype == np.object_:
            return as_text(x).reshape(-1).tolist()
        return torch.from_numpy(np.ascontiguousarray(x))

    def run(feeds: Feeds) -> list[np.ndarray]:
        with torch.inference_mode():
            out = module(*[arg(feeds[n]) for n in inputs])
        outs = out if isinstance(out, tuple) or (isinstance(out, list) and out and
                                                  isinstance(out[0], torch.Tensor)) else [out]
        return [np.array(o, dtype=np.object_) if isinstance(o, list) else
                o.detach().cpu().numpy() for o in outs]

    return run


def _function(path: Path, entrypoint: str, outputs: list[str], module_name: str) -> Run:
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = getattr(module, entrypoint, None)
    if not callable(fn):
        raise AttributeError(f"{path.name} defines no function '{entrypoint}'")

    def run(feeds: Feeds) -> list[np.ndarray]:
        out = fn(**feeds)
        if isinstance(out, dict):
            return [np.asarray(out[n]) for n in outputs]
        outs = out if isinstance(out, list | tuple) else [out]
        return [np.asarray(o) for o in outs]

    return run


_KIND_OF_BACKEND = {backend: kind for kind, backend in BACKEND_OF.items()} | {"python": "function"}
_DEFAULT_FILE = {**DEFAULT_FILE, "function": USER_FUNCTION_FILE}


def served_file(config: dict[str, Any], params: dict[str, str]) -> tuple[str, str]:
    """The kind of model and the file name in its version folder: the staged config's
    parameters say, else (a config override) its backend and ``default_model_filename``."""
    kind = params.get("mlfabric_kind") or _KIND_OF_BACKEND.get(str(config.get("backend")))
    if kind is None:
        raise ValueError(f"backend '{config.get('backend')}' is not served here")
    name = params.get("mlfabric_model_file") or (
        kind != "function" and config.get("default_model_filename")) or _DEFAULT_FILE[kind]
    return kind, str(name)


def complete_from_file(auto_config: Any, staging: str) -> Any:
    """Triton's auto-complete step for an ONNX config without inputs or outputs (a config
    override): add them from the model's latest version in ``staging``."""
    config = auto_config.as_dict()
    if config.get("input") and config.get("output"):
        return auto_config
    from mlfabric.serving.onnx_io import tensors

    folder = Path(staging) / str(config["name"])
    name = config.get("default_model_filename") or _DEFAULT_FILE["onnx"]
    versions = sorted((int(p.name) for p in folder.iterdir()
                       if p.name.isdigit() and (p / name).is_file()), reverse=True)
    if not versions:
        return auto_config  # Triton then reports the missing file
    inputs, outputs = tensors(folder / str(versions[0]) / name,
                              int(config.get("max_batch_size") or 0) > 0)
    if not config.get("input"):
        controls = set(control_names(config))  # the sequence batcher supplies these
        for t in inputs:
            if t["name"] not in controls:
                auto_config.add_input(t)
    if not config.get("output"):
        for t in outputs:
            auto_config.add_output(t)
    return auto_config


class TritonPythonModel:
    """Triton Python-backend model: ``initialize``, ``execute``, ``finalize``."""

    def initialize(self, args: dict[str, str]) -> None:
        import triton_python_backend_utils as pb_utils

        self.pb = pb_utils
        config = json.loads(args["model_config"])
        params = {k: v.get("string_value", "") for k, v in
                  (config.get("parameters") or {}).items()}
        kind, name = served_file(config, params)
        path = Path(args["model_repository"]) / args["model_version"] / name
        self.inputs = [i["name"] for i in config.get("input", [])] + control_names(config)
        self.outputs = [(o["name"], pb_utils.triton_string_to_numpy(o["data_type"]))
                        for o in config.get("output", [])]
        self.dims = {o["name"]: [int(d) for d in o.get("dims", [])]
                     for o in config.get("output", [])}
        names = [n for n, _ in self.outputs]
        self.batching = int(config.get("max_batch_size") or 0) > 0
        if kind == "onnx":
            self.run = _onnx(path, names, params)
        elif kind == "torchscript":
            self.run = _torchscript(path, self.inputs)
        else:
            self.run = _function(path, params.get("entrypoint") or "infer", names,
                                 f"mlfabric_model_{args['model_name']}_{args['model_version']}")

    def _responses(self, outs: list[np.ndarray]) -> Any:
        if len(outs) != len(self.outputs):
            raise ValueError(f"the model returned {len(outs)} output(s), the config declares "
                             f"{len(self.outputs)}")
        tensors = []
        for (name, dtype), arr in zip(self.outputs, outs, strict=True):
            if dtype is np.object_:
                arr = as_bytes(arr)
            elif arr.dtype != dtype:
                arr = arr.astype(dtype)
            tensors.append(self.pb.Tensor(name, np.ascontiguousarray(arr)))
        return self.pb.InferenceResponse(output_tensors=tensors)

    def _call(self, feeds: Feeds) -> list[np.ndarray]:
        """Run the model; a flat string output (a TorchScript ``List[str]``) is given the
        config's shape, so a batch splits back by rows."""
        outs = self.run(feeds)
        names = [n for n, _ in self.outputs]
        return [self._shaped(names[i], o) if o.dtype == np.object_ and i < len(names) else o
                for i, o in enumerate(outs)]

    def _shaped(self, name: str, arr: np.ndarray) -> np.ndarray:
        """A flat string output (a TorchScript ``List[str]``) in the config's shape."""
        dims = self.dims.get(name) or []
        if arr.ndim != 1 or (arr.ndim == len(dims) + self.batching) or \
                [d for d in dims if d < 0]:
            return arr
        per_item = int(np.prod(dims)) if dims else 1
        if not self.batching:
            return arr.reshape(dims) if arr.size == per_item else arr
        return arr.reshape(-1, *dims) if per_item and arr.size % per_item == 0 else arr

    def _feeds(self, request: Any) -> Feeds:
        feeds = {}
        for name in self.inputs:
            tensor = self.pb.get_input_tensor_by_name(request, name)
            if tensor is not None:  # optional inputs may be absent
                feeds[name] = tensor.as_numpy()
        return feeds

    def _run_batch(self, feeds: list[Feeds]) -> list[Any]:
        """One model call for the whole dynamic batch, split back per request."""
        names = list(feeds[0])
        if not names or any(list(f) != names for f in feeds):
            raise ValueError("requests with different inputs")
        batched = {n: np.concatenate([f[n] for f in feeds]) for n in names}
        sizes = [f[names[0]].shape[0] for f in feeds]
        outs = self._call(batched)
        cuts = np.cumsum(sizes)[:-1]
        parts = [np.split(o, cuts) for o in outs]
        return [self._responses([p[i] for p in parts]) for i in range(len(feeds))]

    def execute(self, requests: list[Any]) -> list[Any]:
        """Serve a batch of requests (one response each, errors as Triton errors)."""
        feeds = [self._feeds(r) for r in requests]
        if self.batching and len(feeds) > 1:
            try:
                return self._run_batch(feeds)
            except Exception:
                pass  # shapes that do not stack, or one bad request: serve them one by one
        responses = []
        for f in feeds:
            try:
                responses.append(self._responses(self._call(f)))
            except Exception as exc:  # the model's own error goes back to its client
                responses.append(self.pb.InferenceResponse(
                    output_tensors=[], error=self.pb.TritonError(f"{type(exc).__name__}: {exc}")))
        return responses

    def finalize(self) -> None:
        """Drop the session (the stub exits right after)."""
        self.run = None  # type: ignore[assignment]


def backend_model(kind: str, staging: str) -> type[TritonPythonModel]:
    """The model class of this engine's ``onnxruntime`` (``kind`` ``onnx``) or ``pytorch``
    backend, for the server whose staging repository is ``staging``."""

    class BackendModel(TritonPythonModel):
        @staticmethod
        def auto_complete_config(auto_config: Any) -> Any:
            return complete_from_file(auto_config, staging) if kind == "onnx" else auto_config

    return BackendModel
