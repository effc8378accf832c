"""Mask classifier: a batch of face crops in, class probabilities out.

One inference path: the crops are cut (:mod:`crops`) and turned into a normalised float batch
(:func:`to_input_batch`) the same way for both backends, which then only run the net:

- ``onnxruntime``: the ONNX file that ``python -m marrtino_facemask export`` writes next to
  the checkpoint (:mod:`classifier_onnx`). Needs neither torch nor the .pt file.
- ``openvino`` (optional, ``pip install openvino``): the same ONNX file on OpenVINO's CPU
  runtime (:mod:`classifier_openvino`), faster on Intel CPUs. ``auto`` never picks it.
- ``torch``: the .pt checkpoint itself (:mod:`classifier_torch`), the training artefact.

This module imports neither runtime: the chosen backend's module is imported on demand, so a
node on ONNX Runtime never loads torch.
"""

import importlib.util
import os

import numpy as np

from .checkpoint import MODEL_PATH_HINT, ModelError
from .crops import crop_face
from .paths import DEFAULT_PRECISION, PRECISIONS, onnx_for_precision

DEVICES = ("auto", "cpu", "cuda")
# auto: ONNX Runtime when it is installed and the model has its ONNX file, else torch.
# openvino: optional (classifier_openvino.py), never picked by auto.
CLASSIFIER_BACKENDS = ("auto", "onnxruntime", "openvino", "torch")
EXPORT_HINT = "run `python -m marrtino_facemask export --model {pt}` (needs torch) to write it"


