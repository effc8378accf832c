"""Face detection with OpenCV: CenterFace (``centerface``), the res10 SSD (``dnn``) or a Haar
cascade (``haar``).

The weights of CenterFace and res10 ship in ``models/face_detectors/`` (with their licences and
sha256 sums in ``SOURCES.md`` there), so no extra package is needed to run either.
"""

import functools
import importlib.util
import os
from dataclasses import dataclass

import cv2
import numpy as np

from .detector_graph import takes_frames
from .openvino_nets import MISSING as OPENVINO_MISSING
from .openvino_nets import OpenVinoError, OpenVinoNets
from .paths import DEFAULT_PRECISION, PRECISIONS, models_dir, onnx_for_precision

DETECTOR_KINDS = ("centerface", "dnn", "haar")
# How CenterFace runs: auto = ONNX Runtime when it is installed (2.3 times faster than
# OpenCV's dnn on our CPU), else OpenCV's dnn. openvino (optional, `pip install openvino`,
# openvino_nets.py) runs the same file faster on Intel CPUs; auto never picks it.
DETECTOR_BACKENDS = ("auto", "onnxruntime", "openvino", "opencv")
# The node's defaults (config/detector.yaml holds the same values); the offline tools use them.
DEFAULT_DETECTOR = "centerface"
# Chosen on our validation split (models/MODEL_CARD.md): at 0.3 CenterFace finds 93 % of the
# labelled faces; most of its "false" detections there are real, unlabelled faces. Boxes
# under 8 px lower the end-to-end mAP50.
DEFAULT_FACE_CONFIDENCE = 0.3
DEFAULT_MIN_FACE_SIZE = 8
# CenterFace's faces whose box is at least LARGE_FACE_SIZE px (longer side) are kept from a
# lower score, large_face_confidence. Its false boxes that big are rare at any score, while a
# big face that is blurred, hooded or cut by the frame's edge scores low (models/MODEL_CARD.md,
# "A lower bar for big faces": on the training photos the lower bar adds 0.02 false boxes per
# photo; 0.2 for every size would add 0.6 on the validation photos).
LARGE_FACE_SIZE = 48
DEFAULT_LARGE_FACE_CONFIDENCE = 0.1
DEFAULT_INPUT_SIZE = 640   # MARRtino's 640x480 frames at their own resolution
MIN_INPUT_SIZE, MAX_INPUT_SIZE = 64, 2048
DNN_PROTOTXT = "deploy.prototxt"
DNN_WEIGHTS = "res10_300x300_ssd_iter_140000.caffemodel"
CENTERFACE_ONNX = "centerface.onnx"              # fine-tuned here: the detector's default
CENTERFACE_BASE_ONNX = "centerface_widerface.onnx"  # as published (WIDER FACE): the base
CENTERFACE_INT8_ONNX = "centerface_int8.onnx"    # `quantize`: int8, ONNX Runtime only
# The net's outputs: heatmap (1 channel), log sizes (h, w), offsets (y, x), landmarks (10).
CENTERFACE_OUTPUTS = ("537", "538", "539", "540")
FACE_MODELS_DIR = "face_detectors"
HAAR_CASCADE = "haarcascade_frontalface_default.xml"
_HAAR_DIRS = ("/usr/share/opencv4/haarcascades", "/usr/share/opencv/haarcascades")


class FaceModelError(RuntimeError):
    """The face detector's model files are missing or unreadable."""


@dataclass(frozen=True)
class Face:
    """A face box in pixels, clipped to the frame (x_max and y_max are exclusive)."""

    x_min: int
    y_min: int
    x_max: int
    y_max: int
    score: float
    # Five (x, y) points in pixels: left eye, right eye, nose tip, left and right mouth
    # corners (as seen in the image). Only CenterFace gives them; None otherwise.
    landmarks: tuple = None

    @property
    def box(self):
        return (self.x_min, self.y_min, self.x_max, self.y_max)

    @property
    def width(self):
        return self.x_max - self.x_min

    @property
    def height(self):
        return self.y_max - self.y_min


def default_face_model_dir():
    """The shipped detector weights: the installed package's share folder, else the source tree's."""
    return os.path.join(models_dir(), FACE_MODELS_DIR)


