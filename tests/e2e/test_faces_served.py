"""The served scenario: the tail runs on an inference server (real Triton through
``mlfabric.serving``), the client computes head and noise locally and sends only the noisy
activation as ``INPUT__0``; without noise it sends nothing unless told (``--no-noise``),
and it says what it sends. A recording proxy on loopback shows what crosses the network."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from mlfabric import nodes, projects, serving, volumes
from mlfabric.apps import faces
from mlfabric.apps.faces.data import load_samples, read_image, resize
from mlfabric.errors import InvalidInput, MlfabricError
from mlfabric.privacy import NoiseLayer, save_noise, snr_db
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


@dataclass
class Served:
    """One Triton server with the exported tail, shared by this module's tests."""

    home: Path
    data: Path
    detector: str
    det: faces.Detector
    noise: NoiseLayer
    noise_file: str
    server: serving.InferenceServer
    image: Path

    def inferences(self) -> int:
        """How many requests the served tail has run, by the server's own statistics."""
        c = serving.client("faces", home=str(self.home))
        try:
            [stats] = c.get_inference_statistics("faceboxes-tail")["model_stats"]
        finally:
            c.close()
        return int(stats["inference_count"])

    def clean(self) -> np.ndarray:
        """The head's raw activation for the picture."""
        head, _ = self.det.split("pool2")
        with torch.no_grad():
            return head(resize(read_image(self.image), SIZE)[None].float()).numpy()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("served")
    home = root / "home"
    home.mkdir()
    data = root / "data"
    faces.make_dataset(str(data), images=20, size=256, seed=2)
    detector = faces.train(str(data), size=128, epochs=1, batch_size=8, limit=2).detector
    det = faces.load_detector(detector, size=SIZE)
    noise = faces.fit_detector_noise(det, load_samples(str(data), [1, 2], SIZE, limit=1),
                                     alpha=0.7, split="pool2", epochs=1)
    noise_file = save_noise(noise, root / "noise.pt", meta={"alpha": 0.7, "split": "pool2",
                                                            "size": SIZE})
    try:
        nodes.add("n1", gpus=1, home=str(home))
        projects.create("team", quota=1, home=str(home))
        volumes.create("models", home=str(home))
        repo = volumes.path("models", home=str(home))
        exported = run_cli(home, "faces", "export-tail", repo, "--detector", detector,
                           "--json", timeout=180)
        assert exported.code == 0, exported.err
        assert exported.json()["input_shape"] == [128, 32, 32]
        config = (Path(repo) / "faceboxes-tail" / "config.pbtxt").read_text()
        assert 'name: "INPUT__0", data_type: TYPE_FP32, dims: [ 128, 32, 32 ]' in config
        server = serving.create("faces", model_repo="models", project="team", gpus=0.5,
                                home=str(home))
        assert server.ready, server
        image = sorted((data / "originalPics" / "synth").glob("img_09_*.jpg"))[0]
        yield Served(home, data, detector, det, noise, noise_file, server, image)
    finally:
        with contextlib.suppress(MlfabricError):
            serving.delete("faces", home=str(home))
        kill_leftovers(home)


@contextlib.contextmanager
def recording(served: Served) -> Iterator[RecordingProxy]:
    proxy = RecordingProxy(("127.0.0.1", served.server.http_port))
    try:
        yield proxy
    finally:
        proxy.close()


def test_only_the_noisy_activation_crosses_the_network(served: Served) -> None:
    home, detector, noise_file, image = str(served.home), served.detector, served.noise_file, \
        served.image
    with recording(served) as proxy:
        url = f"127.0.0.1:{proxy.port}"
        first = faces.detect_remote(str(image), detector=detector, noise=noise_file, url=url)
        second = faces.detect_remote(str(image), detector=detector, noise=noise_file, url=url)
        named = faces.detect_remote(str(image), detector=detector, noise=noise_file,
                                    server="faces", home=home)
    for r in (first, second, named):
        assert (r.input, r.split, r.shape, r.datatype, r.sent_bytes, r.noisy) == \
            ("INPUT__0", "pool2", [1, 128, 32, 32], "FP32", 128 * 32 * 32 * 4, True)
        assert r.noise == {"file": noise_file, "alpha": 0.7,
                           "mean_scale": pytest.approx(served.noise.mean_scale(), abs=1e-5)}
        assert all(0 <= f["score"] <= 1 and len(f["box"]) == 4 for f in r.faces)
    assert first.url == f"http://{url}" and named.url == served.server.http_url

    requests = infer_requests(bytes(proxy.sent))
    assert len(requests) == 2
    clean = served.clean()
    noise = served.noise
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
        want_loc, want_scores = faces.tail_scores(served.det, x)
        np.testing.assert_allclose(res.as_numpy("OUTPUT__0"), want_loc, atol=1e-3)
        np.testing.assert_allclose(res.as_numpy("OUTPUT__1"), want_scores, atol=1e-4)
    finally:
        c.close()


