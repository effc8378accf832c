"""An example behaviour: politely remind a person without a mask, once.

    ros2 run marrtino_facemask mask_reminder     # or: python -m marrtino_facemask reminder
    ros2 launch marrtino_facemask detector.launch.py reminder:=true

It subscribes to ``facemask/detections`` (vision_msgs/Detection2DArray from
facemask_detector). There, each Detection2D's ``id`` is a track id: one person while the
node follows their face. ``results[0].hypothesis.class_id`` is that track's label, which
is smoothed and does not flip on one odd frame. When one person has been
``without_mask`` or ``mask_weared_incorrect`` for ``confirm_s`` seconds, the node
publishes one sentence (std_msgs/String) on ``say_topic`` and logs it. The same person
hears it again only after ``cooldown_s``.

``say_topic`` defaults to ``/speech/to_speak``: MARRtino's text-to-speech node
(marrtinorobot2_voice/tts_node.py in github.com/artigianitecnologici/marrtinorobot2, ROS 2)
speaks the std_msgs/String messages it receives there. It speaks Italian unless "en" is
published on ``/speech/language``, so set the sentences in the robot's language.

To write your own behaviour, copy this file. Keep :class:`ReminderNode` (the ROS wiring)
and change :class:`Reminder` (the decision, plain Python, testable without ROS).
"""

import sys

import rclpy
from rcl_interfaces.msg import FloatingPointRange, ParameterDescriptor
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from std_msgs.msg import String
from vision_msgs.msg import Detection2DArray

from .params import EXIT_CONFIG, StartupError
from .process import run_node

NODE_NAME = "mask_reminder"
SAY_TOPIC = "/speech/to_speak"    # MARRtino's tts_node (see the module docstring)
FORGET_S = 2.0                    # a person not seen for this long starts over
SENTENCES = {
    "without_mask": "Hello! Please put on your mask. Thank you!",
    "mask_weared_incorrect": "Hello! Please pull your mask up over your nose and mouth. "
                             "Thank you!",
}


class Reminder:
    """Decides whom to remind, and when. ``update`` is called with each frame's faces."""

    def __init__(self, confirm_s, cooldown_s, labels=tuple(SENTENCES)):
        self.confirm_s = confirm_s
        self.cooldown_s = cooldown_s
        self.labels = set(labels)
        self.unmasked_since = {}   # track id -> when it was first seen unmasked, in a row
        self.last_seen = {}        # track id -> when it was last seen
        self.reminded_at = {}      # track id -> when it was last reminded

    def update(self, now, faces):
        """``faces``: (track id, label) pairs seen at time ``now`` (seconds).
        Returns the (track id, label) to remind now, or None (at most one per call).
        """
        for track_id, label in faces:
            self.last_seen[track_id] = now
            if label in self.labels:
                self.unmasked_since.setdefault(track_id, now)
            else:
                self.unmasked_since.pop(track_id, None)
        self._forget(now)
        for track_id, label in faces:
            since = self.unmasked_since.get(track_id)
            if since is None or now - since < self.confirm_s:
                continue
            last = self.reminded_at.get(track_id)
            if last is not None and now - last < self.cooldown_s:
                continue
            self.reminded_at[track_id] = now
            return track_id, label
        return None

    def _forget(self, now):
        """Drop people who left (and old reminders), so that memory stays bounded."""
        for track_id in [t for t, seen in self.last_seen.items() if now - seen > FORGET_S]:
            del self.last_seen[track_id]
            self.unmasked_since.pop(track_id, None)
        for track_id in [t for t, at in self.reminded_at.items()
                         if now - at >= self.cooldown_s]:
            del self.reminded_at[track_id]


def _seconds(description, low, high):
    return ParameterDescriptor(
        description=description, read_only=True,
        floating_point_range=[FloatingPointRange(from_value=low, to_value=high, step=0.0)])


class ReminderNode(Node):
    """facemask/detections in, one polite sentence per unmasked person out."""

    def __init__(self):
        super().__init__(NODE_NAME)
        text = ParameterDescriptor(read_only=True)
        self.say_topic = self.declare_parameter(
            "say_topic", SAY_TOPIC, ParameterDescriptor(
                description="std_msgs/String topic of the robot's text-to-speech",
                read_only=True)).value
        detections = self.declare_parameter(
            "detections_topic", "facemask/detections", text).value
        confirm_s = self.declare_parameter("confirm_s", 3.0, _seconds(
            "seconds a person must stay unmasked before the reminder", 0.0, 600.0)).value
        cooldown_s = self.declare_parameter("cooldown_s", 60.0, _seconds(
            "seconds before the same person is reminded again", 0.0, 86400.0)).value
        self.sentences = {label: self.declare_parameter(f"say_{label}", sentence, text).value
                          for label, sentence in SENTENCES.items()}
        self.reminder = Reminder(confirm_s, cooldown_s)
        self.say_pub = self.create_publisher(String, self.say_topic, 10)
        self.create_subscription(Detection2DArray, detections, self.on_detections, 10)
        self.get_logger().info(f"ready: listening on {detections}, speaking on "
                               f"{self.say_topic} (confirm {confirm_s} s, cooldown "
                               f"{cooldown_s} s)")

    def on_detections(self, msg):
        faces = [(det.id, det.results[0].hypothesis.class_id)
                 for det in msg.detections if det.id and det.results]
        now = self.get_clock().now().nanoseconds / 1e9
        due = self.reminder.update(now, faces)
        if due is not None:
            track_id, label = due
            sentence = self.sentences[label]
            self.say_pub.publish(String(data=sentence))
            self.get_logger().info(f"person {track_id} ({label}): said \"{sentence}\" on "
                                   f"{self.say_topic}")


def make_reminder():
    """The node, with a bad parameter logged and turned into a StartupError (exit code 2)."""
    try:
        return ReminderNode()
    except (InvalidParameterTypeException, InvalidParameterValueException) as exc:
        rclpy.logging.get_logger(NODE_NAME).error(
            f"{' '.join(str(exc).split())}; see the parameters in "
            "marrtino_facemask/ros/reminder.py")
        raise StartupError(str(exc), EXIT_CONFIG) from None


def main(argv=None):
    """``python -m marrtino_facemask reminder [--ros-args ...]``; returns the exit code
    (process.py: SIGINT/SIGTERM end it with 0 within about 2 s, as they end the detector).
    """
    return run_node(make_reminder, NODE_NAME, argv)


if __name__ == "__main__":
    sys.exit(main())
