"""Where the system under test runs the network: onnxruntime in this process, or one or
more ``mlfabric inference`` servers through tritonclient, taken in turn (round-robin).

Each is checked before LoadGen starts: the model exists, its input shape matches the
data, every server answers."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from mlfabric.apps.edgebench.spec import INPUT
from mlfabric.errors import InvalidInput, MlfabricError, NotFound


class Backend(Protocol):
    """Runs a batch of pictures through the network; ``lanes``: batches it can run at once."""

    name: str
    lanes: int
    input_shape: list[int]  # without the batch dimension

    def infer(self, batch: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


class LocalBackend:
    """onnxruntime in this process, on the ONNX file of the model repository."""

    lanes = 1

    def __init__(self, repo_path: str, model: str) -> None:
        import onnxruntime as ort

        onnx = Path(repo_path) / model / "1" / "model.onnx"
        if not onnx.is_file():
            raise NotFound("model", f"{model} (no {onnx})")
        self.name = "local"
        self.session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
        shape = self.session.get_inputs()[0].shape
        self.input_shape = [int(d) if isinstance(d, int) else -1 for d in shape[1:]]
        self.output = self.session.get_outputs()[0].name

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run([self.output], {INPUT: batch})[0]

    def close(self) -> None:
        pass


class TritonBackend:
    """``mlfabric inference`` servers over KServe v2 gRPC, a batch to each in turn (gRPC's
    client may be called from LoadGen's and the SUT's threads; the HTTP one is bound to
    the gevent hub of the thread that made it)."""

    def __init__(self, urls: list[tuple[str, str]], model: str, per_server: int = 2) -> None:
        import tritonclient.grpc as grpcclient

        self.name = "inference:" + ",".join(n for n, _ in urls)
        self.model = model
        self.lanes = per_server * len(urls)
        self._grpc = grpcclient
        self._clients = []
        shapes = []
        for server, address in urls:
            client = grpcclient.InferenceServerClient(url=address)
            try:
                live = client.is_server_live(client_timeout=10.0)
            except Exception as exc:  # tritonclient raises its own and socket errors
                client.close()
                raise MlfabricError(f"inference server '{server}' at grpc://{address} is "
                                    f"unreachable: {exc}") from None
            if not live:
                raise MlfabricError(f"inference server '{server}' at grpc://{address} is "
                                    "not live")
            try:
                meta = client.get_model_metadata(model, as_json=True, client_timeout=10.0)
            except Exception:
                client.close()
                raise NotFound("model", f"{model} (not served by inference server "
                               f"'{server}')") from None
            shapes.append([int(d) for d in meta["inputs"][0]["shape"][1:]])
            self.output = meta["outputs"][0]["name"]
            self._clients.append(client)
        if any(s != shapes[0] for s in shapes):
            raise InvalidInput(f"the servers serve '{model}' with different input shapes: "
                               f"{shapes}", field="target")
        self.input_shape = shapes[0]
        self._next = itertools.count()
        self._lock = threading.Lock()
        if all(d > 0 for d in self.input_shape):
            warm = np.zeros([1, *self.input_shape], dtype=np.float32)
            for _ in self._clients:  # a server's first request loads its model instance
                self.infer(warm)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            client = self._clients[next(self._next) % len(self._clients)]
        tensor = self._grpc.InferInput(INPUT, list(batch.shape), "FP32")
        tensor.set_data_from_numpy(batch)
        wanted = [self._grpc.InferRequestedOutput(self.output)]
        return client.infer(self.model, [tensor], outputs=wanted).as_numpy(self.output)

    def close(self) -> None:
        for c in self._clients:
            c.close()


def check_shape(backend: Backend, model: str, sample_shape: list[int], data: str) -> None:
    """``InvalidInput`` when the model does not take the data set's pictures."""
    want = backend.input_shape
    if len(want) != len(sample_shape) or any(w not in (-1, s) for w, s in
                                             zip(want, sample_shape, strict=True)):
        raise InvalidInput(f"model '{model}' takes {'x'.join(map(str, want))} inputs but data "
                           f"set '{data}' holds {'x'.join(map(str, sample_shape))} pictures",
                           field="model", value=model)
