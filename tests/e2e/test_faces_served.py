"""The served scenario: the tail runs on an inference server (real Triton through
``mlfabric.serving``), the client computes head and noise locally and sends only the noisy
activation as ``INPUT__0``. A recording proxy on loopback shows what crosses the network."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from mlfabric import nodes, projects, serving, volumes
from mlfabric.apps import faces
from mlfabric.apps.faces.data import load_samples, read_image, resize
from mlfabric.errors import MlfabricError
from mlfabric.privacy import save_noise, snr_db
from tests.helpers import run_cli

SIZE = 1024  # the served input size: INPUT__0 is [128, 32, 32]


class RecordingProxy:
    """A TCP proxy on loopback that forwards to ``target`` and keeps every byte the
    client sent."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.sent = bytearray()
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False),
                             daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, record: bool) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if record:
                    with self.lock:
                        self.sent += data
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.server.close()
        for sock in self.sockets:
            sock.close()


def infer_requests(stream: bytes) -> list[tuple[dict, bytes]]:
    """(JSON header, binary payload) of every KServe v2 infer request in ``stream``."""
    out = []
    for chunk in stream.split(b"POST ")[1:]:
        head, _, body = chunk.partition(b"\r\n\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(b":") for line in head.split(b"\r\n")[1:])}
        length = int(headers[b"content-length"])
        json_len = int(headers[b"inference-header-content-length"])
        body = body[:length]
        out.append((json.loads(body[:json_len]), body[json_len:]))
    return out


def kill_leftovers(home: Path) -> None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if str(home).encode() in (entry / "cmdline").read_bytes():
                    os.kill(int(entry.name), signal.SIGKILL)


@pytest.fixture
def served_home(home: Path) -> Iterator[Path]:
    yield home
    with contextlib.suppress(MlfabricError):
        serving.delete("faces", home=str(home))
    kill_leftovers(home)


def test_only_the_noisy_activation_crosses_the_network(served_home: Path,
                                                       tmp_path: Path) -> None:
    home = str(served_home)
    data = str(tmp_path / "data")
    faces.make_dataset(data, images=20, size=256, seed=2)
    detector = faces.train(data, size=128, epochs=1, batch_size=8, limit=2).detector
    det = faces.load_detector(detector, size=SIZE)
    noise = faces.fit_detector_noise(det, load_samples(data, [1, 2], SIZE, limit=1), alpha=0.7,
                                     split="pool2", epochs=1)
    noise_file = save_noise(noise, tmp_path / "noise.pt", meta={"size": SIZE})

    nodes.add("n1", gpus=1, home=home)
    projects.create("team", quota=1, home=home)
    volumes.create("models", home=home)
    repo = volumes.path("models", home=home)
    exported = run_cli(served_home, "faces", "export-tail", repo, "--detector", detector,
                       "--json", timeout=180)
    assert exported.code == 0, exported.err
    assert exported.json()["input_shape"] == [128, 32, 32]
    config = (Path(repo) / "faceboxes-tail" / "config.pbtxt").read_text()
    assert 'name: "INPUT__0", data_type: TYPE_FP32, dims: [ 128, 32, 32 ]' in config

    server = serving.create("faces", model_repo="models", project="team", gpus=0.5, home=home)
    assert server.ready, server
    proxy = RecordingProxy(("127.0.0.1", server.http_port))
    image = sorted((Path(data) / "originalPics" / "synth").glob("img_09_*.jpg"))[0]
    try:
        url = f"127.0.0.1:{proxy.port}"
        first = faces.detect_remote(str(image), detector=detector, noise=noise_file, url=url)
        second = faces.detect_remote(str(image), detector=detector, noise=noise_file, url=url)
        named = faces.detect_remote(str(image), detector=detector, noise=noise_file,
                                    server="faces", home=home)
    finally:
        proxy.close()
    for r in (first, second, named):
        assert r.sent == {"name": "INPUT__0", "shape": [1, 128, 32, 32], "datatype": "FP32",
                          "noisy": True}
        assert all(0 <= f["score"] <= 1 and len(f["box"]) == 4 for f in r.faces)

    requests = infer_requests(bytes(proxy.sent))
    assert len(requests) == 2
    head, _ = det.split("pool2")
    with torch.no_grad():
        clean = head(resize(read_image(image), SIZE)[None].float()).numpy()
    payloads = []
    for header, payload in requests:
        [tensor] = header["inputs"]
        assert (tensor["name"], tensor["shape"], tensor["datatype"]) == \
            ("INPUT__0", [1, 128, 32, 32], "FP32")
        assert len(payload) == 128 * 32 * 32 * 4  # this tensor and nothing else
        sent = np.frombuffer(payload, dtype=np.float32).reshape(1, 128, 32, 32).copy()
        assert not np.allclose(sent, clean)  # noise was added before sending
        measured = snr_db(torch.from_numpy(clean), torch.from_numpy(sent))
        assert abs(measured - snr_db(torch.from_numpy(clean), noise(torch.from_numpy(clean)))) < 1
        payloads.append(sent)
    assert not np.array_equal(payloads[0], payloads[1])  # fresh noise per request
    picture = image.read_bytes()
    assert picture[100:164] not in proxy.sent  # no piece of the image file crossed
    pixels = resize(read_image(image), SIZE).numpy().tobytes()
    assert pixels[50000:50064] not in proxy.sent  # nor its pixels

    # The served tail computes what the torch tail does on the same noisy activation.
    c = serving.client("faces", home=home)
    try:
        import tritonclient.http as httpclient

        x = payloads[0]
        inp = httpclient.InferInput("INPUT__0", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        res = c.infer("faceboxes-tail", [inp])
        want_loc, want_scores = faces.tail_scores(det, x)
        np.testing.assert_allclose(res.as_numpy("OUTPUT__0"), want_loc, atol=1e-3)
        np.testing.assert_allclose(res.as_numpy("OUTPUT__1"), want_scores, atol=1e-4)
    finally:
        c.close()
