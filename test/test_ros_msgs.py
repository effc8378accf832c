"""ros_msgs: messages <-> core, built in-process (no ROS graph, no rclpy.init)."""

import array
import time

import cv2
import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")
pytestmark = pytest.mark.ros

from builtin_interfaces.msg import Time  # noqa: E402
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

from marrtino_facemask.image_codec import FrameError, bgr_to_encoding  # noqa: E402
from marrtino_facemask.labels import CLASS_NAMES  # noqa: E402
from marrtino_facemask.pipeline import FaceMaskResult  # noqa: E402
from marrtino_facemask.ros.ros_msgs import (  # noqa: E402
    bgr_to_image_msg,
    compressed_msg_to_bgr,
    image_msg_to_bgr,
    results_to_detection_array,
)


def header(sec=1712, nanosec=345678901, frame_id="head_camera"):
    return Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id)


def same_header(a, b):
    return (a.stamp.sec, a.stamp.nanosec, a.frame_id) == (b.stamp.sec, b.stamp.nanosec,
                                                          b.frame_id)


def result(box, probs):
    scores = dict(zip(CLASS_NAMES, probs))
    best = max(scores, key=scores.get)
    return FaceMaskResult(box=box, face_score=0.97, label=best, score=scores[best],
                          scores=scores)


@pytest.fixture(scope="module")
def img(astronaut_bgr):
    return np.ascontiguousarray(astronaut_bgr[100:340, 50:370])   # 240 x 320


@pytest.mark.parametrize("encoding", ["bgr8", "rgb8", "mono8", "bgra8"])
def test_image_msg_to_bgr(img, encoding):
    step, data = bgr_to_encoding(img, encoding)
    msg = Image(header=header(), height=240, width=320, encoding=encoding, step=step)
    msg.data = array.array("B", data)
    msg = deserialize_message(serialize_message(msg), Image)   # as received over DDS
    out = image_msg_to_bgr(msg)
    expected = img if encoding != "mono8" else cv2.cvtColor(
        cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    np.testing.assert_array_equal(out, expected)


def test_image_msg_bad_frame_raises():
    msg = Image(height=10, width=10, encoding="bgr8", step=30)
    msg.data = array.array("B", bytes(100))
    with pytest.raises(FrameError, match="step\\*height"):
        image_msg_to_bgr(msg)


def test_compressed_msg_to_bgr(img):
    ok, buf = cv2.imencode(".png", img)
    msg = CompressedImage(header=header(), format="png")
    msg.data = array.array("B", buf.tobytes())
    np.testing.assert_array_equal(compressed_msg_to_bgr(msg), img)
    msg.data = array.array("B", b"not an image")
    with pytest.raises(FrameError):
        compressed_msg_to_bgr(msg)


def test_bgr_to_image_msg(img):
    h = header()
    msg = bgr_to_image_msg(img, h)
    assert same_header(msg.header, h) and msg.header is not h
    assert (msg.height, msg.width, msg.encoding, msg.step, msg.is_bigendian) == \
        (240, 320, "bgr8", 960, 0)
    assert len(msg.data) == 240 * 960
    back = deserialize_message(serialize_message(msg), Image)
    np.testing.assert_array_equal(image_msg_to_bgr(back), img)
    # the header is a copy: changing the input afterwards does not change the message
    h.stamp.sec = 1
    assert msg.header.stamp.sec == 1712


def test_bgr_to_image_msg_is_fast():
    """Filling ``data`` must not loop over the pixels in Python (that takes ~0.3 s here)."""
    big = np.random.default_rng(0).integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    bgr_to_image_msg(big, header())
    t0 = time.perf_counter()
    for _ in range(5):
        msg = bgr_to_image_msg(big, header())
    per_call = (time.perf_counter() - t0) / 5
    assert len(msg.data) == big.size
    assert per_call < 0.03, f"{per_call * 1000:.0f} ms for a 1280x720 frame"


def test_results_to_detection_array():
    h = header()
    results = [result((10, 20, 50, 80), (0.1, 0.7, 0.2)),
               result((100, 40, 131, 100), (0.05, 0.15, 0.8))]
    out = results_to_detection_array(results, h)
    assert isinstance(out, Detection2DArray)
    assert same_header(out.header, h)
    assert len(out.detections) == 2
    expected = [((30.0, 50.0), (40.0, 60.0)), ((115.5, 70.0), (31.0, 60.0))]
    for det, r, (centre, size) in zip(out.detections, results, expected):
        assert same_header(det.header, h)
        assert (det.bbox.center.position.x, det.bbox.center.position.y) == centre
        assert (det.bbox.size_x, det.bbox.size_y) == size
        assert det.bbox.center.theta == 0.0
        ids = [hyp.hypothesis.class_id for hyp in det.results]
        scores = [hyp.hypothesis.score for hyp in det.results]
        assert sorted(ids) == sorted(CLASS_NAMES)               # every class, once
        assert scores == sorted(scores, reverse=True)           # highest first
        assert ids[0] == r.label and scores[0] == pytest.approx(r.score)
        assert {i: s for i, s in zip(ids, scores)} == pytest.approx(r.scores)
    assert [hyp.hypothesis.class_id for hyp in out.detections[0].results] == \
        ["with_mask", "without_mask", "mask_weared_incorrect"]
    # it is a valid message: it survives serialization unchanged
    back = deserialize_message(serialize_message(out), Detection2DArray)
    assert back == out


def test_no_faces_gives_an_empty_array_with_the_header():
    h = header(sec=5, nanosec=6, frame_id="cam")
    out = results_to_detection_array([], h)
    assert same_header(out.header, h)
    assert list(out.detections) == []
