"""The served scenario: the tail as a Triton model (ONNX), and a client that runs head and
noise in the trusted zone and sends only the noisy activation as ``INPUT__0``."""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mlfabric.apps.faces.data import check_image, read_image, resize
from mlfabric.apps.faces.detector import Detector, load_detector, postprocess
from mlfabric.apps.faces.model import DEFAULT_SPLIT, check_split, head_shape
from mlfabric.errors import InvalidInput
from mlfabric.privacy import NoiseLayer, load_noise
from mlfabric.records import Record

MODEL_NAME = "faceboxes-tail"
SERVED_SIZE = 1024  # input size behind the [128, 32, 32] serving shape
INPUT, BOXES, SCORES = "INPUT__0", "OUTPUT__0", "OUTPUT__1"
OPSET = 17


class ServedTail(nn.Module):
    """The tail with the class softmax folded in: (box regressions, class scores)."""

    def __init__(self, tail: nn.Module) -> None:
        super().__init__()
        self.tail = tail

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loc, conf = self.tail(x)
        return loc, torch.softmax(conf, dim=-1)


def export_tail(detector: Detector, path: str | os.PathLike[str], *,
                split: str = DEFAULT_SPLIT) -> str:
    """Write the tail after ``split`` as an ONNX model with a dynamic batch dimension."""
    _, tail = detector.split(check_split(split))
    served = ServedTail(tail).eval()
    dummy = torch.zeros(1, *head_shape(split, detector.size))
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    # The TorchScript exporter: the dynamo one needs onnxscript, which the extra omits.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(served, (dummy,), str(tmp), input_names=[INPUT],
                          output_names=[BOXES, SCORES], opset_version=OPSET, dynamo=False,
                          dynamic_axes={INPUT: {0: "batch"}, BOXES: {0: "batch"},
                                        SCORES: {0: "batch"}})
    os.replace(tmp, target)
    return str(target)


def triton_config(name: str, shape: tuple[int, int, int], priors: int,
                  max_batch_size: int) -> str:
    """``config.pbtxt`` for the ONNX tail."""
    def dims(values: tuple[int, ...]) -> str:
        return ", ".join(str(v) for v in values)

    return (f'name: "{name}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: {max_batch_size}\n'
            f'input [\n  {{ name: "{INPUT}", data_type: TYPE_FP32, dims: [ {dims(shape)} ] }}\n]\n'
            f'output [\n  {{ name: "{BOXES}", data_type: TYPE_FP32, dims: [ {priors}, 4 ] }},\n'
            f'  {{ name: "{SCORES}", data_type: TYPE_FP32, dims: [ {priors}, 2 ] }}\n]\n')


@dataclass(frozen=True)
class TritonModel(Record):
    """A tail written into a model repository in Triton's layout."""

    name: str
    path: str
    config: str
    onnx: str
    input_shape: list[int]
    size: int
    split: str


def write_triton_model(detector: str, repo: str, *, name: str = MODEL_NAME,
                       size: int = SERVED_SIZE, split: str = DEFAULT_SPLIT,
                       max_batch_size: int = 8, home: str | None = None) -> TritonModel:
    """Write ``<repo>/<name>/config.pbtxt`` and ``<repo>/<name>/1/model.onnx`` for the
    detector's tail at input ``size`` (1024 gives the [128, 32, 32] input)."""
    model = load_detector(detector, size=size)
    shape = head_shape(check_split(split), size)
    root = Path(repo) / name
    onnx_path = export_tail(model, root / "1" / "model.onnx", split=split)
    config = root / "config.pbtxt"
    config.write_text(triton_config(name, shape, len(model.priors()), max_batch_size))
    return TritonModel(name=name, path=str(root), config=str(config), onnx=onnx_path,
                       input_shape=list(shape), size=size, split=split)


def obfuscate(image: np.ndarray, detector: Detector, noise: NoiseLayer | None, *,
              split: str = DEFAULT_SPLIT) -> np.ndarray:
    """What leaves the trusted zone for one picture: the head's activation plus fresh
    noise, as float32 [1, C, H, W]."""
    head, _ = detector.split(split)
    with torch.no_grad():
        act = head(resize(check_image(image), detector.size)[None].float())
        if noise is not None:
            act = noise(act)
    return act.numpy().astype(np.float32)


@dataclass(frozen=True)
class RemoteDetection(Record):
    """Faces found by the remote tail, in pixels of the original picture, and what was
    sent to find them."""

    image: str
    model: str
    faces: list[dict]
    sent: dict
    seconds: float


def _client(server: str | None, url: str | None, home: str | None):  # type: ignore[no-untyped-def]
    if url:
        import tritonclient.http as httpclient

        return httpclient.InferenceServerClient(url=url.removeprefix("http://"))
    if not server:
        raise InvalidInput("give the inference server's name (or its URL)")
    from mlfabric import serving  # type: ignore[attr-defined]

    return serving.client(server, protocol="http", home=home)


def detect_remote(image: str, *, detector: str, noise: str | None,
                  server: str | None = None, url: str | None = None,
                  model: str = MODEL_NAME, size: int = SERVED_SIZE,
                  split: str = DEFAULT_SPLIT, home: str | None = None) -> RemoteDetection:
    """Find faces in ``image`` with the tail served as ``model``: head and noise run here,
    only the noisy activation is sent (``INPUT__0``)."""
    import tritonclient.http as httpclient

    started = time.monotonic()
    det = load_detector(detector, size=size)
    layer = load_noise(noise) if noise else None
    picture = read_image(image)
    sent = obfuscate(picture, det, layer, split=split)
    tensor = httpclient.InferInput(INPUT, list(sent.shape), "FP32")
    tensor.set_data_from_numpy(sent, binary_data=True)
    wanted = [httpclient.InferRequestedOutput(n, binary_data=True) for n in (BOXES, SCORES)]
    client = _client(server, url, home)
    try:
        result = client.infer(model, [tensor], outputs=wanted)
    finally:
        client.close()
    loc = torch.from_numpy(np.array(result.as_numpy(BOXES)))
    scores = torch.from_numpy(np.array(result.as_numpy(SCORES)))[..., 1]
    [found] = postprocess(loc, scores, det.priors())
    h, w = picture.shape[:2]
    scale = torch.tensor([w, h, w, h], dtype=torch.float32)
    faces = [{"box": [round(float(v), 1) for v in box * scale], "score": round(float(s), 4)}
             for box, s in zip(found.boxes, found.scores, strict=True)]
    return RemoteDetection(image=str(image), model=model, faces=faces,
                           sent={"name": INPUT, "shape": list(sent.shape), "datatype": "FP32",
                                 "noisy": layer is not None},
                           seconds=round(time.monotonic() - started, 3))


def tail_scores(detector: Detector, activation: np.ndarray, *,
                split: str = DEFAULT_SPLIT) -> tuple[np.ndarray, np.ndarray]:
    """The torch tail's (box regressions, class scores) for an activation, to compare with
    the served model."""
    _, tail = detector.split(split)
    with torch.no_grad():
        loc, conf = tail(torch.from_numpy(activation))
    return loc.numpy(), torch.softmax(conf, -1).numpy()

