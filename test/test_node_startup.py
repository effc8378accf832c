"""Startup errors: one clear line on stderr, no traceback, a non-zero exit, quickly."""

import subprocess
import sys
import time

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")
pytestmark = pytest.mark.ros

MODEL_ERRORS = {
    # name: (file name, its content or None for a missing file, words the error line must
    # contain)
    "missing model": ("model.onnx", None, ["model_path", "not found"]),
    "corrupt model": ("model.onnx", b"\x00garbage, not an ONNX model" * 100,
                      ["model_path", "corrupt"]),
    # a training checkpoint is not run by the node: only the ONNX file beside it
    "checkpoint without its onnx": ("model.pt", b"not read", ["no ONNX file", "model.onnx"]),
}


@pytest.mark.parametrize("case", sorted(MODEL_ERRORS))
def test_model_errors_exit_1(start_node, tmp_path, case):
    name, content, words = MODEL_ERRORS[case]
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    t0 = time.monotonic()
    node = start_node("-p", f"model_path:={path}")
    code = node.wait_exit(timeout=60)
    assert code == 1, node.describe()
    lines = node.stderr_lines()
    assert len(lines) == 1 and "[ERROR]" in lines[0], node.describe()
    assert str(path) in lines[0]
    for word in words:
        assert word in lines[0], node.describe()
    print(f"\n{case}: exit {code} after {time.monotonic() - t0:.1f} s: {lines[0]}")


BAD_PARAMETERS = {
    "detector:=foo": ["detector:='foo'", "dnn", "haar"],
    "face_confidence:=2.0": ["face_confidence:=2.0", "[0.1, 1.0]"],
    "face_confidence:=1": ["face_confidence:=1", "double"],
    "min_face_size:=0": ["min_face_size:=0", "[1, 4096]"],
    "reliability:=fast": ["reliability:='fast'", "best_effort"],
    "backend:=torch": ["backend:='torch'", "onnxruntime", "openvino"],
    "backend:=opencv": ["backend:='opencv'", "onnxruntime", "openvino"],
}


@pytest.mark.parametrize("arg", sorted(BAD_PARAMETERS))
def test_bad_parameters_exit_2(start_node, node_model, arg):
    t0 = time.monotonic()
    node = start_node("-p", f"model_path:={node_model}", "-p", arg)
    code = node.wait_exit(timeout=30)
    assert code == 2, node.describe()
    lines = node.stderr_lines()
    assert len(lines) == 1 and "[ERROR]" in lines[0], node.describe()
    for word in BAD_PARAMETERS[arg]:
        assert word in lines[0], node.describe()
    assert time.monotonic() - t0 < 15


def test_arguments_without_ros_args_are_refused():
    proc = subprocess.run([sys.executable, "-m", "marrtino_facemask", "node", "--detector=haar"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "--ros-args" in proc.stderr and "Traceback" not in proc.stderr


def test_a_missing_params_file_is_one_line_without_rcl_source_paths(tmp_path):
    params = tmp_path / "nope.yaml"
    proc = subprocess.run([sys.executable, "-m", "marrtino_facemask", "node", "--ros-args",
                           "--params-file", str(params)], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert err.count("\n") == 0 and str(params) in err and "Traceback" not in err
    assert "bad command line" in err and "--ros-args" in err
    assert ".c:" not in err, err        # rcl's ", at /project/src/parser.c:271"


def test_help_lists_the_parameters():
    proc = subprocess.run([sys.executable, "-m", "marrtino_facemask", "node", "--help"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    from marrtino_facemask.config import PARAMETERS
    assert len(PARAMETERS) == 24
    for spec in PARAMETERS:
        assert f"  {spec.name}" in proc.stdout, spec.name
    for removed in ("device", "precision", "detector_backend"):
        assert removed not in proc.stdout
