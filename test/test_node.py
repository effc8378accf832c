"""The facemask_detector node with default parameters, in its own process, over real DDS.

One node process serves this module (started once; it must exit cleanly on SIGTERM at the
end). The tests publish from an in-process rclpy node and check what comes back.
"""

import time

import cv2
import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")
pytestmark = pytest.mark.ros

from sensor_msgs.msg import Image  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

from marrtino_facemask.labels import CLASS_NAMES  # noqa: E402

IMAGE_TOPIC = "/camera/image_raw"
DETECTIONS = "/facemask/detections"
ANNOTATED = "/facemask/image_annotated"


@pytest.fixture(scope="module")
def node(start_module_node, node_model):
    return start_module_node("-p", f"model_path:={node_model}", name="default_node")


@pytest.fixture(scope="session")
def face_box(astronaut_bgr):
    """The astronaut's face, found once with the same (default) detector the node uses."""
    from marrtino_facemask.detectors import make_face_detector
    faces = make_face_detector().detect(astronaut_bgr)
    assert len(faces) == 1
    return faces[0].box


def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area


def same_header(a, b):
    return (a.stamp.sec, a.stamp.nanosec, a.frame_id) == (b.stamp.sec, b.stamp.nanosec,
                                                          b.frame_id)


def check_face_detection(det_array, header, face_box, min_iou=0.8):
    """Exactly the input header, one detection on the face, 3 sorted hypotheses."""
    assert same_header(det_array.header, header)
    assert len(det_array.detections) == 1, det_array
    det = det_array.detections[0]
    assert same_header(det.header, header)
    cx, cy = det.bbox.center.position.x, det.bbox.center.position.y
    w, h = det.bbox.size_x, det.bbox.size_y
    x0, y0, x1, y1 = face_box
    assert x0 <= cx <= x1 and y0 <= cy <= y1, (cx, cy, face_box)
    assert iou((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), face_box) > min_iou
    ids = [r.hypothesis.class_id for r in det.results]
    scores = [r.hypothesis.score for r in det.results]
    assert sorted(ids) == sorted(CLASS_NAMES)
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) == pytest.approx(1.0, abs=1e-3)
    assert all(0.0 <= s <= 1.0 for s in scores)


def check_annotated(img_msg, header, input_bgr, face_box):
    """Same header, bgr8, same size; boxes drawn near the face, the rest untouched."""
    assert same_header(img_msg.header, header)
    assert img_msg.encoding == "bgr8"
    h, w = input_bgr.shape[:2]
    assert (img_msg.height, img_msg.width, img_msg.step) == (h, w, 3 * w)
    out = np.frombuffer(bytes(img_msg.data), np.uint8).reshape(h, w, 3)
    below = face_box[3] + 60      # box, label (drawn above the face here) and margin
    np.testing.assert_array_equal(out[below:], input_bgr[below:])
    assert np.any(out[:below] != input_bgr[:below]), "nothing was drawn"


