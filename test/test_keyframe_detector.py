"""detect_every: the real CenterFace on one frame in n, optical flow (box_flow.py) between.

ROS-free. The frames are real pictures (scikit-image's astronaut and coffee) moved by a known
camera pan and zoom, so each propagated face can be checked against what the detector itself
finds on that very frame.
"""

import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest

from marrtino_facemask import box_flow
from marrtino_facemask.box_flow import follow_faces, propagate_face, propagate_faces, to_gray
from marrtino_facemask.boxes import iou_matrix
from marrtino_facemask.detectors import make_face_detector
from marrtino_facemask.faces import Face
from marrtino_facemask.keyframe_detector import (
    MAX_EVERY,
    BackgroundDetector,
    KeyframeDetector,
    scene_changed,
)

W, H = 640, 480


class Counting:
    """The real detector, counting its calls."""

    def __init__(self, detector):
        self.detector, self.calls = detector, 0

    def __getattr__(self, name):
        return getattr(self.detector, name)

    def __setattr__(self, name, value):
        if name in ("detector", "calls"):
            object.__setattr__(self, name, value)
        else:
            setattr(self.detector, name, value)

    def detect(self, bgr):
        self.calls += 1
        return self.detector.detect(bgr)


@pytest.fixture(scope="module")
def detector():
    return make_face_detector("centerface", confidence=0.3, min_face_size=8)


@pytest.fixture(scope="module")
def three_faces(astronaut_bgr):
    """Three ~60 px faces side by side in a 640x480 frame (the middle one mirrored)."""
    head = cv2.resize(astronaut_bgr[0:300, 80:380], (200, 200), interpolation=cv2.INTER_AREA)
    frame = np.full((H, W, 3), 40, np.uint8)
    for i in range(3):
        x = 13 + i * 209
        frame[140:340, x:x + 200] = cv2.flip(head, 1) if i == 1 else head
    return frame


def pan(frame, step, dx=5.0, dy=-2.0, zoom=1.01):
    m = cv2.getRotationMatrix2D((W / 2, H / 2), 0, zoom ** step)
    m[:, 2] += (dx * step, dy * step)
    return cv2.warpAffine(frame, m, (W, H))


def boxes(faces):
    return np.array([f.box for f in faces], np.float64).reshape(-1, 4)


def test_flow_moves_each_face_where_the_detector_finds_it(detector, three_faces):
    before = detector.detect(three_faces)
    assert len(before) == 3
    for dx, dy, zoom in [(6, -3, 1.0), (-15, 4, 1.0), (10, 10, 1.06), (-20, 0, 0.97)]:
        after = pan(three_faces, 1, dx, dy, zoom)
        moved = propagate_faces(to_gray(three_faces), to_gray(after), before)
        truth = detector.detect(after)
        assert len(moved) == 3
        iou = iou_matrix(boxes(moved), boxes(truth))
        assert iou.max(axis=1).min() >= 0.8, (dx, dy, zoom, iou.max(axis=1))
        # it moved: the old boxes fit the new frame worse than the moved ones
        assert iou_matrix(boxes(before), boxes(truth)).max(axis=1).mean() < iou.max(axis=1).mean()


def test_small_faces_are_followed_on_a_coarser_grid(detector, three_faces):
    """Faces of about 24 px get 6x6 points or fewer, not 10x10 (a crowd costs a third of the
    flow), and still land where the detector finds them.
    """
    small = np.full_like(three_faces, 40)        # the three faces at a third, 3 x 3 times
    small[:, :3 * (W // 3)] = np.tile(cv2.resize(three_faces, (W // 3, H // 3),
                                                 interpolation=cv2.INTER_AREA), (3, 3, 1))
    before = detector.detect(small)
    assert len(before) == 27 and max(max(f.width, f.height) for f in before) < 28
    assert {box_flow.grid_size(f.box) for f in before} <= {5, 6}
    assert len(box_flow.grid_points((0, 0, 20, 23))) == 25
    assert len(box_flow.grid_points((0, 0, 60, 64))) == 100
    for dx, dy, zoom in [(4, -2, 1.0), (-7, 3, 1.02)]:
        after = pan(small, 1, dx, dy, zoom)
        moved = propagate_faces(to_gray(small), to_gray(after), before)
        truth = detector.detect(after)
        assert len(moved) == len(before)
        iou = iou_matrix(boxes(moved), boxes(truth))
        assert iou.max(axis=1).min() >= 0.7, (dx, dy, zoom, iou.max(axis=1))


