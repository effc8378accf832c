"""The ROS 2 node ``facemask_detector``: camera frames in, classified faces out.

Subscribes sensor_msgs/Image on ``image_topic`` (or sensor_msgs/CompressedImage on
``<image_topic>/compressed``) with keep-last-1, so only the newest frame is processed and
frames that arrive meanwhile replace each other instead of queueing. For every processed
frame it publishes vision_msgs/Detection2DArray on ``facemask/detections`` (with the
frame's header, empty when there are no faces) and, while somebody subscribes,
sensor_msgs/Image bgr8 on ``facemask/image_annotated``.

Only rclpy APIs that ROS 2 Humble has are used.

Exit codes of :func:`main`: 0 clean shutdown (Ctrl-C, SIGTERM, also repeated or during
start-up), 1 model missing or unreadable, 2 bad parameter or command line.
"""

import sys
import time
from dataclasses import dataclass

import numpy as np
import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import SingleThreadedExecutor
from rclpy.expand_topic_name import expand_topic_name
from rclpy.node import Node
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSPolicyKind, QoSProfile,
                       ReliabilityPolicy, qos_policy_name_from_kind)
from rclpy.validate_full_topic_name import validate_full_topic_name
from sensor_msgs.msg import CompressedImage, Image
from vision_msgs.msg import Detection2DArray

from . import signals
from .annotate import annotate
from .classifier import CLASSIFIER_BACKENDS
from .faces import (DEFAULT_DETECTOR, DEFAULT_FACE_CONFIDENCE, DEFAULT_INPUT_SIZE,
                    DEFAULT_MIN_FACE_SIZE, DETECTOR_BACKENDS, DETECTOR_KINDS, MAX_INPUT_SIZE,
                    MIN_INPUT_SIZE, FaceModelError)
from .image_codec import DEFAULT_MAX_PIXELS, FAULT_KINDS, MAX_SIDE, FrameError
from .log_text import field, one_line
from .paths import DEFAULT_PRECISION, PRECISIONS
from .threads import DEFAULT_THREADS, MAX_THREADS, describe_threads
from .ros_msgs import (bgr_to_image_msg, compressed_msg_to_bgr, image_msg_to_bgr,
                       results_to_detection_array)

try:  # Iron and newer
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks

try:
    from rclpy.executors import ExternalShutdownException
except ImportError:  # pragma: no cover - very old rclpy
    class ExternalShutdownException(Exception):
        pass

