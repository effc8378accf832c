"""The rewrites of CenterFace's int8 graph (marrtino_facemask.lab.detector_graph): the same outputs
from the bytes of the frame, on real pictures, and one-line refusals of other graphs.

The reference is a fresh int8 quantization of the shipped CenterFace, calibrated on two real
pictures (skimage's, public domain), before and after the rewrites (needs onnx). The shipped
file's tests need only ONNX Runtime, as on a robot.
"""

import os

import cv2
import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")

from marrtino_facemask.centerface import CenterFaceDetector, takes_frames  # noqa: E402
from marrtino_facemask.faces import CENTERFACE_INT8_ONNX, CENTERFACE_ONNX, default_face_model_dir  # noqa: E402
from marrtino_facemask.lab import detector_graph  # noqa: E402
from marrtino_facemask.lab.detector_graph import (  # noqa: E402
    FRAME_INPUT,
    GraphRewriteError,
    frame_input,
    merge_output_layers,
    rewrite_for_speed,
    space_to_depth_weights,
)
from marrtino_facemask.lab.quantize import quantize_onnx  # noqa: E402

MODELS = default_face_model_dir()


def _pictures():
    from skimage import data
    astronaut = np.ascontiguousarray(data.astronaut()[..., ::-1])
    coffee = np.ascontiguousarray(data.coffee()[..., ::-1])
    return astronaut, coffee


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    """(plain int8 file, the same rewritten), both from one quantization."""
    onnx = pytest.importorskip("onnx", reason="quantize and the rewrites need onnx")
    folder = tmp_path_factory.mktemp("detector_graph")
    detector = CenterFaceDetector(model_path=os.path.join(MODELS, CENTERFACE_ONNX),
                                  input_size=640)
    blobs = [detector.blob(cv2.resize(p, (640, 480)))[0] for p in _pictures()]
    plain = str(folder / "plain.onnx")
    quantize_onnx(os.path.join(MODELS, CENTERFACE_ONNX), plain, blobs, {"precision": "int8"})
    model = onnx.load(plain)
    rewrite_for_speed(model)
    onnx.checker.check_model(model)
    rewritten = str(folder / "rewritten.onnx")
    onnx.save(model, rewritten)
    return plain, rewritten


