"""tracking.FaceTracker: track ids and stable labels, without ROS."""

import numpy as np
import pytest

from marrtino_facemask.boxes import iou_matrix
from marrtino_facemask.labels import CLASS_NAMES
from marrtino_facemask.pipeline import FaceMaskResult, results_from_probs
from marrtino_facemask.tracking import FaceTracker

WITHOUT = (0.1, 0.1, 0.8)     # probabilities in CLASS_NAMES order
WITH = (0.1, 0.8, 0.1)


def face(box, probs=WITHOUT):
    (result,) = results_from_probs([box], [0.9], np.array([probs]), CLASS_NAMES)
    return result


def moving_box(i, x0=100, y0=80, size=60, step=12):
    return (x0 + step * i, y0, x0 + step * i + size, y0 + size)


def test_a_moving_face_keeps_its_id():
    tracker = FaceTracker()
    ids = [tracker.update([face(moving_box(i))])[0].track_id for i in range(20)]
    assert ids[0] and isinstance(ids[0], str)
    assert set(ids) == {ids[0]}
    assert len(tracker.tracks) == 1


def test_two_faces_get_distinct_ids_that_follow_them_in_any_order():
    tracker = FaceTracker()
    left, right = (50, 50, 110, 110), (300, 60, 360, 120)
    first = tracker.update([face(left), face(right, WITH)])
    assert first[0].track_id != first[1].track_id
    for i in range(1, 10):
        dx = 5 * i
        a = face((left[0] + dx, 50, left[2] + dx, 110))
        b = face((right[0] - dx, 60, right[2] - dx, 120), WITH)
        out = tracker.update([b, a] if i % 2 else [a, b])     # list order does not matter
        by_label = {r.label: r.track_id for r in out}
        assert by_label == {"without_mask": first[0].track_id, "with_mask": first[1].track_id}


def test_assignment_is_optimal_not_greedy():
    """Greedy best-IoU matching would give the first box track 1 and leave the second box
    without one; the optimal one-to-one assignment matches both.
    """
    tracker = FaceTracker(min_iou=0.1)
    t1, t2 = tracker.update([face((0, 0, 100, 100)), face((60, 0, 160, 100))])
    out = tracker.update([face((20, 0, 120, 100)), face((-50, 0, 50, 100))])
    iou = iou_matrix([r.box for r in out], [(0, 0, 100, 100), (60, 0, 160, 100)])
    assert iou[0, 0] > iou[0, 1] > tracker.min_iou and iou[1, 0] > tracker.min_iou
    assert iou[1, 1] == 0.0
    assert [r.track_id for r in out] == [t2.track_id, t1.track_id]


def test_two_faces_in_one_frame_never_share_an_id():
    tracker = FaceTracker()
    tracker.update([face((0, 0, 50, 50))])
    # two boxes both overlapping the one track: one keeps it, the other gets a new id
    out = tracker.update([face((2, 0, 52, 50)), face((0, 3, 50, 53))])
    assert len({r.track_id for r in out}) == 2


def test_a_track_survives_missed_frames_then_is_retired():
    tracker = FaceTracker(max_missed=3)
    tid = tracker.update([face(moving_box(0))])[0].track_id
    for _ in range(3):
        assert tracker.update([]) == []
    assert tracker.update([face(moving_box(1))])[0].track_id == tid    # 3 missed: kept
    for _ in range(4):
        tracker.update([])
    assert tracker.tracks == []
    new = tracker.update([face(moving_box(1))])[0].track_id             # 4 missed: new id
    assert new != tid


def test_far_jump_starts_a_new_track_and_ids_are_never_reused():
    tracker = FaceTracker()
    seen = [tracker.update([face((0, 0, 40, 40))])[0].track_id]
    seen.append(tracker.update([face((400, 300, 440, 340))])[0].track_id)   # IoU 0
    tracker.reset()
    seen.append(tracker.update([face((0, 0, 40, 40))])[0].track_id)
    assert len(set(seen)) == 3


def test_a_single_frame_flip_does_not_change_the_label():
    """Hysteresis alone (no averaging): one frame that says with_mask does not change the
    label; two frames in a row do.
    """
    tracker = FaceTracker(smoothing_window=1, hold_frames=2)
    labels = []
    for i, probs in enumerate([WITHOUT, WITHOUT, WITH, WITHOUT, WITHOUT, WITH, WITH, WITH]):
        (r,) = tracker.update([face(moving_box(i), probs)])
        labels.append(r.label)
        assert r.ranked()[0][0] == r.label
    assert labels == ["without_mask"] * 6 + ["with_mask"] * 2
    # the flipped frame kept its label, with the frame's own (window 1) probabilities
    (r,) = tracker.update([face(moving_box(8), WITHOUT)])
    assert r.label == "with_mask" and r.score == pytest.approx(0.1)
    assert [k for k, _ in r.ranked()] == ["with_mask", "without_mask", "mask_weared_incorrect"]


def test_averaging_absorbs_a_single_frame_flip():
    tracker = FaceTracker(smoothing_window=5, hold_frames=1)
    for i in range(4):
        tracker.update([face(moving_box(i), WITHOUT)])
    (r,) = tracker.update([face(moving_box(4), WITH)])
    assert r.label == "without_mask"
    assert r.scores["without_mask"] == pytest.approx((4 * 0.8 + 0.1) / 5)
    assert r.scores["with_mask"] == pytest.approx((4 * 0.1 + 0.8) / 5)
    assert sum(r.scores.values()) == pytest.approx(1.0)


