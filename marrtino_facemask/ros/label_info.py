"""``facemask/label_info``: the class map, as vision_msgs/LabelInfo (REP 2003 style).

Published once at start-up (and again when ``face_confidence`` or ``large_face_confidence``
changes) with a transient-local, keep-last-1 QoS: a subscriber that joins later, with the
same durability, still gets it. ``class_map`` lists the classifier's classes in its output
order; a Detection2D's ``hypothesis.class_id`` is the ``class_name`` string. ``threshold`` is
the lowest face score that keeps a face (config.detection_threshold): ``face_confidence``, or
for centerface the lower of it and ``large_face_confidence``, which faces of 48 px or more
need).
"""

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from vision_msgs.msg import LabelInfo, VisionClass

LABEL_INFO_TOPIC = "facemask/label_info"
QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                 reliability=ReliabilityPolicy.RELIABLE,
                 durability=DurabilityPolicy.TRANSIENT_LOCAL)


def label_info_msg(class_names, threshold, stamp=None):
    msg = LabelInfo()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.class_map = [VisionClass(class_id=i, class_name=str(name))
                     for i, name in enumerate(class_names)]
    msg.threshold = float(threshold)
    return msg


class LabelInfoPublisher:
    def __init__(self, node, class_names):
        self.node = node
        self.class_names = list(class_names)
        self.pub = node.create_publisher(LabelInfo, LABEL_INFO_TOPIC, QOS)

    def publish(self, threshold):
        self.pub.publish(label_info_msg(self.class_names, threshold,
                                        self.node.get_clock().now().to_msg()))
