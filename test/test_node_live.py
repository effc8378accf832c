"""The node's contract for behaviours, over real DDS: track ids, the enable service, live
parameters, /diagnostics and facemask/label_info.

Two node processes: ``node`` (defaults, enabled) and ``off_node`` (``enabled:=false`` at
start, in namespace /off, with its own camera topic).
"""

import time

import cv2
import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")
pytestmark = pytest.mark.ros

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_srvs.srv import SetBool  # noqa: E402
from vision_msgs.msg import Detection2DArray, LabelInfo  # noqa: E402

from marrtino_facemask.exposure import brighten  # noqa: E402
from marrtino_facemask.labels import CLASS_NAMES  # noqa: E402

IMAGE_TOPIC = "/camera/image_raw"
DETECTIONS = "/facemask/detections"
NODE = "/facemask_detector"
OFF_TOPIC = "/off_cam/image"
OFF_NODE = "/off/facemask_detector"
OFF_DETECTIONS = "/off/facemask/detections"
STATUS, OFF_STATUS = f"facemask: {NODE}", f"facemask: {OFF_NODE}"
SYNC_TOPIC = "/sync_cam/image"
SYNC_NODE = "/sync/facemask_detector"
SYNC_DETECTIONS = "/sync/facemask/detections"


@pytest.fixture(scope="module")
def node(start_module_node, node_model):
    return start_module_node("-p", f"model_path:={node_model}", name="live_node")


@pytest.fixture(scope="module")
def off_node(start_module_node, node_model):
    return start_module_node("-p", f"model_path:={node_model}", "-p", "enabled:=false",
                             "-p", f"image_topic:={OFF_TOPIC}", "-r", "__ns:=/off",
                             name="off_node")


@pytest.fixture(scope="module")
def sync_node(start_module_node, node_model):
    return start_module_node("-p", f"model_path:={node_model}", "-p",
                             "detect_in_background:=false", "-p", f"image_topic:={SYNC_TOPIC}",
                             "-r", "__ns:=/sync", name="sync_node")


