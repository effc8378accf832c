"""A parameters YAML really configures a running node (behaviour and parameter service),
and a best_effort node works with a best-effort publisher.
"""

import cv2
import pytest
import yaml

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")
pytestmark = pytest.mark.ros

from sensor_msgs.msg import Image  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

TOPIC = "/test_cam/image"
DETECTIONS = "/facemask/detections"
ANNOTATED = "/facemask/image_annotated"


@pytest.fixture(scope="module")
def params(node_model):
    return {
        "image_topic": TOPIC,
        "reliability": "best_effort",
        "detector": "haar",
        "face_confidence": 0.7,
        "min_face_size": 200,          # larger than the astronaut's face (about 93 px)
        "model_path": node_model,
        "publish_annotated": False,
    }


@pytest.fixture(scope="module")
def node(start_module_node, params, tmp_path_factory):
    path = tmp_path_factory.mktemp("params") / "facemask.yaml"
    # plus a parameter of an earlier release, which the node does not have any more
    old = dict(params, precision="float32")
    path.write_text(yaml.safe_dump({"facemask_detector": {"ros__parameters": old}}))
    return start_module_node("--params-file", str(path), name="params_node")


@pytest.fixture(scope="module")
def face_frame(astronaut_bgr):
    """The astronaut's head and shoulders (250x300, 225 kB: small enough for best-effort)."""
    return cv2.resize(astronaut_bgr[0:300, 100:350], (250, 300))


def test_params_file_configures_behaviour(ros, node, face_frame):
    pub = ros.publisher(Image, TOPIC, reliability="best_effort")
    dets = ros.collector(Detection2DArray, DETECTIONS)
    annotated = ros.collector(Image, ANNOTATED)
    ros.wait_ready(node, pub, outputs=(DETECTIONS, ANNOTATED))
    msg = ros.image_msg(face_frame, "bgr8", frame_id="params_cam")
    (det_array,) = ros.request(pub, msg, [dets], node)
    # min_face_size 200 hides the 93 px face that the default settings find
    assert det_array.header.frame_id == "params_cam"
    assert len(det_array.detections) == 0
    # publish_annotated: false -> nothing on the annotated topic although we subscribe
    ros.spin(0.5)
    assert annotated.msgs == []
    ready = node.wait_for_stderr(r"ready: .*", timeout=1).group(0)
    assert "detector haar" in ready and f"input {TOPIC}" in ready
    assert "best_effort" in ready and "min_face_size 200" in ready


def test_params_file_values_via_parameter_service(ros, node, params):
    values = ros.get_parameters("/facemask_detector", list(params) + ["compressed",
                                                                     "face_model_dir"])
    assert values == {**params, "compressed": False, "face_model_dir": ""}


def test_reload_parameters_are_read_only(ros, node, params):
    """Parameters that need a reload (models, detector, topic, QoS) are refused at run time
    with a reason; the live ones are tested in test_node_live.py.
    """
    changes = {"detector": "dnn", "image_topic": "/other/image", "reliability": "reliable",
               "model_path": "/tmp/other.pt", "threads": 2}
    for name, value in changes.items():
        (result,) = ros.set_parameters("/facemask_detector", {name: value})
        assert not result.successful, name
        assert "read-only" in result.reason or "read only" in result.reason, result.reason
    assert ros.get_parameters("/facemask_detector", list(changes)) == {
        **{name: params[name] for name in changes if name in params}, "threads": 1}


def test_best_effort_node_and_best_effort_publisher(ros, node, face_frame):
    pub = ros.publisher(Image, TOPIC, reliability="best_effort")
    dets = ros.collector(Detection2DArray, DETECTIONS)
    ros.wait_ready(node, pub)
    for _ in range(3):
        msg = ros.image_msg(face_frame, "bgr8")
        (det_array,) = ros.request(pub, msg, [dets], node, timeout=10.0, resend=0.3)
        assert (det_array.header.stamp.sec, det_array.header.stamp.nanosec) == \
            (msg.header.stamp.sec, msg.header.stamp.nanosec)
    assert "incompatible" not in node.stderr()


def test_a_parameter_the_node_does_not_have_is_named_in_one_warning(ros, node, params):
    node.wait_for_stderr("not a parameter of this node", 20)
    lines = [ln for ln in node.stderr_lines() if "not a parameter of this node" in ln]
    assert len(lines) == 1 and "precision" in lines[0] and "int8 files" in lines[0]
