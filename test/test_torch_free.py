"""The node, `detect` and `classify` run with torch absent.

torch is installed here (training needs it), so its absence is made real in the processes
under test: a ``sitecustomize`` put first on PYTHONPATH installs an import hook that makes
``import torch`` (and torchvision) raise ModuleNotFoundError, and importlib.util.find_spec
raise it too, as for a package that is not there. The tests then run the real commands and
the real node over DDS, with the shipped model on ONNX Runtime.
"""

import importlib.util
import json
import os
import subprocess
import sys

import cv2
import pytest

pytest.importorskip("onnxruntime")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAS_RCLPY = importlib.util.find_spec("rclpy") is not None
ASTRONAUT_FACE = (179, 57, 272, 178)
BLOCK_TORCH = '''
import sys


class _NoTorch:
    """torch and torchvision are not installed (for this process and its children)."""

    blocked = ("torch", "torchvision")

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.blocked:
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return None


sys.meta_path.insert(0, _NoTorch())
'''


@pytest.fixture(scope="module")
def no_torch_env(tmp_path_factory):
    """The environment of a process where torch cannot be imported."""
    folder = tmp_path_factory.mktemp("no_torch")
    (folder / "sitecustomize.py").write_text(BLOCK_TORCH)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(folder), env.get("PYTHONPATH")) if p)
    return env


def run(args, env, **kwargs):
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=180, **kwargs)


def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_the_hook_really_hides_torch(no_torch_env):
    proc = run(["-c", "import torch"], no_torch_env)
    assert proc.returncode == 1 and "ModuleNotFoundError: No module named 'torch'" in proc.stderr
    proc = run(["-c", "import importlib.util as u; print(u.find_spec('numpy') is not None)"],
               no_torch_env)
    assert proc.stdout.strip() == "True", proc.stderr


def test_runtime_modules_do_not_import_torch():
    """Even where torch is installed, the node's modules and the ONNX Runtime classifier
    leave it unloaded (about 300 MB of memory and a second of start-up). Without rclpy (a
    ROS-free install) only the node's module is left out."""
    node = "marrtino_facemask.node, " if HAS_RCLPY else ""
    code = ("import sys, numpy as np\n"
            f"import {node}marrtino_facemask.offline, marrtino_facemask.pipeline\n"
            "from marrtino_facemask.classifier import MaskClassifier\n"
            "from marrtino_facemask.checkpoint import default_model_path\n"
            "clf = MaskClassifier(default_model_path())\n"
            "clf.predict([np.zeros((96, 96, 3), np.uint8)])\n"
            "print(clf.backend, clf.precision, 'torch' in sys.modules)\n")
    proc = run(["-c", code], dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["onnxruntime", "int8", "False"]


def test_detect_and_classify_without_torch(no_torch_env, astronaut_bgr, tmp_path):
    photo = tmp_path / "astronaut.png"
    assert cv2.imwrite(str(photo), astronaut_bgr)
    proc = run(["-m", "marrtino_facemask", "detect", str(photo), "--jsonl", "-"], no_torch_env)
    assert proc.returncode == 0, proc.stderr
    (line,) = [json.loads(t) for t in proc.stdout.splitlines() if t.startswith("{")]
    assert (line["width"], line["height"]) == (512, 512)
    (face,) = line["detections"]
    assert iou(face["bbox"], ASTRONAUT_FACE) > 0.6
    assert face["label"] == "without_mask" and face["score"] > 0.5
    assert sum(face["scores"].values()) == pytest.approx(1.0, abs=1e-4)

    x0, y0, x1, y1 = ASTRONAUT_FACE
    crop = tmp_path / "face.png"
    assert cv2.imwrite(str(crop), astronaut_bgr[y0:y1, x0:x1])
    proc = run(["-m", "marrtino_facemask", "classify", str(crop), "--jsonl", "-"], no_torch_env)
    assert proc.returncode == 0, proc.stderr
    (line,) = [json.loads(t) for t in proc.stdout.splitlines() if t.startswith("{")]
    assert line["detections"][0]["label"] == "without_mask"

    # asking for torch where there is none: one line that says what to do
    proc = run(["-m", "marrtino_facemask", "detect", str(photo), "--jsonl", "-", "--backend",
                "torch"], no_torch_env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "torch is not installed" in proc.stderr


@pytest.mark.skipif(not HAS_RCLPY, reason="needs rclpy (a ROS 2 environment)")
def test_node_without_torch_over_dds(no_torch_env, start_node, ros, astronaut_bgr, monkeypatch):
    pytest.importorskip("vision_msgs.msg")
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray
    monkeypatch.setenv("PYTHONPATH", no_torch_env["PYTHONPATH"])   # the node process's
    node = start_node("-p", "backend:=onnxruntime", "-p", "image_topic:=/no_torch/image",
                      name="no_torch_node")
    pub = ros.publisher(Image, "/no_torch/image")
    dets = ros.collector(Detection2DArray, "/facemask/detections")
    ros.wait_ready(node, pub, timeout=90)
    ready = node.wait_for_stderr(r"ready: .*", timeout=30).group(0)
    assert "facemask_resnet18_int8.onnx" in ready and "onnxruntime int8 on cpu" in ready
    assert "threads 1 (opencv 1)" in ready and "torch" not in ready.replace("no_torch", "")
    msg = ros.image_msg(astronaut_bgr, "bgr8", frame_id="no_torch_cam")
    (det_array,) = ros.request(pub, msg, [dets], node, timeout=30)
    assert det_array.header.frame_id == "no_torch_cam"
    (det,) = det_array.detections
    best = det.results[0].hypothesis
    assert best.class_id == "without_mask" and best.score > 0.5
    cx, cy = det.bbox.center.position.x, det.bbox.center.position.y
    w, h = det.bbox.size_x, det.bbox.size_y
    assert iou((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), ASTRONAUT_FACE) > 0.6
    assert "Traceback" not in node.stderr() and "torch" not in node.stderr().replace(
        "no_torch", "")
