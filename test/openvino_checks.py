"""CenterFace on OpenVINO (``detector_backend:=openvino``, marrtino_facemask/openvino_nets.py):
the same faces as ONNX Runtime from the same files, one compiled net per input shape, the
``threads`` setting, and one-line errors for a bad file. These checks load OpenVINO, so
test_openvino.py runs each of them in a child pytest process (see there); they skip where
OpenVINO is not installed (CI's Kilted environment has it: requirements/env.txt)."""

import cv2
import numpy as np
import pytest

from benchmarks.frames import frame_three_faces
from marrtino_facemask import threads
from marrtino_facemask.faces import CenterFaceDetector, FaceModelError, make_face_detector
from test_faces import ASTRONAUT_FACE, _bgr, _small_astronaut, iou


def _frames():
    astro = _bgr("astronaut")
    return [astro, _small_astronaut(24)[0], frame_three_faces(), cv2.resize(astro, (360, 640))]


def _boxes(faces):
    return [f.box for f in sorted(faces, key=lambda f: (f.x_min, f.y_min))]


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
    way: the model card has the accuracy of both)."""
    pytest.importorskip("openvino")
    pytest.importorskip("onnxruntime")
    ov = make_face_detector("centerface", backend="openvino", precision=precision)
    ort = make_face_detector("centerface", backend="onnxruntime", precision=precision)
    assert ov.backend == "openvino" and ov.precision == precision and ov.path == ort.path
    assert ov.takes_frames == (precision == "int8")
    for frame in _frames():
        a, b = ov.detect(frame), ort.detect(frame)
        assert len(a) == len(b) and len(a) >= 1
        for fa, fb in zip(sorted(a, key=lambda f: f.box), sorted(b, key=lambda f: f.box)):
            if precision == "float32":
                assert np.allclose(fa.box, fb.box, atol=1) and fa.score == pytest.approx(fb.score, abs=1e-4)
            else:
                assert iou(fa.box, fb.box) > 0.9 and fa.score == pytest.approx(fb.score, abs=0.05)
            assert np.allclose(fa.landmarks, fb.landmarks, atol=3)
    three = ov.detect(frame_three_faces())
    assert len(three) == 3


def test_openvino_face_at_the_right_place():
    pytest.importorskip("openvino")
    faces = make_face_detector("centerface", backend="openvino").detect(_bgr("astronaut"))
    assert len(faces) == 1 and iou(faces[0].box, ASTRONAUT_FACE) > 0.7


def test_one_compiled_net_per_input_shape_and_a_bounded_cache():
    pytest.importorskip("openvino")
    det = CenterFaceDetector(backend="openvino")
    nets = det._openvino
    assert nets.compiled_shapes() == 1          # compiled at 640x480 when it was made
    frame = _small_astronaut(60)[0]
    det.detect(frame)
    det.detect(frame)
    assert nets.compiled_shapes() == 1          # a 640x480 frame reuses it
    sizes = [(640, 360), (360, 640), (500, 500), (640, 200), (200, 640)]
    for width, height in sizes:
        det.detect(cv2.resize(frame, (width, height)))
    assert nets.compiled_shapes() == det.max_cached_nets
    # the least recently used net was dropped: 640x480 compiles again, and answers the same
    first = det.detect(frame)
    assert _boxes(first) == _boxes(det.detect(frame)) and len(first) == 1


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
        CenterFaceDetector(model_path=str(bad), backend="openvino", precision="float32")
    msg = str(info.value)
    assert "\n" not in msg and str(bad) in msg and len(msg) < 400
