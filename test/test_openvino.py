"""``backend:=openvino``, both nets on OpenVINO (marrtino_facemask/openvino_nets.py,
classifier_openvino.py).

The checks that run OpenVINO are in ``openvino_checks.py``, and each runs here in a child
pytest process, so that OpenVINO never loads in this test runner's process. With it loaded
there, a later test of the suite (test_quantize.py's export and int8 fixtures, torch and
onnx) crashed the runner with SIGSEGV in two full runs, at the same test (a third run, under
gdb, did not crash); the two modules together alone, and the suite without OpenVINO,
passed. We did not find the cause. The node and the offline tools load OpenVINO only
when it is asked for, and none of them exports to ONNX with torch.

The checks skip where OpenVINO is not installed (CI's Kilted environment has it:
requirements/env.txt). The one-line errors when it is missing, and the names, run here.
"""

import ast
import importlib.util
import os
import subprocess
import sys

import pytest

from marrtino_facemask.centerface import CenterFaceDetector
from marrtino_facemask.classifier import MaskClassifier
from marrtino_facemask.config import build_pipeline, from_arguments, settings
from marrtino_facemask.detectors import make_face_detector
from marrtino_facemask.faces import FaceModelError
from marrtino_facemask.lab import evaluate
from marrtino_facemask.lab.detector_eval import parse_detectors
from marrtino_facemask.model_file import ModelError, default_model_path
from marrtino_facemask.openvino_nets import OpenVinoError, OpenVinoNets

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CHECKS = os.path.join(HERE, "openvino_checks.py")
CHECK_NAMES = [node.name for node in ast.parse(open(CHECKS).read()).body
               if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")]


def test_the_checks_were_found():
    assert len(CHECK_NAMES) >= 9


@pytest.mark.parametrize("name", CHECK_NAMES)
def test_openvino_check_in_its_own_process(name):
    if importlib.util.find_spec("openvino") is None:
        pytest.skip("openvino is not installed")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           f"{CHECKS}::{name}"], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in summary and "skipped" not in summary and "failed" not in summary, summary


def test_missing_openvino_is_one_clear_line(monkeypatch):
    """Asked for and not installed (its import fails, as here with sys.modules' None, which
    never loads it in this process): the node's and the tools' error says what to install.
    """
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(FaceModelError) as info:
        CenterFaceDetector(backend="openvino")
    msg = str(info.value)
    assert "\n" not in msg and "pip install openvino" in msg
    with pytest.raises(OpenVinoError) as info:
        OpenVinoNets("any.onnx", ["537"])
    assert "\n" not in str(info.value) and "pip install openvino" in str(info.value)


def test_missing_openvino_for_the_classifier_is_one_clear_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(ModelError) as info:
        MaskClassifier(default_model_path(), backend="openvino")
    msg = str(info.value)
    assert "\n" not in msg and "pip install openvino" in msg and "backend" in msg


def test_the_default_never_loads_openvino():
    pytest.importorskip("onnxruntime")
    assert make_face_detector("centerface").backend == "onnxruntime"
    assert MaskClassifier(default_model_path()).backend == "onnxruntime"
    pipeline = build_pipeline(settings())
    assert pipeline.face_detector.backend == pipeline.classifier.backend == "onnxruntime"
    assert "openvino" not in sys.modules


def test_evaluate_takes_the_node_s_one_backend_setting():
    """Evaluate runs both nets on OpenVINO with --backend openvino, as the node's backend
    setting does; the variant name of earlier releases is refused in one line.
    """
    args = evaluate.parse_args(["--backend", "openvino"])
    assert from_arguments(args, evaluate.SETTINGS)["backend"] == "openvino"
    with pytest.raises(SystemExit):
        evaluate.parse_args(["--backend", "torch"])
    with pytest.raises(ValueError) as info:
        parse_detectors("centerface-openvino")
    assert "\n" not in str(info.value) and "unknown detector" in str(info.value)
