"""CenterFace and the classifier on OpenVINO (``backend:=openvino``, for both nets;
marrtino_facemask/openvino_nets.py, classifier_openvino.py): the same
faces and probabilities as ONNX Runtime from the same files, a net of its own for each of the
first input shapes and a dynamic net beyond, the ``threads`` setting, and one-line errors for
a bad file. These checks load OpenVINO, so test_openvino.py runs each of them in a child
pytest process (see there); they skip where OpenVINO is not installed (CI's Kilted
environment has it: requirements/env.txt).
"""

import os
import shutil

import cv2
import numpy as np
import pytest
from test_faces import ASTRONAUT_FACE, _bgr, _small_astronaut, iou

from benchmarks.frames import frame_three_faces
from marrtino_facemask import threads
from marrtino_facemask.centerface import CenterFaceDetector
from marrtino_facemask.classifier import MaskClassifier
from marrtino_facemask.classifier_onnx import StaleExportError
from marrtino_facemask.config import build_pipeline, settings
from marrtino_facemask.detectors import make_face_detector
from marrtino_facemask.faces import (
    CENTERFACE_INT8_ONNX,
    CENTERFACE_ONNX,
    DEFAULT_FACE_CONFIDENCE,
    DEFAULT_LARGE_FACE_CONFIDENCE,
    DEFAULT_MIN_FACE_SIZE,
    FaceModelError,
    default_face_model_dir,
)
from marrtino_facemask.model_file import ModelError, default_model_path

# The shipped CenterFace files: the int8 one that the node runs, and its float32 source.
CENTERFACE_FILES = {"int8": CENTERFACE_INT8_ONNX, "float32": CENTERFACE_ONNX}


def _frames():
    astro = _bgr("astronaut")
    return [astro, _small_astronaut(24)[0], frame_three_faces(), cv2.resize(astro, (360, 640))]


def _boxes(faces):
    return [f.box for f in sorted(faces, key=lambda f: (f.x_min, f.y_min))]


def _centerface(precision, backend):
    """The shipped CenterFace file of that precision, with the node's default thresholds."""
    return CenterFaceDetector(DEFAULT_FACE_CONFIDENCE, DEFAULT_MIN_FACE_SIZE,
                              os.path.join(default_face_model_dir(), CENTERFACE_FILES[precision]),
                              backend=backend, large_confidence=DEFAULT_LARGE_FACE_CONFIDENCE)


@pytest.fixture()
def one_thread():
    before = threads.configured_threads()
    threads.apply_threads(1)
    yield
    threads.apply_threads(before)


@pytest.mark.parametrize("precision", ["int8", "float32"])
def test_openvino_finds_the_faces_that_onnxruntime_finds(precision):
    """Same file, same decoding: float32 agrees with ONNX Runtime to 1e-4 in score and to the
    pixel; int8 within a few pixels and 0.05 of score (OpenVINO rounds its int8 sums in its own
    way: the model card has the accuracy of both).
    """
    pytest.importorskip("openvino")
    pytest.importorskip("onnxruntime")
    ov, ort = _centerface(precision, "openvino"), _centerface(precision, "onnxruntime")
    assert ov.backend == "openvino" and ov.precision == precision and ov.path == ort.path
    assert ov.takes_frames == (precision == "int8")
    for frame in _frames():
        a, b = ov.detect(frame), ort.detect(frame)
        assert len(a) == len(b) and len(a) >= 1
        for fa, fb in zip(sorted(a, key=lambda f: f.box), sorted(b, key=lambda f: f.box)):
            if precision == "float32":
                assert np.allclose(fa.box, fb.box, atol=1)
                assert fa.score == pytest.approx(fb.score, abs=1e-4)
            else:
                assert iou(fa.box, fb.box) > 0.9 and fa.score == pytest.approx(fb.score, abs=0.05)
            assert np.allclose(fa.landmarks, fb.landmarks, atol=3)
    three = ov.detect(frame_three_faces())
    assert len(three) == 3


def test_openvino_face_at_the_right_place():
    pytest.importorskip("openvino")
    faces = make_face_detector("centerface", backend="openvino").detect(_bgr("astronaut"))
    assert len(faces) == 1 and iou(faces[0].box, ASTRONAUT_FACE) > 0.7


def test_a_net_per_input_shape_for_the_first_shapes_then_one_dynamic_net():
    pytest.importorskip("openvino")
    det = CenterFaceDetector(backend="openvino")
    ort = CenterFaceDetector(backend="onnxruntime")
    nets = det._openvino
    assert nets.compiled_shapes() == 1          # compiled at 640x480 when it was made
    frame = _small_astronaut(60)[0]
    first = det.detect(frame)
    det.detect(frame)
    assert nets.compiled_shapes() == 1 and not nets.has_dynamic_net()   # reused
    sizes = [(640, 360), (360, 640), (500, 500), (640, 200), (200, 640), (640, 360)]
    for width, height in sizes:
        resized = cv2.resize(frame, (width, height))
        a, b = det.detect(resized), ort.detect(resized)
        assert len(a) == len(b)
        for fa, fb in zip(sorted(a, key=lambda f: f.box), sorted(b, key=lambda f: f.box)):
            assert iou(fa.box, fb.box) > 0.9 and fa.score == pytest.approx(fb.score, abs=0.05)
    # the first three new sizes got nets of their own; the two after them run on the dynamic
    # net, and nothing was dropped: 640x480 still has its own net and answers as before
    assert nets.compiled_shapes() == det.max_cached_nets and nets.has_dynamic_net()
    assert _boxes(det.detect(frame)) == _boxes(first) and len(first) == 1
    assert nets.compiled_shapes() == det.max_cached_nets


