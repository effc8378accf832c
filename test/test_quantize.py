"""`export` of the shipped checkpoint and `quantize` on real data: a tiny calibration set from
the training side of a split; the int8 models run and agree with float32 on real crops and
frames of the validation side. The shipped checkpoint was trained on every photo, so the split
is made here, seeded, over face_mask_scenes: what is checked is int8 against float32 on photos
that calibration did not see, not accuracy. Needs the face_mask_scenes dataset (skipped
without it).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("torch", reason="export (the float32 source of quantize) needs torch")

from marrtino_facemask.centerface import CenterFaceDetector  # noqa: E402
from marrtino_facemask.classifier import MaskClassifier  # noqa: E402
from marrtino_facemask.faces import CENTERFACE_ONNX, default_face_model_dir  # noqa: E402
from marrtino_facemask.lab import quantize  # noqa: E402
from marrtino_facemask.lab.checkpoint import CHECKPOINT_NAME, default_checkpoint_path  # noqa: E402
from marrtino_facemask.lab.data import load_samples, save_split, split_groups, stem_of  # noqa: E402
from marrtino_facemask.lab.real_samples import dataset_face_crops, dataset_frames, split_side  # noqa: E402
from marrtino_facemask.model_file import default_model_path  # noqa: E402
from marrtino_facemask.paths import default_dataset_dir  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATASET = default_dataset_dir()
pytestmark = pytest.mark.skipif(DATASET is None, reason="dataset face_mask_scenes not found "
                                "(set FACE_MASK_SCENES to the face_mask_scenes folder)")


def cli(command, *args, cwd):
    return subprocess.run([sys.executable, "-m", "marrtino_facemask", command, *args], cwd=cwd,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                              p for p in (REPO, os.environ.get("PYTHONPATH")) if p)),
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def split_file(tmp_path_factory):
    """A seeded split of face_mask_scenes by photo (a fifth on the validation side)."""
    path = str(tmp_path_factory.mktemp("split") / "split.json")
    layout, samples = load_samples(DATASET)
    train, val = split_groups(samples, 0.2, 0)
    save_split(path, DATASET, layout, samples, train, val, 0, 0.2)
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory, split_file):
    """A folder with the shipped checkpoint, its float32 export (checked on validation crops)
    and int8 copies of the classifier (48 training faces, twice) and of CenterFace (4
    training photos). Runs in that folder, so that nothing lands in the repository.
    """
    folder = tmp_path_factory.mktemp("quantize")
    pt = folder / CHECKPOINT_NAME
    shutil.copy(default_checkpoint_path(), pt)
    out = {"pt": str(pt), "fp32": str(folder / "facemask_resnet18.onnx")}
    proc = cli("export", "--model", str(pt), "--split", split_file, cwd=folder)
    assert proc.returncode == 0, proc.stderr
    out["export_stdout"] = proc.stdout
    for name in ("cls_a", "cls_b"):
        out[name] = str(folder / f"{name}.onnx")
        proc = cli("quantize", "--split", split_file, "--model", str(pt), "--what",
                   "classifier", "--crops", "48", "--classifier-out", out[name], cwd=folder)
        assert proc.returncode == 0, proc.stderr
    out["det"] = str(folder / "centerface_q.onnx")
    proc = cli("quantize", "--split", split_file, "--model", str(pt), "--what", "detector",
               "--frames", "4", "--detector-out", out["det"], cwd=folder)
    assert proc.returncode == 0, proc.stderr
    out["det_stdout"] = proc.stdout
    assert sorted(os.listdir(folder)) == sorted(
        os.path.basename(p) for p in (out["pt"], out["fp32"], out["cls_a"], out["cls_b"],
                                      out["det"]))
    return out


@pytest.fixture(scope="module")
def val_side(split_file):
    return split_side(None, split_file, "val", {})


def test_export_of_the_shipped_checkpoint_agrees_on_validation_crops(work):
    match = re.search(r"parity on (\d+) face crops of .*the validation side of its split: max "
                      r"\|p_onnxruntime - p_torch\| = (\S+)", work["export_stdout"])
    assert match, work["export_stdout"]
    assert int(match.group(1)) == 256 and float(match.group(2)) <= 1e-4


def test_calibration_uses_only_the_training_side(work, val_side, split_file):
    args = argparse.Namespace(data=None, split=split_file, model=work["pt"])
    _, train, text = quantize.training_side(args)
    _, val = val_side
    train_photos, val_photos = {stem_of(s.image) for s in train}, {stem_of(s.image) for s in val}
    assert train_photos and val_photos and not train_photos & val_photos
    assert "training side" in text
    assert "calibrated on 4 training photos at 640x480 of the training side" in work["det_stdout"]


def test_quantization_is_reproducible(work):
    with open(work["cls_a"], "rb") as a, open(work["cls_b"], "rb") as b:
        assert a.read() == b.read()


def test_int8_classifier_agrees_with_float32_on_validation_crops(work, val_side):
    fp32, int8 = MaskClassifier(work["fp32"]), MaskClassifier(work["cls_a"])
    assert (fp32.precision, int8.precision) == ("float32", "int8")
    assert int8.class_names == fp32.class_names and int8.input_size == fp32.input_size
    assert int8.net.metadata["source_sha256"] == fp32.net.metadata["source_sha256"]
    root, samples = val_side
    crops = dataset_face_crops(root, samples, fp32.input_size, fp32.margin, 128, seed=1,
                               min_side=24)
    p32, p8 = fp32.predict(crops), int8.predict(crops)
    np.testing.assert_allclose(p8.sum(axis=1), 1.0, atol=1e-5)   # the softmax stays float32
    agree = np.mean(p32.argmax(1) == p8.argmax(1))
    print(f"\nint8 (48 calibration faces) vs float32 on {len(crops)} validation crops: top-1 "
          f"agreement {agree:.3f}, mean |dp| {np.abs(p32 - p8).mean():.4f}")
    assert agree >= 0.95 and np.abs(p32 - p8).mean() < 0.05


def test_int8_detector_finds_the_faces_float32_finds(work, val_side, astronaut_bgr):
    fp32 = CenterFaceDetector(0.3, 8, os.path.join(default_face_model_dir(), CENTERFACE_ONNX))
    int8 = CenterFaceDetector(0.3, 8, work["det"])
    assert int8.precision == "int8"
    root, samples = val_side
    frames = [astronaut_bgr] + dataset_frames(root, samples, 12, seed=1)
    found = matched = 0
    for frame in frames:
        a, b = fp32.detect(frame), int8.detect(frame)
        found += len(a)
        matched += sum(any(_iou(f.box, g.box) > 0.5 and abs(f.score - g.score) < 0.15
                           for g in b) for f in a)
    print(f"\nint8 (4 calibration photos) finds {matched} of the {found} faces float32 finds")
    assert found >= 15 and matched >= 0.9 * found


def _iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_quantize_refusals_are_one_line(tmp_path, split_file):
    proc = cli("quantize", "--what", "everything", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    pt = tmp_path / "alone.pt"
    shutil.copy(default_checkpoint_path(), pt)
    proc = cli("quantize", "--split", split_file, "--model", str(pt), "--what", "classifier",
               cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert f"export --model {pt}" in proc.stderr and "Traceback" not in proc.stderr
    # an int8 file is not quantized again: the float32 one is the source
    proc = cli("quantize", "--split", split_file, "--model", default_model_path(), "--what",
               "classifier", "--classifier-out", str(tmp_path / "twice.onnx"), cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "int8 already" in proc.stderr and not (tmp_path / "twice.onnx").exists()
