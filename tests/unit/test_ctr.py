"""The click-log format, the generator's planted signal and Bayes-optimal AUC, the reader's
handling of malformed lines, and the pandas engine's memory guard (no cluster here)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from mlfabric.apps import ctr
from mlfabric.apps.ctr.criteo import CATS, INTS
from mlfabric.apps.ctr.features import folds, held_out
from mlfabric.apps.ctr.sources import plan, planned_rows
from mlfabric.errors import AlreadyExists, InvalidInput

HEX8 = set("0123456789abcdef")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ctr.CtrDataset]:
    root = tmp_path_factory.mktemp("ctr") / "clicks"
    return root, ctr.make_data(str(root), rows=5000, days=2, shard_rows=1000, seed=3)


def test_make_data_writes_criteo_terabyte_shards_per_day(data) -> None:
    root, made = data
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.tsv"))
    assert files == [f"day_{d}/part-{k:05d}.tsv" for d in (0, 1) for k in (0, 1, 2)]
    lines = [line for f in files for line in (root / f).read_text().splitlines()]
    assert len(lines) == made.rows == 5000 and made.shards == 6
    fields = [line.split("\t") for line in lines]
    assert {len(f) for f in fields} == {40}
    assert {f[0] for f in fields} == {"0", "1"}
    ints = [v for f in fields for v in f[1:14]]
    cats = [v for f in fields for v in f[14:]]
    assert all(v == "" or v.lstrip("-").isdigit() for v in ints) and "" in ints
    assert all(v == "" or (len(v) == 8 and set(v) <= HEX8) for v in cats) and "" in cats
    manifest = ctr.read_manifest(root)
    assert [s["rows"] for s in manifest["shards"]] == [1000, 1000, 500] * 2
    assert manifest["bayes_auc"] == made.bayes_auc
    assert 0.7 < made.bayes_auc < 1 and 0 < made.positive_rate < 0.5
    assert made.bytes == sum((root / f).stat().st_size for f in files)


def test_the_same_seed_writes_the_same_bytes(data, tmp_path: Path) -> None:
    root, made = data
    again = ctr.make_data(str(tmp_path / "again"), rows=5000, days=2, shard_rows=1000, seed=3)
    assert again.bayes_auc == made.bayes_auc
    assert (tmp_path / "again/day_1/part-00002.tsv").read_bytes() == \
        (root / "day_1/part-00002.tsv").read_bytes()
    with pytest.raises(AlreadyExists):
        ctr.make_data(str(root), rows=10, seed=3)


def test_bayes_meter_gives_the_auc_of_the_true_probabilities() -> None:
    # Half the rows click with 0.8, half with 0.2: a click outranks a non-click with
    # probability P(hi|click) P(lo|non-click) + half the ties = 0.8*0.8 + 0.5*(2*0.8*0.2).
    meter = ctr.BayesMeter()
    meter.add(np.array([0.8, 0.2] * 500))
    assert meter.auc() == pytest.approx(0.8 * 0.8 + 0.5 * 2 * 0.8 * 0.2)
    assert meter.positive_rate() == pytest.approx(0.5)
    assert meter.log_loss() == pytest.approx(-(0.8 * np.log(0.8) + 0.2 * np.log(0.2)))


def test_planted_auc_matches_labels_drawn_from_it() -> None:
    signal = ctr.Signal.draw(7)
    p, labels, ints, index = signal.sample(np.random.default_rng(1), 200_000)
    from sklearn.metrics import roc_auc_score

    meter = ctr.BayesMeter()
    meter.add(p)
    assert roc_auc_score(labels, p) == pytest.approx(meter.auc(), abs=0.005)
    assert np.isnan(ints).any() and (index == -1).any()


def _line(label: str = "1", i1: str = "5", c1: str = "68fd1e64", fields: int = 40) -> str:
    values = [label, i1] + ["7"] * 11 + [""] + [c1] + ["0a1b2c3d"] * 24 + [""]
    return "\t".join(values[:fields] + ["x"] * (fields - 40))


def test_reader_counts_and_skips_malformed_lines_per_shard(tmp_path: Path) -> None:
    bad = [_line(fields=39), _line(fields=41), _line(label="2"), _line(label=""),
           _line(i1="12a"), _line(i1="1.5"), _line(c1="68FD1E6Z"), _line(c1="abc")]
    good = [_line(), _line(label="0", i1="-3", c1="")]
    path = tmp_path / "part-00000.tsv"
    path.write_text("\n".join([good[0], *bad, good[1]]) + "\n")
    frame, report = ctr.read_file(path)
    assert report.to_dict() == {"path": str(path), "rows": 2, "malformed": 8, "skipped": {
        "bad label": 2, "non-hex category": 2, "non-numeric integer": 2,
        "wrong field count": 2}}
    assert frame["label"].tolist() == [1, 0] and frame["i1"].tolist() == [5.0, -3.0]
    assert np.isnan(frame["i13"]).all()
    assert frame["c1"].tolist() == [0x68FD1E64, 0] and frame["c26"].tolist() == [0, 0]
    assert list(frame.columns) == list(ctr.COLUMNS)


def test_reader_takes_real_criteo_day_files_plain_or_gzipped(tmp_path: Path) -> None:
    # The real files: day_0 .. day_23 with no suffix, or gzipped, and no manifest.
    lines = [_line(label=str(k % 2), i1=str(k)) for k in range(30)]
    (tmp_path / "day_0").write_text("\n".join(lines) + "\n")
    with gzip.open(tmp_path / "day_1.gz", "wt") as f:
        f.write("\n".join(lines[:20]) + "\n")
    assert [p.name for p in ctr.shard_files(tmp_path)] == ["day_0", "day_1.gz"]
    parts = plan(str(tmp_path), 40)
    assert [(Path(p.path).name, p.limit, p.lines) for p in parts] == [
        ("day_0", None, 30), ("day_1.gz", 10, 20)]
    assert planned_rows(parts) == 40
    frame, report = ctr.read_file(tmp_path / "day_1.gz", limit=15)
    assert len(frame) == report.rows == 15 and frame["i1"].tolist() == list(range(15))
    with pytest.raises(InvalidInput, match="no click-log files"):
        ctr.shard_files(_empty_dir(tmp_path))


def _empty_dir(tmp_path: Path) -> Path:
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


def test_held_out_rows_and_folds_depend_only_on_position() -> None:
    mask = held_out(25)
    assert mask.tolist() == [k % 10 in (8, 9) for k in range(25)]
    assert folds(60).tolist() == [k // 10 % 5 for k in range(60)]


def test_memory_guard_refuses_before_loading(data) -> None:
    root, _ = data
    from mlfabric.apps.ctr.pandas_engine import guard

    parts = plan(str(root), 4000)
    need = ctr.estimate(4000, "none", 2)
    assert ctr.estimate(8000, "none", 2) > need > 4000 * (1 + 8 * len(INTS))
    assert ctr.estimate(4000, "target", 2) - need == 4000 * (2 * 4 + 4) * len(CATS)
    assert guard(parts, "none", 2, need) == need
    with pytest.raises(ctr.MemoryBudgetExceeded, match=r"needs about .* for 4,000 rows") as e:
        guard(parts, "none", 2, need - 1)
    assert isinstance(e.value, MemoryError) and e.value.budget == need - 1


def test_manifest_is_json_with_the_generator_settings(data) -> None:
    root, _ = data
    manifest = json.loads((root / "ctr-data.json").read_text())
    assert {k: manifest[k] for k in ("format", "rows", "days", "shard_rows", "seed")} == {
        "format": "criteo-terabyte-tsv", "rows": 5000, "days": 2, "shard_rows": 1000,
        "seed": 3}


def test_categories_hashed_or_target_encoded_without_seeing_their_own_label() -> None:
    import pandas as pd

    from mlfabric.apps.ctr.features import SMOOTHING, features, target_tables

    rows = 100
    frame = pd.DataFrame({"label": np.r_[np.ones(50), np.zeros(50)].astype(np.int8),
                          **{n: np.arange(rows, dtype=np.float64) for n in INTS},
                          **{n: np.full(rows, 7, np.uint32) for n in CATS},
                          "fold": folds(rows)})
    frame["c1"] = np.where(np.arange(rows) < 10, 0xFFFFFFFF, 5).astype(np.uint32)
    hashed = features(frame, "hash")
    assert hashed.shape == (rows, 39) and hashed[0, 13] == 0xFFFFFFFF % (1 << 20)
    assert (features(frame, "none") == hashed[:, :13]).all()
    tables = target_tables(frame)
    assert tables.prior == 0.5
    train = features(frame, "target", tables, training=True)
    test = features(frame, "target", tables)
    # c1 = 0xFFFFFFFF only on rows 0-9, all in fold 0 and all clicks: encoded from the
    # other folds (where it never occurs) a training row gets the prior; a held-out row
    # gets the smoothed rate of all ten clicks.
    assert train[:10, 13].tolist() == [0.5] * 10
    assert test[0, 13] == pytest.approx((10 + 0.5 * SMOOTHING) / (10 + SMOOTHING))
