"""OpenCV's face detectors: the res10 SSD (``dnn``) and the frontal-face Haar cascade
(``haar``). Both are older and find fewer faces than CenterFace, masked ones above all; they
need nothing but OpenCV.
"""

import os

import cv2
import numpy as np

from .faces import (
    DNN_PROTOTXT,
    DNN_WEIGHTS,
    HAAR_CASCADE,
    FaceModelError,
    clip_and_filter,
    default_face_model_dir,
)


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
        validation photos with a lower bar for big faces).
        """
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

    def __init__(self, confidence=0.5, min_face_size=24, model_dir=None):
        path = os.path.join(model_dir or default_face_model_dir(), HAAR_CASCADE)
        try:
            self.cascade = cv2.CascadeClassifier(path) if os.path.isfile(path) else None
        except (cv2.error, SystemError):   # OpenCV's parser fails this way on a damaged file
            self.cascade = None
        if self.cascade is None or self.cascade.empty():
            raise FaceModelError(f"cannot load the Haar cascade {path}: set face_model_dir to "
                                 f"a folder with {HAAR_CASCADE}, or reinstall the package")
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