def test_landmarks_and_score_move_with_the_face(detector, three_faces):
    face = detector.detect(three_faces)[0]
    after = pan(three_faces, 1, 9, 5, 1.0)
    moved = propagate_face(to_gray(three_faces), to_gray(after), face)
    assert moved.score == face.score
    shift = np.asarray(moved.landmarks).reshape(-1, 2) - np.asarray(face.landmarks).reshape(-1, 2)
    # a pan of (9, 5) about the centre, zoom 1: every point moves by about (9, 5)
    assert np.allclose(shift, (9, 5), atol=2.0), shift


def test_a_face_followed_through_many_small_moves_keeps_its_size(detector, three_faces):
    """Sub-pixel moves, frame after frame, as a slow pan gives: the box moves with the
    picture and does not grow. (Rounding the box outwards on every frame made it grow by
    about a pixel a side a frame, and the followed boxes of small faces soon failed IoU 0.5.)
    """
    faces = detector.detect(three_faces)
    start = boxes(faces)
    prev = to_gray(three_faces)
    for step in range(1, 21):
        gray = to_gray(pan(three_faces, step, 0.4, 0.3, 1.0))
        faces = propagate_faces(prev, gray, faces)
        prev = gray
    assert len(faces) == 3
    end = boxes(faces)
    size_change = (end[:, 2:] - end[:, :2]) - (start[:, 2:] - start[:, :2])
    assert np.abs(size_change).max() <= 3, size_change
    assert np.allclose(end - start, [8, 6, 8, 6], atol=2.5), end - start


class CountingMotion:
    """box_flow.face_motion (the optical flow of one face), counting its calls."""

    def __init__(self, monkeypatch):
        self.calls, self._measure = 0, box_flow.face_motion
        monkeypatch.setattr(box_flow, "face_motion", self)

    def __call__(self, *args):
        self.calls += 1
        return self._measure(*args)


def test_a_known_motion_moves_the_same_face_without_new_flow(detector, three_faces,
                                                             monkeypatch):
    before = detector.detect(three_faces)
    prev, after = to_gray(three_faces), to_gray(pan(three_faces, 1, 7, -4, 1.03))
    measured, motions = follow_faces(prev, after, before)
    assert len(measured) == 3 and [box for box, _ in motions] == [f.box for f in before]
    flow = CountingMotion(monkeypatch)
    # the same faces, as a later detection of that frame would box them: a few px off
    redetected = [Face(f.x_min + 3, f.y_min - 2, f.x_max + 4, f.y_max + 1, f.score)
                  for f in before]
    reused, _ = follow_faces(prev, after, redetected, motions)
    assert flow.calls == 0
    fresh, _ = follow_faces(prev, after, redetected)
    assert flow.calls == 3
    # moved by the motion measured on the followed box: where the flow of its own box puts it
    assert np.abs(boxes(reused) - boxes(fresh)).max() <= 2
    same, _ = follow_faces(prev, after, before, motions)
    assert same == measured
    # a box that overlaps no followed face is measured on its own
    stranger = Face(5, 5, 60, 60, 0.9)
    follow_faces(prev, after, [stranger], motions)
    assert flow.calls == 4


class Held:
    """The real detector; a run waits while ``release`` is clear."""

    def __init__(self, detector):
        self.detector, self.release = detector, threading.Event()
        self.release.set()

    def __getattr__(self, name):
        return getattr(self.detector, name)

    def detect(self, bgr):
        assert self.release.wait(timeout=60)
        return self.detector.detect(bgr)