def _session(path):
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def test_cells_weights_compute_the_strided_convolution():
    """A 3x3 convolution with stride 2 and padding 1 equals the 2x2 convolution of the
    rewritten weights over the 2x2 cells (SpaceToDepth, DCR order), padded above and left.
    """
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (3, 10, 14)).astype(np.int64)          # C, H, W
    weights = rng.integers(-63, 64, (5, 3, 3, 3)).astype(np.int64)      # O, C, 3, 3
    padded = np.pad(image, ((0, 0), (1, 1), (1, 1)))
    strided = np.array([[[np.sum(weights[o] * padded[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3])
                          for j in range(7)] for i in range(5)] for o in range(5)])
    c, h, w = image.shape
    cells = image.reshape(c, h // 2, 2, w // 2, 2).transpose(2, 4, 0, 1, 3).reshape(4 * c, h // 2,
                                                                                  w // 2)
    cell_weights = space_to_depth_weights(weights)
    assert cell_weights.shape == (5, 12, 2, 2) and cell_weights.dtype == weights.dtype
    padded_cells = np.pad(cells, ((0, 0), (1, 0), (1, 0)))
    on_cells = np.array([[[np.sum(cell_weights[o] * padded_cells[:, i:i + 2, j:j + 2])
                           for j in range(7)] for i in range(5)] for o in range(5)])
    np.testing.assert_array_equal(on_cells, strided)
    assert np.count_nonzero(cell_weights) == np.count_nonzero(weights)


def test_rewritten_graph_gives_the_same_outputs_from_the_bgr_frame(quantized):
    """Real pictures at the node's 640x480 and at other sizes (the graph takes any size whose
    sides are multiples of 32): the four outputs match the plain int8 graph's.
    """
    plain, rewritten = _session(quantized[0]), _session(quantized[1])
    assert not takes_frames(plain) and takes_frames(rewritten)
    assert rewritten.get_inputs()[0].name == FRAME_INPUT
    sizes = [(640, 480), (480, 640), (320, 224), (608, 416)]
    astronaut, coffee = _pictures()
    for picture in (astronaut, coffee):
        for width, height in sizes:
            frame = cv2.resize(picture, (width, height))
            blob = cv2.dnn.blobFromImage(frame, 1.0, (width, height), (0, 0, 0), swapRB=True)
            want = plain.run(None, {plain.get_inputs()[0].name: blob})
            got = rewritten.run(None, {FRAME_INPUT: frame[None]})
            assert [g.shape for g in got] == [w.shape for w in want]
            for g, w in zip(got, want):
                np.testing.assert_allclose(g, w, rtol=0, atol=1e-5)
            if picture is astronaut and width == 640:
                assert want[0].max() > 0.5     # the heatmap has her face: not all background


def test_the_shipped_int8_detector_takes_the_frame_and_finds_the_face():
    path = os.path.join(MODELS, CENTERFACE_INT8_ONNX)
    session = _session(path)
    assert takes_frames(session)
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["precision"] == "int8" and meta["input"] == detector_graph.FRAME_INPUT_NOTE
    assert "detector_graph.py" in meta["rewrites"]
    detector = CenterFaceDetector(0.3, 8, backend="onnxruntime")
    assert detector.path == path and detector.takes_frames
    astronaut = _pictures()[0]
    faces = detector.detect(astronaut)
    assert len(faces) == 1
    x0, y0, x1, y1 = faces[0].box
    assert abs((x0 + x1) / 2 - 225) < 25 and abs((y0 + y1) / 2 - 117) < 25


def test_the_frame_input_holds_the_blob_pixels():
    """The detector feeds a frame-taking net the same pixels as the float blob, resized the
    same way when the frame is not at the net's size.
    """
    detector = CenterFaceDetector(backend="onnxruntime")
    astronaut = _pictures()[0]
    for frame in (cv2.resize(astronaut, (640, 480)), astronaut, astronaut[:300, :470]):
        fed, scale = detector.blob(frame)
        assert fed.dtype == np.uint8 and fed.shape[0] == 1 and fed.shape[3] == 3
        assert fed.flags.c_contiguous
        width, height = detector.net_size(*frame.shape[:2])
        assert fed.shape[1:3] == (height, width)
        blob = cv2.dnn.blobFromImage(frame, 1.0, (width, height), (0, 0, 0), swapRB=True)
        np.testing.assert_array_equal(fed[0][..., ::-1].transpose(2, 0, 1), blob[0])
        assert scale == (width / frame.shape[1], height / frame.shape[0])


def test_rewrites_refuse_other_graphs_in_one_line(quantized):
    import onnx
    float_model = onnx.load(os.path.join(MODELS, CENTERFACE_ONNX))
    with pytest.raises(GraphRewriteError) as info:
        frame_input(float_model)     # not quantized: no scale-1 uint8 input
    assert "QuantizeLinear" in str(info.value)
    once = onnx.load(quantized[1])
    with pytest.raises(GraphRewriteError) as info:
        frame_input(once)            # already rewritten: the input is uint8
    assert "float input" in str(info.value)
    with pytest.raises(GraphRewriteError) as info:
        merge_output_layers(once)    # already merged: the outputs come from a Split
    assert "convolution" in str(info.value)
    plain = onnx.load(quantized[0])
    scale = next(t for t in plain.graph.initializer if t.name == "input.1_scale")
    scale.CopyFrom(onnx.numpy_helper.from_array(np.array(2.0, np.float32), "input.1_scale"))
    with pytest.raises(GraphRewriteError) as info:
        frame_input(plain)
    assert "scale [2.]" in str(info.value) and "\n" not in str(info.value)


def test_the_detector_reads_either_input_form_from_the_file(quantized):
    """A plain int8 file (float blob input) and the rewritten one (frame input) run through
    the same CenterFaceDetector and give the same faces, boxes and scores.
    """
    plain = CenterFaceDetector(0.3, 8, quantized[0], backend="onnxruntime")
    rewritten = CenterFaceDetector(0.3, 8, quantized[1], backend="onnxruntime")
    assert not plain.takes_frames and rewritten.takes_frames
    astronaut = _pictures()[0]
    for frame in (astronaut, cv2.resize(astronaut, (640, 480)), astronaut[:300, :470]):
        a, b = plain.detect(frame), rewritten.detect(frame)
        assert len(a) == len(b) >= 1
        for fa, fb in zip(a, b):
            assert fa.box == fb.box and fa.score == pytest.approx(fb.score, abs=1e-5)
