"""ONNX Runtime sessions (ort_session.py): the shipped int8 files open, a bad file is one line,
and an ONNX Runtime too old for our int8 files says how to upgrade.
"""

import pytest

ort = pytest.importorskip("onnxruntime")

from marrtino_facemask.centerface import CenterFaceDetector  # noqa: E402
from marrtino_facemask.classifier_onnx import read_metadata  # noqa: E402
from marrtino_facemask.faces import CENTERFACE_INT8_ONNX, FaceModelError, default_face_model_dir  # noqa: E402
from marrtino_facemask.model_file import REPO_MODELS_DIR, ModelError  # noqa: E402
from marrtino_facemask.ort_session import MIN_VERSION, SessionError, open_session, version_tuple  # noqa: E402


def open_centerface(path):
    """What the node does with a CenterFace file on ONNX Runtime."""
    return CenterFaceDetector(model_path=path, backend="onnxruntime")


def test_version_tuples():
    assert version_tuple("1.17.3") == (1, 17) < MIN_VERSION
    assert version_tuple("1.18.0") == (1, 18) == MIN_VERSION
    assert version_tuple("1.23.2+cpu") == (1, 23) > MIN_VERSION
    assert version_tuple("2") == (2, 0)


def test_the_shipped_int8_files_open_here():
    import os

    assert version_tuple(ort.__version__) >= MIN_VERSION
    detector = open_session(os.path.join(default_face_model_dir(), CENTERFACE_INT8_ONNX))
    assert detector.get_inputs()[0].shape[3] == 3    # the BGR frame (detector_graph.py)
    meta = read_metadata(os.path.join(REPO_MODELS_DIR, "facemask_resnet18_int8.onnx"))
    assert meta["input_size"] == 96


def test_a_broken_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx model")
    with pytest.raises(SessionError) as err:
        open_session(str(bad))
    assert "\n" not in str(err.value) and str(err.value)
    with pytest.raises(FaceModelError, match="cannot read the CenterFace model"):
        open_centerface(str(bad))
    with pytest.raises(ModelError, match="corrupt or not an ONNX model"):
        read_metadata(str(bad))


def test_an_old_onnxruntime_is_told_how_to_upgrade(tmp_path, monkeypatch):
    """ONNX Runtime 1.17 and older refuse our int8 files (their opset list): the error names
    the version and the command that fixes it, in one line, for both models.
    """
    bad = tmp_path / "int8.onnx"
    bad.write_bytes(b"not an onnx model either")
    monkeypatch.setattr(ort, "__version__", "1.16.3")
    for call, kind in ((open_centerface, FaceModelError), (read_metadata, ModelError)):
        with pytest.raises(kind) as err:
            call(str(bad))
        text = str(err.value)
        assert "\n" not in text and "onnxruntime 1.16.3 is too old" in text, text
        assert "1.18 or newer" in text and "pip3 install -U onnxruntime" in text, text