def test_a_late_detection_catches_up_with_the_flow_already_measured(detector, three_faces,
                                                                    monkeypatch):
    """A detection that ends 4 frames after the frame it ran on is followed through those
    frames by the motions measured there for the same faces: no optical flow but the
    frame's own, one per face, and its boxes land where the detector finds the faces.
    """
    held = Held(detector)
    background = BackgroundDetector(held, every=4)
    try:
        assert len(background.detect(three_faces)) == 3          # detected at once
        held.release.clear()
        for step in range(1, 8):        # frame 4 is handed over; its detection waits
            assert len(background.detect(pan(three_faces, step))) == 3
            assert not background.last_detected
        held.release.set()
        assert background.wait_idle(timeout=60)
        flow = CountingMotion(monkeypatch)
        frame = pan(three_faces, 8)
        faces = background.detect(frame)
        assert background.last_detected and len(faces) == 3      # the detection of frame 4
        assert flow.calls == 3          # the followed faces, once; 4 frames x 3 before
        truth = detector.detect(frame)
        assert iou_matrix(boxes(faces), boxes(truth)).max(axis=1).min() >= 0.8
    finally:
        held.release.set()
        background.close()


def test_a_face_the_flow_cannot_follow_is_dropped_not_guessed(detector, three_faces,
                                                              astronaut_bgr):
    from skimage import data
    faces = detector.detect(three_faces)
    cut = cv2.resize(cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR), (W, H))
    assert propagate_faces(to_gray(three_faces), to_gray(cut), faces) == []
    # a box on flat grey has no texture to follow either
    flat = Face(600, 10, 630, 40, 0.9)
    assert propagate_face(to_gray(three_faces), to_gray(pan(three_faces, 1)), flat) is None


def test_every_one_is_the_detector_on_every_frame(detector, three_faces):
    counting = Counting(detector)
    keyframes = KeyframeDetector(counting, every=1)
    for step in range(4):
        frame = pan(three_faces, step)
        assert keyframes.detect(frame) == detector.detect(frame)
        assert keyframes.last_detected
    assert counting.calls == 4


def test_every_three_detects_on_one_frame_in_three_and_follows_in_between(detector,
                                                                          three_faces):
    counting = Counting(detector)
    keyframes = KeyframeDetector(counting, every=3)
    ran = []
    for step in range(8):
        frame = pan(three_faces, step)
        faces = keyframes.detect(frame)
        ran.append(keyframes.last_detected)
        truth = detector.detect(frame)
        assert len(faces) == 3, step
        assert iou_matrix(boxes(faces), boxes(truth)).max(axis=1).min() >= 0.75, step
    assert ran == [True, False, False, True, False, False, True, False]
    assert counting.calls == 3


@pytest.mark.parametrize("scheduler", [KeyframeDetector, BackgroundDetector])
def test_when_the_flow_loses_every_face_the_frame_is_detected_at_once(detector, astronaut_bgr,
                                                                      scheduler):
    small = cv2.resize(astronaut_bgr, (240, 240), interpolation=cv2.INTER_AREA)

    def frame_at(x):
        frame = np.full((H, W, 3), 90, np.uint8)
        frame[120:360, x:x + 240] = small
        return frame

    keyframes = scheduler(Counting(detector), every=10)
    try:
        keyframes.detect(frame_at(20))
        followed = keyframes.detect(frame_at(26))
        assert not keyframes.last_detected and len(followed) == 1
        jumped = keyframes.detect(frame_at(300))           # a cut: flow loses the face
        assert keyframes.last_detected and len(jumped) == 1
        assert abs((jumped[0].x_min + jumped[0].x_max) / 2 - (300 + 105)) < 10
        assert keyframes.detector.calls == 2
        empty = np.full((H, W, 3), 90, np.uint8)
        assert keyframes.detect(empty) == [] and keyframes.last_detected   # lost again
        assert keyframes.detect(empty) == [] and not keyframes.last_detected   # none to lose
    finally:
        keyframes.close()


@pytest.mark.parametrize("scheduler,every", [(KeyframeDetector, 5), (BackgroundDetector, 1),
                                             (BackgroundDetector, 5)])