def default_haar_cascade():
    dirs = []
    data = getattr(cv2, "data", None)
    if data is not None:
        dirs.append(data.haarcascades)
    dirs.extend(_HAAR_DIRS)
    for directory in dirs:
        path = os.path.join(directory, HAAR_CASCADE)
        if os.path.isfile(path):
            return path
    return os.path.join(dirs[0], HAAR_CASCADE)


def score_needed(side, confidence, large_confidence):
    """The face score that a box whose longer side is ``side`` px needs to be kept:
    ``confidence``, or ``large_confidence`` where that is lower and the box is at least
    :data:`LARGE_FACE_SIZE` px (None: ``confidence`` at every size)."""
    if side >= LARGE_FACE_SIZE and large_confidence is not None:
        return min(confidence, large_confidence)
    return confidence


def clip_and_filter(boxes, scores, width, height, min_size, min_score, landmarks=None,
                    large_min_score=None):
    """Clip float boxes to the frame and keep those at least ``min_size`` px that reach the
    score :func:`score_needed` by their size (``min_score``; ``large_min_score`` for big
    boxes, where given).

    ``min_size`` and the size that picks the score apply to the longer side of the clipped
    box, the way the evaluation sorts labelled faces into size bins.
    """
    if large_min_score is None:
        large_min_score = min_score
    large_min_score = min(large_min_score, min_score)
    faces = []
    if landmarks is None:
        landmarks = [None] * len(boxes)
    for (x0, y0, x1, y1), score, points in zip(boxes, scores, landmarks):
        if not np.all(np.isfinite((x0, y0, x1, y1, score))) or score < large_min_score:
            continue
        x0 = int(np.clip(np.floor(x0), 0, width))
        y0 = int(np.clip(np.floor(y0), 0, height))
        x1 = int(np.clip(np.ceil(x1), 0, width))
        y1 = int(np.clip(np.ceil(y1), 0, height))
        side = max(x1 - x0, y1 - y0)
        if (min(x1 - x0, y1 - y0) < 1 or side < max(min_size, 1)
                or score < score_needed(side, min_score, large_min_score)):
            continue
        if points is not None:
            points = tuple(float(v) for v in np.asarray(points, np.float64).ravel())
        faces.append(Face(x0, y0, x1, y1, float(score), points))
    faces.sort(key=lambda f: f.score, reverse=True)
    return faces


