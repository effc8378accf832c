"""The lab's torch classifier (lab/classifier_torch.py): a real (untrained, seeded) ResNet18
checkpoint behind MaskClassifier, as training, evaluation and the export's parity check use
it. Needs torch; the node's ONNX classifier: test_classifier_pipeline.py.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from synthetic import smooth_crops  # noqa: E402

from marrtino_facemask.classifier import MaskClassifier, to_input_batch  # noqa: E402
from marrtino_facemask.crops import crop_face  # noqa: E402
from marrtino_facemask.lab.checkpoint import (  # noqa: E402
    IMAGENET_MEAN,
    IMAGENET_STD,
    build_model,
    save_checkpoint,
)
from marrtino_facemask.lab.classifier_torch import (  # noqa: E402
    DEVICES,
    TorchNet,
    resolve_device,
    to_tensor_batch,
)
from marrtino_facemask.labels import CLASS_NAMES  # noqa: E402
from marrtino_facemask.pipeline import FaceMaskPipeline  # noqa: E402

ASTRONAUT_FACE = (179, 57, 272, 178)


def torch_classifier(path, device="cpu"):
    return MaskClassifier(path, net=TorchNet(path, device))


@pytest.fixture(scope="module")
def clf(tiny_checkpoint):
    return torch_classifier(tiny_checkpoint)


# --------------------------------------------------------------------------- devices
def test_resolve_device_cpu_and_auto():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device().type == expected
    assert DEVICES == ("auto", "cpu", "cuda")


@pytest.mark.parametrize("device", ["tpu", "CPU", ""])
def test_resolve_device_unknown(device):
    with pytest.raises(ValueError) as info:
        resolve_device(device)
    msg = str(info.value)
    assert f"'{device}'" in msg and "auto" in msg and "cpu" in msg and "cuda" in msg


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_resolve_device_cuda_without_cuda(tiny_checkpoint):
    with pytest.raises(ValueError) as info:
        resolve_device("cuda")
    msg = str(info.value)
    assert "cuda" in msg and "no CUDA" in msg and "auto" in msg and "\n" not in msg
    with pytest.raises(ValueError):
        TorchNet(tiny_checkpoint, device="cuda")


# --------------------------------------------------------------------------- tensors
def test_to_tensor_batch_is_the_input_batch_as_a_tensor():
    crops = smooth_crops(3)
    before = [c.copy() for c in crops]
    batch = to_tensor_batch(crops, IMAGENET_MEAN, IMAGENET_STD)
    assert batch.shape == (3, 3, 96, 96) and batch.dtype == torch.float32
    assert batch.is_contiguous()
    np.testing.assert_array_equal(batch.numpy(), to_input_batch(crops, IMAGENET_MEAN,
                                                                IMAGENET_STD))
    for a, b in zip(crops, before):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- classifier
def test_classifier_attributes(clf):
    assert clf.class_names == CLASS_NAMES
    assert clf.input_size == 96
    assert clf.margin == pytest.approx(0.15)
    assert clf.backend == "torch" and clf.precision == "float32"
    assert clf.net.device == torch.device("cpu")
    assert not clf.net.model.training
    assert clf.meta == {"note": "untrained, for tests"}


def test_predict_gives_probabilities(clf):
    probs = clf.predict(smooth_crops(5))
    assert probs.shape == (5, 3) and probs.dtype == np.float32
    assert np.all(probs >= 0) and np.all(probs <= 1)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert np.abs(probs[0] - probs[1]).max() > 1e-6


def test_classifier_crop_uses_checkpoint_geometry(clf, astronaut_bgr):
    crop = clf.crop(astronaut_bgr, ASTRONAUT_FACE)
    assert crop.shape == (96, 96, 3) and crop.dtype == np.uint8
    np.testing.assert_array_equal(crop, crop_face(astronaut_bgr, ASTRONAUT_FACE, 96, 0.15))


def test_classifier_on_another_input_size(tmp_path):
    with torch.random.fork_rng():
        torch.manual_seed(5)
        model = build_model(2)
    path = tmp_path / "small.pt"
    save_checkpoint(str(path), model, class_names=("a", "b"), input_size=48, margin=0.3)
    c = torch_classifier(str(path))
    crops = [np.full((48, 48, 3), v, np.uint8) for v in (0, 100, 255)]
    probs = c.predict(crops)
    assert probs.shape == (3, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert c.crop(np.zeros((100, 100, 3), np.uint8), (10, 10, 50, 50)).shape == (48, 48, 3)


def test_a_pipeline_with_the_torch_classifier(clf, astronaut_bgr):
    from marrtino_facemask.detectors import make_face_detector
    pipeline = FaceMaskPipeline(make_face_detector(), clf)
    (result,) = pipeline(astronaut_bgr)
    face = make_face_detector().detect(astronaut_bgr)[0]
    expected = clf.predict([clf.crop(astronaut_bgr, face.box, face.landmarks)])[0]
    assert [result.scores[n] for n in CLASS_NAMES] == pytest.approx(list(expected), abs=1e-5)


def test_threads_setting_reaches_torch():
    """The lab's torch takes the ``threads`` setting (applied before it is loaded) as OpenCV
    and ONNX Runtime do.
    """
    import json
    import subprocess
    import sys
    code = ("import json, sys; from marrtino_facemask.threads import apply_threads; "
            "opencv = apply_threads(int(sys.argv[1]))['opencv']; "
            "import torch; import marrtino_facemask.lab.classifier_torch; "
            "print(json.dumps([opencv, torch.get_num_threads()]))")
    got = {n: json.loads(subprocess.run([sys.executable, "-c", code, str(n)], check=True,
                                        capture_output=True, text=True,
                                        timeout=120).stdout)
           for n in (1, 2)}
    assert got[1] == [1, 1] and got[2] == [2, 2]
