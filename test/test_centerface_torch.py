"""The lab's CenterFace on torch (lab/centerface_torch.py, what train-detector trains): the
shipped float32 graph converted to torch answers as ONNX Runtime does. Needs torch, onnx and
onnx2torch; the node's CenterFace: test_faces.py.
"""

import os

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx2torch")

from marrtino_facemask.faces import CENTERFACE_ONNX, default_face_model_dir  # noqa: E402
from marrtino_facemask.lab.centerface_torch import PARITY_LIMIT, load_centerface_torch, parity  # noqa: E402


def test_shipped_centerface_matches_its_torch_version(astronaut_bgr):
    """Parity: the shipped float32 ONNX on ONNX Runtime and the same graph converted to
    PyTorch give the same outputs on a real frame.
    """
    path = os.path.join(default_face_model_dir(), CENTERFACE_ONNX)
    model = load_centerface_torch(path)
    assert isinstance(model, torch.nn.Module)
    assert parity(model, path, cv2.resize(astronaut_bgr, (640, 480))) < PARITY_LIMIT
    assert parity(model, path, np.zeros((480, 640, 3), np.uint8)) < PARITY_LIMIT
