"""The node's settings, ROS-free: one :class:`ParamSpec` each, and what builds the pipeline.

A spec gives the name, the default (whose type is the setting's), a description, and the
limits (``choices`` or an inclusive ``range``). The node declares them as ROS parameters
(ros/params.py, with descriptors, so ``ros2 param describe`` documents the node); ``detect``
and ``evaluate`` take the pipeline's settings as command-line options made from the same
specs (:func:`add_arguments`). ``live`` settings can be changed while the node runs.

:func:`build_pipeline` builds the detector and the classifier from the settings, for the node
and the tools alike.
"""

import argparse
from dataclasses import dataclass

from .classifier import MaskClassifier
from .detectors import make_face_detector
from .exposure import DEFAULT_MIN_WHITE_LEVEL, MAX_GAIN
from .faces import (
    DEFAULT_DETECTOR,
    DEFAULT_FACE_CONFIDENCE,
    DEFAULT_INPUT_SIZE,
    DEFAULT_LARGE_FACE_CONFIDENCE,
    DEFAULT_MIN_FACE_SIZE,
    DETECTOR_KINDS,
    LARGE_FACE_SIZE,
    MAX_INPUT_SIZE,
    MIN_INPUT_SIZE,
)
from .image_codec import DEFAULT_MAX_PIXELS, MAX_SIDE
from .keyframe_detector import DEFAULT_MAX_FACES, MAX_EVERY, MAX_MAX_FACES
from .model_file import default_model_path
from .paths import BACKENDS
from .pipeline import FaceMaskPipeline
from .threads import DEFAULT_THREADS, MAX_THREADS
from .tracking import (
    DEFAULT_CLASSIFY_BUDGET,
    DEFAULT_HOLD_FRAMES,
    DEFAULT_MAX_MISSED,
    DEFAULT_MIN_IOU,
    DEFAULT_SMOOTHING_WINDOW,
)

RELIABILITIES = ("reliable", "best_effort")
# face_confidence below this floods a frame with junk boxes: res10 gives 65 to 91 boxes on
# skimage's pictures at 0.05 (as many as at 0.0), and 2 to 9 at 0.1.
MIN_FACE_CONFIDENCE = 0.1


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: name, default (its type is the parameter's), description, limits,
    and whether it can change at run time (``live``).
    """

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


PARAMETERS = (
    ParamSpec("image_topic", "camera/image_raw",
              "camera image topic (sensor_msgs/Image), relative to the node's namespace "
              "unless it starts with /; with compressed:=true the node subscribes "
              "sensor_msgs/CompressedImage on <image_topic>/compressed"),
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
    ParamSpec("backend", "onnxruntime",
              "how the two neural nets (centerface and the classifier) run: onnxruntime, or "
              "openvino (optional, pip install openvino; faster on Intel CPUs, measure it on "
              "your robot first)", choices=BACKENDS),
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
              "mask classifier: an .onnx file (int8 from `quantize`, or float32 from `export`) "
              "or a checkpoint .pt whose ONNX file lies beside it; empty: the package's "
              "models/facemask_resnet18_int8.onnx"),
    ParamSpec("publish_annotated", True,
              "publish facemask/image_annotated (bgr8, boxes and labels drawn) while it has "
              "subscribers", live=True),
    ParamSpec("face_model_dir", "",
              "folder with the face detector's weights (centerface_int8.onnx or "
              "centerface.onnx; deploy.prototxt and res10_300x300_ssd_iter_140000.caffemodel; "
              "haarcascade_frontalface_default.xml); empty: the package's "
              "models/face_detectors"),
    ParamSpec("max_image_pixels", DEFAULT_MAX_PIXELS,
              "refuse frames (raw, or compressed by the size in their jpeg/png header, "
              "before decoding) that declare more pixels than this (default 4096x4096); "
              f"at most {MAX_SIDE} px a side in any case",
              range=(1, MAX_SIDE * MAX_SIDE)),
    ParamSpec("threads", DEFAULT_THREADS,
              "CPU threads for ONNX Runtime, OpenVINO and OpenCV; 0: each library's "
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
# The settings that make the detector and the classifier (build_pipeline).
PIPELINE_SETTINGS = ("detector", "detector_input_size", "backend", "face_confidence",
                     "large_face_confidence", "min_face_size", "min_white_level", "model_path",
                     "face_model_dir")


def settings(**overrides):
    """Every setting's default, with ``overrides`` checked against its spec (a ValueError of
    one line names the setting and what to use).
    """
    values = {spec.name: spec.default for spec in PARAMETERS}
    for name, value in overrides.items():
        spec = SPECS.get(name)
        if spec is None:
            raise ValueError(f"unknown setting {name}")
        if isinstance(spec.default, float) and isinstance(value, int) \
                and not isinstance(value, bool):
            value = float(value)
        problem = spec.problem(value)
        if problem:
            raise ValueError(f"{name} {value!r}: {problem}")
        values[name] = value
    return values


def detection_threshold(values):
    """The lowest face score the detector keeps with these settings: face_confidence, or for
    centerface large_face_confidence where that is lower (faces of LARGE_FACE_SIZE px or
    more).
    """
    if values["detector"] == "centerface":
        return min(values["face_confidence"], values["large_face_confidence"])
    return values["face_confidence"]


def build_pipeline(values):
    """The detector and the classifier of ``values`` (from :func:`settings`), as the node
    runs them. Raises faces.FaceModelError or model_file.ModelError (one line each).
    """
    detector = make_face_detector(values["detector"], values["face_confidence"],
                                  values["min_face_size"], values["face_model_dir"] or None,
                                  values["detector_input_size"], values["backend"],
                                  values["large_face_confidence"])
    classifier = MaskClassifier(values["model_path"] or default_model_path(), values["backend"])
    return FaceMaskPipeline(detector, classifier, values["min_white_level"])


def add_arguments(parser, names=PIPELINE_SETTINGS):
    """Command-line options for these settings (``--face-confidence`` for face_confidence),
    with their specs' defaults, limits and descriptions.
    """
    for name in names:
        spec = SPECS[name]
        option = "--" + name.replace("_", "-")
        kind = type(spec.default)
        if kind is bool:
            parser.add_argument(option, action=argparse.BooleanOptionalAction,
                                default=spec.default, help=spec.description.replace("%", "%%"))
            continue
        parser.add_argument(option, type=_checked(spec), default=spec.default,
                            metavar=None if spec.choices else _metavar(spec),
                            choices=spec.choices or None, help=spec.description.replace(
                                "%", "%%") + (f" (default {spec.default})"
                                              if spec.default != "" else ""))


def _metavar(spec):
    if isinstance(spec.default, str):
        return "DIR" if spec.name.endswith("_dir") else "FILE"
    return "N" if isinstance(spec.default, int) else "X"


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a refused command line told in one line (not the usage block too)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _checked(spec):
    def convert(text):
        value = type(spec.default)(text)
        if spec.range and not spec.range[0] <= value <= spec.range[1]:
            raise argparse.ArgumentTypeError(
                f"{value} is out of range: use {spec.range[0]} to {spec.range[1]}")
        return value
    convert.__name__ = spec.type_name
    return convert


def from_arguments(args, names=PIPELINE_SETTINGS):
    """The settings of parsed command-line options (:func:`add_arguments`)."""
    return settings(**{name: getattr(args, name) for name in names})
