"""Face detectors (marrtino_facemask.faces) with the real OpenCV models on real photos.

The photos are skimage.data samples (public domain). The astronaut's face box was measured
once with the res10 SSD: (179, 57, 272, 178), score 0.99999.
"""

import os

import cv2
import numpy as np
import pytest

from marrtino_facemask.faces import (DETECTOR_KINDS, DnnFaceDetector, Face, FaceModelError,
                                     HaarFaceDetector, clip_and_filter, default_dnn_model_dir,
                                     default_haar_cascade, make_face_detector)

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


def _assert_inside(faces, shape):
    height, width = shape[:2]
    for f in faces:
        assert 0 <= f.x_min < f.x_max <= width, f
        assert 0 <= f.y_min < f.y_max <= height, f
        assert all(isinstance(v, int) for v in f.box)
        assert isinstance(f.score, float)


# --------------------------------------------------------------------------- model files
def test_default_model_files_exist():
    model_dir = default_dnn_model_dir()
    assert model_dir and os.path.isdir(model_dir)
    assert os.path.isfile(os.path.join(model_dir, "deploy.prototxt"))
    assert os.path.isfile(os.path.join(model_dir, "res10_300x300_ssd_iter_140000.caffemodel"))
    assert os.path.isfile(default_haar_cascade())


def test_make_face_detector_kinds(dnn, haar):
    assert isinstance(dnn, DnnFaceDetector) and dnn.kind == "dnn"
    assert isinstance(haar, HaarFaceDetector) and haar.kind == "haar"
    assert DETECTOR_KINDS == ("dnn", "haar")


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
    src = os.path.join(default_dnn_model_dir(), "deploy.prototxt")
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
    path = str(tmp_path / "nope.xml")
    with pytest.raises(FaceModelError) as info:
        HaarFaceDetector(cascade_path=path)
    assert path in str(info.value) and "\n" not in str(info.value)


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
    smaller = min(face.width, face.height)
    kept = make_face_detector("dnn", min_face_size=smaller).detect(astro)
    assert [f.box for f in kept] == [face.box]
    assert make_face_detector("dnn", min_face_size=smaller + 1).detect(astro) == []
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
    boxes = [(10, 10, 15, 40),        # 5 px wide: too small
             (10, 10, 40, 16),        # 6 px tall: too small
             (20, 20, 60, 60),        # kept
             (30, 30, 70, 70),        # score too low
             (150, 150, 200, 200),    # fully outside: empty after clipping
             (-50, -50, -5, -5),      # fully outside on the other side
             (60, 60, 50, 70),        # inverted
             (95, 10, 140, 60)]       # 5 px left inside the frame
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


def test_clip_and_filter_accepts_numpy_inputs():
    boxes = np.array([[-5.5, 10.0, 40.0, 120.0]], np.float32)
    faces = clip_and_filter(boxes, np.array([0.7], np.float32), 64, 100, 10, 0.5)
    assert faces == [Face(0, 10, 40, 100, pytest.approx(0.7))]
    assert clip_and_filter([], [], 64, 100, 10, 0.5) == []
