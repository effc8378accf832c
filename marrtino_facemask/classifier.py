"""Mask classifier: a batch of face crops in, class probabilities out.

The classifier is the ONNX file that ``export`` (float32) or ``quantize`` (int8, what the node
runs) writes; everything the crops need (class names, input size, margin, mean, std) is in
its metadata. Two runtimes run it: ONNX Runtime (classifier_onnx.py) or, optionally, OpenVINO
(classifier_openvino.py). torch is never loaded: the .pt checkpoint is the lab's (lab/).
"""

import os

import numpy as np

from .classifier_onnx import OnnxRuntimeNet
from .classifier_openvino import OpenVinoNet
from .crops import crop_aligned, crop_face
from .model_file import MODEL_PATH_HINT, ModelError
from .paths import BACKENDS


def to_input_batch(crops_bgr, mean, std):
    """Stack BGR uint8 crops (H, W, 3) into a normalised float32 RGB batch (N, 3, H, W)."""
    batch = np.stack(crops_bgr)[..., ::-1].astype(np.float32) / 255.0
    batch = (batch - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


def onnx_file(model_path):
    """The ONNX file a model path names: itself if it is one; for a checkpoint NAME.pt, the
    NAME_int8.onnx that ``quantize`` writes beside it, else the NAME.onnx of ``export``.
    """
    if model_path.lower().endswith(".onnx"):
        return model_path
    stem = os.path.splitext(model_path)[0]
    return stem + "_int8.onnx" if os.path.isfile(stem + "_int8.onnx") else stem + ".onnx"


def open_net(model_path, backend="onnxruntime"):
    """The net of ``model_path`` (an .onnx, or a .pt whose ONNX file is beside it, see
    :func:`onnx_file`) on ``backend``. A .pt's ONNX file must come from that very checkpoint:
    a retrained .pt never runs with a stale .onnx beside it. Every refusal is one
    :class:`ModelError` line (or a ValueError for a bad ``backend``).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend '{backend}': use one of {', '.join(BACKENDS)}")
    path = onnx_file(model_path)
    if not os.path.isfile(path):
        if path == model_path or not os.path.isfile(model_path):
            raise ModelError(f"model file '{model_path}' not found: {MODEL_PATH_HINT}")
        raise ModelError(f"no ONNX file '{path}' next to model_path '{model_path}': write it "
                         f"with `python -m marrtino_facemask export --model {model_path}` "
                         "(then `quantize` for the int8 copy), or give the .onnx itself")
    source = None if path == model_path else model_path
    net_class = OnnxRuntimeNet if backend == "onnxruntime" else OpenVinoNet
    return net_class(path, exported_from=source)


class MaskClassifier:
    """Loads a model on a backend; :meth:`predict` turns face crops into probabilities.

    Attributes from the model's metadata: ``class_names``, ``input_size``, ``margin``,
    ``mean``, ``std``, ``meta`` (training metadata); ``backend`` (onnxruntime or openvino),
    ``precision`` (int8 or float32) and ``path`` (the file actually loaded). ``net``: any
    object with those attributes and ``probabilities(batch)`` instead of a file (the lab
    scores torch models this way).
    """

    def __init__(self, model_path, backend="onnxruntime", net=None):
        self.net = net if net is not None else open_net(model_path, backend)
        self.backend = backend if net is None else getattr(net, "backend", "torch")
        self.path = onnx_file(model_path) if net is None else model_path
        self.class_names = self.net.class_names
        self.input_size = self.net.input_size
        self.margin = self.net.margin
        self.mean = self.net.mean
        self.std = self.net.std
        self.meta = self.net.meta
        self.precision = getattr(self.net, "precision", "float32")

    def crop(self, image_bgr, box, landmarks=None):
        """The crop of one face, as the model was trained to see it: aligned on the face's
        landmarks where the model was (its metadata's ``align``) and they are given, else
        cut from the box.
        """
        if landmarks is not None and self.metadata_align:
            return crop_aligned(image_bgr, box, landmarks, self.input_size, self.margin)[0]
        return crop_face(image_bgr, box, self.input_size, self.margin)

    @property
    def metadata_align(self):
        return bool(self.meta.get("args", {}).get("align", False))

    def predict(self, crops_bgr, batch_size=256):
        """Probabilities (N, num_classes) for N crops of ``input_size`` px, in batches."""
        if len(crops_bgr) == 0:
            return np.zeros((0, len(self.class_names)), np.float32)
        return np.concatenate([
            self.net.probabilities(to_input_batch(crops_bgr[i:i + batch_size], self.mean,
                                                  self.std))
            for i in range(0, len(crops_bgr), batch_size)]).astype(np.float32, copy=False)
