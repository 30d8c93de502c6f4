"""The lane pipeline's pure parts: TuSimple's metrics, label lines, the split of each
global batch over ranks, and decoding probabilities into TuSimple lanes."""

from __future__ import annotations

import numpy as np
import pytest

from mlfabric.apps.lanes.evaluation import decode
from mlfabric.apps.lanes.metrics import scaled_threshold, score, score_picture
from mlfabric.apps.lanes.synth import h_samples_for, make_scene
from mlfabric.apps.lanes.training import World, epoch_batches
from mlfabric.apps.lanes.tusimple import parse_line
from mlfabric.errors import InvalidInput

H = [160, 170, 180, 190]


def test_metrics_follow_tusimple_lane_eval() -> None:
    gt = [[100, 110, 120, 130], [300, 300, 300, 300]]
    # within 20 px at every row: both lanes right, nothing extra
    assert score_picture([[105, 115, 125, 135], [310, 310, 290, 290]], gt, H, 20) == \
        (1.0, 0.0, 0.0)
    # the second lane off by 30 px at half its rows: 50 % < 85 % -> a miss and a false lane
    acc, fp, fn = score_picture([[100, 110, 120, 130], [330, 330, 300, 300]], gt, H, 20)
    assert (acc, fp, fn) == (0.75, 0.5, 0.5)
    # a lane absent from the prediction: FN; -2 points never match
    assert score_picture([[100, 110, 120, 130]], gt, H, 20) == (0.5, 0.0, 0.5)
    assert score_picture([[-2, -2, -2, -2]], [[-2, 5, 5, 5]], H, 20)[0] == 0.25
    # a steep lane's threshold widens by 1/cos(angle): 25 px off still counts at 45 degrees
    steep = [[160, 170, 180, 190]]
    assert score_picture([[185, 195, 205, 215]], steep, H, 20)[0] == 1.0
    assert score_picture([[185, 170, 180, 190]], [[100, 100, 100, 100]], H, 20)[0] == 0.0
    total = score([([[100, 110, 120, 130]], gt, H), ([], gt, H)], 20)
    assert total == {"accuracy": 0.25, "fp": 0.0, "fn": 0.75, "pictures": 2}
    assert scaled_threshold(1280) == 20 and scaled_threshold(64) == 1.0


def test_a_fifth_lane_is_forgiven_once_as_tusimple_does() -> None:
    gt = [[float(100 * i)] * 4 for i in range(1, 6)]
    acc, fp, fn = score_picture(gt[:4], gt, H, 20)  # four of five found
    assert (acc, fp, fn) == (1.0, 0.0, 0.0)


@pytest.mark.parametrize(("line", "kind"), [
    ('{"lanes": [[1, 2]], "h_samples": [1, 2, 3], "raw_file": "a.jpg"}', "mismatched lengths"),
    ('{"lanes": [[1, 2]], "h_samples": [1, 2]}', "missing raw_file"),
    ('{"lanes": [[1, 2]], "h_samples": [1, 2], "raw_file": ""}', "missing raw_file"),
    ('{"lanes": [[1, 2]], "h_samples": [1, 2], ', "bad JSON"),
    ('{"lanes": "x", "h_samples": [1], "raw_file": "a.jpg"}', "bad JSON"),
])
def test_bad_label_lines_say_what_is_wrong(line: str, kind: str) -> None:
    with pytest.raises(ValueError, match=kind):
        parse_line(line)


def test_a_real_tusimple_line_parses() -> None:
    line = ('{"lanes": [[-2, -2, 632, 625], [719, 734, 748, 762]], '
            '"h_samples": [240, 250, 260, 270], "raw_file": "clips/0313-1/6040/20.jpg"}')
    label = parse_line(line)
    assert label.raw_file == "clips/0313-1/6040/20.jpg" and label.lanes[0][:3] == [-2, -2, 632]


@pytest.mark.parametrize(("n", "batch", "world"), [(28, 4, 2), (29, 8, 2), (30, 6, 3)])
def test_ranks_split_each_global_batch_of_one_process(n: int, batch: int, world: int) -> None:
    one = epoch_batches(n, batch, World(0, 1, 0, 1), seed=5, epoch=2)
    ranks = [epoch_batches(n, batch, World(r, world, r, world), seed=5, epoch=2)
             for r in range(world)]
    assert len(one) == n // batch and all(len(r) == len(one) for r in ranks)
    for step, shares in enumerate(zip(*ranks, strict=True)):
        assert sorted(np.concatenate(shares)) == sorted(one[step])
        assert {len(s) for s in shares} == {batch // world}  # DDP's mean is the batch's
    other = epoch_batches(n, batch, World(0, 1, 0, 1), seed=5, epoch=3)
    assert any((a != b).any() for a, b in zip(one, other, strict=True))  # reshuffled


def test_a_batch_the_processes_cannot_share_is_refused() -> None:
    with pytest.raises(InvalidInput, match="multiple of the processes"):
        epoch_batches(30, 5, World(0, 2, 0, 2), seed=0, epoch=0)
    with pytest.raises(InvalidInput, match="cannot feed 4 processes"):
        epoch_batches(3, 4, World(0, 4, 0, 4), seed=0, epoch=0)


def test_decode_reads_lanes_back_at_the_original_size() -> None:
    probs = np.zeros((6, 32, 64), dtype=np.float32)
    probs[0] = 1
    probs[2, :, 20] = 0.9  # slot 2: a vertical lane at column 20
    probs[0, :, 20] = 0.1
    lanes = decode(probs, [100, 200, 300], (640, 320))
    assert lanes == [[204.5, 204.5, 204.5]]  # pixel centres: (20 + 0.5) * 10 - 0.5


def test_synthetic_scenes_label_2_to_5_lanes_in_the_picture() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        scene = make_scene(rng, 256, 128)
        label = scene.label("x.jpg")
        assert 2 <= len(scene.bottoms) <= 5 and 1 <= len(label.lanes) <= 5
        assert label.h_samples == h_samples_for(128)
        assert all(len(lane) == len(label.h_samples) for lane in label.lanes)
        assert all(x == -2 or 0 <= x < 256 for lane in label.lanes for x in lane)
