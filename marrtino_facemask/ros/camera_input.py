"""The node's camera subscription, switched on and off (``facemask/enable``).

Keep-last-1 on ``image_topic`` (sensor_msgs/Image) or ``<image_topic>/compressed``
(sensor_msgs/CompressedImage). Switching off destroys the subscription, so that no frame is
even received or decoded; switching on creates it again with the same QoS.
"""

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSPolicyKind,
    QoSProfile,
    ReliabilityPolicy,
    qos_policy_name_from_kind,
)
from sensor_msgs.msg import CompressedImage, Image

from ..log_text import field, one_line
from .params import EXIT_CONFIG, EXIT_MODEL, StartupError
from .ros_msgs import compressed_msg_to_bgr, image_msg_to_bgr

try:  # Iron and newer
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks

WARN_THROTTLE_S = 5.0


def topic_name(entity, fallback):
    """The resolved name of a publisher/subscription (``topic_name`` is newer than Humble
    in some classes), else ``fallback``.
    """
    try:
        return entity.topic_name
    except Exception:  # noqa: BLE001
        return fallback


def subscription_error(exc, image_topic, topic, msg_type):
    """The StartupError for an exception from create_subscription, with its real cause.

    Only a name that rclpy refuses is a bad ``image_topic`` (exit 2); anything else (the
    middleware failing, the context shut down, ...) is reported as what it is (exit 1).
    """
    from rclpy.exceptions import NameValidationException
    cause = f"{type(exc).__name__}: {one_line(exc, 200)}"
    bad_name = isinstance(exc, NameValidationException) or (
        isinstance(exc, ValueError) and "topic name" in str(exc))   # rcl's expansion errors
    if bad_name:
        return StartupError(f"invalid parameter image_topic:='{field(image_topic)}': {cause}; "
                            "use a valid ROS topic name such as /camera/image_raw",
                            EXIT_CONFIG)
    return StartupError(f"cannot subscribe to {field(topic, 200)} ({msg_type.__name__}): "
                        f"{cause}", EXIT_MODEL)


class CameraInput:
    """Creates and destroys ``node``'s camera subscription; ``on_frame(msg, decode)`` gets
    each frame with the function that decodes it (``decode(msg, max_pixels)`` -> BGR).
    """

    def __init__(self, node, image_topic, compressed, reliable, on_frame):
        self.node = node
        self.image_topic = image_topic          # the parameter, for error messages
        self.reliable = reliable
        self.on_frame = on_frame
        if compressed:
            self.topic = image_topic.rstrip("/") + "/compressed"
            self.msg_type, self.decode = CompressedImage, compressed_msg_to_bgr
        else:
            self.topic, self.msg_type, self.decode = image_topic, Image, image_msg_to_bgr
        self.qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=1,
            reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
            durability=DurabilityPolicy.VOLATILE)
        self.sub = None
        self.resolved_topic = self.topic

    @property
    def enabled(self):
        return self.sub is not None

    def enable(self):
        """Subscribe (raises StartupError with the cause); returns what changed, in words."""
        if self.sub is not None:
            return f"already enabled: subscribed to {self.resolved_topic}"
        try:
            self.sub = self.node.create_subscription(
                self.msg_type, self.topic, self._on_msg, self.qos,
                event_callbacks=SubscriptionEventCallbacks(
                    incompatible_qos=self._on_incompatible_qos))
        except Exception as exc:  # noqa: BLE001 - rclpy raises several kinds
            raise subscription_error(exc, self.image_topic, self.topic,
                                     self.msg_type) from None
        self.resolved_topic = topic_name(self.sub, self.topic)
        return f"enabled: subscribed to {self.resolved_topic}, processing frames"

    def disable(self):
        """Destroy the subscription; returns what changed, in words."""
        if self.sub is None:
            return "already disabled: not subscribed to any camera topic"
        self.node.destroy_subscription(self.sub)
        self.sub = None
        return (f"disabled: unsubscribed from {self.resolved_topic}; no frame is received "
                "or processed until enabled")

    def publisher_count(self):
        return self.node.count_publishers(self.resolved_topic)

    def _on_msg(self, msg):
        self.on_frame(msg, self.decode)

    def _on_incompatible_qos(self, info):
        try:
            policy = qos_policy_name_from_kind(info.last_policy_kind)
        except Exception:  # noqa: BLE001 - unknown kind number
            policy = str(info.last_policy_kind)
        if int(info.last_policy_kind) == int(QoSPolicyKind.RELIABILITY) and self.reliable:
            text = (f"a best-effort publisher on {self.resolved_topic} does not match this "
                    "reliable subscription, so its frames are NOT received: restart with "
                    "reliability:=best_effort")
        else:
            text = (f"a publisher on {self.resolved_topic} offers incompatible QoS (policy "
                    f"{field(policy)}), so its frames are NOT received")
        # rclpy's own throttle (per call site): a storm of incompatible publishers gives one
        # line per WARN_THROTTLE_S
        logger = self.node.get_logger()
        (getattr(logger, "warning", None) or logger.warn)(
            text, throttle_duration_sec=WARN_THROTTLE_S)
