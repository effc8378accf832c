"""The ROS 2 node ``facemask_detector``: camera frames in, tracked and classified faces out.

This module only wires the parts to ROS:

* ``params.py``: the parameters, their descriptors, and which ones change at run time;
* ``camera_input.py``: the keep-last-1 camera subscription, created and destroyed by
  ``facemask/enable`` (std_srvs/SetBool) and the ``enabled`` parameter;
* ``frame_worker.py``: the newest frame is processed in a worker thread; older ones are
  dropped, never queued;
* ``pipeline.py`` (detector + classifier), ``keyframe_detector.py`` (the detector in its own
  thread or on one frame in n, faces followed by optical flow in between) and
  ``tracking.py`` (track ids, averaged probabilities, stable labels) make the results,
  ``ros_msgs.py`` the messages;
* ``diagnostics.py`` and ``frame_stats.py``: ``/diagnostics`` every second and a log line
  every 10 s; ``label_info.py``: ``facemask/label_info``.

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
import rclpy
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import SingleThreadedExecutor
from rclpy.expand_topic_name import expand_topic_name
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.validate_full_topic_name import validate_full_topic_name
from sensor_msgs.msg import Image
from std_srvs.srv import SetBool
from vision_msgs.msg import Detection2DArray

from . import signals
from .annotate import annotate
from .camera_input import CameraInput, topic_name
from .diagnostics import Diagnostics
from .exposure import MAX_GAIN
from .faces import FaceModelError
from .frame_stats import FrameStats
from .frame_worker import FrameWorker
from .image_codec import FAULT_KINDS, FrameError
from .keyframe_detector import BackgroundDetector, KeyframeDetector
from .label_info import LabelInfoPublisher
from .log_text import Throttle, field, one_line, without_source_locations
from .params import (EXIT_CONFIG, EXIT_MODEL, EXIT_OK, StartupError, declare_parameters,
                     refusal, usage)
from .ros_msgs import bgr_to_image_msg, results_to_detection_array
from .threads import describe_threads
from .tracking import FaceTracker

try:
    from rclpy.executors import ExternalShutdownException
except ImportError:  # pragma: no cover - very old rclpy
    class ExternalShutdownException(Exception):
        pass

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
                               "/camera/image_raw", EXIT_CONFIG) from None

    def _load_pipeline(self, p):
        # the models are loaded only now, so that a bad parameter fails fast (torch only with
        # the torch backend)
        from .checkpoint import ModelError, default_model_path
        from .pipeline import FaceMaskPipeline
        from .threads import apply_threads
        self.threads = apply_threads(p["threads"])
        self.model_path = p["model_path"] or default_model_path()
        try:
            self.pipeline = FaceMaskPipeline.create(
                self.model_path, detector=p["detector"],
                face_confidence=float(p["face_confidence"]),
                large_face_confidence=float(p["large_face_confidence"]),
                min_face_size=int(p["min_face_size"]), device=p["device"],
                face_model_dir=p["face_model_dir"] or None,
                input_size=int(p["detector_input_size"]),
                detector_backend=p["detector_backend"], backend=p["backend"],
                precision=p["precision"], min_white_level=p["min_white_level"])
        except ModelError as exc:
            raise StartupError(f"cannot load the mask classifier: {exc}", EXIT_MODEL) from None
        except FaceModelError as exc:
            raise StartupError(f"cannot load the face detector ({p['detector']}): {exc}",
                               EXIT_MODEL) from None
        except ValueError as exc:
            if p["device"] == "cuda":   # classifier.resolve_device: no GPU
                raise StartupError(f"invalid parameter device:='cuda': {exc}",
                                   EXIT_CONFIG) from None
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
        self.label_info.publish(p["face_confidence"])
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

        det = self.pipeline.face_detector
        details = (f" at {det.input_size} px on {det.backend} ({det.precision})"
                   if getattr(det, "kind", "") == "centerface" else "")
        self.get_logger().info(
            f"ready: model {clf.path} (classes: {', '.join(clf.class_names)}; {clf.backend} "
            f"{clf.precision} on {clf.device}), detector {p['detector']}{details} "
            f"(face_confidence {p['face_confidence']}"
            + (f", large_face_confidence {p['large_face_confidence']}"
               if p["detector"] == "centerface" else "")
            + f", min_face_size {p['min_face_size']}, "
            f"max_faces {p['max_faces']}, detect_every {p['detect_every']}"
            f"{', in the background' if p['detect_in_background'] else ''}), "
            + (f"dim frames (white level < {p['min_white_level']}) brightened to "
               f"{p['min_white_level']} (gain <= {MAX_GAIN:g})"
               if p["min_white_level"] else "dim frames not brightened") + ", input "
            f"{self.camera.resolved_topic} ({self.camera.msg_type.__name__}, "
            f"{p['reliability']}, keep last 1, max_image_pixels {self.max_pixels}"
            f"{'' if self.camera.enabled else ', disabled'}), threads {p['threads']} "
            f"({describe_threads()}), tracking (smoothing "
            f"{p['smoothing_window']}, label hold {p['label_hold_frames']}, classified per "
            f"frame {p['max_classified_per_frame'] or 'all'}), "
            f"output {topic_name(self.det_pub, DETECTIONS_TOPIC)}"
            + (f" and {topic_name(self.annotated_pub, ANNOTATED_TOPIC)}"
               if self.publish_annotated else ""))

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
                                                   only=due)
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
            self.label_info.publish(value)
        elif name == "large_face_confidence":
            self.pipeline.face_detector.large_confidence = value   # unused but by centerface
            self.pipeline.face_detector.reset()
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
        s = self.stats.take("log")
        if s["processed"]:
            self.get_logger().info(
                f"{s['processed']} frames in {s['seconds']:.1f} s ({s['processed_fps']:.1f} "
                f"fps), processing mean {s['processing_ms_mean']:.1f} ms, max "
                f"{s['processing_ms_max']:.1f} ms, {s['faces_per_frame']:.2f} faces per "
                f"frame, {s['bad']} bad frames, {s['dropped']} dropped"
                + (f", {s['brightened']} brightened as dim (min_white_level "
                   f"{self.pipeline.min_white_level})" if s["brightened"] else ""))
        elif self.camera.enabled:
            self.get_logger().info(
                f"no frames processed in {s['seconds']:.1f} s ({s['bad']} bad frames): "
                f"waiting on {self.camera.resolved_topic} ({self.camera.publisher_count()} "
                "publishers)")

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
    """Run the node until Ctrl-C / SIGTERM; return the exit code.

    ``argv``: arguments after the program name (``python -m marrtino_facemask node ARGS``);
    None: ``sys.argv`` (the ``facemask_detector`` console script).

    SIGINT/SIGTERM, at any time and any number of times, end it with 0 within about 2 s
    (:mod:`signals`).
    """
    guard = signals.install()
    code = EXIT_OK
    try:
        code = _run(list(sys.argv) if argv is None else [NODE_NAME, *argv], guard)
    except signals.Shutdown:
        code = EXIT_OK
    if guard is not None and guard.signum is not None:
        # Stopped by a signal and already cleaned up: skip the interpreter's tear-down of
        # torch & co (about 2 s on the CI machine), so that the stop takes well under 2 s.
        guard.exit_now(code)
    return code


def _run(args, guard):
    from rclpy.utilities import remove_ros_args
    try:
        extra = remove_ros_args(args)[1:]
    except Exception as exc:  # noqa: BLE001
        print(f"[{NODE_NAME}] error: bad command line: "
              f"{one_line(without_source_locations(exc))}; check the arguments after --ros-args "
              "(see --help)", file=sys.stderr)
        return EXIT_CONFIG
    if extra and extra[0] in ("-h", "--help"):
        print(usage(NODE_NAME))
        return EXIT_OK
    if extra:
        print(f"[{NODE_NAME}] error: unexpected argument '{extra[0]}': parameters go after "
              "--ros-args, e.g. --ros-args -p detector:=haar (see --help)", file=sys.stderr)
        return EXIT_CONFIG

    try:
        rclpy.init(args=args)
    except Exception as exc:  # noqa: BLE001 - RCLError for a bad --ros-args line
        print(f"[{NODE_NAME}] error: cannot start: {one_line(without_source_locations(exc))}",
              file=sys.stderr)
        return EXIT_CONFIG

    node = None
    executor = None
    code = EXIT_OK
    try:
        node = FaceMaskNode()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except StartupError as exc:
        code = exc.exit_code
    except (KeyboardInterrupt, ExternalShutdownException, signals.Shutdown):
        code = EXIT_OK
        if node is not None:
            node.stopped_by_signal = True
    except Exception as exc:  # noqa: BLE001
        if rclpy.ok():
            print(f"[{NODE_NAME}] error: {type(exc).__name__}: {one_line(exc)}",
                  file=sys.stderr)
            code = EXIT_MODEL
        # else: a signal shut the context down while we were starting: a clean exit
    finally:
        if guard is not None:
            guard.stop_raising()
        try:
            if executor is not None:
                executor.shutdown(timeout_sec=1.0)
            if node is not None:
                node.destroy_node()
        except Exception:  # noqa: BLE001 - already shut down
            pass
        if rclpy.ok():
            rclpy.shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
