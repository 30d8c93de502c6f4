"""The face pipeline through the library on a tiny configuration: generate, train, score
clean and obfuscated, sweep alpha, export the tail. Checks every step and the outputs'
form, not accuracy (bench/privacy.py measures that with the full recipe)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from mlfabric.apps import faces
from mlfabric.apps.faces.data import load_samples
from mlfabric.apps.faces.fddb import read_dataset
from mlfabric.apps.faces.serve import obfuscate, tail_scores
from mlfabric.errors import AlreadyExists, InvalidInput
from mlfabric.privacy import load_noise

TINY = {"limit": 3}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    root = tmp_path_factory.mktemp("faces")
    data = str(root / "data")
    made = faces.make_dataset(data, images=30, size=160, seed=1)
    assert (made.images, made.folds) == (30, 10) and made.faces >= 30
    report = faces.train(data, size=128, epochs=1, batch_size=8, **TINY)
    assert report.detector == str(Path(data) / "faceboxes.pt") and report.images == 24
    return data, report.detector


def test_generated_dataset_is_fddb_with_faces_inside_the_pictures(trained: tuple[str, str]) \
        -> None:
    data, _ = trained
    folds = read_dataset(data, list(range(1, 11)))
    assert [len(v) for v in folds.values()] == [3] * 10
    from PIL import Image

    for entry in folds[9]:
        with Image.open(entry.path) as picture:
            w, h = picture.size
        assert max(w, h) == 160
        for face in entry.faces:
            x1, y1, x2, y2 = face.box()
            assert -1 <= x1 < x2 <= w + 1 and -1 <= y1 < y2 <= h + 1
    with pytest.raises(AlreadyExists):
        faces.make_dataset(data, images=10)


def test_clean_and_noisy_evaluation_report_per_fold_ap(trained: tuple[str, str],
                                                       tmp_path: Path) -> None:
    data, _ = trained
    clean = faces.evaluate(data, **TINY)
    assert [f["fold"] for f in clean.folds] == [9, 10] and not clean.noisy
    assert clean.average_ap == pytest.approx(sum(f["ap"] for f in clean.folds) / 2)
    assert all(0.0 <= f["ap"] <= 1.0 for f in clean.folds)
    lines = faces.ap_lines(clean)
    assert lines[0].startswith("Fddb-fold-9 Val AP: ") and lines[-1].startswith("mAP: ")

    noise_file = tmp_path / "noise.pt"
    noisy = faces.evaluate(data, noisy=True, alpha=0.8, noise=str(noise_file), fit_epochs=1,
                           **TINY)
    assert noisy.noisy and noisy.alpha == 0.8 and noisy.snr_db is not None
    assert noise_file.is_file()
    first = load_noise(noise_file)
    again = faces.evaluate(data, noisy=True, alpha=0.8, noise=str(noise_file), **TINY)
    assert again.mean_scale == noisy.mean_scale  # read back, not fitted again
    assert torch.equal(load_noise(noise_file).rho, first.rho)
    adapted = faces.evaluate(data, noisy=True, alpha=0.8, noise=str(noise_file),
                             adapt_tail=True, adapt_epochs=1, **TINY)
    assert adapted.adapted_tail
    with pytest.raises(InvalidInput, match=r"alpha must be in \[0, 1\]"):
        faces.evaluate(data, noisy=True, alpha=1.5)


def test_two_obfuscations_of_one_picture_differ(trained: tuple[str, str]) -> None:
    data, detector = trained
    det = faces.load_detector(detector)
    sample = load_samples(data, [9], det.size, limit=1)
    picture = sample.images[0].permute(1, 2, 0).numpy()
    noise = faces.fit_detector_noise(det, sample, alpha=0.5, split="pool2", epochs=1)
    assert not any(m.training for m in det.model.modules())  # left as it was: evaluation
    a, b = obfuscate(picture, det, noise), obfuscate(picture, det, noise)
    assert a.shape == (1, 128, 6, 6) and not np.array_equal(a, b)  # runs at 192 px
    raw = {"send_raw_activation": True}  # without noise: only when told explicitly
    assert np.array_equal(obfuscate(picture, det, None, **raw),
                          obfuscate(picture, det, None, **raw))
    with pytest.raises(InvalidInput, match="refusing to send the pool2 activation without noise"):
        obfuscate(picture, det, None)


def test_sweep_writes_table_json_and_plots(trained: tuple[str, str], tmp_path: Path) -> None:
    data, _ = trained
    out = tmp_path / "sweep"
    report = faces.sweep(data, alphas="0,0.9", out=str(out), adapt=True, fit_epochs=1,
                         adapt_epochs=1, attack_epochs=1, attack_size=16, **TINY)
    kinds = [(r["kind"], r["alpha"]) for r in report.rows]
    assert kinds == [("clean", None), ("learned", 0.0), ("gaussian", 0.0), ("learned", 0.9),
                     ("gaussian", 0.9)]
    learned, plain = report.rows[3], report.rows[4]
    assert plain["snr_db"] == pytest.approx(learned["snr_db"], abs=0.5)  # equal SNR baseline
    assert learned["ap_adapted"] is not None and plain["ap_adapted"] is None
    assert report.rows[0]["mi_bound_bits"] is None and learned["mi_bound_bits"] > 0
    for row in report.rows:
        assert row["advantage_db"] == pytest.approx(row["attack_psnr"] - report.floor_psnr)
    assert (out / "sweep.md").read_text().startswith("| kind | alpha | AP |")
    assert json.loads((out / "sweep.json").read_text())["rows"] == report.rows
    for png in report.plots:
        assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(Path(p).name for p in report.plots) == ["ap_vs_alpha.png",
                                                          "psnr_vs_alpha.png"]


def test_exported_tail_matches_torch_on_the_noisy_activation(trained: tuple[str, str],
                                                             tmp_path: Path) -> None:
    _, detector = trained
    model = faces.write_triton_model(detector, str(tmp_path / "repo"), size=256)
    assert model.input_shape == [128, 8, 8]
    config = Path(model.config).read_text()
    assert 'platform: "onnxruntime_onnx"' in config and "dims: [ 128, 8, 8 ]" in config
    det = faces.load_detector(detector, size=256)
    act = np.random.default_rng(0).normal(size=(2, 128, 8, 8)).astype(np.float32)
    session = ort.InferenceSession(model.onnx, providers=["CPUExecutionProvider"])
    loc, scores = session.run(["OUTPUT__0", "OUTPUT__1"], {"INPUT__0": act})
    want_loc, want_scores = tail_scores(det, act)
    assert np.allclose(loc, want_loc, atol=1e-4) and np.allclose(scores, want_scores, atol=1e-5)
