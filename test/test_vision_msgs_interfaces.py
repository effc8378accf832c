"""vision_msgs as the node uses it must match vision_msgs 4.x (ROS 2 Humble) field for field.

Checks both the importable vision_msgs (the vendored build from scripts/setup_env.sh, or a
distro package) and the vendored .msg sources in interfaces/vision_msgs.
"""
import importlib
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.ros
MSG_DIR = REPO / 'interfaces' / 'vision_msgs' / 'msg'

# vision_msgs 4.1.1 (Humble): message -> [(field, .msg type)], in declaration order.
SPEC = {
    'BoundingBox2D': [('center', 'vision_msgs/Pose2D'), ('size_x', 'float64'),
                      ('size_y', 'float64')],
    'BoundingBox2DArray': [('header', 'std_msgs/Header'), ('boxes', 'BoundingBox2D[]')],
    'BoundingBox3D': [('center', 'geometry_msgs/Pose'), ('size', 'geometry_msgs/Vector3')],
    'BoundingBox3DArray': [('header', 'std_msgs/Header'), ('boxes', 'BoundingBox3D[]')],
    'Classification': [('header', 'std_msgs/Header'), ('results', 'ObjectHypothesis[]')],
    'Detection2D': [('header', 'std_msgs/Header'), ('results', 'ObjectHypothesisWithPose[]'),
                    ('bbox', 'BoundingBox2D'), ('id', 'string')],
    'Detection2DArray': [('header', 'std_msgs/Header'), ('detections', 'Detection2D[]')],
    'Detection3D': [('header', 'std_msgs/Header'), ('results', 'ObjectHypothesisWithPose[]'),
                    ('bbox', 'BoundingBox3D'), ('id', 'string')],
    'Detection3DArray': [('header', 'std_msgs/Header'), ('detections', 'Detection3D[]')],
    'LabelInfo': [('header', 'std_msgs/Header'), ('class_map', 'VisionClass[]'),
                  ('threshold', 'float32')],
    'ObjectHypothesis': [('class_id', 'string'), ('score', 'float64')],
    'ObjectHypothesisWithPose': [('hypothesis', 'ObjectHypothesis'),
                                 ('pose', 'geometry_msgs/PoseWithCovariance')],
    'Point2D': [('x', 'float64'), ('y', 'float64')],
    'Pose2D': [('position', 'vision_msgs/Point2D'), ('theta', 'float64')],
    'VisionClass': [('class_id', 'uint16'), ('class_name', 'string')],
    'VisionInfo': [('header', 'std_msgs/Header'), ('method', 'string'),
                   ('database_location', 'string'), ('database_version', 'int32')],
}

# How rosidl's generated Python classes spell those types in get_fields_and_field_types().
_PRIMITIVES = {'float64': 'double', 'float32': 'float', 'uint16': 'uint16',
               'int32': 'int32', 'string': 'string'}


def _generated_type(msg_type):
    seq = msg_type.endswith('[]')
    base = msg_type[:-2] if seq else msg_type
    if base in _PRIMITIVES:
        base = _PRIMITIVES[base]
    elif '/' not in base:
        base = 'vision_msgs/' + base
    return 'sequence<%s>' % base if seq else base


@pytest.fixture(scope='module')
def msg():
    return importlib.import_module('vision_msgs.msg')


# The ones the node publishes come first; every 4.x message is checked.
@pytest.mark.parametrize('name', [
    'Detection2DArray', 'Detection2D', 'BoundingBox2D', 'Pose2D', 'Point2D',
    'ObjectHypothesisWithPose', 'ObjectHypothesis',
] + sorted(set(SPEC) - {'Detection2DArray', 'Detection2D', 'BoundingBox2D', 'Pose2D',
                        'Point2D', 'ObjectHypothesisWithPose', 'ObjectHypothesis'}))
def test_generated_fields_match_4x(msg, name):
    cls = getattr(msg, name)
    fields = list(cls.get_fields_and_field_types().items())
    expected = [(field, _generated_type(t)) for field, t in SPEC[name]]
    assert fields == expected


@pytest.mark.parametrize('name', sorted(SPEC))
def test_vendored_msg_sources_match_4x(name):
    from rosidl_adapter.parser import parse_message_file
    spec = parse_message_file('vision_msgs', str(MSG_DIR / (name + '.msg')))
    assert spec.constants == []
    got = [(f.name, str(f.type)) for f in spec.fields]
    expected = [(field, t if '/' in t or t.split('[')[0] in _PRIMITIVES
                 else 'vision_msgs/' + t) for field, t in SPEC[name]]
    assert got == expected


def test_vendored_package_lists_exactly_the_4x_messages():
    assert sorted(p.stem for p in MSG_DIR.glob('*.msg')) == sorted(SPEC)
    cmake = (MSG_DIR.parent / 'CMakeLists.txt').read_text()
    for name in SPEC:
        assert '"msg/%s.msg"' % name in cmake, name


def _sample(msg):
    from geometry_msgs.msg import PoseWithCovariance
    from std_msgs.msg import Header
    header = Header(frame_id='camera')
    header.stamp.sec = 1700000000
    header.stamp.nanosec = 123456789
    dets = []
    for i, (label, score) in enumerate([('mask', 0.93), ('no_mask', 0.71)]):
        hyp = msg.ObjectHypothesisWithPose(
            hypothesis=msg.ObjectHypothesis(class_id=label, score=score),
            pose=PoseWithCovariance())
        hyp.pose.covariance[0] = 0.5 + i
        bbox = msg.BoundingBox2D(
            center=msg.Pose2D(position=msg.Point2D(x=120.5 + i, y=80.25), theta=0.0),
            size_x=64.0, size_y=72.0 + i)
        dets.append(msg.Detection2D(header=header, results=[hyp], bbox=bbox, id='face%d' % i))
    return msg.Detection2DArray(header=header, detections=dets)


def test_detection2d_array_serialization_round_trip(msg):
    from rclpy.serialization import deserialize_message, serialize_message
    original = _sample(msg)
    data = serialize_message(original)
    assert isinstance(data, bytes) and len(data) > 100
    back = deserialize_message(data, msg.Detection2DArray)
    assert back == original
    assert back.detections[1].results[0].hypothesis.class_id == 'no_mask'
    assert back.detections[1].bbox.size_y == 73.0
    assert back.detections[0].results[0].pose.covariance[0] == 0.5


def test_detection2d_array_over_dds(msg):
    """Publish and receive through the real middleware (type support loaded by the rmw)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node('vision_msgs_dds_test', context=context)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        topic = '/test_vision_msgs_%d' % (time.monotonic_ns() % 1000000)
        received = []
        done = threading.Event()

        def on_msg(m):
            received.append(m)
            done.set()

        node.create_subscription(msg.Detection2DArray, topic, on_msg, qos)
        pub = node.create_publisher(msg.Detection2DArray, topic, qos)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        sample = _sample(msg)
        deadline = time.monotonic() + 20.0
        while not done.is_set() and time.monotonic() < deadline:
            pub.publish(sample)
            executor.spin_once(timeout_sec=0.1)
        assert received, 'no Detection2DArray received within 20 s'
        assert received[0] == sample
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