def test_a_face_after_a_cut_to_a_frame_without_faces_is_detected_at_once(
        detector, astronaut_bgr, scheduler, every):
    """A face, a black (or garbled) frame of the same size, the face again: the face frame
    after the cut is answered with the face, not with the black frame's nothing followed
    (before: 0 faces, and the face only once the next detection had run on it).
    """
    frame = cv2.resize(astronaut_bgr, (W, H))
    black = np.zeros_like(frame)
    garbled = np.random.default_rng(3).integers(0, 255, frame.shape, dtype=np.uint8)
    counting = Counting(detector)
    keyframes = scheduler(counting, every=every)
    try:
        for cut in (black, garbled):
            assert len(keyframes.detect(frame)) == 1
            assert keyframes.detect(cut) == [] and keyframes.last_detected   # face lost
            if scheduler is BackgroundDetector:
                assert keyframes.wait_idle(timeout=30)
            calls = counting.calls
            faces = keyframes.detect(frame)
            assert keyframes.last_detected and counting.calls == calls + 1
            assert len(faces) == 1 and faces == detector.detect(frame)
    finally:
        keyframes.close()


@pytest.mark.parametrize("scheduler", [KeyframeDetector, BackgroundDetector])
def test_an_empty_scene_that_stays_is_followed_not_detected(detector, scheduler):
    """No face and no cut: nothing to detect at once (a camera on an empty room, its noise
    and exposure changing).
    """
    from skimage import data
    room = cv2.resize(cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR), (W, H))
    counting = Counting(detector)
    keyframes = scheduler(counting, every=10)
    rng = np.random.default_rng(0)
    try:
        assert keyframes.detect(room) == [] and keyframes.last_detected
        for step in range(1, 6):
            noisy = cv2.add(pan(room, step, 2, 1, 1.0), rng.integers(0, 8, room.shape,
                                                                     dtype=np.uint8))
            darker = cv2.convertScaleAbs(noisy, alpha=1 - 0.05 * step)
            assert keyframes.detect(darker) == [] and not keyframes.last_detected
        assert counting.calls == 1
    finally:
        keyframes.close()


def test_scene_changed_tells_a_cut_from_motion_exposure_and_noise(astronaut_bgr):
    from skimage import data
    gray = to_gray(cv2.resize(astronaut_bgr, (W, H)))
    coffee = to_gray(cv2.resize(cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR), (W, H)))
    flat = np.full((H, W), 90, np.uint8)
    assert scene_changed(gray, coffee) and scene_changed(coffee, gray)
    assert scene_changed(np.zeros_like(gray), gray)          # from black to a picture
    assert scene_changed(flat, gray)
    assert not scene_changed(gray, np.zeros_like(gray))      # to black: no face there
    assert not scene_changed(flat, flat + 3)
    assert not scene_changed(gray, gray)
    for step in (1, 3):
        assert not scene_changed(gray, to_gray(pan(cv2.resize(astronaut_bgr, (W, H)), step)))
    assert not scene_changed(gray, cv2.convertScaleAbs(gray, alpha=0.6))
    noise = np.random.default_rng(1).normal(0, 20, gray.shape)
    assert not scene_changed(gray, np.clip(gray + noise, 0, 255).astype(np.uint8))


def test_a_new_frame_size_reset_or_every_runs_the_detector(detector, three_faces):
    keyframes = KeyframeDetector(Counting(detector), every=5)
    keyframes.detect(three_faces)
    keyframes.detect(pan(three_faces, 1))
    assert not keyframes.last_detected
    keyframes.detect(cv2.resize(three_faces, (320, 240)))
    assert keyframes.last_detected
    keyframes.detect(cv2.resize(pan(three_faces, 1), (320, 240)))
    assert not keyframes.last_detected
    keyframes.reset()
    keyframes.detect(cv2.resize(pan(three_faces, 2), (320, 240)))
    assert keyframes.last_detected
    keyframes.detect(cv2.resize(pan(three_faces, 3), (320, 240)))
    assert not keyframes.last_detected
    keyframes.every = 4                           # a new cycle
    keyframes.detect(cv2.resize(pan(three_faces, 4), (320, 240)))
    assert keyframes.last_detected


