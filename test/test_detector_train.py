"""train-detector: the CenterNet targets decode back to the boxes, and a real tiny fine-tuning
run on generated photos exports an ONNX file that the node's detector runs.
"""

import json
import os

import numpy as np
import pytest
import torch
from synthetic import make_voc_scenes

from marrtino_facemask.centerface import CenterFaceDetector
from marrtino_facemask.faces import CENTERFACE_ONNX
from marrtino_facemask.lab import detector_train
from marrtino_facemask.lab.centerface_torch import load_centerface_torch


def test_targets_decode_back_to_the_boxes():
    boxes = np.array([[40, 18, 60, 42], [100.5, 60, 140, 110]], np.float32)
    heat, index, size, offset, mask = detector_train.make_targets(boxes, 48, 64, 8)
    assert mask.tolist() == [1, 1, 0, 0, 0, 0, 0, 0]
    assert heat.max() == 1.0 and int((heat == 1.0).sum()) == 2
    sizes = np.zeros((1, 2, 48, 64), np.float32)
    offsets = np.zeros((1, 2, 48, 64), np.float32)
    for k in range(2):
        row, col = divmod(int(index[k]), 64)
        assert heat[0, row, col] == 1.0
        sizes[0, :, row, col] = size[k]
        offsets[0, :, row, col] = offset[k]
    decoded, scores, _ = CenterFaceDetector.decode(heat[None], sizes, offsets,
                                                   np.zeros((1, 10, 48, 64), np.float32), 1.0)
    order = np.argsort(decoded[:, 0])
    np.testing.assert_allclose(decoded[order], boxes, atol=1e-3)


def test_boxes_outside_the_crop_give_no_target():
    heat, index, size, offset, mask = detector_train.make_targets(
        np.array([[-50, -50, -10, -10], [300, 10, 340, 40]], np.float32), 32, 32, 4)
    assert mask.sum() == 0 and heat.max() == 0.0


def test_cut_faces_are_left_out_of_the_heatmap_loss_only_with_ignore():
    """A face that every 128 px crop cuts to under half: its cells are ignored, not background."""
    img = np.full((512, 512, 3), 128, np.uint8)
    items = [("a.jpg", np.array([[0, 0, 512, 512]], np.float32))]
    got = {}
    for mode in ("ignore", "background"):
        ds = detector_train.FaceBoxDataset(items, {"a.jpg": img}, 128, 512, seed=0, cut_faces=mode)
        x, heat, index, size, offset, mask, ignore = ds[0]
        assert x.shape == (3, 128, 128) and heat.max() == 0 and mask.sum() == 0
        got[mode] = ignore
    assert got["ignore"].shape == (1, 32, 32) and bool(got["ignore"].eq(1).all())
    assert got["background"].sum() == 0


def test_ignored_cells_add_no_background_loss():
    ignore = detector_train.ignore_map(np.array([[-20, 8, 10, 40]], np.float32), 16, 16)
    assert ignore.sum() == 3 * 8 and ignore[0, 2:10, 0:3].all()
    pred, target = torch.full((1, 1, 16, 16), 0.5), torch.zeros(1, 1, 16, 16)
    full = detector_train.focal_loss(pred, target)
    part = detector_train.focal_loss(pred, target, torch.from_numpy(ignore)[None])
    assert float(part) == pytest.approx(float(full) * (256 - 24) / 256)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("detector")
    data = make_voc_scenes(str(base / "scenes"), n_images=8)
    out = str(base / "run")
    assert detector_train.main(["--data", data, "--out", out, "--epochs", "1", "--batch-size",
                                "2", "--crop", "128", "--input-size", "256",
                                "--max-images", "4", "--save-every", "1"]) == 0
    return data, out


def test_tiny_fine_tuning_exports_a_net_the_node_runs(tiny_run, astronaut_bgr):
    _, out = tiny_run
    path = os.path.join(out, CENTERFACE_ONNX)
    assert os.path.getsize(path) > 1_000_000
    detector = CenterFaceDetector(confidence=0.1, min_face_size=1, model_path=path)
    faces = detector.detect(astronaut_bgr)  # runs and decodes; one epoch changes little
    assert all(0 <= f.x_min < f.x_max <= 512 for f in faces)
    with open(os.path.join(out, "train_log.csv")) as f:
        assert f.readline().strip() == "epoch,heat,size,offset,landmarks,seconds"
    with open(os.path.join(out, "split.json")) as f:
        split = json.load(f)
    assert split["train"] and split["val"] and not set(split["train"]) & set(split["val"])


def test_the_shipped_file_is_the_trained_net_averaged_with_the_base(tiny_run):
    """--wise-alpha (default 0.2): centerface.onnx is 0.8 x the trained net (kept as
    centerface_finetuned.onnx) + 0.2 x the published net it started from.
    """
    from marrtino_facemask.faces import CENTERFACE_BASE_ONNX, default_face_model_dir
    from marrtino_facemask.lab.detector_mix import DEFAULT_ALPHA
    _, out = tiny_run
    load = load_centerface_torch
    shipped = load(os.path.join(out, CENTERFACE_ONNX)).state_dict().values()
    trained = load(os.path.join(out, detector_train.FINETUNED_ONNX)).state_dict().values()
    base = load(os.path.join(default_face_model_dir(), CENTERFACE_BASE_ONNX)).state_dict().values()
    moved = 0
    for s, t, b in zip(shipped, trained, base):
        if s.is_floating_point():
            assert torch.allclose(s, (1 - DEFAULT_ALPHA) * t + DEFAULT_ALPHA * b, atol=1e-5)
            moved += not torch.allclose(s, t, atol=1e-5)
    assert moved > 100


def test_fine_tuning_uses_only_the_training_side(tiny_run, tmp_path):
    data, out = tiny_run
    with open(os.path.join(out, "split.json")) as f:
        split = json.load(f)
    args = detector_train.parse_args(["--data", data, "--split", os.path.join(out, "split.json")])
    from marrtino_facemask.lab.data import ImageCache, load_samples
    _, samples = load_samples(data)
    items = detector_train.training_items(args, samples, ImageCache(data), str(tmp_path))
    assert sorted(rel for rel, _ in items) == sorted(split["train"])


def test_bad_crop_size_and_data_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit):
        detector_train.parse_args(["--data", "x", "--crop", "100"])
    assert "--crop must be a multiple of 32" in capsys.readouterr().err
    assert detector_train.main(["--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