@pytest.mark.parametrize("encoding", ["bgr8", "rgb8", "mono8"])
def test_end_to_end_raw(ros, node, astronaut_bgr, face_box, encoding):
    pub = ros.publisher(Image, IMAGE_TOPIC)
    dets = ros.collector(Detection2DArray, DETECTIONS)
    annotated = ros.collector(Image, ANNOTATED)
    ros.wait_ready(node, pub, outputs=(DETECTIONS, ANNOTATED))
    msg = ros.image_msg(astronaut_bgr, encoding, frame_id=f"cam_{encoding}")
    det_array, img_msg = ros.request(pub, msg, [dets, annotated], node)
    check_face_detection(det_array, msg.header, face_box)
    expected = astronaut_bgr if encoding != "mono8" else cv2.cvtColor(
        cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    check_annotated(img_msg, msg.header, expected, face_box)


def test_no_face_gives_an_empty_detection_array(ros, node):
    pub = ros.publisher(Image, IMAGE_TOPIC)
    dets = ros.collector(Detection2DArray, DETECTIONS)
    ros.wait_ready(node, pub)
    gray = np.full((120, 160, 3), 128, np.uint8)
    msg = ros.image_msg(gray, "bgr8", frame_id="blank")
    (det_array,) = ros.request(pub, msg, [dets], node)
    assert same_header(det_array.header, msg.header)
    assert len(det_array.detections) == 0


BAD_RAW_FRAMES = [
    # (height, width, encoding, step, data length, text in the node's warning)
    (480, 640, "bgr8", 1920, 1000, "data has 1000 bytes"),       # size/step vs data
    (4, 4, "bgr8", 10, 40, "is smaller than width"),              # step too small
    (4, 4, "bayer_rggb8", 4, 16, "unsupported encoding 'bayer_rggb8'"),
    (0, 0, "bgr8", 0, 0, "empty image"),
    (1_000_000, 1_000_000, "bgr8", 3_000_000, 64, "over the limit"),  # huge declared size
]


def test_bad_frames_are_skipped_with_a_warning(ros, node, astronaut_bgr, face_box):
    pub = ros.publisher(Image, IMAGE_TOPIC)
    dets = ros.collector(Detection2DArray, DETECTIONS)
    ros.wait_ready(node, pub)
    for h, w, enc, step, size, text in BAD_RAW_FRAMES:
        msg = ros.raw_image_msg(h, w, enc, step, bytes(size), frame_id="bad")
        pub.publish(msg)
        # one at a time (keep-last-1 would drop a burst): wait for this frame's warning
        line = node.wait_for_stderr(
            rf"WARN.*bad frame skipped \(stamp {msg.header.stamp.sec}\.0*"
            rf"{msg.header.stamp.nanosec}.*{text}.*", timeout=10, spin=ros.spin)
        assert "\n" not in line.group(0)
        assert node.alive(), node.describe()
    assert not any(m.header.frame_id == "bad" for m in dets.msgs), "answered a bad frame"
    good = ros.image_msg(astronaut_bgr, "bgr8", frame_id="good_after_bad")
    (det_array,) = ros.request(pub, good, [dets], node)
    check_face_detection(det_array, good.header, face_box)
    assert node.alive()
    assert "Traceback" not in node.stderr()


def test_best_effort_publisher_gets_a_clear_warning(ros, node):
    """The node subscribes reliable (default): a best-effort camera cannot match it."""
    pub = ros.publisher(Image, IMAGE_TOPIC, reliability="best_effort", fresh=True)
    node.wait_for_stderr(r"WARN.*best-effort publisher.*reliability:=best_effort",
                         timeout=15, spin=ros.spin)
    assert pub.get_subscription_count() == 0


def test_reliable_publisher_and_reliable_node(ros, node, astronaut_bgr, face_box):
    pub = ros.publisher(Image, IMAGE_TOPIC, reliability="reliable")
    dets = ros.collector(Detection2DArray, DETECTIONS)
    ros.wait_ready(node, pub)
    small = cv2.resize(astronaut_bgr, (256, 256), interpolation=cv2.INTER_AREA)
    for _ in range(3):
        msg = ros.image_msg(small, "bgr8")
        (det_array,) = ros.request(pub, msg, [dets], node)
        check_face_detection(det_array, msg.header, [v / 2 for v in face_box], min_iou=0.7)


def round_trips(ros, pub, dets, frame, count):
    """Publish ``count`` single frames one after the other; return their answer latencies."""
    latencies = []
    for _ in range(count):
        msg = ros.image_msg(frame)
        t0 = time.monotonic()
        pub.publish(msg)
        assert ros.spin_until(lambda: dets.find(msg.header.stamp)[0] is not None, 1.0), \
            "no answer within 1 s"
        latencies.append(dets.find(msg.header.stamp)[1] - t0)
    return latencies


# Small frames keep the burst fast to publish; 640x480 frames are covered by the latency
# test here and by test_dds_large_frames.py.
SMALL = (320, 240)


def test_latency_under_one_second(ros, node, astronaut_bgr):
    """A camera-sized raw frame (640x480 bgr8, 921 kB: more than Fast DDS's default 512 kB
    shared-memory segment) needs the environment's Fast DDS profile (scripts/env.sh,
    config/fastdds_large_frames.xml); without it some answers take 1-3 s.
    """
    size = (640, 480)
    pub = ros.publisher(Image, IMAGE_TOPIC)
    dets = ros.collector(Detection2DArray, DETECTIONS)
    ros.wait_ready(node, pub)
    frame = cv2.resize(astronaut_bgr, size)
    ros.request(pub, ros.image_msg(frame), [dets], node)        # warm-up
    latencies = round_trips(ros, pub, dets, frame, 5)
    print(f"\nlatency {size[0]}x{size[1]} bgr8: "
          f"{', '.join(f'{1000 * t:.0f} ms' for t in latencies)}")
    assert max(latencies) < 1.0


def test_only_the_newest_frame_is_processed(ros, node, astronaut_bgr):
    burst = 20
    pub = ros.publisher(Image, IMAGE_TOPIC)
    dets = ros.collector(Detection2DArray, DETECTIONS)
    ros.wait_ready(node, pub)
    frame = cv2.resize(astronaut_bgr, SMALL)
    ros.request(pub, ros.image_msg(frame), [dets], node)       # warm and matched both ways
    round_trip = min(round_trips(ros, pub, dets, frame, 3))     # >= one frame's processing
    ros.spin(0.2)
    dets.clear()
    msg = ros.image_msg(frame, "bgr8", frame_id="burst")
    stamps = []
    t0 = time.monotonic()
    for _ in range(burst):                                      # as fast as we can publish
        msg.header.stamp = ros.next_stamp()
        stamps.append((msg.header.stamp.sec, msg.header.stamp.nanosec))
        pub.publish(msg)
    burst_s = time.monotonic() - t0
    last = msg.header.stamp
    assert ros.spin_until(lambda: dets.find(last)[0] is not None, 10, node), \
        f"the last frame of the burst was not answered: {node.describe()}"
    ros.spin(0.5)                                               # anything still in flight
    answered = [(m.header.stamp.sec, m.header.stamp.nanosec) for m in dets.msgs
                if m.header.frame_id == "burst"]
    print(f"\nburst of {burst} frames in {1000 * burst_s:.0f} ms: {len(answered)} processed, "
          f"last answered {1000 * (dets.find(last)[1] - t0):.0f} ms after the burst began "
          f"(single round trip {1000 * round_trip:.0f} ms)")
    assert all(s in stamps for s in answered)
    assert answered == sorted(set(answered)), "answers out of order or repeated"
    assert answered[-1] == stamps[-1], "the newest frame was not the last one processed"
    assert len(answered) < burst, f"all {burst} frames were processed: they were queued"
    # Keep-last-1: one frame is taken at each processing start, so at most
    # 2 + burst_s / processing_time frames get answered (+1 for timing slack). Processing
    # takes at least about half a round trip. A queue of 4 or more frames fails this.
    bound = 3 + int(burst_s / (0.5 * round_trip))
    assert len(answered) <= bound, f"{len(answered)} of {burst} processed: frames queued"


def test_faces_left_unclassified_in_a_frame_keep_their_tracks_scores(ros, node, astronaut_bgr):
    """Three faces, and the default max_classified_per_frame 1: after the first frame, two
    of the three are not classified in each frame. Every answer still gives every face its
    track id and three hypotheses from its track's probabilities.
    """
    head = cv2.resize(astronaut_bgr[0:300, 80:380], (200, 200), interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 40, np.uint8)
    for i in range(3):
        frame[140:340, 13 + 209 * i:213 + 209 * i] = head
    pub = ros.publisher(Image, IMAGE_TOPIC)
    dets = ros.collector(Detection2DArray, DETECTIONS)
    ros.wait_ready(node, pub)
    answers = []
    for _ in range(4):
        (det_array,) = ros.request(pub, ros.image_msg(frame), [dets], node)
        answers.append(det_array)
    ids = []
    for det_array in answers:
        assert len(det_array.detections) == 3, det_array
        for det in det_array.detections:
            scores = [r.hypothesis.score for r in det.results]
            assert sorted(r.hypothesis.class_id for r in det.results) == sorted(CLASS_NAMES)
            assert sum(scores) == pytest.approx(1.0, abs=1e-3)
        ids.append(sorted(d.id for d in det_array.detections))
    assert all(i == ids[0] for i in ids) and all(ids[0]), ids


def test_periodic_stats_line(node, ros):
    """About every 10 s: frames processed, fps and mean processing time (this module has
    been running for about that long when it gets here).
    """
    line = node.wait_for_stderr(
        r"INFO.*\] \[facemask_detector\]: (\d+) frames in [\d.]+ s \([\d.]+ fps\), processing "
        r"mean [\d.]+ ms.*", timeout=15, spin=ros.spin)
    assert int(line.group(1)) > 0
    assert "\n" not in line.group(0)


def test_the_face_frame_after_bad_or_blank_frames_keeps_its_face(ros, start_node,
                                                                astronaut_bgr):
    """Default parameters: a 640x480 frame with a face is answered with the face; then five
    malformed frames, each skipped with its warning; then the same face frame again, which
    still carries the face. Then a valid frame of the same size with nothing in it (a
    padded-step black frame, answered with no face) and the face frame again: the face is
    there at once. (Before, the frame after a faceless one of the same size was answered
    from the optical flow of that frame, nothing, and the face came a frame later.)
    """
    node = start_node("-r", "__ns:=/after_bad", name="after_bad_node")
    topic, detections = "/after_bad/camera/image_raw", "/after_bad/facemask/detections"
    frame = cv2.resize(astronaut_bgr, (640, 480))
    pub = ros.publisher(Image, topic)
    dets = ros.collector(Detection2DArray, detections)
    ros.wait_ready(node, pub, outputs=(detections,), timeout=90)

    def faces_in(frame_id):
        msg = ros.image_msg(frame, frame_id=frame_id)
        (det_array,) = ros.request(pub, msg, [dets], node, timeout=30)
        return len(det_array.detections)

    assert faces_in("good_before_bad") == 1
    for h, w, enc, step, size, text in BAD_640x480_FRAMES:
        msg = ros.raw_image_msg(h, w, enc, step, bytes(size), frame_id="bad")
        pub.publish(msg)
        node.wait_for_stderr(rf"WARN.*bad frame skipped \(stamp {msg.header.stamp.sec}\.0*"
                             rf"{msg.header.stamp.nanosec}.*{text}", timeout=10, spin=ros.spin)
    assert faces_in("good_after_bad") == 1
    assert not any(m.header.frame_id == "bad" for m in dets.msgs), "answered a bad frame"

    black = ros.raw_image_msg(480, 640, "bgr8", 640 * 3 + 4, bytes((640 * 3 + 4) * 480),
                              frame_id="black")
    (det_array,) = ros.request(pub, black, [dets], node)
    assert len(det_array.detections) == 0
    assert [faces_in(f"good_after_black_{i}") for i in range(3)] == [1, 1, 1]
    assert "Traceback" not in node.stderr()


BAD_640x480_FRAMES = [
    # (height, width, encoding, step, data length, text in the node's warning)
    (480, 640, "bgr8", 1920, 1000, "data has 1000 bytes"),                # truncated data
    (480, 640, "bgr8", 1000, 1000 * 480, "is smaller than width"),        # a bad step
    (480, 640, "bayer_rggb8", 640, 640 * 480, "unsupported encoding 'bayer_rggb8'"),
    (0, 0, "bgr8", 0, 0, "empty image"),
    (100_000, 640, "bgr8", 1920, 64, "declared size 640x100000 .* over the limit"),
]