def test_window_one_and_hold_one_is_per_frame():
    tracker = FaceTracker(smoothing_window=1, hold_frames=1)
    rng = np.random.default_rng(0)
    for i in range(30):
        probs = rng.dirichlet(np.ones(3))
        (raw,) = results_from_probs([moving_box(i, step=3)], [0.9], probs[None], CLASS_NAMES)
        (r,) = tracker.update([raw])
        assert (r.label, r.score, r.scores) == (raw.label, raw.score, raw.scores)


def test_configure_at_run_time_keeps_the_tracks():
    tracker = FaceTracker(smoothing_window=5)
    for i in range(5):
        (r,) = tracker.update([face(moving_box(i), WITHOUT if i < 4 else WITH)])
    tracker.configure(smoothing_window=1, hold_frames=1, max_missed=0, min_iou=0.5)
    (r2,) = tracker.update([face(moving_box(5), WITH)])
    assert r2.track_id == r.track_id
    assert r2.label == "with_mask" and r2.scores == dict(zip(CLASS_NAMES, WITH))
    tracker.update([])
    assert tracker.tracks == []                               # max_missed 0


def test_real_detector_on_a_moving_face(astronaut_bgr):
    """The real CenterFace on the astronaut sliding through a 640x480 view, 16 px a frame,
    with a frame of nothing in the middle: one id throughout.
    """
    from marrtino_facemask.detectors import make_face_detector
    detector = make_face_detector()
    tracker = FaceTracker(max_missed=2)
    ids = []
    for i in range(8):
        frame = np.full((480, 640, 3), 90, np.uint8)
        if i != 4:
            x = 16 * i
            frame[:, x:x + 512] = astronaut_bgr[:480]
        faces = detector.detect(frame)
        results = [FaceMaskResult(box=f.box, face_score=f.score, label="without_mask",
                                  score=0.8, scores=dict(zip(CLASS_NAMES, WITHOUT)))
                   for f in faces]
        assert len(results) == (0 if i == 4 else 1), (i, faces)
        ids += [r.track_id for r in tracker.update(results)]
    assert len(ids) == 7 and set(ids) == {ids[0]}


def unscored(box):
    return FaceMaskResult(box=box, face_score=0.9, label="", score=0.0)


def three_faces(i):
    return [moving_box(i, x0=x, step=4) for x in (20, 220, 420)]


def test_due_takes_new_faces_and_then_the_longest_unclassified():
    tracker = FaceTracker()
    assert tracker.due(three_faces(0), budget=1) == [0, 1, 2]       # all new: all due
    tracker.update([face(b) for b in three_faces(0)])
    assert tracker.due(three_faces(1), budget=0) == [0, 1, 2]       # 0: every face
    picked = []
    for i in range(1, 7):
        boxes = three_faces(i)
        due = tracker.due(boxes, budget=1)
        assert len(due) == 1
        picked += due
        tracker.update([face(b) if k in due else unscored(b) for k, b in enumerate(boxes)])
    assert picked == [0, 1, 2, 0, 1, 2]                               # round robin
    # a new face is due on top of the budget's stalest one... only while the budget allows
    boxes = three_faces(7) + [(300, 300, 360, 360)]
    assert tracker.due(boxes, budget=1) == [3]
    assert tracker.due(boxes, budget=2) == [0, 3]


def test_an_unclassified_face_keeps_its_tracks_scores_label_and_hysteresis():
    tracker = FaceTracker(smoothing_window=3, hold_frames=2)
    (first,) = tracker.update([face(moving_box(0), WITHOUT)])
    (r,) = tracker.update([face(moving_box(1), WITH)])            # challenger, 1 frame
    assert r.label == "without_mask"
    for i in range(2, 6):                                          # frames without new evidence
        (r,) = tracker.update([unscored(moving_box(i))])
        assert r.track_id == first.track_id and r.label == "without_mask"
        assert r.box == moving_box(i)
        assert r.scores == pytest.approx({"mask_weared_incorrect": 0.1, "with_mask": 0.45,
                                          "without_mask": 0.45})
    (r,) = tracker.update([face(moving_box(6), WITH)])             # its second frame in a row
    assert r.label == "with_mask"


def test_an_unclassified_face_cannot_start_a_track():
    tracker = FaceTracker()
    with pytest.raises(ValueError, match="due"):
        tracker.update([unscored((0, 0, 40, 40))])


def test_classify_boxes_classifies_only_the_picked_faces(astronaut_bgr, node_model):
    from marrtino_facemask import config
    pipeline = config.build_pipeline(config.settings(model_path=node_model))
    boxes = [(180, 60, 300, 200), (0, 0, 60, 60), (200, 80, 290, 190)]
    every = pipeline.classify_boxes(astronaut_bgr, boxes, [0.9, 0.5, 0.8])
    some = pipeline.classify_boxes(astronaut_bgr, boxes, [0.9, 0.5, 0.8], only=[2, 0])
    assert [r.box for r in some] == [r.box for r in every] == boxes
    assert [r.face_score for r in some] == [0.9, 0.5, 0.8]
    for k in (0, 2):
        assert some[k].label == every[k].label
        assert some[k].scores == pytest.approx(every[k].scores, abs=1e-5)
    assert some[1].scores == {} and some[1].label == ""


def test_reset_and_configure_change_the_version():
    """The node plans a frame with due() and updates after classifying: a reset or a new
    setting in between shows in ``version``, and the node drops that frame.
    """
    tracker = FaceTracker()
    versions = [tracker.version]
    tracker.update([face(moving_box(0))])
    versions.append(tracker.version)                 # update() does not change it
    tracker.configure(min_iou=0.5)
    versions.append(tracker.version)
    tracker.reset()
    versions.append(tracker.version)
    assert versions[0] == versions[1] < versions[2] < versions[3]