def to_input_batch(crops_bgr, mean, std):
    """Stack BGR uint8 crops (H, W, 3) into a normalised float32 RGB batch (N, 3, H, W)."""
    batch = np.stack(crops_bgr)[..., ::-1].astype(np.float32) / 255.0
    batch = (batch - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


def installed(module):
    """Whether ``module`` can be imported (a finder that refuses it counts as absent)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def onnx_path_for(model_path):
    """The ONNX file of a model path: itself if it is one, else the .pt's sibling .onnx."""
    if model_path.lower().endswith(".onnx"):
        return model_path
    return os.path.splitext(model_path)[0] + ".onnx"


def resolve_backend(backend, model_path, device="auto", precision=DEFAULT_PRECISION):
    """(backend, path to load) for a model path: ``onnxruntime`` (or ``openvino``) and an
    .onnx file, or ``torch`` and the .pt checkpoint. A .pt's ONNX file is NAME.onnx beside it, or with
    ``precision`` int8 NAME_int8.onnx where that exists; an .onnx path is taken as it is.
    Every refusal is one :class:`ModelError` line (or a ValueError for a bad ``backend``,
    ``device`` or ``precision``)."""
    if backend not in CLASSIFIER_BACKENDS:
        raise ValueError(f"unknown classifier backend '{backend}': use one of "
                         f"{', '.join(CLASSIFIER_BACKENDS)}")
    if device not in DEVICES:
        raise ValueError(f"unknown device '{device}': use one of {', '.join(DEVICES)}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision '{precision}': use one of {', '.join(PRECISIONS)}")
    is_onnx = model_path.lower().endswith(".onnx")
    if backend == "torch" or (backend == "auto" and device == "cuda" and not is_onnx):
        if is_onnx:
            raise ModelError(f"model file '{model_path}' is an ONNX file, which backend torch "
                             "cannot run: use backend onnxruntime, or the .pt checkpoint")
        if not installed("torch"):
            raise ModelError("backend 'torch' asked for but torch is not installed: use "
                             "backend onnxruntime (pip install onnxruntime) or install torch")
        return "torch", model_path
    if device == "cuda":
        raise ValueError("device 'cuda' needs backend torch (ONNX Runtime runs the classifier "
                         "on the CPU here): use device:=auto or cpu, or backend:=torch")
    onnx_path = model_path if is_onnx else onnx_for_precision(onnx_path_for(model_path),
                                                              precision)
    if backend == "openvino":
        from .classifier_openvino import MISSING
        if not installed("openvino"):
            raise ModelError(MISSING)
        _check_onnx_file(onnx_path, model_path, is_onnx)
        return "openvino", onnx_path
    has_ort = installed("onnxruntime")
    if backend == "onnxruntime" or is_onnx:
        if not has_ort:
            raise ModelError("backend 'onnxruntime' asked for but onnxruntime is not installed: "
                             "run `pip install onnxruntime`, or use backend torch")
        _check_onnx_file(onnx_path, model_path, is_onnx)
        return "onnxruntime", onnx_path
    # auto with a .pt: its ONNX file when ONNX Runtime can run it, else the checkpoint on torch
    if has_ort and os.path.isfile(onnx_path):
        return "onnxruntime", onnx_path
    if not installed("torch"):
        if not has_ort:
            raise ModelError("neither onnxruntime nor torch is installed: run "
                             "`pip install onnxruntime`")
        if not os.path.isfile(model_path):
            raise ModelError(f"model file '{model_path}' not found: {MODEL_PATH_HINT}")
        raise ModelError(f"no ONNX file '{onnx_path}' next to model_path '{model_path}' and "
                         "torch is not "
                         "installed: " + EXPORT_HINT.format(pt=model_path))
    return "torch", model_path


def _check_onnx_file(onnx_path, model_path, is_onnx):
    if not os.path.isfile(onnx_path):
        if is_onnx or not os.path.isfile(model_path):
            raise ModelError(f"model file '{model_path}' not found: {MODEL_PATH_HINT}")
        raise ModelError(f"no ONNX file '{onnx_path}' next to model_path '{model_path}': "
                         + EXPORT_HINT.format(pt=model_path) + ", or use backend torch")


class MaskClassifier:
    """Loads a model on a backend; :meth:`predict` turns face crops into probabilities.

    Attributes from the model's metadata: ``class_names``, ``input_size``, ``margin``,
    ``mean``, ``std``, ``meta`` (training metadata); ``backend`` (onnxruntime, openvino or
    torch), ``device``, ``precision`` (int8 or float32) and ``path`` (the file actually
    loaded).
    """

    def __init__(self, model_path, device="auto", backend="auto", precision=DEFAULT_PRECISION):
        self.backend, self.path = resolve_backend(backend, model_path, device, precision)
        if self.backend == "onnxruntime":
            from .classifier_onnx import OnnxRuntimeNet, StaleExportError
            # a .pt's ONNX file must come from that very checkpoint (a retrained .pt never
            # runs with a stale .onnx beside it)
            source = None if self.path == model_path else model_path
            try:
                self.net = OnnxRuntimeNet(self.path, exported_from=source)
            except StaleExportError:
                if backend != "auto" or not installed("torch"):
                    raise
                self.backend, self.path = "torch", model_path   # auto: the .pt is the truth
        elif self.backend == "openvino":
            from .classifier_openvino import OpenVinoNet
            self.net = OpenVinoNet(self.path,
                                   exported_from=None if self.path == model_path else model_path)
        if self.backend == "torch":
            from .classifier_torch import TorchNet
            self.net = TorchNet(self.path, device)
        self.class_names = self.net.class_names
        self.input_size = self.net.input_size
        self.margin = self.net.margin
        self.mean = self.net.mean
        self.std = self.net.std
        self.meta = self.net.meta
        self.device = self.net.device
        self.precision = getattr(self.net, "precision", "float32")

    @property
    def model(self):
        """The torch module (torch backend only)."""
        return self.net.model

    def crop(self, image_bgr, box):
        return crop_face(image_bgr, box, self.input_size, self.margin)

    def predict(self, crops_bgr, batch_size=256):
        """Probabilities (N, num_classes) for N crops of ``input_size`` px, in batches."""
        if len(crops_bgr) == 0:
            return np.zeros((0, len(self.class_names)), np.float32)
        return np.concatenate([
            self.net.probabilities(to_input_batch(crops_bgr[i:i + batch_size], self.mean,
                                                  self.std))
            for i in range(0, len(crops_bgr), batch_size)]).astype(np.float32, copy=False)
