"""The example behaviour mask_reminder: its decision without ROS, then the real node over
DDS (fed by hand, then by the real detector with the shipped model).
"""

import signal
import time

import cv2
import numpy as np
import pytest

pytest.importorskip("rclpy")          # reminder.py is a ROS node module (Reminder is plain)
pytest.importorskip("vision_msgs.msg")

from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose  # noqa: E402

from marrtino_facemask.ros.reminder import FORGET_S, SENTENCES, Reminder  # noqa: E402


# --------------------------------------------------------------------------- no ROS
def run(reminder, frames, fps=8.0, start=0.0):
    """Feed ``frames`` (lists of (track id, label)) at ``fps`` (8: exact binary times);
    return (time, due) pairs.
    """
    said = []
    for i, faces in enumerate(frames):
        now = start + i / fps
        due = reminder.update(now, faces)
        if due is not None:
            said.append((now, due))
    return said


def test_a_persistent_unmasked_person_is_reminded_once_after_confirmation():
    r = Reminder(confirm_s=1.0, cooldown_s=30.0)
    said = run(r, [[("7", "without_mask"), ("8", "with_mask")]] * 40)      # 5 s
    assert said == [(1.0, ("7", "without_mask"))]


def test_reminded_again_only_after_the_cooldown():
    r = Reminder(confirm_s=1.0, cooldown_s=3.0)
    said = run(r, [[("7", "mask_weared_incorrect")]] * 76)                  # 9.5 s
    assert [t for t, _ in said] == [1.0, 4.0, 7.0]


def test_one_masked_frame_restarts_the_confirmation():
    r = Reminder(confirm_s=1.0, cooldown_s=30.0)
    frames = [[("7", "without_mask")]] * 8 + [[("7", "with_mask")]] + \
        [[("7", "without_mask")]] * 15
    assert run(r, frames) == [(2.125, ("7", "without_mask"))]


def test_each_person_once_and_one_sentence_at_a_time():
    r = Reminder(confirm_s=0.5, cooldown_s=30.0)
    said = run(r, [[("1", "without_mask"), ("2", "without_mask")]] * 20)
    assert said == [(0.5, ("1", "without_mask")), (0.625, ("2", "without_mask"))]


def test_a_person_who_leaves_starts_over_and_memory_stays_bounded():
    r = Reminder(confirm_s=1.0, cooldown_s=30.0)
    run(r, [[("7", "without_mask")]] * 5)                                   # 0.5 s, not yet
    gap = int(FORGET_S * 8) + 2
    said = run(r, [[]] * gap + [[("7", "without_mask")]] * 8, start=0.625)
    assert said == []                   # the clock restarted when they came back
    for i in range(5000):               # many people passing by, one frame each
        r.update(100.0 + i / 10, [(f"p{i}", "without_mask")])
    assert len(r.last_seen) <= FORGET_S * 10 + 1
    assert len(r.unmasked_since) <= FORGET_S * 10 + 1


# --------------------------------------------------------------------------- over DDS
SAY = "/test_reminder/say"


def detection(track_id, label):
    det = Detection2D(id=track_id)
    hyp = ObjectHypothesisWithPose()
    hyp.hypothesis.class_id, hyp.hypothesis.score = label, 0.9
    det.results = [hyp]
    return det


@pytest.fixture(scope="module")
def reminder(start_module_node):
    return start_module_node("-p", f"say_topic:={SAY}", "-p", "confirm_s:=1.0",
                             "-p", "cooldown_s:=30.0", "-r", "__ns:=/rem", name="reminder",
                             command="reminder")


