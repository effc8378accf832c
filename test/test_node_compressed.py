"""compressed:=true: the node decodes sensor_msgs/CompressedImage on <image_topic>/compressed."""

import cv2
import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")
pytestmark = pytest.mark.ros

from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from test_node import check_annotated, check_face_detection, face_box  # noqa: E402,F401
from vision_msgs.msg import Detection2DArray  # noqa: E402

TOPIC = "/camera/image_raw/compressed"
DETECTIONS = "/facemask/detections"
ANNOTATED = "/facemask/image_annotated"


@pytest.fixture(scope="module")
def node(start_module_node, node_model):
    return start_module_node("-p", f"model_path:={node_model}", "-p", "compressed:=true",
                             name="compressed_node")


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_end_to_end_compressed(ros, node, astronaut_bgr, face_box, fmt):  # noqa: F811
    pub = ros.publisher(CompressedImage, TOPIC)
    dets = ros.collector(Detection2DArray, DETECTIONS)
    annotated = ros.collector(Image, ANNOTATED)
    ros.wait_ready(node, pub, outputs=(DETECTIONS, ANNOTATED))
    msg = ros.compressed_msg(astronaut_bgr, fmt, frame_id=f"cam_{fmt}")
    det_array, img_msg = ros.request(pub, msg, [dets, annotated], node)
    check_face_detection(det_array, msg.header, face_box)
    decoded = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_COLOR)
    check_annotated(img_msg, msg.header, decoded, face_box)


def test_raw_topic_is_not_subscribed(ros, node):
    pub = ros.publisher(CompressedImage, TOPIC)
    ros.wait_ready(node, pub)
    assert ros.node.count_subscribers("/camera/image_raw") == 0


BAD_COMPRESSED = [
    (b"", "empty compressed image"),
    (bytes(range(256)) * 8, "format 'jpeg' but the data is not jpeg"),
]
NOT_JPEG_EITHER = b"GIF89a" + bytes(64)


def test_bad_compressed_frames_are_skipped(ros, node, astronaut_bgr, face_box):  # noqa: F811
    pub = ros.publisher(CompressedImage, TOPIC)
    dets = ros.collector(Detection2DArray, DETECTIONS)
    ros.wait_ready(node, pub)
    for data, text in BAD_COMPRESSED:
        msg = ros.compressed_msg(data=data, frame_id="bad")
        pub.publish(msg)
        node.wait_for_stderr(rf"WARN.*bad frame skipped \(stamp {msg.header.stamp.sec}\.0*"
                             rf"{msg.header.stamp.nanosec}.*{text}", timeout=10, spin=ros.spin)
    # the same kind of fault again within the throttle period: no new line
    same = ros.compressed_msg(data=NOT_JPEG_EITHER, frame_id="bad")
    pub.publish(same)
    good = ros.compressed_msg(astronaut_bgr, "jpeg", frame_id="good_after_bad")
    ros.spin(0.3)
    (det_array,) = ros.request(pub, good, [dets], node)
    check_face_detection(det_array, good.header, face_box)
    assert not any(m.header.frame_id == "bad" for m in dets.msgs)
    assert node.alive() and "Traceback" not in node.stderr()
    assert node.stderr().count("but the data is not jpeg") == 1, node.describe()
