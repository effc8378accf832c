"""mix-detector (WiSE-FT): the average of two real CenterFace nets is the weighted mean of
their weights, layer by layer; at 0 and 1 it is each net; the written file runs in the node's
detector and finds the face; nets that do not pair up are refused in one line.
"""

import os

import numpy as np
import pytest
import torch

from marrtino_facemask.centerface import CenterFaceDetector
from marrtino_facemask.faces import (
    CENTERFACE_BASE_ONNX,
    CENTERFACE_INT8_ONNX,
    CENTERFACE_ONNX,
    default_face_model_dir,
)
from marrtino_facemask.lab import detector_mix
from marrtino_facemask.lab.centerface_torch import load_centerface_torch

pytest.importorskip("onnx2torch")

OURS = os.path.join(default_face_model_dir(), CENTERFACE_ONNX)
BASE = os.path.join(default_face_model_dir(), CENTERFACE_BASE_ONNX)


@pytest.fixture(scope="module")
def nets():
    return load_centerface_torch(OURS).eval(), load_centerface_torch(BASE).eval()


def _blob(image_bgr):
    import cv2
    return torch.from_numpy(cv2.dnn.blobFromImage(image_bgr, 1.0, (512, 512), swapRB=True))


def _weights(model):
    return [v.clone() for v in model.state_dict().values()]


@pytest.mark.parametrize("alpha", [0.0, 0.2, 1.0])
def test_the_average_is_the_weighted_mean_of_each_pair_of_layers(nets, alpha):
    ours, base = nets
    before, theirs = _weights(ours), _weights(base)
    mixed = detector_mix.interpolate(load_centerface_torch(OURS), base, alpha)
    after = _weights(mixed)
    assert len(after) == len(before) == len(theirs) == 138
    changed = 0
    for a, b, m in zip(before, theirs, after):
        if a.is_floating_point():
            assert torch.allclose(m, (1 - alpha) * a + alpha * b, atol=1e-6)
            changed += not torch.equal(a, b)
        else:   # BatchNorm's step counters are not weights
            assert torch.equal(m, a)
    assert changed > 100   # the two nets really differ: fine-tuning moved almost every layer


def test_at_one_it_answers_as_the_base_net(nets, astronaut_bgr):
    ours, base = nets
    x = _blob(astronaut_bgr)
    with torch.no_grad():
        expected = base(x)
        mixed = detector_mix.interpolate(load_centerface_torch(OURS), base, 1.0).eval()(x)
        fine = ours(x)
    assert max(float((a - b).abs().max()) for a, b in zip(mixed, expected)) < 1e-4
    # and the fine-tuned net answers differently, so the check above can fail
    assert max(float((a - b).abs().max()) for a, b in zip(fine, expected)) > 1e-2


def test_the_written_file_runs_in_the_node_detector_and_finds_the_face(tmp_path, astronaut_bgr,
                                                                       capsys):
    out = str(tmp_path / "mixed" / CENTERFACE_ONNX)
    assert detector_mix.main(["--fine-tuned", OURS, "--out", out]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"wrote {out}: 0.8 x ") and "ONNX Runtime vs torch" in line
    faces = CenterFaceDetector(confidence=0.3, min_face_size=8, model_path=out).detect(
        astronaut_bgr)
    assert len(faces) == 1
    f = faces[0]
    # skimage's astronaut: Eileen Collins' face lies around x 170-280, y 40-180
    assert 150 < (f.x_min + f.x_max) / 2 < 290 and 50 < (f.y_min + f.y_max) / 2 < 190
    assert f.score > 0.5


@pytest.mark.parametrize("argv, words", [
    (["--alpha", "1.5"], "alpha must be between 0"),
    (["--base", os.path.join(default_face_model_dir(), "no_such.onnx")], "not found"),
    (["--base", os.path.join(default_face_model_dir(), CENTERFACE_INT8_ONNX)], "not an int8"),
])
def test_bad_input_is_one_line(tmp_path, capsys, argv, words):
    out = tmp_path / "x.onnx"
    assert detector_mix.main(["--fine-tuned", OURS, "--out", str(out)] + argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and words in err, err
    assert not out.exists()


def test_a_file_that_is_not_onnx_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(np.arange(100, dtype=np.uint8).tobytes())
    assert detector_mix.main(["--fine-tuned", str(bad), "--out", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot read") and "\n" not in err


def test_a_net_of_another_architecture_is_refused_in_one_line(tmp_path, capsys):
    other = str(tmp_path / "other.onnx")
    torch.onnx.export(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU()),
                      torch.zeros(1, 3, 32, 32), other, opset_version=11, dynamo=False)
    out = tmp_path / "x.onnx"
    assert detector_mix.main(["--fine-tuned", OURS, "--base", other, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: the two nets differ: 138 weight tensors against 2")
    assert "\n" not in err and not out.exists()
