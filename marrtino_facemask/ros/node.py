"""The ROS 2 node ``facemask_detector``: camera frames in, tracked and classified faces out.

This module only wires the parts to ROS:

* ``params.py``: the parameters (config.py's specs), their descriptors, and which ones
  change at run time; ``process.py``: the command line, exit codes and clean stops;
* ``camera_input.py``: the keep-last-1 camera subscription, created and destroyed by
  ``facemask/enable`` (std_srvs/SetBool) and the ``enabled`` parameter;
* ``frame_worker.py``: the newest frame is processed in a worker thread; older ones are
  dropped, never queued;
* ``pipeline.py`` (detector + classifier), ``keyframe_detector.py`` (the detector in its own
  thread or on one frame in n, faces followed by optical flow in between) and
  ``tracking.py`` (track ids, averaged probabilities, stable labels) make the results,
  ``ros_msgs.py`` the messages;
* ``diagnostics.py``, ``frame_stats.py`` and ``node_log.py``: ``/diagnostics`` every second
  and a log line every 10 s; ``label_info.py``: ``facemask/label_info``.

Outputs: vision_msgs/Detection2DArray on ``facemask/detections`` for every processed frame
(with the frame's header, empty when there are no faces) and, while somebody subscribes,
sensor_msgs/Image bgr8 on ``facemask/image_annotated``. Only rclpy APIs that ROS 2 Humble
has are used.

Exit codes of :func:`main`: 0 clean shutdown (Ctrl-C, SIGTERM, also repeated or during
start-up), 1 model missing or unreadable, 2 bad parameter or command line.
"""

import sys
import threading
import time

import numpy as np
from rcl_interfaces.msg import SetParametersResult
from rclpy.expand_topic_name import expand_topic_name
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.validate_full_topic_name import validate_full_topic_name
from sensor_msgs.msg import Image
from std_srvs.srv import SetBool
from vision_msgs.msg import Detection2DArray

from ..annotate import annotate
from ..config import PIPELINE_SETTINGS, build_pipeline, detection_threshold
from ..faces import FaceModelError
from ..frame_stats import FrameStats
from ..frame_worker import FrameWorker
from ..image_codec import FAULT_KINDS, FrameError
from ..keyframe_detector import BackgroundDetector, KeyframeDetector
from ..log_text import Throttle, field, one_line
from ..model_file import ModelError
from ..threads import apply_threads
from ..tracking import FaceTracker
from .camera_input import CameraInput, topic_name
from .diagnostics import Diagnostics
from .label_info import LabelInfoPublisher
from .node_log import ready_line, stats_line
from .params import (
    EXIT_CONFIG,
    EXIT_MODEL,
    StartupError,
    declare_parameters,
    refusal,
    unknown_overrides,
    usage,
)
from .process import run_node
from .ros_msgs import bgr_to_image_msg, results_to_detection_array

NODE_NAME = "facemask_detector"
DETECTIONS_TOPIC = "facemask/detections"
ANNOTATED_TOPIC = "facemask/image_annotated"
ENABLE_SERVICE = "facemask/enable"
STATS_PERIOD_S = 10.0
WARN_THROTTLE_S = 5.0
# The throttled warnings' keys: one per kind of fault, a fixed set (see log_text.Throttle).
WARNING_KINDS = tuple(f"bad:{kind}" for kind in FAULT_KINDS) + ("pipeline", "other")
TRACKER_SETTINGS = {"track_max_missed": "max_missed", "track_min_iou": "min_iou",
                    "smoothing_window": "smoothing_window", "label_hold_frames": "hold_frames"}


def _stamp_text(header):
    return f"{header.stamp.sec}.{header.stamp.nanosec:09d}"


