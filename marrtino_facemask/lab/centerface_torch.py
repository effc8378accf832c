"""CenterFace between ONNX and torch, for ``train-detector`` and ``mix-detector``: the ONNX
graph as a torch module (onnx2torch), the module back to ONNX with the shipped file's input
and output names, and the check that ONNX Runtime, which the node runs, answers as torch.

onnx and onnx2torch are imported inside the functions that use them: they are needed only
here, by the lab's detector commands.
"""

import os

import cv2
import numpy as np
import torch

from ..centerface import CENTERFACE_OUTPUTS
from ..ort_session import open_session

PARITY_LIMIT = 1e-3   # largest |ONNX Runtime - torch| of an exported net's outputs


def load_centerface_torch(path):
    """The CenterFace ONNX graph as a torch module (float32, train mode)."""
    import onnx
    from onnx2torch import convert
    return convert(onnx.load(path))


def export_onnx(model, path, size=(480, 640)):
    """Export the net with the shipped file's input and output names (opset 11, any size)."""
    import onnx
    model = model.eval().to("cpu", memory_format=torch.contiguous_format)
    dummy = torch.zeros(1, 3, *size)
    # TorchScript refuses the shipped, numeric output names: export with words, then rename
    words = ["heatmap", "sizes", "offsets", "landmarks"]
    tmp = path + ".tmp"
    torch.onnx.export(model, dummy, tmp, input_names=["input.1"], output_names=words,
                      opset_version=11, dynamo=False,
                      dynamic_axes={"input.1": {2: "height", 3: "width"},
                                    **{n: {2: "h", 3: "w"} for n in words}})
    graph = onnx.load(tmp)
    rename = dict(zip(words, CENTERFACE_OUTPUTS))
    for node in graph.graph.node:
        node.output[:] = [rename.get(n, n) for n in node.output]
    for out in graph.graph.output:
        out.name = rename.get(out.name, out.name)
    onnx.checker.check_model(graph)
    onnx.save(graph, tmp)
    os.replace(tmp, path)


def parity(model, path, image_bgr, size=(640, 480)):
    """Largest absolute difference between torch and ONNX Runtime (the node's runtime) on one
    real frame, resized to ``size``, as CenterFace's float input (RGB 0..255, planar).
    """
    blob = cv2.dnn.blobFromImage(image_bgr, 1.0, size, (0, 0, 0), swapRB=True, crop=False)
    session = open_session(path)
    ours = session.run(list(CENTERFACE_OUTPUTS), {session.get_inputs()[0].name: blob})
    with torch.no_grad():
        ref = model.eval().cpu()(torch.from_numpy(blob))
    return max(float(np.abs(a - b.numpy()).max()) for a, b in zip(ours, ref))