class CenterFaceDetector:
    """CenterFace (MIT licence): an anchor-free face detector trained on WIDER FACE, which
    finds masked, small and turned faces far better than res10.

    The frame is resized so that its longer side is ``input_size`` px (aspect kept, each
    side rounded up to a multiple of 32, as the network needs) and fed as RGB 0..255: a float
    planar blob, or the uint8 BGR frame itself to the int8 file that ``quantize`` writes
    (detector_graph.py: the same outputs, faster). The net
    returns, at stride 4, a face-centre heatmap, log box sizes, centre offsets and five
    landmarks relative to the box; :meth:`decode` turns them into boxes, and OpenCV's NMS
    removes overlaps. Faces score at least ``confidence``, boxes of :data:`LARGE_FACE_SIZE`
    px or more ``large_confidence`` where that is lower (None, the class's default: one bar;
    the node's default is :data:`DEFAULT_LARGE_FACE_CONFIDENCE`, see
    :func:`make_face_detector`).
    """

    kind = "centerface"
    stride = 4
    nms_iou = 0.3
    # OpenCV's dnn returns wrong outputs when one net is run at a new input size (seen with
    # OpenCV 4.12 to 4.14), so there is one net per input size. The sizes are bounded: the
    # longer side is always input_size, so only the aspect ratio varies; the least recently
    # used net is dropped beyond this many.
    max_cached_nets = 4

    def __init__(self, confidence=0.5, min_face_size=24, model_path=None,
                 input_size=DEFAULT_INPUT_SIZE, backend="auto", precision=DEFAULT_PRECISION,
                 large_confidence=None):
        path = model_path or os.path.join(default_face_model_dir(), CENTERFACE_ONNX)
        if not os.path.isfile(path):
            raise FaceModelError(f"face detector file {path} not found: reinstall the package "
                                 f"or set face_model_dir to a folder with {CENTERFACE_ONNX}")
        self.path = path
        if not MIN_INPUT_SIZE <= int(input_size) <= MAX_INPUT_SIZE:
            raise ValueError(f"CenterFace input size {input_size} is out of range: use "
                             f"{MIN_INPUT_SIZE} to {MAX_INPUT_SIZE}")
        self.input_size = int(input_size)
        self.confidence = confidence
        self.large_confidence = large_confidence
        self.min_face_size = min_face_size
        self.backend = resolve_backend(backend)
        self.precision = "float32"
        self.takes_frames = False   # the uint8 BGR frame as input (detector_graph.py)
        if self.backend == "onnxruntime":
            # int8: the copy that `quantize` wrote beside the file, where there is one
            path = onnx_for_precision(path, precision)
            self._session = _onnxruntime_session(path)
            self.path = path
            self.precision = self._session.get_modelmeta().custom_metadata_map.get(
                "precision", "float32")
            self.takes_frames = takes_frames(self._session)
            try:   # fail now, not on the first frame (a net exported with a fixed input size)
                self.run_net(self.blob(np.zeros((480, 640, 3), np.uint8))[0])
            except Exception as exc:  # noqa: BLE001 - onnxruntime's own exception types
                raise FaceModelError(
                    f"ONNX Runtime cannot run the CenterFace model {path} at "
                    f"{self.net_size(480, 640)} ({str(exc).strip().splitlines()[-1][:160]}): "
                    "use detector_backend:=opencv") from None
        elif self.backend == "openvino":
            path = onnx_for_precision(path, precision)
            try:
                self._openvino = OpenVinoNets(path, CENTERFACE_OUTPUTS, self.max_cached_nets)
                self.path = path
                self.precision = self._openvino.precision
                self.takes_frames = self._openvino.takes_frames
                self.run_net(self.blob(np.zeros((480, 640, 3), np.uint8))[0])  # fail now
            except OpenVinoError as exc:
                raise FaceModelError(str(exc)) from None
        else:
            if precision not in PRECISIONS:
                raise ValueError(f"unknown precision '{precision}': use one of "
                                 f"{', '.join(PRECISIONS)}")
            self._net_for = functools.lru_cache(maxsize=self.max_cached_nets)(self._load_net)
            self._net_for(*self.net_size(480, 640))  # fail now, not on the first frame

    def min_score(self, side):
        """The score a face of longer side ``side`` px needs (:func:`score_needed`)."""
        return score_needed(side, self.confidence, self.large_confidence)

    def _load_net(self, width, height):
        try:
            return cv2.dnn.readNetFromONNX(self.path)
        except cv2.error as exc:
            raise FaceModelError(f"cannot read the CenterFace model {self.path}: "
                                 f"{str(exc).strip().splitlines()[-1]}") from None

    def run_net(self, blob):
        """The four outputs for one input of :meth:`blob`."""
        if self.backend == "onnxruntime":
            # one session serves every input size: ONNX Runtime re-plans per shape itself
            return self._session.run(list(CENTERFACE_OUTPUTS), {self._session.get_inputs()[0].name: blob})
        if self.backend == "openvino":
            return self._openvino.run(blob)
        net = self._net_for(blob.shape[3], blob.shape[2])
        net.setInput(blob)
        return net.forward(list(CENTERFACE_OUTPUTS))

    def net_size(self, height, width):
        """(width, height) of the network input for a frame: longer side ``input_size``, both
        sides multiples of 32."""
        scale = self.input_size / max(height, width)
        return (max(32, int(np.ceil(width * scale / 32)) * 32),
                max(32, int(np.ceil(height * scale / 32)) * 32))

    def blob(self, bgr):
        """The network input of a BGR frame at :meth:`net_size`: (1, 3, H, W) float RGB
        0..255, or (1, H, W, 3) uint8 BGR for a net that takes frames; and the scale (sx, sy)
        from frame to network pixels."""
        height, width = bgr.shape[:2]
        net_w, net_h = self.net_size(height, width)
        scale = (net_w / width, net_h / height)
        if self.takes_frames:
            # cv2.resize is what blobFromImage resizes with, so both inputs hold the same pixels
            frame = bgr if (net_w, net_h) == (width, height) else cv2.resize(bgr, (net_w, net_h))
            return np.ascontiguousarray(frame, np.uint8)[None], scale
        blob = cv2.dnn.blobFromImage(bgr, 1.0, (net_w, net_h), (0, 0, 0), swapRB=True, crop=False)
        return blob, scale

    def forward(self, bgr):
        """The raw outputs (heatmap, sizes, offsets, landmarks) and the scale (sx, sy) from
        frame to network pixels."""
        blob, scale = self.blob(bgr)
        return self.run_net(blob), scale

    @classmethod
    def decode(cls, heatmap, sizes, offsets, landmarks, threshold):
        """Boxes (N, 4) as x0, y0, x1, y1, scores (N,) and landmarks (N, 10) as x, y pairs, in
        network pixels, before NMS."""
        heat = heatmap[0, 0]
        rows, cols = np.nonzero(heat >= threshold)
        scores = heat[rows, cols].astype(np.float32)
        s = cls.stride
        box_h = np.exp(sizes[0, 0, rows, cols]) * s
        box_w = np.exp(sizes[0, 1, rows, cols]) * s
        cy = (rows + offsets[0, 0, rows, cols] + 0.5) * s
        cx = (cols + offsets[0, 1, rows, cols] + 0.5) * s
        x0, y0 = cx - box_w / 2, cy - box_h / 2
        boxes = np.stack([x0, y0, x0 + box_w, y0 + box_h], axis=1).astype(np.float32)
        lm = landmarks[0][:, rows, cols]          # (10, N): y0, x0, y1, x1, ... relative
        points = np.empty((len(rows), 10), np.float32)
        points[:, 0::2] = (lm[1::2] * box_w + x0).T
        points[:, 1::2] = (lm[0::2] * box_h + y0).T
        return boxes, scores, points

    def detect(self, bgr):
        height, width = bgr.shape[:2]
        (heatmap, sizes, offsets, landmarks), (sx, sy) = self.forward(bgr)
        # A floor on the heatmap threshold: below it the heatmap is background everywhere.
        lowest = min(self.min_score(0), self.min_score(LARGE_FACE_SIZE))
        boxes, scores, points = self.decode(heatmap, sizes, offsets, landmarks,
                                            max(lowest, 0.05))
        if len(boxes):
            # cv2.dnn.NMSBoxes takes (x, y, w, h) boxes
            xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
            keep = np.asarray(cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), 0.0,
                                               self.nms_iou), dtype=np.int64).ravel()
            boxes, scores, points = boxes[keep], scores[keep], points[keep]
        scale = np.array([sx, sy, sx, sy], np.float32)
        return clip_and_filter(boxes / scale, scores, width, height, self.min_face_size,
                               self.confidence, points / np.tile([sx, sy], 5),
                               self.min_score(LARGE_FACE_SIZE))