@pytest.fixture(scope="module")
def two_faces(astronaut_bgr):
    """Frames with two faces moving towards each other, 8 px a frame (the real detector
    finds both in each).
    """
    small = cv2.resize(astronaut_bgr, (280, 280), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(5):
        frame = np.full((480, 640, 3), 90, np.uint8)
        frame[100:380, 20 + 8 * i:300 + 8 * i] = small
        frame[100:380, 340 - 8 * i:620 - 8 * i] = small
        frames.append(frame)
    return frames


def face_frames(astronaut_bgr):
    """frame_at(x, second=False): a 640x480 frame with the astronaut (240 px, her face's
    centre about 105 px right of the picture's left edge) at x, and a second one at 380.
    """
    small = cv2.resize(astronaut_bgr, (240, 240), interpolation=cv2.INTER_AREA)

    def frame_at(x, second=False):
        frame = np.full((480, 640, 3), 90, np.uint8)
        frame[120:360, x:x + 240] = small
        if second:
            frame[120:360, 380:620] = small
        return frame
    return frame_at


def call_enable(ros, service, value, timeout=15.0):
    client = ros.node.create_client(SetBool, service)
    try:
        assert ros.spin_until(client.service_is_ready, timeout), f"{service} not available"
        future = client.call_async(SetBool.Request(data=value))
        assert ros.spin_until(future.done, timeout), f"{service} did not answer"
        return future.result()
    finally:
        ros.node.destroy_client(client)


def node_subscriptions(ros, topic, node_name="facemask_detector"):
    return [info for info in ros.node.get_subscriptions_info_by_topic(topic)
            if info.node_name == node_name]


def diagnostic_status(ros, node_proc, name_part, timeout=10.0, predicate=lambda s: True):
    """The next /diagnostics status whose name contains ``name_part`` and that satisfies
    ``predicate``, with its values as a dict.
    """
    diags = ros.collector(DiagnosticArray, "/diagnostics", depth=20)
    diags.clear()
    found = []

    def match():
        for msg in diags.msgs:
            for status in msg.status:
                values = {kv.key: kv.value for kv in status.values}
                if name_part in status.name and predicate((status, values)):
                    found.append((status, values))
                    return True
        diags.clear()
        return False
    assert ros.spin_until(match, timeout, node_proc), \
        f"no /diagnostics status for {name_part} within {timeout} s: {node_proc.describe()}"
    return found[0]


def test_track_ids_are_stable_over_frames_and_distinct_within_a_frame(ros, node, two_faces):
    pub = ros.publisher(Image, IMAGE_TOPIC)
    dets = ros.collector(Detection2DArray, DETECTIONS)
    ros.wait_ready(node, pub)
    by_side = []
    for frame in two_faces:
        (msg,) = ros.request(pub, ros.image_msg(frame), [dets], node)
        assert len(msg.detections) == 2, msg
        ids = [d.id for d in msg.detections]
        assert all(isinstance(i, str) and i for i in ids)
        assert ids[0] != ids[1]
        left = min(msg.detections, key=lambda d: d.bbox.center.position.x)
        right = max(msg.detections, key=lambda d: d.bbox.center.position.x)
        by_side.append((left.id, right.id))
        for det in msg.detections:    # smoothed probabilities: still a distribution
            scores = [r.hypothesis.score for r in det.results]
            assert sorted(r.hypothesis.class_id for r in det.results) == sorted(CLASS_NAMES)
            assert sum(scores) == pytest.approx(1.0, abs=1e-3)
    assert set(by_side) == {by_side[0]}, by_side


def test_live_parameters_accepted_and_refused(ros, node, astronaut_bgr):
    pub = ros.publisher(Image, IMAGE_TOPIC)
    dets = ros.collector(Detection2DArray, DETECTIONS)
    ros.wait_ready(node, pub)
    frame = cv2.resize(astronaut_bgr, (320, 320))             # a face of about 60 px
    (msg,) = ros.request(pub, ros.image_msg(frame), [dets], node)
    assert len(msg.detections) == 1

    (ok,) = ros.set_parameters(NODE, {"min_face_size": 200})
    assert ok.successful, ok.reason
    (msg,) = ros.request(pub, ros.image_msg(frame), [dets], node)
    assert len(msg.detections) == 0                            # applied at once
    node.wait_for_stderr(r"INFO.*parameter min_face_size: 8 -> 200", timeout=5, spin=ros.spin)

    refused = {"face_confidence": 0.05, "min_face_size": 0, "smoothing_window": 0,
               "label_hold_frames": 500, "track_min_iou": 1.5, "track_max_missed": -1,
               "detect_every": 0, "max_faces": 0}
    for name, value in refused.items():
        (result,) = ros.set_parameters(NODE, {name: value})
        assert not result.successful, name
        assert result.reason, f"{name}: refused without a reason"
    (wrong_type,) = ros.set_parameters(NODE, {"publish_annotated": "yes"})
    assert not wrong_type.successful and wrong_type.reason

    accepted = {"min_face_size": 8, "face_confidence": 0.5, "publish_annotated": False,
                "smoothing_window": 1, "label_hold_frames": 1, "track_max_missed": 2,
                "track_min_iou": 0.3}
    for name, value in accepted.items():
        (result,) = ros.set_parameters(NODE, {name: value})
        assert result.successful, f"{name}: {result.reason}"
    assert ros.get_parameters(NODE, list(accepted)) == accepted
    (msg,) = ros.request(pub, ros.image_msg(frame), [dets], node)
    assert len(msg.detections) == 1                            # min_face_size back to 8
    assert "Traceback" not in node.stderr()


def test_large_face_confidence_keeps_a_big_blurred_face(ros, node, astronaut_bgr):
    """The astronaut blurred (sigma 9): CenterFace scores her 110 px face about 0.18. The
    default large_face_confidence 0.1 keeps it; at 0.3, as face_confidence, it is dropped.
    """
    pub = ros.publisher(Image, IMAGE_TOPIC)
    dets = ros.collector(Detection2DArray, DETECTIONS)
    ros.wait_ready(node, pub)
    frame = cv2.GaussianBlur(astronaut_bgr, (0, 0), 9.0)
    assert ros.get_parameters(NODE, ["large_face_confidence"]) == {"large_face_confidence": 0.1}
    try:
        (msg,) = ros.request(pub, ros.image_msg(frame), [dets], node)
        assert len(msg.detections) == 1
        assert msg.detections[0].bbox.size_x >= 48
        (ok,) = ros.set_parameters(NODE, {"large_face_confidence": 0.3})
        assert ok.successful, ok.reason
        (msg,) = ros.request(pub, ros.image_msg(frame), [dets], node)
        assert len(msg.detections) == 0                        # applied at once
        (refused,) = ros.set_parameters(NODE, {"large_face_confidence": 0.05})
        assert not refused.successful and "large_face_confidence" in refused.reason
    finally:
        (ok,) = ros.set_parameters(NODE, {"large_face_confidence": 0.1})
        assert ok.successful, ok.reason
    (msg,) = ros.request(pub, ros.image_msg(frame), [dets], node)
    assert len(msg.detections) == 1
    assert "Traceback" not in node.stderr()


def test_detect_every_follows_faces_between_detections(ros, sync_node, astronaut_bgr):
    """detect_in_background:=false, detect_every 3: the detector runs on frames 1 and 4
    after the change. A second face that appears on frame 2 is reported from frame 4 on,
    while the first one is followed; a face moving 6 px a frame is followed on every frame,
    at its place; a face that jumps 240 px, more than optical flow follows, is detected
    again at once.
    """
    pub = ros.publisher(Image, SYNC_TOPIC)
    dets = ros.collector(Detection2DArray, SYNC_DETECTIONS)
    node = sync_node
    ros.wait_ready(node, pub)
    frame_at = face_frames(astronaut_bgr)
    def faces_in(frame):
        (msg,) = ros.request(pub, ros.image_msg(frame), [dets], node)
        return [d.bbox.center.position.x for d in msg.detections]

    try:
        (ok,) = ros.set_parameters(SYNC_NODE, {"detect_every": 3})
        assert ok.successful, ok.reason
        counts = [len(faces_in(frame_at(20, second=k > 0))) for k in range(4)]
        assert counts == [1, 1, 1, 2], counts
        (ok,) = ros.set_parameters(SYNC_NODE, {"detect_every": 3})    # a new cycle
        for x in range(20, 80, 6):
            centres = faces_in(frame_at(x))
            assert len(centres) == 1, x
            # the face's centre in the picture is about 105 px right of its left edge
            assert abs(centres[0] - (x + 105)) < 10, (x, centres)
        centres = [faces_in(frame_at(x)) for x in (20, 260, 260)]
        assert [len(c) for c in centres] == [1, 1, 1], centres
        assert abs(centres[1][0] - (260 + 105)) < 10, centres
    finally:
        (ok,) = ros.set_parameters(SYNC_NODE, {"detect_every": 1})
        assert ok.successful
    assert "Traceback" not in node.stderr()


def test_background_detection_answers_every_frame_at_the_face(ros, node, astronaut_bgr):
    """detect_in_background (the default), detect_every 2: each frame of a face moving 6 px
    a frame is answered with the face at its place; a second face that appears is reported
    within a few frames, once the detector's thread has run on a frame that shows it.
    """
    pub = ros.publisher(Image, IMAGE_TOPIC)
    dets = ros.collector(Detection2DArray, DETECTIONS)
    ros.wait_ready(node, pub)
    node.wait_for_stderr(r"detect_every 1, in the background", timeout=5, spin=ros.spin)
    (ok,) = ros.set_parameters(NODE, {"detect_every": 2})
    assert ok.successful, ok.reason
    bg_node = node
    frame_at = face_frames(astronaut_bgr)
    for x in range(20, 110, 6):
        (msg,) = ros.request(pub, ros.image_msg(frame_at(x)), [dets], bg_node)
        centres = [d.bbox.center.position.x for d in msg.detections]
        assert len(centres) == 1 and abs(centres[0] - (x + 105)) < 10, (x, centres)
    # frames go out as fast as the node answers them (flow only), so how many pass before a
    # detection of the new picture ends depends on the load: bound it in time, not in frames
    counts, deadline = [], time.monotonic() + 20.0
    while time.monotonic() < deadline and counts.count(2) < 3:
        (msg,) = ros.request(pub, ros.image_msg(frame_at(110, second=True)), [dets], bg_node)
        counts.append(len(msg.detections))
    assert counts[-3:] == [2, 2, 2] and counts == sorted(counts), counts
    (ok,) = ros.set_parameters(NODE, {"detect_every": 1})
    assert ok.successful, ok.reason
    assert "Traceback" not in bg_node.stderr()


def test_max_faces_bounds_a_frame_full_of_faces(ros, node, astronaut_bgr):
    """A poster of 176 tiled faces: the default answers at most 64, the best scored;
    max_faces 5 at most 5.
    """
    pub = ros.publisher(Image, IMAGE_TOPIC)
    dets = ros.collector(Detection2DArray, DETECTIONS)
    ros.wait_ready(node, pub)
    face = cv2.resize(astronaut_bgr[30:230, 150:330], (40, 44), interpolation=cv2.INTER_AREA)
    poster = np.ascontiguousarray(np.tile(face, (11, 17, 1))[:480, :640])

    def counts(n):
        return [len(ros.request(pub, ros.image_msg(poster), [dets], node, timeout=30)[0]
                    .detections) for _ in range(n)]

    seen = counts(4)
    assert max(seen) == 64 and seen[-1] == 64, seen
    (ok,) = ros.set_parameters(NODE, {"max_faces": 5})
    assert ok.successful, ok.reason
    try:
        seen = counts(3)
        assert all(c <= 5 for c in seen) and seen[-1] == 5, seen
    finally:
        (ok,) = ros.set_parameters(NODE, {"max_faces": 64})
        assert ok.successful
    assert "Traceback" not in node.stderr()


def test_dim_frames_are_brightened_and_min_white_level_is_live(ros, node, astronaut_bgr):
    """A poster of 176 faces at a fifteenth of the light: the node (min_white_level 160 by
    default) brightens it and finds the faces; with min_white_level 0 it finds none.
    """
    pub = ros.publisher(Image, IMAGE_TOPIC)
    dets = ros.collector(Detection2DArray, DETECTIONS)
    ros.wait_ready(node, pub)
    face = cv2.resize(astronaut_bgr[30:230, 150:330], (40, 44), interpolation=cv2.INTER_AREA)
    dark = (np.tile(face, (11, 17, 1))[:480, :640] * 0.07).astype(np.uint8)

    def count():
        return len(ros.request(pub, ros.image_msg(dark), [dets], node, timeout=30)[0]
                   .detections)

    (ok,) = ros.set_parameters(NODE, {"publish_annotated": True})   # an earlier test's False
    assert ok.successful, ok.reason
    annotated = ros.collector(Image, "/facemask/image_annotated")
    ros.wait_ready(node, pub, outputs=(DETECTIONS, "/facemask/image_annotated"))
    found, image = ros.request(pub, ros.image_msg(dark), [dets, annotated], node, timeout=30)
    assert len(found.detections) > 0
    # the annotated image is the camera's dark frame (boxes drawn on it), not the brightened one
    shown = np.frombuffer(bytes(image.data), np.uint8).reshape(dark.shape)
    brightened = np.median(brighten(dark)[0])
    assert abs(np.median(shown) - np.median(dark)) <= 2 < brightened - np.median(dark) - 20
    diags = ros.collector(DiagnosticArray, "/diagnostics", depth=20)
    diags.clear()
    for _ in range(8):                         # 2 s of dark frames
        assert count() > 0
        ros.spin(0.25)
    brightened = [int(kv.value) for msg in diags.msgs for st in msg.status
                  if st.name == STATUS for kv in st.values if kv.key == "brightened_frames"]
    assert brightened and max(brightened) > 0, brightened
    (ok,) = ros.set_parameters(NODE, {"min_white_level": 0})
    assert ok.successful, ok.reason
    try:
        node.wait_for_stderr(r"INFO.*parameter min_white_level: 160 -> 0", timeout=5,
                             spin=ros.spin)
        assert count() == 0                                    # applied at once
        for bad in (256, -1):
            (refused,) = ros.set_parameters(NODE, {"min_white_level": bad})
            assert not refused.successful and "255" in refused.reason, refused.reason
    finally:
        (ok,) = ros.set_parameters(NODE, {"min_white_level": 160})
        assert ok.successful
    assert count() > 0
    assert "Traceback" not in node.stderr()


def test_enable_service_removes_and_restores_the_subscription(ros, node, astronaut_bgr):
    pub = ros.publisher(Image, IMAGE_TOPIC)
    dets = ros.collector(Detection2DArray, DETECTIONS)
    ros.wait_ready(node, pub)
    frame = cv2.resize(astronaut_bgr, (256, 256))
    ros.request(pub, ros.image_msg(frame), [dets], node)

    off = call_enable(ros, "/facemask/enable", False)
    assert off.success and "disabled" in off.message and IMAGE_TOPIC in off.message
    assert ros.spin_until(lambda: not node_subscriptions(ros, IMAGE_TOPIC), 10, node), \
        "the node still subscribes to the camera after enable false"
    assert ros.spin_until(lambda: pub.get_subscription_count() == 0, 10, node)
    assert ros.get_parameters(NODE, ["enabled"]) == {"enabled": False}
    again = call_enable(ros, "/facemask/enable", False)
    assert again.success and "already disabled" in again.message

    dets.clear()
    for _ in range(10):                                        # nothing is processed
        pub.publish(ros.image_msg(frame, frame_id="while_disabled"))
        ros.spin(0.1)
    ros.spin(1.0)
    assert dets.msgs == []
    _, values = diagnostic_status(ros, node, STATUS,
                                  predicate=lambda sv: sv[1].get("enabled") == "false")
    assert values["input_fps"] == "0.0"

    on = call_enable(ros, "/facemask/enable", True)
    assert on.success and "enabled" in on.message and "already" not in on.message
    assert ros.spin_until(lambda: len(node_subscriptions(ros, IMAGE_TOPIC)) == 1, 10, node)
    msg = ros.image_msg(frame, frame_id="after_enable")
    (answer,) = ros.request(pub, msg, [dets], node)
    assert len(answer.detections) == 1
    assert ros.get_parameters(NODE, ["enabled"]) == {"enabled": True}


def test_diagnostics_report_the_frames(ros, node, astronaut_bgr):
    pub = ros.publisher(Image, IMAGE_TOPIC)
    dets = ros.collector(Detection2DArray, DETECTIONS)
    diags = ros.collector(DiagnosticArray, "/diagnostics", depth=20)
    ros.wait_ready(node, pub)
    frame = cv2.resize(astronaut_bgr, (320, 240))
    ros.spin(1.5)
    diags.clear()
    for _ in range(12):                       # 3 s of frames with real stamps
        stamp = ros.node.get_clock().now().to_msg()
        ros.request(pub, ros.image_msg(frame, stamp=stamp), [dets], node)
        ros.spin(0.25)
    statuses = [(st, {kv.key: kv.value for kv in st.values})
                for msg in diags.msgs for st in msg.status if st.name == STATUS]
    assert len(statuses) >= 2, f"{len(statuses)} statuses in 3 s: {node.describe()}"
    for status, values in statuses:
        for key in ("enabled", "input_fps", "processed_fps", "detections_per_s",
                    "dropped_frames", "bad_frames",
                    "processing_ms_mean", "processing_ms_max", "latency_ms_mean",
                    "latency_ms_max", "faces_per_frame", "brightened_frames", "tracks",
                    "frames_received_total", "brightened_frames_total",
                    "frames_processed_total", "dropped_frames_total", "bad_frames_total"):
            assert key in values, key
        assert values["enabled"] == "true"
        assert status.level == b"\x00", status.message          # OK
    busy = [v for _, v in statuses if v["processing_ms_mean"]]
    assert busy, statuses
    for values in busy:
        assert float(values["processed_fps"]) > 0
        assert 0 < float(values["processing_ms_mean"]) <= float(values["processing_ms_max"])
        assert 0 < float(values["latency_ms_mean"]) <= float(values["latency_ms_max"]) < 5000
        assert float(values["faces_per_frame"]) == pytest.approx(1.0)
        assert values["brightened_frames"] == "0"              # a well-lit frame
        assert 0 <= float(values["detections_per_s"]) <= float(values["processed_fps"])
    assert any(float(v["input_fps"]) > 0 for _, v in statuses)
    # the detector (in the background) ran on some of these frames
    assert any(float(v["detections_per_s"]) > 0 for v in busy), busy
    last = statuses[-1][1]
    assert int(last["frames_received_total"]) >= int(last["frames_processed_total"]) >= 12


def test_disabled_at_start_then_warns_without_frames(ros, off_node):
    assert ros.spin_until(lambda: ros.node.count_publishers(OFF_DETECTIONS) > 0, 60, off_node)
    assert node_subscriptions(ros, OFF_TOPIC) == []
    status, values = diagnostic_status(ros, off_node, OFF_STATUS)
    assert values["enabled"] == "false" and status.level == b"\x00"
    assert "disabled" in status.message

    on = call_enable(ros, "/off/facemask/enable", True)
    assert on.success and OFF_TOPIC in on.message
    assert ros.spin_until(lambda: len(node_subscriptions(ros, OFF_TOPIC)) == 1, 10, off_node)
    # enabled, and no camera publishes: WARN after 5 s
    status, values = diagnostic_status(ros, off_node, OFF_STATUS, timeout=10,
                                       predicate=lambda sv: sv[0].level == b"\x01")
    assert "no frame" in status.message and values["enabled"] == "true"


def test_label_info_reaches_a_late_subscriber(ros, off_node):
    from marrtino_facemask.ros.label_info import QOS
    assert ros.spin_until(lambda: ros.node.count_publishers("/off/facemask/label_info") > 0,
                          60, off_node)
    ros.spin(1.0)                                    # published long before we subscribe
    got = []
    sub = ros.node.create_subscription(LabelInfo, "/off/facemask/label_info", got.append, QOS)
    try:
        assert ros.spin_until(lambda: got, 10, off_node), "no LabelInfo for a late subscriber"
    finally:
        ros.node.destroy_subscription(sub)
    info = got[0]
    assert [c.class_name for c in info.class_map] == list(CLASS_NAMES)
    assert [c.class_id for c in info.class_map] == list(range(len(CLASS_NAMES)))
    # the lowest score that keeps a face: min(face_confidence 0.3, large_face_confidence
    # 0.1), the bar of centerface's faces of 48 px or more (not face_confidence alone)
    assert info.threshold == pytest.approx(0.1)


def test_label_info_threshold_follows_both_confidences(ros, off_node):
    """``ros2 param set`` of face_confidence or large_face_confidence publishes a new
    LabelInfo whose threshold is the lower of the two (config.detection_threshold).
    """
    from marrtino_facemask.ros.label_info import QOS
    assert ros.spin_until(lambda: ros.node.count_publishers("/off/facemask/label_info") > 0,
                          60, off_node)
    got = []
    sub = ros.node.create_subscription(LabelInfo, "/off/facemask/label_info", got.append, QOS)

    def threshold_becomes(value):
        return ros.spin_until(lambda: got and got[-1].threshold == pytest.approx(value), 10,
                              off_node)
    try:
        assert threshold_becomes(0.1), [m.threshold for m in got]
        steps = [({"large_face_confidence": 0.4}, 0.3),      # face_confidence is lower now
                 ({"face_confidence": 0.2}, 0.2),
                 ({"large_face_confidence": 0.15}, 0.15),
                 ({"face_confidence": 0.6}, 0.15),
                 ({"face_confidence": 0.3}, 0.15),
                 ({"large_face_confidence": 0.1}, 0.1)]      # the defaults again
        for change, expected in steps:
            count = len(got)
            (result,) = ros.set_parameters(OFF_NODE, change)
            assert result.successful, result.reason
            assert ros.spin_until(lambda: len(got) > count, 10, off_node), change
            assert threshold_becomes(expected), (change, [m.threshold for m in got])
            assert [c.class_name for c in got[-1].class_map] == list(CLASS_NAMES)
        # a refused value publishes nothing and changes nothing
        count = len(got)
        (refused,) = ros.set_parameters(OFF_NODE, {"large_face_confidence": 0.05})
        assert not refused.successful
        ros.spin(0.5)
        assert len(got) == count and got[-1].threshold == pytest.approx(0.1)
    finally:
        ros.node.destroy_subscription(sub)
        ros.set_parameters(OFF_NODE, {"face_confidence": 0.3, "large_face_confidence": 0.1})
