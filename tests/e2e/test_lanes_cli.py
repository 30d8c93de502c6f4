"""``mlfabric lanes`` as typed: make-data, bad input counted, reported and skipped by
train and eval, a run resumed from its checkpoint, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from tests.helpers import Result, run_cli

RECIPE = ["--size", "64x32", "--batch-size", "4", "--width", "8", "--threads", "1"]


def ok(home: Path, *args: str) -> Result:
    r = run_cli(home, *args)
    assert r.code == 0, f"{args}: {r.err}"
    return r


def test_make_data_writes_tusimple_splits(home: Path, tmp_path: Path) -> None:
    data = tmp_path / "d"
    made = ok(home, "lanes", "make-data", str(data), "--images", "10", "--size", "96x48",
              "--seed", "4", "--json").json()
    assert made["splits"] == {"train": 7, "val": 1, "test": 2} and len(made["version"]) == 16
    for split, n in made["splits"].items():
        lines = [json.loads(x) for x in (data / f"{split}.json").read_text().splitlines()]
        assert len(lines) == n
        for label in lines:
            assert set(label) == {"lanes", "h_samples", "raw_file"}
            with Image.open(data / label["raw_file"]) as im:
                assert im.size == (96, 48)
            assert 1 <= len(label["lanes"]) <= 5
            assert all(len(lane) == len(label["h_samples"]) for lane in label["lanes"])
    again = run_cli(home, "lanes", "make-data", str(data))
    assert (again.code, again.err) == (1, f"error: {data}: a dataset is already there "
                                          "(dataset.json)\n")
    bad = run_cli(home, "lanes", "make-data", str(tmp_path / "e"), "--size", "64")
    assert bad.code == 1 and bad.err.startswith("error: invalid size '64'")


def test_bad_input_is_counted_reported_and_skipped(home: Path, tmp_path: Path) -> None:
    data = tmp_path / "d"
    ok(home, "lanes", "make-data", str(data), "--images", "16", "--size", "64x32")
    train = data / "train.json"
    lines = train.read_text().splitlines()
    first = json.loads(lines[0])
    (data / first["raw_file"]).write_bytes(b"not a jpeg")  # a corrupt picture
    short = json.loads(lines[1])
    short["lanes"][0] = short["lanes"][0][:-1]  # mismatched lengths
    gone = json.loads(lines[2])
    gone["raw_file"] = "clips/train/missing.jpg"  # a raw_file that is not there
    nameless = json.loads(lines[3])
    del nameless["raw_file"]
    train.write_text("\n".join([lines[0], json.dumps(short), json.dumps(gone),
                                json.dumps(nameless), *lines[4:]]) + "\n")
    before = train.read_bytes()
    r = ok(home, "lanes", "train", "--data", str(data), "--epochs", "1", *RECIPE)
    assert r.err.count("\n") == 1
    assert "skipped 4 bad samples: 2 missing raw_file, 1 mismatched lengths, 1 corrupt image" \
        in r.err
    report = ok(home, "lanes", "train", "--data", str(data), "--epochs", "2", *RECIPE,
                "--json").json()
    assert report["images"] == len(lines) - 4 and report["skipped"] == {
        "missing raw_file": 2, "mismatched lengths": 1, "corrupt image": 1}
    assert report["resumed_from"] == 1 and report["epochs"] == 2  # the checkpoint was there
    assert train.read_bytes() == before  # the data is left as it was
    m = ok(home, "lanes", "eval", "--data", str(data), "--json").json()
    assert m["split"] == "test" and m["pictures"] == 3 and m["skipped"] == {}
    assert m == report["metrics"]  # the checkpoint's epoch-2 score, recomputed
    assert 0 <= m["accuracy"] <= 1 and m["pixel_thresh"] == 1.0
    shown = ok(home, "lanes", "eval", "--data", str(data), "--split", "train")
    assert shown.out.startswith("accuracy ") and "on 7 train pictures (1-pixel threshold)" \
        in shown.out
    assert "skipped 4 bad samples" in shown.err


def test_clear_errors(home: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run_cli(home, "lanes", "train", "--data", str(empty), "--epochs", "1")
    assert (r.code, r.err) == (1, f"error: {empty}: no labels for split 'train' (expected "
                                  "train.json or label_data_*.json)\n")
    r = run_cli(home, "lanes", "eval", "--data", str(empty))
    assert (r.code, r.err) == (1, f"error: checkpoint '{empty}/model' not found\n")
    r = run_cli(home, "lanes", "retrain", "--from", "nope@s1")
    assert (r.code, r.err) == (1, "error: volume 'nope' not found\n")
    r = run_cli(home, "lanes", "lineage", "nojob", "-p", "nop")
    assert r.code == 1 and r.err.startswith("error: project 'nop' not found")


def test_retrain_refuses_a_checkpoint_that_does_not_score_what_it_recorded(
        home: Path) -> None:
    import torch

    ok(home, "volume", "create", "runs")
    vol = Path(ok(home, "volume", "path", "runs").out.strip())
    ok(home, "lanes", "make-data", str(vol), "--images", "12", "--size", "64x32")
    ok(home, "lanes", "train", "--data", str(vol), "--epochs", "1", *RECIPE)
    ckpt = vol / "model" / "checkpoint.pt"
    state = torch.load(ckpt, weights_only=True)
    state["metrics"]["fn"] += 0.5  # what a swapped or damaged model file would look like
    torch.save(state, ckpt)
    ok(home, "snapshot", "create", "runs", "--name", "bad")
    r = run_cli(home, "lanes", "retrain", "--from", "runs@bad", "--to", "runs-2")
    assert r.code == 1 and r.err.startswith("error: runs@bad: the restored checkpoint does "
                                            "not reproduce its metrics (fn ")
    assert "not training on it (the clone runs-2 is kept)" in r.err
    clone = Path(ok(home, "volume", "path", "runs-2").out.strip())
    assert json.loads((clone / "model" / "metrics.json").read_text())["epoch"] == 1


def test_a_folder_laid_out_as_real_tusimple_is_read(home: Path, tmp_path: Path) -> None:
    data = tmp_path / "tusimple"
    ok(home, "lanes", "make-data", str(data), "--images", "14", "--size", "64x32")
    train = (data / "train.json").read_text().splitlines(keepends=True)
    (data / "label_data_0313.json").write_text("".join(train[:5]))  # TuSimple's names
    (data / "label_data_0531.json").write_text("".join(train[5:]))
    (data / "train.json").unlink()
    (data / "test.json").rename(data / "test_label.json")
    r = ok(home, "lanes", "train", "--data", str(data), "--epochs", "1", *RECIPE,
           "--json").json()
    assert r["images"] == len(train) and r["skipped"] == {}
    assert r["metrics"]["pictures"] == len((data / "test_label.json").read_text().splitlines())