def test_thresholds_reach_the_detector_and_filter_followed_faces(detector, three_faces):
    wrapped = make_face_detector("centerface", confidence=0.3, min_face_size=8)
    keyframes = KeyframeDetector(wrapped, every=4)
    faces = keyframes.detect(three_faces)
    assert len(faces) == 3
    keyframes.confidence = max(f.score for f in faces) + 1e-3
    assert wrapped.confidence == keyframes.confidence
    # the faces are about 60 px: large_face_confidence (0.1) still keeps them
    assert len(keyframes.detect(pan(three_faces, 1))) == 3
    keyframes.large_confidence = keyframes.confidence
    assert wrapped.large_confidence == keyframes.confidence
    assert keyframes.detect(pan(three_faces, 2)) == []          # followed, then filtered
    keyframes.confidence = keyframes.large_confidence = 0.3
    keyframes.reset()
    keyframes.detect(three_faces)
    keyframes.min_face_size = 500
    assert wrapped.min_face_size == 500
    assert keyframes.detect(pan(three_faces, 1)) == []
    assert keyframes.kind == "centerface" and keyframes.input_size == wrapped.input_size


@pytest.mark.parametrize("every", [0, -1, MAX_EVERY + 1])
def test_every_out_of_range_is_refused(detector, every):
    with pytest.raises(ValueError, match="detect_every"):
        KeyframeDetector(detector, every)
    keyframes = KeyframeDetector(detector, 2)
    with pytest.raises(ValueError, match="detect_every"):
        keyframes.every = every
    assert keyframes.every == 2


def test_background_detection_answers_at_once_and_takes_the_detector_s_faces(detector,
                                                                             three_faces):
    """The first frame is detected at once; later frames are followed by flow while the
    detector runs in its thread; a face that appears is there once that detection ends.
    """
    counting = Counting(detector)
    background = BackgroundDetector(counting, every=2)
    try:
        one_face = three_faces.copy()
        one_face[:, 200:] = 40                                  # only the left face
        faces = background.detect(one_face)
        assert background.last_detected and len(faces) == 1 and counting.calls == 1
        # three faces now: frame 1 is followed (one face), frame 2 hands itself over
        assert len(background.detect(pan(three_faces, 1))) == 1
        assert len(background.detect(pan(three_faces, 2))) == 1
        assert background.wait_idle(timeout=30)
        assert counting.calls == 2
        faces = background.detect(pan(three_faces, 3))          # its faces, moved by flow
        assert background.last_detected and len(faces) == 3
        truth = detector.detect(pan(three_faces, 3))
        assert iou_matrix(boxes(faces), boxes(truth)).max(axis=1).min() >= 0.75
    finally:
        background.close()


def test_background_reset_drops_a_detection_of_the_old_scene(detector, three_faces):
    background = BackgroundDetector(detector, every=1)
    try:
        background.detect(three_faces)
        background.detect(pan(three_faces, 1))                  # handed over
        background.reset()
        assert background.wait_idle(timeout=30)
        empty = np.full_like(three_faces, 40)
        assert background.detect(empty) == []                   # detected at once: nothing
        assert background.last_detected
    finally:
        background.close()


def test_background_detector_error_surfaces_on_the_next_frame(three_faces):
    class Broken:
        confidence, min_face_size = 0.3, 8

        def __init__(self):
            self.calls = 0

        def min_score(self, side):
            return self.confidence

        def detect(self, bgr):
            self.calls += 1
            if self.calls > 1:
                raise RuntimeError("detector failed")
            return [Face(77, 195, 142, 258, 0.9)]

    background = BackgroundDetector(Broken(), every=1)
    try:
        background.detect(three_faces)
        background.detect(pan(three_faces, 1))                  # handed over, fails there
        assert background.wait_idle(timeout=10)
        with pytest.raises(RuntimeError, match="detector failed"):
            background.detect(pan(three_faces, 2))
        background.detect(pan(three_faces, 3))                  # raised once, then goes on
    finally:
        background.close()
    assert not background._worker._thread.is_alive()


