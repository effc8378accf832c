"""The face detector the node's parameters name (``detector``): one place builds it."""

from .centerface import CenterFaceDetector, centerface_file
from .faces import (
    DEFAULT_DETECTOR,
    DEFAULT_FACE_CONFIDENCE,
    DEFAULT_INPUT_SIZE,
    DEFAULT_LARGE_FACE_CONFIDENCE,
    DEFAULT_MIN_FACE_SIZE,
    DETECTOR_KINDS,
)
from .opencv_faces import DnnFaceDetector, HaarFaceDetector


def make_face_detector(kind=DEFAULT_DETECTOR, confidence=DEFAULT_FACE_CONFIDENCE,
                       min_face_size=DEFAULT_MIN_FACE_SIZE, model_dir=None,
                       input_size=DEFAULT_INPUT_SIZE, backend="onnxruntime",
                       large_confidence=DEFAULT_LARGE_FACE_CONFIDENCE):
    """Build the face detector named ``kind`` (one of :data:`DETECTOR_KINDS`).

    Faces score at least ``confidence``; for centerface, ``large_confidence`` is enough where
    that is lower and the box is at least :data:`LARGE_FACE_SIZE` px (:func:`score_needed`).
    ``model_dir`` is a folder with the detector's weights (default: the shipped ones; for
    centerface its int8 file where there is one); ``input_size`` is CenterFace's input size
    (the longer side of the frame, in px) and ``backend`` how it runs (onnxruntime or
    openvino).
    """
    if kind == "centerface":
        return CenterFaceDetector(confidence, min_face_size, centerface_file(model_dir),
                                  input_size, backend, large_confidence)
    if kind == "dnn":
        return DnnFaceDetector(confidence, min_face_size, model_dir or None)
    if kind == "haar":
        return HaarFaceDetector(confidence, min_face_size, model_dir or None)
    raise ValueError(f"unknown detector '{kind}': use one of {', '.join(DETECTOR_KINDS)}")
