"""The node's parameters: one :class:`ParamSpec` each, declared with rclpy descriptors.

A spec gives the name, the default (whose type is the parameter's), a description, and the
limits (``choices`` or an inclusive ``range``). The descriptors carry all of it, so
``ros2 param describe`` documents the node. ``live`` parameters can be changed at run time
(``ros2 param set``); the others are read-only (their descriptor says so) because they need
a reload: a model, the detector, the topic or its QoS.

* :func:`declare_parameters` declares them all at start-up and turns a bad value into a
  :class:`StartupError` (one line, exit code 2).
* :func:`refusal` says why a run-time change is refused, or returns None.
"""

from dataclasses import dataclass

from .faces import (DEFAULT_DETECTOR, DEFAULT_FACE_CONFIDENCE, DEFAULT_INPUT_SIZE,
                    DEFAULT_LARGE_FACE_CONFIDENCE, DEFAULT_MIN_FACE_SIZE, DETECTOR_BACKENDS,
                    DETECTOR_KINDS, LARGE_FACE_SIZE, MAX_INPUT_SIZE, MIN_INPUT_SIZE)
from .classifier import CLASSIFIER_BACKENDS
from .exposure import DEFAULT_MIN_WHITE_LEVEL, MAX_GAIN
from .image_codec import DEFAULT_MAX_PIXELS, MAX_SIDE
from .keyframe_detector import DEFAULT_MAX_FACES, MAX_EVERY, MAX_MAX_FACES
from .paths import DEFAULT_PRECISION, PRECISIONS
from .threads import DEFAULT_THREADS, MAX_THREADS
from .tracking import (DEFAULT_CLASSIFY_BUDGET, DEFAULT_HOLD_FRAMES, DEFAULT_MAX_MISSED,
                       DEFAULT_MIN_IOU, DEFAULT_SMOOTHING_WINDOW)

EXIT_OK, EXIT_MODEL, EXIT_CONFIG = 0, 1, 2
RELIABILITIES = ("reliable", "best_effort")
DEVICES = ("auto", "cpu", "cuda")   # classifier.DEVICES, repeated to keep torch out of startup
# face_confidence below this floods a frame with junk boxes: res10 gives 65 to 91 boxes on
# skimage's pictures at 0.05 (as many as at 0.0), and 2 to 9 at 0.1.
MIN_FACE_CONFIDENCE = 0.1


