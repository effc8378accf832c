"""The classifier on OpenVINO's CPU runtime (``backend:=openvino``): the same exported ONNX
file as ONNX Runtime runs (:mod:`classifier_onnx`), with the same checks of its metadata.

Optional, for Intel CPUs: ``pip install openvino``. On our CPU it runs the int8 classifier
1.4 to 1.8 times faster than ONNX Runtime (README, Speed). The batch (one crop per face) has
two nets, both compiled when the classifier is made (openvino_nets.py): one for a single
face, the node's usual batch (it classifies one tracked face a frame), and one for any other
number of faces. A net of its own for each face count would run 10 to 15 % faster, but each
takes about 14 MB of memory, and compiling one in the middle of a stream held a frame for
0.2 s in the node.
This module imports neither torch nor onnxruntime.
"""

import os

import numpy as np

from .classifier_onnx import EXPORT_HINT, ExportedNet, checked_fields, misfit_error
from .model_file import ModelError
from .openvino_nets import OpenVinoError, OpenVinoNets


class OpenVinoNet(ExportedNet):
    """An exported classifier on OpenVINO (CPU); :meth:`probabilities` of an input batch.
    ``exported_from``: as for :class:`~.classifier_onnx.OnnxRuntimeNet`.
    """

    def __init__(self, path, exported_from=None):
        if not os.path.isfile(path):
            raise ModelError(f"model file '{path}' not found: {EXPORT_HINT}")
        try:
            self.nets = OpenVinoNets(path, None, max_cached=1)
        except OpenVinoError as exc:
            raise ModelError(str(exc)) from None
        props = self.nets.metadata()
        if not props:
            import openvino
            raise ModelError(f"openvino {openvino.__version__} does not read the metadata of "
                             f"'{path}': run `pip install -U openvino`, or use backend "
                             "onnxruntime")
        self._set_fields(checked_fields(props, path, exported_from))
        outputs = self.nets.outputs
        classes = outputs[0].get_partial_shape()[-1] if len(outputs) == 1 else None
        if len(self.nets.inputs) != 1 or classes is None or not classes.is_static \
                or classes.get_length() != len(self.class_names):
            raise misfit_error(path, len(self.class_names))
        # compile both nets now (one face, then any other number), and fail now rather than
        # on the first faces
        for faces in (1, 2):
            self.probabilities(np.zeros((faces, 3, self.input_size, self.input_size), np.float32))

    def probabilities(self, batch):
        try:
            return self.nets.run(np.ascontiguousarray(batch, np.float32))[0]
        except OpenVinoError as exc:
            raise ModelError(str(exc)) from None