NODE_NAME = "facemask_detector"
DETECTIONS_TOPIC = "facemask/detections"
ANNOTATED_TOPIC = "facemask/image_annotated"
RELIABILITIES = ("reliable", "best_effort")
DEVICES = ("auto", "cpu", "cuda")   # classifier.DEVICES, repeated to keep torch out of startup
EXIT_OK, EXIT_MODEL, EXIT_CONFIG = 0, 1, 2
STATS_PERIOD_S = 10.0
WARN_THROTTLE_S = 5.0
# The throttled warnings' keys: one per kind of fault, a fixed set (see _Throttle).
WARNING_KINDS = tuple(f"bad:{kind}" for kind in FAULT_KINDS) + ("pipeline", "other")
# face_confidence below this floods a frame with junk boxes: res10 gives 65 to 91 boxes on
# skimage's pictures at 0.05 (as many as at 0.0), and 2 to 9 at 0.1.
MIN_FACE_CONFIDENCE = 0.1


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: name, default (its type is the parameter's), description, limits."""

    name: str
    default: object
    description: str
    choices: tuple = ()
    range: tuple = None

    @property
    def type_name(self):
        return {bool: "bool", int: "integer", float: "double", str: "string"}[type(self.default)]

    def expectation(self):
        if self.choices:
            return "use one of " + ", ".join(f"{self.name}:={c}" for c in self.choices)
        if self.range:
            lo, hi = self.range
            article = "an" if self.type_name[0] in "aeiou" else "a"
            return f"use {article} {self.type_name} in [{lo}, {hi}]"
        if isinstance(self.default, bool):
            return f"use {self.name}:=true or {self.name}:=false"
        return f"use a {self.type_name}"

    def descriptor(self):
        desc = ParameterDescriptor(name=self.name, description=self.description,
                                   read_only=True)
        if self.choices:
            desc.additional_constraints = "one of: " + ", ".join(self.choices)
        if self.range and isinstance(self.default, int):
            desc.integer_range = [IntegerRange(from_value=self.range[0],
                                               to_value=self.range[1], step=1)]
        elif self.range and isinstance(self.default, float):
            desc.floating_point_range = [FloatingPointRange(
                from_value=float(self.range[0]), to_value=float(self.range[1]), step=0.0)]
            desc.additional_constraints = f"{self.range[0]} <= value <= {self.range[1]}"
        return desc


PARAMETERS = (
    ParamSpec("image_topic", "/camera/image_raw",
              "camera image topic (sensor_msgs/Image); with compressed:=true the node "
              "subscribes sensor_msgs/CompressedImage on <image_topic>/compressed"),
    ParamSpec("compressed", False,
              "subscribe sensor_msgs/CompressedImage (jpeg/png) on <image_topic>/compressed "
              "instead of raw images"),
    ParamSpec("reliability", "reliable",
              "QoS reliability of the image subscription (keep last 1); a reliable "
              "subscription does not match a best-effort publisher: then use best_effort",
              choices=RELIABILITIES),
    ParamSpec("detector", DEFAULT_DETECTOR,
              "face detector: centerface (CenterFace fine-tuned on masked faces, finds small "
              "and masked faces), dnn (OpenCV res10 SSD at 300x300) or haar (OpenCV Haar "
              "cascade, frontal faces only, no confidence score)", choices=DETECTOR_KINDS),
    ParamSpec("detector_input_size", DEFAULT_INPUT_SIZE,
              "centerface only: the frame is scaled so that its longer side is this many px "
              "(each side rounded up to a multiple of 32); smaller is faster but misses "
              "small faces",
              range=(MIN_INPUT_SIZE, MAX_INPUT_SIZE)),
    ParamSpec("detector_backend", "auto",
              "centerface only: how it runs: auto (ONNX Runtime when installed, else OpenCV's "
              "dnn), onnxruntime (about 2.3 times faster on a CPU) or opencv",
              choices=DETECTOR_BACKENDS),
    ParamSpec("face_confidence", DEFAULT_FACE_CONFIDENCE,
              "minimum face score of centerface and dnn (haar faces score 1.0); below "
              f"{MIN_FACE_CONFIDENCE} a scored detector returns mostly junk boxes",
              range=(MIN_FACE_CONFIDENCE, 1.0)),
    ParamSpec("min_face_size", DEFAULT_MIN_FACE_SIZE,
              "ignore faces whose box is smaller than this many pixels on its longer side",
              range=(1, 4096)),
    ParamSpec("model_path", "",
              "mask classifier: a checkpoint (.pt; ONNX Runtime runs the .onnx beside it) or "
              "an .onnx file; empty: the package's models/facemask_resnet18.pt"),
    ParamSpec("backend", "auto",
              "how the classifier runs: auto (onnxruntime when it is installed and the model "
              "has its .onnx, else torch), onnxruntime (no torch needed; the .onnx that "
              "`python -m marrtino_facemask export` writes) or torch (the .pt)",
              choices=CLASSIFIER_BACKENDS),
    ParamSpec("precision", DEFAULT_PRECISION,
              "ONNX Runtime's models (classifier and centerface): int8 (the quantized "
              "*_int8.onnx beside the float32 file, where it exists; about as accurate, "
              "faster) or float32; torch and OpenCV always run float32",
              choices=PRECISIONS),
    ParamSpec("device", "auto",
              "torch device of the classifier (backend torch; ONNX Runtime uses the CPU): "
              "auto (cuda if available, else cpu), cpu or cuda", choices=DEVICES),
    ParamSpec("publish_annotated", True,
              "publish facemask/image_annotated (bgr8, boxes and labels drawn) while it has "
              "subscribers"),
    ParamSpec("face_model_dir", "",
              "folder with the face detector's weights (centerface.onnx; deploy.prototxt and "
              "res10_300x300_ssd_iter_140000.caffemodel); empty: the package's "
              "models/face_detectors"),
    ParamSpec("max_image_pixels", DEFAULT_MAX_PIXELS,
              "refuse frames (raw, or compressed by the size in their jpeg/png header, "
              "before decoding) that declare more pixels than this (default 4096x4096); "
              f"at most {MAX_SIDE} px a side in any case",
              range=(1, MAX_SIDE * MAX_SIDE)),
    ParamSpec("threads", DEFAULT_THREADS,
              "CPU threads for ONNX Runtime, OpenCV and torch; 0: each library's "
              "default (one per core); the default 1 leaves the other cores to the rest "
              "of the robot", range=(0, MAX_THREADS)),
)


class StartupError(Exception):
    """The node cannot start; ``str(exc)`` is the one line to show, with an exit code."""

    def __init__(self, message, exit_code):
        super().__init__(" ".join(str(message).split()))
        self.exit_code = exit_code


_one_line = one_line    # escaped, one line, cut (log_text)


def _topic_name(entity, fallback):
    """The resolved name of a publisher/subscription (``topic_name`` is newer than Humble
    in some classes), else ``fallback``."""
    try:
        return entity.topic_name
    except Exception:  # noqa: BLE001
        return fallback


def _stamp_text(header):
    return f"{header.stamp.sec}.{header.stamp.nanosec:09d}"


class _Throttle:
    """At most one message per key and period; counts what it held back.

    Keys come from a fixed set (``keys``); any other key counts as ``"other"``, so the
    throttle's memory and the number of distinct warnings per period stay bounded whatever
    the frames contain.
    """

    def __init__(self, period_s, keys=WARNING_KINDS):
        self.period_s = period_s
        self.keys = frozenset(keys) | {"other"}
        self._last = {}
        self._held = {}

    def __call__(self, key):
        """Return None to stay silent, else how many messages were held back since the last."""
        if key not in self.keys:
            key = "other"
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.period_s:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._held.pop(key, 0)


class FaceMaskNode(Node):
    """Detects faces, classifies their masks, publishes Detection2DArray (+ annotated image).

    Raises :class:`StartupError` (after logging it as one error line) when a parameter is
    bad or a model cannot be loaded.
    """

    def __init__(self, node_name=NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)
        self._throttle = _Throttle(WARN_THROTTLE_S)
        self._frames = 0
        self._proc_s = 0.0
        self._proc_max_s = 0.0
        self._bad = 0
        self._faces = 0
        self._window_start = time.monotonic()
        try:
            self._configure()
        except StartupError as exc:
            self.get_logger().error(str(exc))
            raise

    # ------------------------------------------------------------------ startup
    def _override_text(self, name):
        override = getattr(self, "_parameter_overrides", {}).get(name)
        if override is None:
            return "?"
        value = override.value
        if isinstance(value, str):
            return f"'{value}'"
        if isinstance(value, bool):
            return str(value).lower()
        return str(value)

    def _declare_all(self):
        values = {}
        for spec in PARAMETERS:
            try:
                value = self.declare_parameter(spec.name, spec.default, spec.descriptor()).value
            except InvalidParameterTypeException:
                raise StartupError(
                    f"invalid parameter {spec.name}:={self._override_text(spec.name)}: "
                    f"wrong type, {spec.name} is a {spec.type_name}; {spec.expectation()}"
                    + (" (e.g. 1.0, not 1)" if spec.type_name == "double" else ""),
                    EXIT_CONFIG) from None
            except InvalidParameterValueException:
                raise StartupError(
                    f"invalid parameter {spec.name}:={self._override_text(spec.name)}: "
                    f"out of range; {spec.expectation()}", EXIT_CONFIG) from None
            if spec.choices and value not in spec.choices:
                raise StartupError(
                    f"invalid parameter {spec.name}:='{value}': unknown {spec.name}; "
                    f"{spec.expectation()}", EXIT_CONFIG)
            values[spec.name] = value
        return values

    def _check_topic(self, topic):
        try:
            validate_full_topic_name(expand_topic_name(topic, self.get_name(),
                                                       self.get_namespace()))
        except Exception as exc:  # noqa: BLE001 - InvalidTopicNameException and friends
            raise StartupError(f"invalid parameter image_topic:='{topic}': "
                               f"{_one_line(exc, 160)}; use a valid ROS topic name such as "
                               "/camera/image_raw", EXIT_CONFIG) from None

    def _detector_details(self):
        det = self.pipeline.face_detector
        if getattr(det, "kind", "") != "centerface":
            return ""
        return f" at {det.input_size} px on {det.backend} ({det.precision})"

    def _configure(self):
        p = self._declare_all()
        self.config = p
        self.publish_annotated = bool(p["publish_annotated"])
        self.max_pixels = int(p["max_image_pixels"])
        self._check_topic(p["image_topic"])

        # the models are loaded only now, so that a bad parameter fails fast (torch only with
        # the torch backend)
        from .checkpoint import ModelError, default_model_path
        from .pipeline import FaceMaskPipeline
        from .threads import apply_threads
        self.threads = apply_threads(p["threads"])

        model_path = p["model_path"] or default_model_path()
        try:
            self.pipeline = FaceMaskPipeline.create(
                model_path, detector=p["detector"], face_confidence=float(p["face_confidence"]),
                min_face_size=int(p["min_face_size"]), device=p["device"],
                face_model_dir=p["face_model_dir"] or None,
                input_size=int(p["detector_input_size"]),
                detector_backend=p["detector_backend"], backend=p["backend"],
                precision=p["precision"])
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
        self.model_path = model_path
        self._warm_up()

        self.reliable = p["reliability"] == "reliable"
        qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=1,
            reliability=(ReliabilityPolicy.RELIABLE if self.reliable
                         else ReliabilityPolicy.BEST_EFFORT),
            durability=DurabilityPolicy.VOLATILE)
        topic = p["image_topic"]
        if p["compressed"]:
            topic, msg_type, callback = (topic.rstrip("/") + "/compressed", CompressedImage,
                                         self._on_compressed)
        else:
            msg_type, callback = Image, self._on_image
        self.det_pub = self.create_publisher(Detection2DArray, DETECTIONS_TOPIC, 10)
        self.annotated_pub = self.create_publisher(
            Image, ANNOTATED_TOPIC,
            QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                       reliability=ReliabilityPolicy.RELIABLE))
        try:
            self.sub = self.create_subscription(
                msg_type, topic, callback, qos,
                event_callbacks=SubscriptionEventCallbacks(
                    incompatible_qos=self._on_incompatible_qos))
        except Exception as exc:  # noqa: BLE001 - rclpy raises several kinds
            raise subscription_error(exc, p["image_topic"], topic, msg_type) from None
        self.image_topic = _topic_name(self.sub, topic)
        self.create_timer(STATS_PERIOD_S, self._log_stats)

        clf = self.pipeline.classifier
        self.get_logger().info(
            f"ready: model {clf.path} (classes: {', '.join(clf.class_names)}; {clf.backend} "
            f"{clf.precision} on {clf.device}), detector {p['detector']}{self._detector_details()} (face_confidence "
            f"{p['face_confidence']}, min_face_size {p['min_face_size']}), input "
            f"{self.image_topic} ({msg_type.__name__}, {p['reliability']}, keep last 1, "
            f"max_image_pixels {self.max_pixels}), threads {p['threads']} "
            f"({describe_threads()}), "
            f"output {_topic_name(self.det_pub, DETECTIONS_TOPIC)}"
            + (f" and {_topic_name(self.annotated_pub, ANNOTATED_TOPIC)}"
               if self.publish_annotated else ""))

    def _warm_up(self):
        """Run both models once so that the first real frame is not slow."""
        blank = np.zeros((240, 320, 3), np.uint8)
        self.pipeline(blank)
        self.pipeline.classify_boxes(blank, [(100, 60, 180, 160)])

    # ------------------------------------------------------------------ callbacks
    def _on_incompatible_qos(self, info):
        try:
            policy = qos_policy_name_from_kind(info.last_policy_kind)
        except Exception:  # noqa: BLE001 - unknown kind number
            policy = str(info.last_policy_kind)
        if int(info.last_policy_kind) == int(QoSPolicyKind.RELIABILITY) and self.reliable:
            text = (f"a best-effort publisher on {self.image_topic} does not match this "
                    "reliable subscription, so its frames are NOT received: restart with "
                    "reliability:=best_effort")
        else:
            text = (f"a publisher on {self.image_topic} offers incompatible QoS (policy "
                    f"{field(policy)}), so its frames are NOT received")
        # rclpy's own throttle (per call site): a storm of incompatible publishers gives one
        # line per WARN_THROTTLE_S
        logger = self.get_logger()
        (getattr(logger, "warning", None) or logger.warn)(
            text, throttle_duration_sec=WARN_THROTTLE_S)

    def _on_image(self, msg):
        self._process(msg, image_msg_to_bgr)

    def _on_compressed(self, msg):
        self._process(msg, compressed_msg_to_bgr)

    def _warn_throttled(self, key, text, held_text):
        """One warning per kind of fault (``key``) and WARN_THROTTLE_S."""
        held = self._throttle(key)
        if held is not None:
            self._warning(text + (f" ({held} {held_text} since the last warning)" if held
                                  else ""))

    def _process(self, msg, decode):
        t0 = time.perf_counter()
        try:
            bgr = decode(msg, self.max_pixels)
        except FrameError as exc:
            self._bad += 1
            self._warn_throttled(
                f"bad:{exc.kind}",
                f"bad frame skipped (stamp {_stamp_text(msg.header)}, frame_id "
                f"'{field(msg.header.frame_id)}'): {_one_line(exc)}",
                f"more frames skipped for {exc.kind}")
            return
        try:
            results = self.pipeline(bgr)
            self.det_pub.publish(results_to_detection_array(results, msg.header))
            if self.publish_annotated and self.annotated_pub.get_subscription_count() > 0:
                self.annotated_pub.publish(bgr_to_image_msg(annotate(bgr, results),
                                                            msg.header))
        except Exception as exc:  # noqa: BLE001 - one bad frame must not stop the node
            if not self.context.ok():
                return
            held = self._throttle("pipeline")
            if held is not None:
                more = f" ({held} more since the last error line)" if held else ""
                self.get_logger().error(
                    f"error processing frame (stamp {_stamp_text(msg.header)}, frame_id "
                    f"'{field(msg.header.frame_id)}'): {type(exc).__name__}: "
                    f"{_one_line(exc)}{more}")
            return
        dt = time.perf_counter() - t0
        self._frames += 1
        self._faces += len(results)
        self._proc_s += dt
        self._proc_max_s = max(self._proc_max_s, dt)

    def _log_stats(self):
        now = time.monotonic()
        span = max(now - self._window_start, 1e-6)
        if self._frames:
            self.get_logger().info(
                f"{self._frames} frames in {span:.1f} s ({self._frames / span:.1f} fps), "
                f"processing mean {1000 * self._proc_s / self._frames:.1f} ms, max "
                f"{1000 * self._proc_max_s:.1f} ms, {self._faces / self._frames:.2f} faces per "
                f"frame, {self._bad} bad frames")
        else:
            self.get_logger().info(
                f"no frames processed in {span:.1f} s ({self._bad} bad frames): waiting on "
                f"{self.image_topic} ({self.count_publishers(self.image_topic)} publishers)")
        self._frames = self._bad = self._faces = 0
        self._proc_s = self._proc_max_s = 0.0
        self._window_start = now

    def _warning(self, text):
        logger = self.get_logger()
        (getattr(logger, "warning", None) or logger.warn)(text)