def test_background_keeps_only_the_frames_it_may_still_need(detector, three_faces):
    background = BackgroundDetector(detector, every=1)
    try:
        background.detect(three_faces)
        for step in range(1, 12):
            background.detect(pan(three_faces, step, 2, 1, 1.0))
            background.wait_idle(timeout=30)       # the detection of this frame ends
        # the last detection ran on the frame before: only frames since then are kept
        assert len(background._frames) <= 2
        for step in range(12, 12 + background.max_lag + 5):   # a detector that never ends
            background._frames.append((10_000 + step, to_gray(three_faces), ()))
        assert len(background._frames) == background.max_lag
    finally:
        background.close()


LEFT_OPEN = """
import numpy as np
from marrtino_facemask.detectors import make_face_detector
from marrtino_facemask.keyframe_detector import BackgroundDetector
background = BackgroundDetector(make_face_detector("centerface", confidence=0.3), every=1)
frame = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
for _ in range(3):
    background.detect(frame)
print("done", flush=True)           # and exit with the last detection still running
"""


def test_a_background_detector_left_open_does_not_abort_the_interpreter_at_exit():
    """Its thread is stopped at exit; left running (here inside ONNX Runtime), it aborted the
    process (exit code 134, "terminate called without an active exception").
    """
    run = subprocess.run([sys.executable, "-c", LEFT_OPEN], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "done", (run.returncode, run.stderr)
    assert "terminate called" not in run.stderr


@pytest.mark.parametrize("height,width", [(1, 1), (2, 3), (12, 12), (40, 7), (5, 400)])
def test_flow_on_degenerate_frames_never_raises(height, width):
    rng = np.random.default_rng(0)
    before = rng.integers(0, 255, (height, width), dtype=np.uint8)
    after = np.roll(before, 1, axis=1)
    moved = propagate_faces(before, after, [Face(0, 0, width, height, 0.9)])
    for face in moved:           # inside the frame, never empty
        assert 0 <= face.x_min < face.x_max <= width and 0 <= face.y_min < face.y_max <= height


@pytest.fixture(scope="module")
def poster(astronaut_bgr):
    """A 640x480 poster of the astronaut's face, tiled 16 x 11 times (about 40 px each):
    far more faces than a frame should cost.
    """
    face = cv2.resize(astronaut_bgr[30:230, 150:330], (40, 44), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(np.tile(face, (H // 44 + 1, W // 40 + 1, 1))[:H, :W])


@pytest.mark.parametrize("every", [1, 3])
def test_max_faces_keeps_the_best_scored_on_detected_and_followed_frames(detector, poster,
                                                                         every):
    everything = detector.detect(poster)
    assert len(everything) > 100
    keyframes = KeyframeDetector(detector, every=every, max_faces=10)
    faces = keyframes.detect(poster)
    assert len(faces) == 10
    best = sorted((f.score for f in everything), reverse=True)[:10]
    assert sorted((f.score for f in faces), reverse=True) == pytest.approx(best)
    assert len(keyframes.detect(pan(poster, 1, 3, 2, 1.0))) <= 10
    keyframes.max_faces = 3
    assert len(keyframes.detect(pan(poster, 2, 3, 2, 1.0))) <= 3
    with pytest.raises(ValueError, match="max_faces"):
        keyframes.max_faces = 0


def test_a_face_is_followed_through_a_change_of_exposure(detector, three_faces):
    """The camera's exposure drops by a third while it pans: each face's region is matched in
    brightness before the flow (box_flow.match_brightness), so the faces still land where
    the detector finds them.
    """
    before = detector.detect(three_faces)
    darker = cv2.convertScaleAbs(pan(three_faces, 1, 7, -3, 1.0), alpha=0.6)
    moved = propagate_faces(to_gray(three_faces), to_gray(darker), before)
    truth = detector.detect(darker)
    assert len(moved) == len(truth) == 3
    assert iou_matrix(boxes(moved), boxes(truth)).max(axis=1).min() >= 0.8
    same = np.full((10, 10), 100, np.uint8)
    brighter = same + 1                                                  # 1 %: left alone
    assert box_flow.match_brightness(same, brighter) is brighter
    assert box_flow.match_brightness(same, same // 2).mean() == pytest.approx(100, abs=1)
