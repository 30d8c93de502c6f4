"""``mlfabric faces`` as a user types it: make a dataset, train, evaluate clean and
obfuscated, sweep alpha; and the clear errors for bad input."""

from __future__ import annotations

import json
import re
import shutil
import socket
from pathlib import Path

import pytest

from tests.helpers import Result, run_cli

SMALL = ("--limit", "2")
AP_LINES = [r"Fddb-fold-9 Val AP: \d\.\d{4}", r"Fddb-fold-10 Val AP: \d\.\d{4}",
            r"Fddb Dataset Average AP: \d\.\d{4}", r"mAP: \d\.\d{4}"]


def ok(home: Path, *args: str) -> Result:
    r = run_cli(home, *args, timeout=240)
    assert r.code == 0, f"{args}: {r.err}"
    return r


def fails(home: Path, *args: str) -> str:
    r = run_cli(home, *args, timeout=240)
    assert r.code == 1, f"{args} should fail: {r.out}"
    assert "Traceback" not in r.err
    [line] = r.err.strip().splitlines()
    assert line.startswith("error: ")
    return line


def assert_ap_lines(out: str) -> None:
    tail = out.strip().splitlines()[-4:]
    assert len(tail) == 4 and all(re.fullmatch(p, line) for p, line in zip(AP_LINES, tail,
                                                                            strict=True)), out


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    data = tmp_path_factory.mktemp("faces") / "data"
    r = ok(home, "faces", "make-dataset", str(data), "--images", "20", "--size", "128")
    assert r.out.strip().startswith("generated 20 images with ") and "in 10 folds" in r.out
    trained = ok(home, "faces", "train", "--dataset", str(data), "--size", "128", "--epochs",
                 "1", "--batch-size", "8", *SMALL, "--json").json()
    assert trained["detector"] == str(data / "faceboxes.pt") and trained["images"] == 16
    return data


def test_eval_prints_per_fold_ap_clean_and_noisy(home: Path, dataset: Path,
                                                 tmp_path: Path) -> None:
    assert_ap_lines(ok(home, "faces", "eval", "--dataset", str(dataset), *SMALL).out)
    noise = tmp_path / "noise.pt"
    noisy = ok(home, "faces", "eval", "--dataset", str(dataset), "--noisy", "--alpha", "0.4",
               "--noise", str(noise), "--fit-epochs", "1", *SMALL)
    assert re.match(r"learned noise at alpha 0.4 after pool2: SNR -?\d+\.\d\d dB", noisy.out)
    assert_ap_lines(noisy.out)
    assert noise.is_file()
    report = ok(home, "faces", "eval", "--dataset", str(dataset), "--noisy", "--noise",
                str(noise), *SMALL, "--json").json()
    assert report["noisy"] and [f["fold"] for f in report["folds"]] == [9, 10]


def test_sweep_prints_the_table_and_writes_plots(home: Path, dataset: Path,
                                                 tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    r = ok(home, "faces", "sweep", "--dataset", str(dataset), "--alphas", "0.5", "--out",
           str(out), "--fit-epochs", "1", "--attack-epochs", "1", "--attack-size", "16",
           *SMALL)
    assert r.out.startswith("alpha sweep after pool2 at 192px (attack floor: PSNR ")
    assert r.out.strip().splitlines()[-1].startswith("plots: ")
    assert {p.name for p in out.iterdir()} == {"sweep.md", "sweep.json", "ap_vs_alpha.png",
                                              "psnr_vs_alpha.png"}
    rows = json.loads((out / "sweep.json").read_text())["rows"]
    assert [r["kind"] for r in rows] == ["clean", "learned", "gaussian"]


def test_bad_input_gives_one_clear_error(home: Path, dataset: Path, tmp_path: Path) -> None:
    line = fails(home, "faces", "eval", "--dataset", str(dataset), "--noisy", "--alpha", "1.5")
    assert line == "error: alpha must be in [0, 1], got 1.5"
    assert "alpha must be in [0, 1]" in fails(home, "faces", "sweep", "--dataset",
                                              str(dataset), "--alphas", "0.2,-1")
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "photo.jpg").write_bytes(b"")
    assert "not an FDDB-format dataset" in fails(home, "faces", "eval", "--dataset",
                                                 str(plain), "--detector",
                                                 str(dataset / "faceboxes.pt"))
    assert "input size must be a multiple of 32" in fails(
        home, "faces", "train", "--dataset", str(dataset), "--size", "100")
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    broken = next((copy / "originalPics" / "synth").glob("img_09_*.jpg"))
    broken.write_bytes(b"\xff\xd8 truncated")
    assert re.fullmatch(r"error: .*img_09_\d+\.jpg: cannot read image \(\w+\)",
                        fails(home, "faces", "eval", "--dataset", str(copy), *SMALL))


def test_detect_remote_refuses_without_noise_and_connects_nowhere(home: Path, dataset: Path,
                                                                  tmp_path: Path) -> None:
    # A listener that never accepts: a connection attempt would still be queued on it.
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    try:
        url = f"127.0.0.1:{listener.getsockname()[1]}"
        image = str(next((dataset / "originalPics" / "synth").glob("img_09_*.jpg")))
        args = ("faces", "detect-remote", image, "--detector", str(dataset / "faceboxes.pt"))
        for extra in (("--url", url), ("--url", url, "--json"), ("--server", "faces"),
                      ("--url", url, "--noise", "")):
            r = run_cli(home, *args, *extra)
            assert r.code == 1 and r.out == "", (extra, r.out)
            line = (f"error: {json.loads(r.err)['error']['message']}" if "--json" in extra
                    else r.err.strip())
            assert line == (
                "error: refusing to send the pool2 activation without noise: the server would "
                "see the raw activation; give --noise FILE (fit one with `mlfabric faces eval "
                "--dataset DIR --noisy --split pool2 --size 1024 --noise FILE`) or, to send "
                "it unobfuscated anyway, --no-noise"), extra
        both = fails(home, *args, "--url", url, "--noise", str(tmp_path / "noise.pt"),
                     "--no-noise")
        assert both == "error: give either --noise FILE or --no-noise, not both"
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing tried to connect
    finally:
        listener.close()