def subscription_error(exc, image_topic, topic, msg_type):
    """The StartupError for an exception from create_subscription, with its real cause.

    Only a name that rclpy refuses is a bad ``image_topic`` (exit 2); anything else (the
    middleware failing, the context shut down, ...) is reported as what it is (exit 1).
    """
    from rclpy.exceptions import NameValidationException
    cause = f"{type(exc).__name__}: {_one_line(exc, 200)}"
    bad_name = isinstance(exc, NameValidationException) or (
        isinstance(exc, ValueError) and "topic name" in str(exc))   # rcl's expansion errors
    if bad_name:
        return StartupError(f"invalid parameter image_topic:='{field(image_topic)}': {cause}; "
                            "use a valid ROS topic name such as /camera/image_raw",
                            EXIT_CONFIG)
    return StartupError(f"cannot subscribe to {field(topic, 200)} ({msg_type.__name__}): "
                        f"{cause}", EXIT_MODEL)


def usage():
    lines = [f"usage: {NODE_NAME} [--ros-args -p NAME:=VALUE ... | --params-file FILE]",
             "", "parameters:"]
    for spec in PARAMETERS:
        default = (str(spec.default).lower() if isinstance(spec.default, bool)
                   else spec.default if spec.default != "" else "''")
        limits = (f" ({'|'.join(spec.choices)})" if spec.choices else
                  f" [{spec.range[0]}, {spec.range[1]}]" if spec.range else "")
        lines.append(f"  {spec.name} ({spec.type_name}, default {default}){limits}: "
                     f"{spec.description}")
    return "\n".join(lines)


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
        print(f"[{NODE_NAME}] error: bad command line: {_one_line(exc)}", file=sys.stderr)
        return EXIT_CONFIG
    if extra and extra[0] in ("-h", "--help"):
        print(usage())
        return EXIT_OK
    if extra:
        print(f"[{NODE_NAME}] error: unexpected argument '{extra[0]}': parameters go after "
              "--ros-args, e.g. --ros-args -p detector:=haar (see --help)", file=sys.stderr)
        return EXIT_CONFIG

    try:
        rclpy.init(args=args)
    except Exception as exc:  # noqa: BLE001 - RCLError for a bad --ros-args line
        print(f"[{NODE_NAME}] error: cannot start: {_one_line(exc)}", file=sys.stderr)
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
    except Exception as exc:  # noqa: BLE001
        if rclpy.ok():
            print(f"[{NODE_NAME}] error: {type(exc).__name__}: {_one_line(exc)}",
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