class StartupError(Exception):
    """The node cannot start; ``str(exc)`` is the one line to show, with an exit code."""

    def __init__(self, message, exit_code):
        super().__init__(" ".join(str(message).split()))
        self.exit_code = exit_code


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: name, default (its type is the parameter's), description, limits,
    and whether it can change at run time (``live``)."""

    name: str
    default: object
    description: str
    choices: tuple = ()
    range: tuple = None
    live: bool = False

    @property
    def type_name(self):
        return {bool: "bool", int: "integer", float: "double", str: "string"}[type(self.default)]

    @property
    def type_phrase(self):
        """The type name with its article: "an integer", "a double"."""
        return ("an " if self.type_name[0] in "aeiou" else "a ") + self.type_name

    def expectation(self):
        if self.choices:
            return "use one of " + ", ".join(f"{self.name}:={c}" for c in self.choices)
        if self.range:
            lo, hi = self.range
            return f"use {self.type_phrase} in [{lo}, {hi}]"
        if isinstance(self.default, bool):
            return f"use {self.name}:=true or {self.name}:=false"
        return f"use {self.type_phrase}"

    def problem(self, value):
        """Why ``value`` is not allowed (type, range, choices), or None."""
        if type(value) is not type(self.default):
            return f"wrong type, {self.name} is {self.type_phrase}; {self.expectation()}"
        if self.choices and value not in self.choices:
            return f"unknown {self.name}; {self.expectation()}"
        if self.range and not self.range[0] <= value <= self.range[1]:
            return f"out of range; {self.expectation()}"
        return None

    def descriptor(self):
        from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
        when = ("can be changed at run time (ros2 param set)" if self.live
                else "read-only: restart the node to change it")
        desc = ParameterDescriptor(name=self.name, description=f"{self.description} ({when})",
                                   read_only=not self.live)
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
              "dnn), onnxruntime (about 2.3 times faster on a CPU), openvino (optional, pip "
              "install openvino; faster still on Intel CPUs) or opencv",
              choices=DETECTOR_BACKENDS),
    ParamSpec("face_confidence", DEFAULT_FACE_CONFIDENCE,
              "minimum face score of centerface and dnn (haar faces score 1.0; big "
              "centerface faces: see large_face_confidence); below "
              f"{MIN_FACE_CONFIDENCE} a scored detector returns mostly junk boxes",
              range=(MIN_FACE_CONFIDENCE, 1.0), live=True),
    ParamSpec("large_face_confidence", DEFAULT_LARGE_FACE_CONFIDENCE,
              f"centerface only: a face whose box is at least {LARGE_FACE_SIZE} px on its "
              "longer side is kept from this score where it is lower than face_confidence "
              "(so big faces that are blurred, hooded or cut by the frame's edge are kept; "
              "false boxes that big are rare); set it to face_confidence for one threshold",
              range=(MIN_FACE_CONFIDENCE, 1.0), live=True),
    ParamSpec("min_face_size", DEFAULT_MIN_FACE_SIZE,
              "ignore faces whose box is smaller than this many pixels on its longer side",
              range=(1, 4096), live=True),
    ParamSpec("min_white_level", DEFAULT_MIN_WHITE_LEVEL,
              "a dim frame, in which fewer than 1 % of the pixels reach this grey level "
              f"(0-255), is brightened up to it (a gain of at most {MAX_GAIN:g}) before "
              "detection and classification; brighter frames are untouched. 0: never. The "
              "default changes none of our validation photos and lifts a frame with a "
              "quarter of the light back (mAP50 0.64 to 0.77 on them)",
              range=(0, 255), live=True),
    ParamSpec("max_faces", DEFAULT_MAX_FACES,
              "at most this many faces per frame, the best scored: bounds the work of a "
              "frame full of faces (a crowd, a poster)", range=(1, MAX_MAX_FACES), live=True),
    ParamSpec("max_classified_per_frame", DEFAULT_CLASSIFY_BUDGET,
              "at most this many tracked faces are classified again per frame, those "
              "classified longest ago first; the others keep their track's averaged "
              "probabilities until their turn. A face new to the tracker is always "
              "classified. Bounds the classifier's time (about 8 ms a face on our CPU) "
              "when many faces are in view; 0: every face on every frame",
              range=(0, MAX_MAX_FACES), live=True),
    ParamSpec("detect_every", 1,
              "the face detector runs on one frame in this many (in the background: one "
              "in this many is handed to it); on the others the last faces are moved by "
              "optical flow (about 1 ms a face) and classified (see "
              "max_classified_per_frame). 1: every frame (in the background, as often as "
              "the detector can). In line, 2 or 3 cut a frame's "
              "mean time by 40 to 65 % on our CPU; a new face is then found up to "
              "detect_every - 1 frames late",
              range=(1, MAX_EVERY), live=True),
    ParamSpec("detect_in_background", True,
              "run the face detector in a thread of its own, on the newest frame, while "
              "every frame is answered at once by optical flow and the classifier; a "
              "finished detection is followed up to the current frame and replaces the "
              "followed faces. On our 2-core CPU the node then answers a 30 frames/s camera "
              "30 times a second (13 in line) and uses up to one more core; false: the "
              "detector runs in line, on each frame it is due"),
    ParamSpec("model_path", "",
              "mask classifier: a checkpoint (.pt; ONNX Runtime runs the .onnx beside it) or "
              "an .onnx file; empty: the package's models/facemask_resnet18.pt"),
    ParamSpec("backend", "auto",
              "how the classifier runs: auto (onnxruntime when it is installed and the model "
              "has its .onnx, else torch), onnxruntime (no torch needed; the .onnx that "
              "`python -m marrtino_facemask export` writes), openvino (optional, pip install "
              "openvino; the same .onnx, faster on Intel CPUs) or torch (the .pt)",
              choices=CLASSIFIER_BACKENDS),
    ParamSpec("precision", DEFAULT_PRECISION,
              "the ONNX models (classifier and centerface, on ONNX Runtime or OpenVINO): int8 "
              "(the quantized *_int8.onnx beside the float32 file, where it exists; about as "
              "accurate, faster) or float32; torch and OpenCV always run float32",
              choices=PRECISIONS),
    ParamSpec("device", "auto",
              "torch device of the classifier (backend torch; ONNX Runtime and OpenVINO use "
              "the CPU): auto (cuda if available, else cpu), cpu or cuda", choices=DEVICES),
    ParamSpec("publish_annotated", True,
              "publish facemask/image_annotated (bgr8, boxes and labels drawn) while it has "
              "subscribers", live=True),
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
              "of the robot (with detect_in_background the detector's thread runs beside "
              "the frames', so the node can keep two cores busy)", range=(0, MAX_THREADS)),
    ParamSpec("enabled", True,
              "process frames; false: no camera subscription at all, so no frame is "
              "received or decoded. The facemask/enable service (std_srvs/SetBool) sets it",
              live=True),
    ParamSpec("track_max_missed", DEFAULT_MAX_MISSED,
              "frames in a row that a tracked face may be missing before its track id is "
              "retired", range=(0, 1000), live=True),
    ParamSpec("track_min_iou", DEFAULT_MIN_IOU,
              "a face continues a track when its box overlaps the track's last box by at "
              "least this IoU", range=(0.01, 1.0), live=True),
    ParamSpec("smoothing_window", DEFAULT_SMOOTHING_WINDOW,
              "a tracked face's class probabilities are averaged over its last this many "
              "classifications (one a frame, unless max_classified_per_frame leaves it "
              "out); 1: the last one's own", range=(1, 100), live=True),
    ParamSpec("label_hold_frames", DEFAULT_HOLD_FRAMES,
              "a tracked face's label changes only after another class has led its averaged "
              "probabilities for this many classifications in a row; 1: at once",
              range=(1, 100), live=True),
)
SPECS = {spec.name: spec for spec in PARAMETERS}


def _override_text(node, name):
    override = getattr(node, "_parameter_overrides", {}).get(name)
    if override is None:
        return "?"
    value = override.value
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def declare_parameters(node):
    """Declare every parameter on ``node``; return {name: value}. Raises StartupError."""
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
    values = {}
    for spec in PARAMETERS:
        try:
            value = node.declare_parameter(spec.name, spec.default, spec.descriptor()).value
        except InvalidParameterTypeException:
            raise StartupError(
                f"invalid parameter {spec.name}:={_override_text(node, spec.name)}: "
                f"wrong type, {spec.name} is {spec.type_phrase}; {spec.expectation()}"
                + (" (e.g. 1.0, not 1)" if spec.type_name == "double" else ""),
                EXIT_CONFIG) from None
        except InvalidParameterValueException:
            raise StartupError(
                f"invalid parameter {spec.name}:={_override_text(node, spec.name)}: "
                f"out of range; {spec.expectation()}", EXIT_CONFIG) from None
        if spec.choices and value not in spec.choices:
            raise StartupError(
                f"invalid parameter {spec.name}:='{value}': unknown {spec.name}; "
                f"{spec.expectation()}", EXIT_CONFIG)
        values[spec.name] = value
    return values


def refusal(parameters):
    """Why a run-time change of ``parameters`` (rclpy Parameters) is refused, or None.

    rclpy's descriptors already refuse read-only and out-of-range values; this repeats the
    checks (and adds ``choices``) so that every refusal has a reason that says what to use.
    """
    for param in parameters:
        spec = SPECS.get(param.name)
        if spec is None:
            continue
        if not spec.live:
            return f"{spec.name} is read-only: restart the node to change it"
        problem = spec.problem(param.value)
        if problem:
            return f"{spec.name}:={param.value!r} refused: {problem}"
    return None


def usage(node_name):
    lines = [f"usage: {node_name} [--ros-args -p NAME:=VALUE ... | --params-file FILE]",
             "", "parameters (* = can be changed at run time):"]
    for spec in PARAMETERS:
        default = (str(spec.default).lower() if isinstance(spec.default, bool)
                   else spec.default if spec.default != "" else "''")
        limits = (f" ({'|'.join(spec.choices)})" if spec.choices else
                  f" [{spec.range[0]}, {spec.range[1]}]" if spec.range else "")
        lines.append(f"  {spec.name}{'*' if spec.live else ''} ({spec.type_name}, default "
                     f"{default}){limits}: {spec.description}")
    return "\n".join(lines)
