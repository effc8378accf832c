"""The camera conditions of ``evaluate --conditions`` (conditions.py) on real photos."""

import numpy as np
import pytest

from marrtino_facemask.centerface import CenterFaceDetector
from marrtino_facemask.lab import conditions


def test_every_condition_changes_the_photo_keeps_its_shape_and_is_reproducible(astronaut_bgr):
    for name in conditions.CONDITIONS:
        out = conditions.apply(name, astronaut_bgr, "a.jpg")
        assert out.shape == astronaut_bgr.shape and out.dtype == np.uint8, name
        assert np.abs(out.astype(int) - astronaut_bgr).mean() > 0.5, name
        assert np.array_equal(out, conditions.apply(name, astronaut_bgr, "a.jpg")), name


def test_noise_is_seeded_by_the_photo_name(astronaut_bgr):
    a = conditions.apply("noise", astronaut_bgr, "a.jpg")
    b = conditions.apply("noise", astronaut_bgr, "b.jpg")
    c = conditions.apply("noise", astronaut_bgr, "a.jpg", seed=1)
    assert not np.array_equal(a, b) and not np.array_equal(a, c)
    assert 10 < np.std(a.astype(float) - astronaut_bgr) < 14     # sigma 12, some clipped


def test_each_condition_does_what_it_says():
    line = np.zeros((480, 640, 3), np.uint8)               # MARRtino's frame size
    line[:, 320] = 255                                     # a vertical line, 1 px wide
    smeared = conditions.apply("motion_blur", line, "x")
    assert smeared[10, 316:325].min() > 0 and smeared[10, 320].max() < 64   # 9 px wide
    assert smeared[10, 315].max() == 0 and smeared[10, 325].max() == 0
    across = conditions.apply("motion_blur", np.ascontiguousarray(line.transpose(1, 0, 2)), "x")
    assert across[320].min() == 255 and across[316].max() == 0      # no vertical smear

    colour = np.zeros((8, 8, 3), np.uint8)
    colour[..., 2] = 200
    grey = conditions.apply("mono", colour, "x")
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()

    checker = (np.indices((64, 64)).sum(0) % 2 * 255).astype(np.uint8)
    checker = np.repeat(checker[..., None], 3, axis=2)
    assert conditions.apply("half_res", checker, "x").std() < 5    # the finest detail is gone

    bright = np.full((64, 64, 3), 200, np.uint8)
    assert 45 < conditions.apply("low_light", bright, "x").mean() < 55
    assert 17 < conditions.apply("dark", bright, "x").mean() < 23


def test_strengths_follow_the_photo_size():
    """A photo twice MARRtino's frame size is blurred twice as far, as the detector scales
    it down by two.
    """
    big = np.zeros((960, 1280, 3), np.uint8)
    big[:, 640] = 255
    smeared = conditions.apply("motion_blur", big, "x")
    width = int((smeared[10] > 0).any(axis=1).sum())
    assert width == 19


def test_unknown_conditions_are_one_line():
    assert conditions.parse_conditions("all") == list(conditions.CONDITIONS)
    assert conditions.parse_conditions("mono, jpeg") == ["mono", "jpeg"]
    for bad in ("fog", "", "mono,fog"):
        with pytest.raises(ValueError) as err:
            conditions.parse_conditions(bad)
        assert "\n" not in str(err.value) and "motion_blur" in str(err.value)


def test_the_detector_still_finds_the_face_under_each_condition(astronaut_bgr):
    """CenterFace on the astronaut under every condition: the face is found in place."""
    from marrtino_facemask.boxes import iou_matrix
    detector = CenterFaceDetector(confidence=0.3, min_face_size=8)
    (face,) = detector.detect(astronaut_bgr)
    face_box = face.box
    for name in conditions.CONDITIONS:
        faces = detector.detect(conditions.apply(name, astronaut_bgr, "astronaut"))
        assert faces, name
        best = max(faces, key=lambda f: f.score)
        assert iou_matrix([best.box], [face_box])[0, 0] > 0.5, name
