"""Faces in a frame: what every face detector returns, and how one is chosen.

Three detectors, all with their weights in ``models/face_detectors/`` (licences and sha256
sums in ``SOURCES.md`` there): CenterFace (``centerface``, the default, centerface.py), the
res10 SSD (``dnn``) and a Haar cascade (``haar``), both OpenCV's (opencv_faces.py).
"""

import os
from dataclasses import dataclass

import numpy as np

from .paths import models_dir

DETECTOR_KINDS = ("centerface", "dnn", "haar")
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
CENTERFACE_INT8_ONNX = "centerface_int8.onnx"    # `quantize`: int8, what the node runs
FACE_MODELS_DIR = "face_detectors"
HAAR_CASCADE = "haarcascade_frontalface_default.xml"   # OpenCV's, vendored with its licence


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
    """The shipped detector weights: the installed package's share folder, else the source
    tree's.
    """
    return os.path.join(models_dir(), FACE_MODELS_DIR)


def score_needed(side, confidence, large_confidence):
    """The face score that a box whose longer side is ``side`` px needs to be kept:
    ``confidence``, or ``large_confidence`` where that is lower and the box is at least
    :data:`LARGE_FACE_SIZE` px (None: ``confidence`` at every size).
    """
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