def publish_for(ros, pub, seconds, faces, rate=10.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        msg = Detection2DArray()
        msg.header.stamp = ros.node.get_clock().now().to_msg()
        msg.detections = [detection(t, label) for t, label in faces]
        pub.publish(msg)
        ros.spin(1.0 / rate)


def test_reminder_speaks_once_for_a_persistent_unmasked_person(ros, reminder):
    pub = ros.publisher(Detection2DArray, "/rem/facemask/detections")
    said = ros.collector(String, SAY)
    assert ros.spin_until(lambda: pub.get_subscription_count() > 0
                          and ros.node.count_publishers(SAY) > 0, 30, reminder), \
        reminder.describe()
    faces = [("7", "without_mask"), ("8", "with_mask")]
    publish_for(ros, pub, 0.6, faces)
    assert said.msgs == []                                       # not confirmed yet
    publish_for(ros, pub, 2.5, faces)
    assert [m.data for m in said.msgs] == [SENTENCES["without_mask"]]
    reminder.wait_for_stderr(r"INFO.*person 7 \(without_mask\): said .*", timeout=5,
                             spin=ros.spin)
    publish_for(ros, pub, 2.0, faces)                            # within the cooldown
    assert len(said.msgs) == 1
    publish_for(ros, pub, 1.6, faces + [("9", "mask_weared_incorrect")])    # someone new
    assert [m.data for m in said.msgs] == [SENTENCES["without_mask"],
                                           SENTENCES["mask_weared_incorrect"]]


def test_reminder_bad_parameter_exits_2(start_node):
    proc = start_node("-p", "confirm_s:=-1.0", command="reminder")
    assert proc.wait_exit(timeout=30) == 2, proc.describe()
    lines = proc.stderr_lines()
    assert len(lines) == 1 and "confirm_s" in lines[0], proc.describe()


@pytest.mark.parametrize("sigs", [(signal.SIGTERM,), (signal.SIGINT, signal.SIGINT)],
                         ids=["SIGTERM", "double-Ctrl-C"])
def test_reminder_stops_with_exit_0_within_2_s(start_node, sigs):
    proc = start_node("-r", "__ns:=/stop", name="stop_reminder", command="reminder")
    proc.wait_for_stderr(r"ready: ", timeout=60)
    t0 = time.monotonic()
    for sig in sigs:
        proc.proc.send_signal(sig)
        time.sleep(0.05)
    code = proc.wait_exit(timeout=15)
    took = time.monotonic() - t0
    assert code == 0 and took < 2.0, f"exit {code} after {took:.2f} s: {proc.describe()}"
    assert "Traceback" not in proc.stderr(), proc.describe()


def test_detector_and_reminder_end_to_end(ros, start_node, astronaut_bgr):
    """The real detector (shipped model) on a camera stream of the astronaut, who wears no
    mask, and the reminder: one sentence.
    """
    detector = start_node("-r", "__ns:=/e2e", "-p", "image_topic:=/e2e_cam/image",
                          name="e2e_detector")
    reminder = start_node("-p", "say_topic:=/e2e/say", "-p", "confirm_s:=1.0",
                          "-r", "__ns:=/e2e", name="e2e_reminder", command="reminder")
    pub = ros.publisher(Image, "/e2e_cam/image", fresh=True)
    said = ros.collector(String, "/e2e/say", fresh=True)
    dets = ros.collector(Detection2DArray, "/e2e/facemask/detections", fresh=True)
    ros.wait_ready(detector, pub, outputs=("/e2e/facemask/detections", "/e2e/say"),
                   timeout=90)
    frame = cv2.resize(astronaut_bgr, (320, 320), interpolation=cv2.INTER_AREA)
    deadline = time.monotonic() + 20
    while not said.msgs and time.monotonic() < deadline:
        shifted = np.roll(frame, 2 * len(dets.msgs), axis=1)     # a little motion
        pub.publish(ros.image_msg(shifted))
        ros.spin_until(lambda: said.msgs, 0.2, detector)
    assert [m.data for m in said.msgs] == [SENTENCES["without_mask"]], reminder.describe()
    ids = {d.id for m in dets.msgs for d in m.detections}
    assert len(ids) == 1, ids                                    # one person, one id
    assert reminder.alive()