class FaceMaskNode(Node):
    """Detects, tracks and classifies faces; publishes Detection2DArray (+ annotated image).

    Raises :class:`StartupError` (after logging it as one error line) when a parameter is
    bad or a model cannot be loaded.
    """

    def __init__(self, node_name=NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)
        self._throttle = Throttle(WARN_THROTTLE_S, WARNING_KINDS)
        self.stats = FrameStats()
        self._lock = threading.Lock()     # the tracker: worker thread vs parameters/service
        self.worker = None
        self.pipeline = None
        self.stopped_by_signal = False
        try:
            self._configure()
        except StartupError as exc:
            self.get_logger().error(str(exc))
            self._stop_worker()
            raise

    # ------------------------------------------------------------------ startup
    def _check_topic(self, topic):
        try:
            validate_full_topic_name(expand_topic_name(topic, self.get_name(),
                                                       self.get_namespace()))
        except Exception as exc:  # noqa: BLE001 - InvalidTopicNameException and friends
            raise StartupError(f"invalid parameter image_topic:='{topic}': "
                               f"{one_line(exc, 160)}; use a valid ROS topic name such as "
                               "camera/image_raw", EXIT_CONFIG) from None

    def _load_pipeline(self, p):
        # the models are loaded only now, so that a bad parameter fails fast
        self.threads = apply_threads(p["threads"])
        try:
            self.pipeline = build_pipeline({name: p[name] for name in PIPELINE_SETTINGS})
        except ModelError as exc:
            raise StartupError(f"cannot load the mask classifier: {exc}", EXIT_MODEL) from None
        except FaceModelError as exc:
            raise StartupError(f"cannot load the face detector ({p['detector']}): {exc}",
                               EXIT_MODEL) from None
        except ValueError as exc:
            raise StartupError(f"cannot start: {exc}", EXIT_MODEL) from None
        # Run both models once so that the first real frame is not slow.
        blank = np.zeros((240, 320, 3), np.uint8)
        self.pipeline(blank)
        self.pipeline.classify_boxes(blank, [(100, 60, 180, 160)])
        # the detector on one frame in detect_every (in its own thread with
        # detect_in_background), optical flow in between
        scheduler = BackgroundDetector if p["detect_in_background"] else KeyframeDetector
        self.pipeline.face_detector = scheduler(self.pipeline.face_detector, p["detect_every"],
                                                p["max_faces"])

    def _configure(self):
        p = self.config = declare_parameters(self)
        logger = self.get_logger()
        for line in unknown_overrides(self):
            (getattr(logger, "warning", None) or logger.warn)(line)
        self.publish_annotated = p["publish_annotated"]
        self.max_pixels = p["max_image_pixels"]
        self._check_topic(p["image_topic"])
        self._load_pipeline(p)
        self.tracker = FaceTracker(p["track_max_missed"], p["track_min_iou"],
                                   p["smoothing_window"], p["label_hold_frames"])
        self.classify_budget = p["max_classified_per_frame"]

        self.det_pub = self.create_publisher(Detection2DArray, DETECTIONS_TOPIC, 10)
        self.annotated_pub = self.create_publisher(
            Image, ANNOTATED_TOPIC,
            QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                       reliability=ReliabilityPolicy.RELIABLE))
        clf = self.pipeline.classifier
        self.label_info = LabelInfoPublisher(self, clf.class_names)
        self.label_info.publish(detection_threshold(p))
        self.camera = CameraInput(self, p["image_topic"], p["compressed"],
                                  p["reliability"] == "reliable", self._on_frame)
        self.worker = FrameWorker(self._process, self._on_worker_error)
        self.worker.start()
        if p["enabled"]:
            self.camera.enable()
        self.create_service(SetBool, ENABLE_SERVICE, self._on_enable)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.diagnostics = Diagnostics(self, self.stats, lambda: (
            self.camera.enabled, self.camera.resolved_topic, len(self.tracker.tracks)))
        self.create_timer(STATS_PERIOD_S, self._log_stats)

        self.get_logger().info(ready_line(
            p, clf, self.pipeline.face_detector, self.camera,
            [topic_name(self.det_pub, DETECTIONS_TOPIC)]
            + ([topic_name(self.annotated_pub, ANNOTATED_TOPIC)] if self.publish_annotated
               else [])))

    # ------------------------------------------------------------------ frames
    def _on_frame(self, msg, decode):
        """Subscription callback (executor thread): hand the frame to the worker."""
        self.stats.received()
        if self.worker.submit((msg, decode)):
            self.stats.dropped()

    def _process(self, item):
        """Worker thread: decode, detect, classify, track, publish one frame."""
        msg, decode = item
        t0 = time.perf_counter()
        try:
            bgr = decode(msg, self.max_pixels)
        except FrameError as exc:
            self.stats.bad()
            self._warn_throttled(
                f"bad:{exc.kind}",
                f"bad frame skipped (stamp {_stamp_text(msg.header)}, frame_id "
                f"'{field(msg.header.frame_id)}'): {one_line(exc)}",
                f"more frames skipped for {exc.kind}")
            return
        try:
            seen = self.pipeline.prepare(bgr)    # dim frames brightened (exposure.py)
            faces = self.pipeline.face_detector.detect(seen)
            boxes = [f.box for f in faces]
            with self._lock:
                if not self.camera.enabled:      # disabled meanwhile: tracks were dropped
                    return
                # the faces the classifier sees this frame: new ones, and the budget's
                # stalest (the others keep their track's probabilities)
                version = self.tracker.version
                due = self.tracker.due(boxes, self.classify_budget)
            # classified outside the lock, so that the enable service and parameter changes
            # never wait for the classifier
            results = self.pipeline.classify_boxes(seen, boxes, [f.score for f in faces],
                                                   only=due,
                                                   landmarks=[f.landmarks for f in faces])
            with self._lock:
                if not self.camera.enabled or self.tracker.version != version:
                    self.stats.dropped()         # tracks reset or re-configured meanwhile
                    return
                results = self.tracker.update(results)
            self.det_pub.publish(results_to_detection_array(results, msg.header))
            if self.publish_annotated and self.annotated_pub.get_subscription_count() > 0:
                self.annotated_pub.publish(bgr_to_image_msg(annotate(bgr, results),
                                                            msg.header))
        except Exception as exc:  # noqa: BLE001 - one bad frame must not stop the node
            self._on_worker_error(item, exc)
            return
        self.stats.processed(time.perf_counter() - t0, len(results), self._latency(msg.header),
                             self.pipeline.face_detector.last_detected, seen is not bgr)

    def _latency(self, header):
        """Seconds from the frame's stamp to now (None for an unset stamp)."""
        stamp_ns = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
        if stamp_ns <= 0:
            return None
        return (self.get_clock().now().nanoseconds - stamp_ns) / 1e9

    def _on_worker_error(self, item, exc):
        if not self.context.ok():
            return
        self.stats.error()
        held = self._throttle("pipeline")
        if held is not None:
            header = item[0].header
            more = f" ({held} more since the last error line)" if held else ""
            self.get_logger().error(
                f"error processing frame (stamp {_stamp_text(header)}, frame_id "
                f"'{field(header.frame_id)}'): {type(exc).__name__}: {one_line(exc)}{more}")

    def _warn_throttled(self, key, text, held_text):
        """One warning per kind of fault (``key``) and WARN_THROTTLE_S."""
        held = self._throttle(key)
        if held is not None:
            logger = self.get_logger()
            (getattr(logger, "warning", None) or logger.warn)(
                text + (f" ({held} {held_text} since the last warning)" if held else ""))

    # ------------------------------------------------------------------ on/off, parameters
    def _set_enabled(self, enabled):
        """Subscribe to / unsubscribe from the camera; returns what changed, in words."""
        was = self.camera.enabled
        if enabled:
            message = self.camera.enable()       # raises StartupError with the cause
            self.stats.restart_idle_clock()
        else:
            message = self.camera.disable()
            self.worker.clear()
            with self._lock:
                self.tracker.reset()
                self.pipeline.face_detector.reset()
        if was != self.camera.enabled:
            self.get_logger().info(message)
        return message

    def _on_enable(self, request, response):
        try:
            response.message = self._set_enabled(bool(request.data))
            response.success = True
        except StartupError as exc:
            response.success, response.message = False, str(exc)
            return response
        # keep the parameter in step, so that `ros2 param get` tells the truth
        self.set_parameters([Parameter("enabled", Parameter.Type.BOOL, bool(request.data))])
        return response

    def _on_set_parameters(self, params):
        reason = refusal(params)
        if reason is None:
            try:
                for param in params:
                    self._apply(param.name, param.value)
            except StartupError as exc:
                reason = str(exc)
        return SetParametersResult(successful=reason is None, reason=reason or "")

    def _apply(self, name, value):
        old = self.config.get(name)
        if name == "enabled":
            self._set_enabled(value)
        elif name == "face_confidence":
            self.pipeline.face_detector.confidence = value
            self.pipeline.face_detector.reset()   # detect the next frame: applied at once
            self.label_info.publish(detection_threshold(dict(self.config, face_confidence=value)))
        elif name == "large_face_confidence":
            self.pipeline.face_detector.large_confidence = value   # unused but by centerface
            self.pipeline.face_detector.reset()
            self.label_info.publish(detection_threshold(
                dict(self.config, large_face_confidence=value)))
        elif name == "min_face_size":
            self.pipeline.face_detector.min_face_size = value
            self.pipeline.face_detector.reset()
        elif name == "detect_every":
            self.pipeline.face_detector.every = value
        elif name == "max_faces":
            self.pipeline.face_detector.max_faces = value
        elif name == "min_white_level":
            self.pipeline.min_white_level = value
            self.pipeline.face_detector.reset()   # detect the next frame: applied at once
        elif name == "max_classified_per_frame":
            self.classify_budget = value
        elif name == "publish_annotated":
            self.publish_annotated = value
        elif name in TRACKER_SETTINGS:
            with self._lock:
                self.tracker.configure(**{TRACKER_SETTINGS[name]: value})
        else:
            return
        self.config[name] = value
        if old != value and name != "enabled":
            self.get_logger().info(f"parameter {name}: {old} -> {value}")

    # ------------------------------------------------------------------ stats, shutdown
    def _log_stats(self):
        line = stats_line(self.stats.take("log"), self.camera, self.pipeline.min_white_level)
        if line:
            self.get_logger().info(line)

    def _stop_worker(self):
        if self.worker is not None:
            self.worker.stop(timeout=0.5)
        close = getattr(getattr(self.pipeline, "face_detector", None), "close", None)
        if close is not None:                  # the background detector's thread
            # Stopped by a signal, the process ends right after this clean-up (signals.py):
            # a detection in flight is not waited for. Waiting for it, with the middleware
            # still up, crashed the process about one stop in five (SIGSEGV in a thread
            # that was not Python's, while this one waited; test_node_compressed.py).
            close(timeout=0.0 if self.stopped_by_signal else 1.0)

    def destroy_node(self):
        self._stop_worker()
        return super().destroy_node()


def main(argv=None):
    """Run the node until Ctrl-C / SIGTERM; return the exit code (process.py).

    ``argv``: arguments after the program name (``python -m marrtino_facemask node ARGS``);
    None: ``sys.argv`` (the ``facemask_detector`` console script).
    """
    return run_node(FaceMaskNode, NODE_NAME, argv, usage(NODE_NAME))


if __name__ == "__main__":
    sys.exit(main())
