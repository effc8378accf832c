"""``/diagnostics``: one diagnostic_msgs/DiagnosticStatus a second for the node.

Its name is ``facemask: <node>`` (rqt_robot_monitor and diagnostic_aggregator read it), its
level OK or WARN (frame_stats.health), and its values are the last second's frame rates,
times and counts (frame_stats.FrameStats), the totals since start, and whether the node is
enabled. A crash is never turned into an ERROR status: the node exits with its code.
"""

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from ..frame_stats import OK, health

DIAGNOSTICS_TOPIC = "/diagnostics"
PERIOD_S = 1.0
LEVELS = {OK: DiagnosticStatus.OK, "WARN": DiagnosticStatus.WARN}


def _text(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


class Diagnostics:
    """Publishes the status every ``period_s`` from ``stats``. ``state()`` returns
    (enabled, input topic, active tracks) when the status is built.
    """

    def __init__(self, node, stats, state, period_s=PERIOD_S):
        self.node = node
        self.stats = stats
        self.state = state
        namespace = node.get_namespace().rstrip("/")
        self.name = f"facemask: {namespace}/{node.get_name()}"
        self.pub = node.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, 10)
        self.timer = node.create_timer(period_s, self.publish)

    def status(self):
        enabled, topic, tracks = self.state()
        s = self.stats.take("diagnostics")
        level, message = health(s, enabled, self.stats.since_last_frame(),
                                self.stats.since_last_processed())
        totals = self.stats.totals()
        values = {
            "enabled": enabled, "image_topic": topic,
            "input_fps": s["input_fps"], "processed_fps": s["processed_fps"],
            "detections_per_s": s["detections_per_s"],
            "dropped_frames": s["dropped"], "bad_frames": s["bad"],
            "failed_frames": s["errors"],
            "processing_ms_mean": s["processing_ms_mean"],
            "processing_ms_max": s["processing_ms_max"],
            "latency_ms_mean": s["latency_ms_mean"], "latency_ms_max": s["latency_ms_max"],
            "faces_per_frame": None if s["faces_per_frame"] is None
            else round(s["faces_per_frame"], 2),
            "brightened_frames": s["brightened"],
            "tracks": tracks,
            "seconds_since_last_frame": self.stats.since_last_frame(),
            "frames_received_total": totals["received"],
            "frames_processed_total": totals["processed"],
            "dropped_frames_total": totals["dropped"],
            "bad_frames_total": totals["bad"],
            "brightened_frames_total": totals["brightened"],
        }
        return DiagnosticStatus(
            level=LEVELS[level], name=self.name, message=message, hardware_id=topic,
            values=[KeyValue(key=k, value=_text(v)) for k, v in values.items()])

    def publish(self):
        msg = DiagnosticArray()
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.status = [self.status()]
        self.pub.publish(msg)
