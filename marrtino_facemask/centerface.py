"""CenterFace (MIT licence), the default face detector, on ONNX Runtime or OpenVINO.

The shipped file is ``centerface_int8.onnx``: CenterFace fine-tuned here on masked, small and
crowded faces, averaged with the published weights and quantized to int8 (models/MODEL_CARD.md).
"""

import os

import cv2
import numpy as np

from .faces import (
    CENTERFACE_INT8_ONNX,
    CENTERFACE_ONNX,
    DEFAULT_INPUT_SIZE,
    LARGE_FACE_SIZE,
    MAX_INPUT_SIZE,
    MIN_INPUT_SIZE,
    FaceModelError,
    clip_and_filter,
    default_face_model_dir,
    score_needed,
)
from .openvino_nets import OpenVinoError, OpenVinoNets
from .ort_session import SessionError, open_session
from .paths import BACKENDS

# The net's outputs: heatmap (1 channel), log sizes (h, w), offsets (y, x), landmarks (10).
CENTERFACE_OUTPUTS = ("537", "538", "539", "540")


def centerface_file(model_dir=None):
    """The CenterFace file of a folder (default: the shipped one): its int8 copy where there
    is one, else the float32 file.
    """
    folder = model_dir or default_face_model_dir()
    int8 = os.path.join(folder, CENTERFACE_INT8_ONNX)
    return int8 if os.path.isfile(int8) else os.path.join(folder, CENTERFACE_ONNX)


def takes_frames(session):
    """Whether an ONNX Runtime session of CenterFace takes the uint8 frame input."""
    return session.get_inputs()[0].type == "tensor(uint8)"



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
    # OpenVINO compiles one net per input shape for the first few (openvino_nets.py)
    max_cached_nets = 4

    def __init__(self, confidence=0.5, min_face_size=24, model_path=None,
                 input_size=DEFAULT_INPUT_SIZE, backend="onnxruntime", large_confidence=None):
        path = model_path or centerface_file()
        if not os.path.isfile(path):
            raise FaceModelError(f"face detector file {path} not found: reinstall the package "
                                 f"or set face_model_dir to a folder with {CENTERFACE_INT8_ONNX} "
                                 f"or {CENTERFACE_ONNX}")
        self.path = path
        if not MIN_INPUT_SIZE <= int(input_size) <= MAX_INPUT_SIZE:
            raise ValueError(f"CenterFace input size {input_size} is out of range: use "
                             f"{MIN_INPUT_SIZE} to {MAX_INPUT_SIZE}")
        self.input_size = int(input_size)
        self.confidence = confidence
        self.large_confidence = large_confidence
        self.min_face_size = min_face_size
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend '{backend}': use one of {', '.join(BACKENDS)}")
        self.backend = backend
        if backend == "onnxruntime":
            try:
                self._session = open_session(path)
            except SessionError as exc:
                raise FaceModelError(f"cannot read the CenterFace model {path}: {exc}") from None
            self.precision = self._session.get_modelmeta().custom_metadata_map.get(
                "precision", "float32")
            self.takes_frames = takes_frames(self._session)
        else:
            try:
                self._openvino = OpenVinoNets(path, CENTERFACE_OUTPUTS, self.max_cached_nets)
            except OpenVinoError as exc:
                raise FaceModelError(str(exc)) from None
            self.precision = self._openvino.precision
            self.takes_frames = self._openvino.takes_frames
        try:   # fail now, not on the first frame (a net exported with a fixed input size)
            self.run_net(self.blob(np.zeros((480, 640, 3), np.uint8))[0])
        except OpenVinoError as exc:
            raise FaceModelError(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - onnxruntime's own exception types
            raise FaceModelError(
                f"{backend} cannot run the CenterFace model {path} at "
                f"{self.net_size(480, 640)} ({str(exc).strip().splitlines()[-1][:160]}): "
                "give a CenterFace file exported with a dynamic input size") from None

    def min_score(self, side):
        """The score a face of longer side ``side`` px needs (:func:`score_needed`)."""
        return score_needed(side, self.confidence, self.large_confidence)

    def run_net(self, blob):
        """The four outputs for one input of :meth:`blob`."""
        if self.backend == "onnxruntime":
            # one session serves every input size: ONNX Runtime re-plans per shape itself
            return self._session.run(list(CENTERFACE_OUTPUTS),
                                     {self._session.get_inputs()[0].name: blob})
        return self._openvino.run(blob)

    def net_size(self, height, width):
        """(width, height) of the network input for a frame: longer side ``input_size``, both
        sides multiples of 32.
        """
        scale = self.input_size / max(height, width)
        return (max(32, int(np.ceil(width * scale / 32)) * 32),
                max(32, int(np.ceil(height * scale / 32)) * 32))

    def blob(self, bgr):
        """The network input of a BGR frame at :meth:`net_size`: (1, 3, H, W) float RGB
        0..255, or (1, H, W, 3) uint8 BGR for a net that takes frames; and the scale (sx, sy)
        from frame to network pixels.
        """
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
        frame to network pixels.
        """
        blob, scale = self.blob(bgr)
        return self.run_net(blob), scale

    @classmethod
    def decode(cls, heatmap, sizes, offsets, landmarks, threshold):
        """Boxes (N, 4) as x0, y0, x1, y1, scores (N,) and landmarks (N, 10) as x, y pairs, in
        network pixels, before NMS.
        """
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
