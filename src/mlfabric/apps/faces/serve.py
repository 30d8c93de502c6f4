"""The served scenario: the tail as a Triton model (ONNX), and a client that runs head and
noise in the trusted zone and sends only the noisy activation as ``INPUT__0``; it refuses
to send the raw activation unless told explicitly (``send_raw_activation=True``)."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mlfabric.apps.faces.data import check_image, read_image, resize
from mlfabric.apps.faces.detector import Detector, load_detector, postprocess
from mlfabric.apps.faces.model import DEFAULT_SPLIT, check_split, head_shape
from mlfabric.apps.faces.noise import check_noise_file
from mlfabric.errors import InvalidInput
from mlfabric.privacy import NoiseLayer, load_noise
from mlfabric.records import Record
from mlfabric.units import format_size

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


RAW_OPT_OUT = "send_raw_activation=True"  # the library's explicit opt-out; the CLI's: --no-noise


def require_noise(noise: object | None, send_raw_activation: bool, *, split: str,
                  size: int, give: str = "noise=FILE", opt_out: str = RAW_OPT_OUT) -> None:
    """Refuse to let the ``split`` activation at input ``size`` leave the trusted zone
    without a noise layer unless the caller opted out explicitly (``send_raw_activation``);
    ``give`` and ``opt_out`` name the two ways on in the caller's terms (the CLI:
    ``--noise FILE``, ``--no-noise``)."""
    if noise is not None and send_raw_activation:
        raise InvalidInput(f"give either {give} or {opt_out}, not both", field="noise")
    if noise is None and not send_raw_activation:
        raise InvalidInput(f"refusing to send the {split} activation without noise: the server "
                           f"would see the raw activation; give {give} (fit one with `mlfabric "
                           f"faces eval --dataset DIR --noisy --split {split} --size {size} "
                           f"--noise FILE`) or, to send it unobfuscated anyway, {opt_out}",
                           field="noise")


def obfuscate(image: np.ndarray, detector: Detector, noise: NoiseLayer | None, *,
              split: str = DEFAULT_SPLIT, send_raw_activation: bool = False) -> np.ndarray:
    """What leaves the trusted zone for one picture: the head's activation plus fresh
    noise, as float32 [1, C, H, W]. Without noise (the raw activation) only with
    ``send_raw_activation=True``."""
    require_noise(noise, send_raw_activation, split=split, size=detector.size)
    head, _ = detector.split(split)
    with torch.no_grad():
        act = head(resize(check_image(image), detector.size)[None].float())
        if noise is not None:
            act = noise(act)
    return act.numpy().astype(np.float32)


@dataclass(frozen=True)
class Transmission(Record):
    """What one request sends off the trusted side, known before it is sent: the
    ``split`` activation as tensor ``input`` of ``shape`` (``sent_bytes`` of payload) to
    ``model`` at ``url``, with ``noise`` ({file, alpha, mean_scale}) or, when ``noise`` is
    None, raw (the explicit opt-out)."""

    url: str
    model: str
    input: str
    split: str
    shape: list[int]
    datatype: str
    sent_bytes: int
    noise: dict | None

    computed = ("noisy",)

    @property
    def noisy(self) -> bool:
        return self.noise is not None

    def describe(self, opt_out: str = RAW_OPT_OUT) -> str:
        """One line saying what is sent where, e.g. ``sending the pool2 activation
        (128x32x32 float32, 512.0 KiB) with learned noise (alpha 0.5, ...) to URL``."""
        dims = "x".join(str(d) for d in self.shape[1:])
        dtype = "float32" if self.datatype == "FP32" else self.datatype
        what = (f"sending the {self.split} activation ({dims} {dtype}, "
                f"{format_size(self.sent_bytes)})")
        where = f"to {self.url} (model {self.model})"
        if self.noise is None:
            return (f"{what} WITHOUT noise ({opt_out}) {where}: the server sees the raw "
                    f"activation")
        alpha = self.noise.get("alpha")
        details = ([f"alpha {alpha:g}"] if alpha is not None else []) + \
            [f"mean scale {self.noise['mean_scale']:.4g}", f"from {self.noise['file']}"]
        return f"{what} with learned noise ({', '.join(details)}) {where}"


@dataclass(frozen=True)
class RemoteDetection(Transmission):
    """Faces found by the remote tail, in pixels of the original picture, and what was
    sent to find them (the ``Transmission`` fields)."""

    image: str
    faces: list[dict]
    seconds: float


def _address(server: str | None, url: str | None, home: str | None) -> str:
    """The server's HTTP address as tritonclient takes it: ``HOST:PORT``."""
    if url:
        return url.removeprefix("http://")
    if not server:
        raise InvalidInput("give the inference server's name (or its URL)")
    from mlfabric import serving  # type: ignore[attr-defined]

    return serving.show(server, home=home).http_url.removeprefix("http://")


def detect_remote(image: str, *, detector: str, noise: str | None = None,
                  send_raw_activation: bool = False,
                  server: str | None = None, url: str | None = None,
                  model: str = MODEL_NAME, size: int = SERVED_SIZE,
                  split: str = DEFAULT_SPLIT, home: str | None = None,
                  on_send: Callable[[Transmission], None] | None = None) -> RemoteDetection:
    """Find faces in ``image`` with the tail served as ``model``: head and noise run here,
    only the noisy activation is sent (``INPUT__0``).

    Without a ``noise`` file nothing is sent (``InvalidInput``, before any work or
    connection) unless ``send_raw_activation=True`` says explicitly that the server may see
    the raw activation. ``on_send`` gets the ``Transmission`` just before the request
    leaves (the CLI prints its ``describe()``)."""
    import tritonclient.http as httpclient

    noise = noise or None
    require_noise(noise, send_raw_activation, split=split, size=size)
    started = time.monotonic()
    address = _address(server, url, home)
    det = load_detector(detector, size=size)
    layer, described = None, None
    if noise is not None:
        meta = check_noise_file(noise, split=split, size=size)
        layer = load_noise(noise)
        described = {"file": str(noise), "alpha": meta.get("alpha"),
                     "mean_scale": round(layer.mean_scale(), 6)}
    picture = read_image(image)
    sent = obfuscate(picture, det, layer, split=split, send_raw_activation=send_raw_activation)
    plan = Transmission(url=f"http://{address}", model=model, input=INPUT, split=split,
                        shape=list(sent.shape), datatype="FP32", sent_bytes=int(sent.nbytes),
                        noise=described)
    if on_send is not None:
        on_send(plan)
    tensor = httpclient.InferInput(INPUT, list(sent.shape), "FP32")
    tensor.set_data_from_numpy(sent, binary_data=True)
    wanted = [httpclient.InferRequestedOutput(n, binary_data=True) for n in (BOXES, SCORES)]
    client = httpclient.InferenceServerClient(url=address)
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
    return RemoteDetection(**{f.name: getattr(plan, f.name) for f in fields(Transmission)},
                           image=str(image), faces=faces,
                           seconds=round(time.monotonic() - started, 3))


def tail_scores(detector: Detector, activation: np.ndarray, *,
                split: str = DEFAULT_SPLIT) -> tuple[np.ndarray, np.ndarray]:
    """The torch tail's (box regressions, class scores) for an activation, to compare with
    the served model."""
    _, tail = detector.split(split)
    with torch.no_grad():
        loc, conf = tail(torch.from_numpy(activation))
    return loc.numpy(), torch.softmax(conf, -1).numpy()