def resolve_backend(backend="auto"):
    """The CenterFace backend to use: ``onnxruntime`` or ``opencv``."""
    if backend not in DETECTOR_BACKENDS:
        raise ValueError(f"unknown detector backend '{backend}': use one of "
                         f"{', '.join(DETECTOR_BACKENDS)}")
    if backend == "auto":
        return "onnxruntime" if importlib.util.find_spec("onnxruntime") else "opencv"
    if backend == "onnxruntime" and importlib.util.find_spec("onnxruntime") is None:
        raise FaceModelError("detector_backend 'onnxruntime' asked for but onnxruntime is not "
                             "installed: run `pip install onnxruntime` or use auto or opencv")
    if backend == "openvino" and importlib.util.find_spec("openvino") is None:
        raise FaceModelError(OPENVINO_MISSING)
    return backend


def _onnxruntime_session(path):
    from .ort_session import SessionError, open_session
    try:
        return open_session(path)
    except SessionError as exc:
        raise FaceModelError(f"cannot read the CenterFace model {path}: {exc}") from None


class DnnFaceDetector:
    """OpenCV's res10 300x300 SSD face detector (Caffe model)."""

    kind = "dnn"
    input_size = 300
    mean = (104.0, 177.0, 123.0)

    def __init__(self, confidence=0.5, min_face_size=24, model_dir=None):
        model_dir = model_dir or default_face_model_dir()
        prototxt = os.path.join(model_dir, DNN_PROTOTXT)
        weights = os.path.join(model_dir, DNN_WEIGHTS)
        for path in (prototxt, weights):
            if not os.path.isfile(path):
                raise FaceModelError(
                    f"face detector file {path} not found: set face_model_dir to a folder "
                    f"with {DNN_PROTOTXT} and {DNN_WEIGHTS}")
        try:
            self.net = cv2.dnn.readNetFromCaffe(prototxt, weights)
        except cv2.error as exc:
            raise FaceModelError(f"cannot read the res10 face detector in {model_dir}: "
                                 f"{str(exc).strip().splitlines()[-1]}") from None
        self.confidence = confidence
        self.min_face_size = min_face_size

    def min_score(self, side):
        """The score a face of longer side ``side`` px needs: ``confidence`` at every size
        (res10 gives false boxes of every size at low scores: 3.1 a photo, not 0.1, on our
        validation photos with a lower bar for big faces)."""
        return self.confidence

    def detect(self, bgr):
        height, width = bgr.shape[:2]
        blob = cv2.dnn.blobFromImage(
            cv2.resize(bgr, (self.input_size, self.input_size)), 1.0,
            (self.input_size, self.input_size), self.mean)
        self.net.setInput(blob)
        out = self.net.forward()[0, 0]  # (N, 7): image_id, label, score, x0, y0, x1, y1
        out = out[out[:, 2] >= self.confidence]
        boxes = out[:, 3:7] * np.array([width, height, width, height], dtype=np.float32)
        return clip_and_filter(boxes, out[:, 2], width, height,
                               self.min_face_size, self.confidence)


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade. It gives no confidence: every face scores 1.0."""

    kind = "haar"

    def __init__(self, confidence=0.5, min_face_size=24, cascade_path=None):
        path = cascade_path or default_haar_cascade()
        self.cascade = cv2.CascadeClassifier(path) if os.path.isfile(path) else None
        if self.cascade is None or self.cascade.empty():
            raise FaceModelError(f"cannot load the Haar cascade {path}: install "
                                 "opencv-python-headless>=4.8,<5 or use detector:=dnn")
        self.confidence = confidence
        self.min_face_size = min_face_size

    def min_score(self, side):
        """Every face scores 1.0: ``confidence`` (at most 1) keeps them all."""
        return min(self.confidence, 1.0)

    def detect(self, bgr):
        height, width = bgr.shape[:2]
        gray = cv2.equalizeHist(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
        size = max(int(self.min_face_size), 1)
        rects = self.cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5,
                                              minSize=(size, size))
        boxes = [(x, y, x + w, y + h) for (x, y, w, h) in rects]
        return clip_and_filter(boxes, [1.0] * len(boxes), width, height,
                               self.min_face_size, min(self.confidence, 1.0))


def make_face_detector(kind=DEFAULT_DETECTOR, confidence=DEFAULT_FACE_CONFIDENCE,
                       min_face_size=DEFAULT_MIN_FACE_SIZE, model_dir=None,
                       input_size=DEFAULT_INPUT_SIZE, backend="auto",
                       precision=DEFAULT_PRECISION,
                       large_confidence=DEFAULT_LARGE_FACE_CONFIDENCE):
    """Build the face detector named ``kind`` (one of :data:`DETECTOR_KINDS`).

    Faces score at least ``confidence``; for centerface, ``large_confidence`` is enough where
    that is lower and the box is at least :data:`LARGE_FACE_SIZE` px (:func:`score_needed`).
    ``model_dir`` is a folder with the detector's weights (default: the shipped ones);
    ``input_size`` is CenterFace's input size (the longer side of the frame, in px) and
    ``backend`` how it runs (:data:`DETECTOR_BACKENDS`) and ``precision`` which of its files
    ONNX Runtime runs (int8: ``centerface_int8.onnx`` where it exists).
    """
    if kind == "centerface":
        return CenterFaceDetector(confidence, min_face_size,
                                  os.path.join(model_dir, CENTERFACE_ONNX) if model_dir else None,
                                  input_size, backend, precision, large_confidence)
    if kind == "dnn":
        return DnnFaceDetector(confidence, min_face_size, model_dir or None)
    if kind == "haar":
        return HaarFaceDetector(confidence, min_face_size)
    raise ValueError(f"unknown detector '{kind}': use one of {', '.join(DETECTOR_KINDS)}")