def test_openvino_takes_the_threads_setting(one_thread):
    pytest.importorskip("openvino")
    det = CenterFaceDetector(backend="openvino")
    config = det._openvino.config()
    assert config["INFERENCE_NUM_THREADS"] == 1
    assert config["INFERENCE_PRECISION_HINT"] == "f32" and config["ENABLE_CPU_PINNING"] is False
    request = det._openvino._request_for((1, 480, 640, 3))
    compiled = request.get_compiled_model()
    assert int(compiled.get_property("INFERENCE_NUM_THREADS")) == 1
    assert compiled.get_property("ENABLE_CPU_PINNING") is False


def test_a_bad_model_file_is_one_clear_line(tmp_path):
    pytest.importorskip("openvino")
    bad = tmp_path / "centerface.onnx"
    bad.write_bytes(b"\x08\x07not an onnx file" * 10)
    with pytest.raises(FaceModelError) as info:
        CenterFaceDetector(model_path=str(bad), backend="openvino")
    msg = str(info.value)
    assert "\n" not in msg and str(bad) in msg and len(msg) < 400


@pytest.fixture(scope="module")
def classifiers():
    pytest.importorskip("openvino")
    pytest.importorskip("onnxruntime")
    return (MaskClassifier(default_model_path(), backend="openvino"),
            MaskClassifier(default_model_path(), backend="onnxruntime"))


def _face_crops(classifier):
    """Crops of the real faces in the test frames, as the node cuts them."""
    det = make_face_detector("centerface", backend="onnxruntime")
    crops = []
    for frame in _frames():
        crops += [classifier.crop(frame, f.box) for f in det.detect(frame)]
    return crops


def test_openvino_classifier_gives_onnxruntimes_probabilities(classifiers):
    """The same int8 file, its metadata read by OpenVINO; batches of 1 to 8 faces (one face on
    its own net, the others on the dynamic net, both compiled when the classifier was made).
    """
    ov, ort = classifiers
    nets = ov.net.nets
    assert nets.compiled_shapes() == 1 and nets.has_dynamic_net()
    assert ov.backend == "openvino" and ort.backend == "onnxruntime" and ov.path == ort.path
    assert ov.precision == ort.precision == "int8"
    for name in ("class_names", "input_size", "margin", "mean", "std", "meta"):
        assert getattr(ov, name) == getattr(ort, name), name
    crops = _face_crops(ov)
    assert len(crops) >= 6
    crops = (crops * 2)[:8]
    for n in range(1, 9):
        a, b = ov.predict(crops[:n]), ort.predict(crops[:n])
        assert a.shape == b.shape == (n, len(ov.class_names))
        assert np.allclose(a, b, atol=0.01), (n, float(np.abs(a - b).max()))
        assert (a.argmax(1) == b.argmax(1)).all()
        assert np.allclose(a.sum(1), 1, atol=1e-4)
    assert nets.compiled_shapes() == 1          # nothing more was compiled


def test_openvino_classifier_takes_the_threads_setting(one_thread):
    pytest.importorskip("openvino")
    classifier = MaskClassifier(default_model_path(), backend="openvino")
    request = classifier.net.nets._request_for((1, 3, 96, 96))
    assert int(request.get_compiled_model().get_property("INFERENCE_NUM_THREADS")) == 1


def test_openvino_pipeline_labels_the_three_faces_as_onnxruntime_does():
    pytest.importorskip("openvino")
    ov = build_pipeline(settings(backend="openvino"))     # both nets on OpenVINO
    ort = build_pipeline(settings())
    assert (ov.face_detector.backend, ov.classifier.backend) == ("openvino", "openvino")
    assert (ort.face_detector.backend, ort.classifier.backend) == ("onnxruntime", "onnxruntime")
    a, b = ov(frame_three_faces()), ort(frame_three_faces())
    assert len(a) == len(b) == 3
    for ra, rb in zip(sorted(a, key=lambda r: r.box), sorted(b, key=lambda r: r.box)):
        assert iou(ra.box, rb.box) > 0.9 and ra.label == rb.label
        assert ra.score == pytest.approx(rb.score, abs=0.05)


def test_openvino_classifier_refuses_a_stale_or_foreign_file(tmp_path):
    """A .onnx beside a .pt it was not exported from, and an ONNX file that is not one of our
    classifiers: one line each, as with ONNX Runtime.
    """
    pytest.importorskip("openvino")
    pt = tmp_path / "facemask_resnet18.pt"
    pt.write_bytes(b"another checkpoint")
    shutil.copy(default_model_path(), tmp_path / "facemask_resnet18_int8.onnx")
    with pytest.raises(StaleExportError) as info:
        MaskClassifier(str(pt), backend="openvino")
    assert "\n" not in str(info.value) and "export --model" in str(info.value)
    with pytest.raises(ModelError) as info:
        MaskClassifier(os.path.join(default_face_model_dir(), CENTERFACE_INT8_ONNX),
                       backend="openvino")
    msg = str(info.value)
    assert "\n" not in msg and "not a marrtino_facemask ONNX export" in msg and len(msg) < 400
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07not an onnx file" * 10)
    with pytest.raises(ModelError) as info:
        MaskClassifier(str(bad), backend="openvino")
    assert "\n" not in str(info.value) and str(bad) in str(info.value)
