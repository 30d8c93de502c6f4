"""FaceBoxes pieces without training: shapes, priors, box arithmetic, loss, AP, the FDDB
format, image checks and checkpoint loading."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from mlfabric.apps.faces.boxes import decode, encode, iou, match, nms, to_corners
from mlfabric.apps.faces.data import check_image, read_image
from mlfabric.apps.faces.detector import Detection, load_detector, save_detector
from mlfabric.apps.faces.detector import Detector as DetectorBundle
from mlfabric.apps.faces.evaluation import average_precision
from mlfabric.apps.faces.fddb import Ellipse, parse_folds, read_dataset, read_fold, write_fold
from mlfabric.apps.faces.loss import MultiBoxLoss
from mlfabric.apps.faces.model import SPLITS, FaceBoxes, head_shape, split_model
from mlfabric.apps.faces.priors import prior_boxes
from mlfabric.apps.faces.serve import Transmission, detect_remote
from mlfabric.errors import InvalidInput, NotFound


@pytest.fixture(scope="module")
def model() -> FaceBoxes:
    torch.manual_seed(0)
    return FaceBoxes().eval()


def test_head_output_is_128x32x32_at_1024_and_every_split_agrees(model: FaceBoxes) -> None:
    assert head_shape("pool2", 1024) == (128, 32, 32)
    for size in (128, 256, 1024):
        x = torch.randn(1, 3, size, size)
        with torch.no_grad():
            full = model(x)
            for split in SPLITS:
                head, tail = split_model(model, split)
                act = head(x)
                assert tuple(act.shape[1:]) == head_shape(split, size)
                loc, conf = tail(act)
                assert torch.allclose(loc, full[0], atol=1e-5)
                assert torch.allclose(conf, full[1], atol=1e-5)
        assert full[0].shape == (1, len(prior_boxes(size)), 4)
    with pytest.raises(InvalidInput, match="unknown split point 'conv9'"):
        split_model(model, "conv9")


def test_tail_parameters_exclude_the_head(model: FaceBoxes) -> None:
    head, tail = split_model(model, "pool1")
    head_ids = {id(p) for p in head.parameters()}
    tail_ids = {id(p) for p in tail.parameters()}
    assert not head_ids & tail_ids
    assert len(head_ids) + len(tail_ids) == len(list(model.parameters()))


def test_priors_are_densified_per_the_paper() -> None:
    p = prior_boxes(1024)
    # 32x32 cells x 21 anchors, 16x16 x 1, 8x8 x 1
    assert len(p) == 32 * 32 * 21 + 16 * 16 + 8 * 8
    first = p[:16]  # the 32-px anchor tiled 4x4 in the first cell
    assert torch.allclose(first[:, 2:], torch.full((16, 2), 32 / 1024))
    assert sorted({round(v * 1024) for v in first[:, 0].tolist()}) == [0, 8, 16, 24]


def test_encode_decode_round_trip_and_iou() -> None:
    priors = prior_boxes(256)[:50]
    boxes = to_corners(priors) + 0.01
    assert torch.allclose(decode(encode(boxes, priors), priors), boxes, atol=1e-5)
    a = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    b = torch.tensor([[0.0, 0.0, 0.5, 1.0], [2.0, 2.0, 3.0, 3.0]])
    assert iou(a, b).tolist() == [[0.5, 0.0]]


def test_match_gives_every_face_its_best_prior() -> None:
    priors = prior_boxes(256)
    tiny = torch.tensor([[0.50, 0.50, 0.53, 0.53]])  # far below every prior's size
    _, labels = match(tiny, priors, 0.35)
    assert int(labels.sum()) == 1
    _, none = match(torch.zeros(0, 4), priors, 0.35)
    assert int(none.sum()) == 0


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = torch.tensor([[0, 0, 1, 1], [0, 0, 0.95, 1], [2, 2, 3, 3]], dtype=torch.float32)
    kept = nms(boxes, torch.tensor([0.9, 0.95, 0.5]), 0.3)
    assert kept.tolist() == [1, 2]


def test_multibox_loss_is_finite_and_learns(model: FaceBoxes) -> None:
    torch.manual_seed(0)
    net = FaceBoxes().train()
    loss = MultiBoxLoss(prior_boxes(128))
    x = torch.randn(4, 3, 128, 128)
    truths = [torch.tensor([[0.2, 0.2, 0.6, 0.7]]), torch.zeros(0, 4),
              torch.tensor([[0.1, 0.1, 0.4, 0.4], [0.5, 0.5, 0.9, 0.95]]),
              torch.tensor([[0.3, 0.3, 0.5, 0.5]])]
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    values = []
    for _ in range(5):
        value = loss(net(x), truths)
        opt.zero_grad()
        value.backward()
        opt.step()
        values.append(float(value.detach()))
    assert all(math.isfinite(v) for v in values)
    assert values[-1] < values[0]


def _det(boxes: list[list[float]], scores: list[float]) -> Detection:
    return Detection(torch.tensor(boxes, dtype=torch.float32).view(-1, 4),
                     torch.tensor(scores, dtype=torch.float32))


def test_average_precision() -> None:
    truth = [torch.tensor([[0.0, 0.0, 0.5, 0.5]]), torch.tensor([[0.5, 0.5, 1.0, 1.0]])]
    perfect = [_det([[0, 0, 0.5, 0.5]], [0.9]), _det([[0.5, 0.5, 1, 1]], [0.8])]
    assert average_precision(perfect, truth) == pytest.approx(1.0)
    # a confident false positive first: precisions 0, 1/2, 2/3; the envelope takes 2/3
    with_fp = [_det([[0, 0, 0.5, 0.5], [0.6, 0, 0.9, 0.3]], [0.7, 0.95]),
               _det([[0.5, 0.5, 1, 1]], [0.8])]
    assert average_precision(with_fp, truth) == pytest.approx(2 / 3)
    # a duplicate on a found face is a false positive, a missed face caps recall
    dup = [_det([[0, 0, 0.5, 0.5], [0, 0, 0.5, 0.5]], [0.9, 0.8]), _det([], [])]
    assert average_precision(dup, truth) == pytest.approx(0.5)


def test_fddb_round_trip_and_ellipse_boxes(tmp_path: Path) -> None:
    upright = Ellipse(major=20, minor=10, angle=math.pi / 2, cx=50, cy=60)
    assert upright.box() == pytest.approx((40, 40, 60, 80))
    entries = [("2002/07/19/big/img_1", [upright]), ("2002/07/19/big/img_2", [])]
    write_fold(tmp_path, 3, entries)
    got = read_fold(tmp_path, 3)
    assert [e.name for e in got] == ["2002/07/19/big/img_1", "2002/07/19/big/img_2"]
    assert got[0].faces[0].box() == pytest.approx(upright.box(), abs=1e-4)
    assert got[0].path == tmp_path / "originalPics" / "2002/07/19/big/img_1.jpg"
    assert (tmp_path / "FDDB-folds" / "FDDB-fold-03.txt").read_text().splitlines()[1] == \
        "2002/07/19/big/img_2"


def test_fddb_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="dataset folder"):
        read_dataset(tmp_path / "nope", [1])
    (tmp_path / "plain").mkdir()
    with pytest.raises(InvalidInput, match="not an FDDB-format dataset"):
        read_dataset(tmp_path / "plain", [1])
    (tmp_path / "FDDB-folds").mkdir()
    with pytest.raises(InvalidInput, match="no FDDB annotations for fold 2"):
        read_dataset(tmp_path, [2])
    (tmp_path / "FDDB-folds" / "FDDB-fold-01-ellipseList.txt").write_text("img\n1\n1 2 x\n")
    with pytest.raises(InvalidInput, match=r"FDDB-fold-01-ellipseList.txt:3: expected"):
        read_fold(tmp_path, 1)


@pytest.mark.parametrize(("spec", "folds"), [
    ("all", list(range(1, 11))), ("1-8", list(range(1, 9))), ("9,10", [9, 10]),
    ("2,4-5", [2, 4, 5])])
def test_parse_folds(spec: str, folds: list[int]) -> None:
    assert parse_folds(spec) == folds


@pytest.mark.parametrize("spec", ["0", "11", "a-b", ""])
def test_parse_folds_rejects(spec: str) -> None:
    with pytest.raises(InvalidInput, match="folds must"):
        parse_folds(spec)


def test_images_of_the_wrong_shape_or_size_or_unreadable(tmp_path: Path) -> None:
    assert check_image(np.zeros((40, 50), np.uint8)).shape == (40, 50, 3)
    with pytest.raises(InvalidInput, match="too small"):
        check_image(np.zeros((20, 50, 3), np.uint8))
    with pytest.raises(InvalidInput, match=r"expected an RGB image \[H, W, 3\]"):
        check_image(np.zeros((40, 40, 2), np.uint8))
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 this is not a jpeg")
    with pytest.raises(InvalidInput, match="cannot read image"):
        read_image(bad)
    with pytest.raises(InvalidInput, match="image file not found"):
        read_image(tmp_path / "missing.jpg")


def test_detectors_and_reference_checkpoints_load(tmp_path: Path, model: FaceBoxes) -> None:
    ours = save_detector(DetectorBundle(model, 256, {"k": 1}), tmp_path / "ours.pt")
    back = load_detector(ours)
    assert back.size == 256 and back.meta == {"k": 1}
    # FaceBoxes.PyTorch saves a bare state dict from DataParallel: "module." prefixes
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, tmp_path / "ref.pth")
    ref = load_detector(tmp_path / "ref.pth")
    assert ref.size == 1024
    assert all(torch.equal(ref.model.state_dict()[k], v) for k, v in model.state_dict().items())
    torch.save({"conv1.conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(InvalidInput, match="do not fit FaceBoxes"):
        load_detector(tmp_path / "other.pth")
    with pytest.raises(InvalidInput, match="input size must be a multiple of 32"):
        load_detector(ours, size=100)


def test_detect_remote_refuses_to_send_without_noise_unless_told(tmp_path: Path) -> None:
    # Nothing here exists: the refusal comes before the detector, the picture or the server
    # is touched, so the raw activation is never even computed.
    args = {"detector": str(tmp_path / "missing.pt"), "url": "127.0.0.1:9"}
    image = str(tmp_path / "missing.jpg")
    for noise in (None, ""):
        with pytest.raises(InvalidInput, match="refusing to send the pool2 activation without "
                           "noise: the server would see the raw activation") as refused:
            detect_remote(image, noise=noise, **args)
        assert refused.value.field == "noise"
        assert "give noise=FILE" in str(refused.value)
        assert "send_raw_activation=True" in str(refused.value)
    with pytest.raises(InvalidInput, match="refusing to send the conv1 activation"):
        detect_remote(image, split="conv1", **args)
    with pytest.raises(InvalidInput, match="give either noise=FILE or send_raw_activation=True, "
                       "not both"):
        detect_remote(image, noise="noise.pt", send_raw_activation=True, **args)
    with pytest.raises(NotFound):  # opted out: the next check is the detector file's
        detect_remote(image, send_raw_activation=True, **args)


def test_transmission_says_what_is_sent_and_whether_it_is_obfuscated() -> None:
    base = {"url": "http://127.0.0.1:8000", "model": "faceboxes-tail", "input": "INPUT__0",
            "split": "pool2", "shape": [1, 128, 32, 32], "datatype": "FP32",
            "sent_bytes": 128 * 32 * 32 * 4}
    noisy = Transmission(**base, noise={"file": "noise.pt", "alpha": 0.5, "mean_scale": 0.25})
    assert noisy.describe() == ("sending the pool2 activation (128x32x32 float32, 512.0 KiB) "
                                "with learned noise (alpha 0.5, mean scale 0.25, from noise.pt) "
                                "to http://127.0.0.1:8000 (model faceboxes-tail)")
    assert noisy.to_dict()["noisy"] is True
    unknown = Transmission(**base, noise={"file": "n.pt", "alpha": None, "mean_scale": 0.25})
    assert "with learned noise (mean scale 0.25, from n.pt)" in unknown.describe()
    raw = Transmission(**base, noise=None)
    assert raw.describe(opt_out="--no-noise") == (
        "sending the pool2 activation (128x32x32 float32, 512.0 KiB) WITHOUT noise "
        "(--no-noise) to http://127.0.0.1:8000 (model faceboxes-tail): the server sees the "
        "raw activation")
    assert "(send_raw_activation=True)" in raw.describe()
    assert raw.to_dict()["noisy"] is False and raw.to_dict()["noise"] is None