def test_without_noise_nothing_reaches_the_server(served: Served) -> None:
    args = ("faces", "detect-remote", str(served.image), "--detector", served.detector)
    before = served.inferences()
    with recording(served) as proxy:
        for where in (("--url", f"127.0.0.1:{proxy.port}"), ("--server", "faces")):
            for extra in ((), ("--json",)):
                r = run_cli(served.home, *args, *where, *extra)
                assert r.code == 1 and r.out == "", r.out
                [line] = r.err.strip().splitlines()
                if extra:  # under --json the error is JSON on stderr, the same words
                    error = json.loads(line)["error"]
                    assert error["type"] == "InvalidInput", error
                    line = f"error: {error['message']}"
                assert line.startswith("error: refusing to send the pool2 activation without "
                                       "noise: the server would see the raw activation; give "
                                       "--noise FILE "), line
                assert line.endswith("to send it unobfuscated anyway, --no-noise")
        with pytest.raises(InvalidInput, match="refusing to send the pool2 activation"):
            faces.detect_remote(str(served.image), detector=served.detector, noise=None,
                                server="faces", home=str(served.home))
    assert proxy.sent == b"" and not proxy.sockets  # not even a connection
    assert served.inferences() == before  # the served model ran nothing


def test_no_noise_sends_the_raw_activation_and_says_so(served: Served) -> None:
    before = served.inferences()
    with recording(served) as proxy:
        url = f"127.0.0.1:{proxy.port}"
        r = run_cli(served.home, "faces", "detect-remote", str(served.image), "--detector",
                    served.detector, "--url", url, "--no-noise")
    assert r.code == 0, r.err
    assert served.inferences() == before + 1  # the statistic the refusal test relies on
    assert r.err.strip() == (
        f"warning: sending the pool2 activation (128x32x32 float32, 512.0 KiB) WITHOUT noise "
        f"(--no-noise) to http://{url} (model faceboxes-tail): the server sees the raw "
        f"activation")
    assert re.match(rf"\d+ faces found by faceboxes-tail at http://{re.escape(url)}\n", r.out)
    [(_, payload)] = infer_requests(bytes(proxy.sent))
    sent = np.frombuffer(payload, dtype=np.float32).reshape(1, 128, 32, 32)
    np.testing.assert_allclose(sent, served.clean(), atol=1e-5)  # what the line said: raw


def test_with_noise_the_line_names_the_noise(served: Served) -> None:
    with recording(served) as proxy:
        url = f"127.0.0.1:{proxy.port}"
        r = run_cli(served.home, "faces", "detect-remote", str(served.image), "--detector",
                    served.detector, "--url", url, "--noise", served.noise_file, "--json")
    assert r.code == 0, r.err
    scale = f"{served.noise.mean_scale():.4g}"
    assert r.err.strip() == (
        f"sending the pool2 activation (128x32x32 float32, 512.0 KiB) with learned noise "
        f"(alpha 0.7, mean scale {scale}, from {served.noise_file}) to http://{url} (model "
        f"faceboxes-tail)")
    record = r.json()
    assert {k: record[k] for k in ("url", "model", "input", "split", "shape", "datatype",
                                   "sent_bytes", "noisy")} == {
        "url": f"http://{url}", "model": "faceboxes-tail", "input": "INPUT__0",
        "split": "pool2", "shape": [1, 128, 32, 32], "datatype": "FP32",
        "sent_bytes": 128 * 32 * 32 * 4, "noisy": True}
    assert record["noise"]["file"] == served.noise_file and record["noise"]["alpha"] == 0.7
    [(_, payload)] = infer_requests(bytes(proxy.sent))
    assert len(payload) == record["sent_bytes"]
    assert not np.allclose(np.frombuffer(payload, dtype=np.float32).reshape(1, 128, 32, 32),
                           served.clean())
