"""The runtime is the ROS-free core and marrtino_facemask.ros only: the node, `detect` and
`classify` run without torch, and the node loads none of the lab's libraries.

With default parameters, starting the node loads no module of marrtino_facemask.lab
(training, evaluation, export, augmentation) or marrtino_facemask.tools, and none of torch,
torchvision, onnx, matplotlib, sklearn, skimage or tqdm: checked in a process that imports
the node's module and builds its pipeline as the node does, and in the real node process
over DDS, whose loaded modules a ``sitecustomize`` hook writes out on request.

torch is installed here (training needs it), so its absence is also made real in processes
under test: an import hook makes ``import torch`` (and torchvision) raise
ModuleNotFoundError, and importlib.util.find_spec raise it too, as for a package that is not
there. The tests then run the real commands and the real node over DDS, with the shipped
model on ONNX Runtime.
"""

import importlib.util
import json
import os
import subprocess
import sys
import time

import cv2
import pytest

pytest.importorskip("onnxruntime")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAS_RCLPY = importlib.util.find_spec("rclpy") is not None
ASTRONAUT_FACE = (179, 57, 272, 178)
# What the node must never load: the lab's and the tools' modules, and their libraries
# ("onnx" is the model-building package, not onnxruntime).
FORBIDDEN_PACKAGES = ("marrtino_facemask.lab", "marrtino_facemask.tools")
FORBIDDEN_LIBRARIES = ("torch", "torchvision", "onnx", "matplotlib", "sklearn", "skimage",
                       "tqdm")
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
# A node process's loaded modules, on request: once the file MARRTINO_MODULES_REQUEST names
# exists, sys.modules is written to MARRTINO_MODULES_OUT (one name a line).
DUMP_MODULES = '''
import os
import sys
import threading
import time


def _dump_when_asked(request, out):
    while not os.path.exists(request):
        time.sleep(0.05)
    names = sorted(sys.modules)
    with open(out + ".tmp", "w") as f:
        f.write("\\n".join(names))
    os.replace(out + ".tmp", out)


if os.environ.get("MARRTINO_MODULES_REQUEST"):
    threading.Thread(target=_dump_when_asked, daemon=True,
                     args=(os.environ["MARRTINO_MODULES_REQUEST"],
                           os.environ["MARRTINO_MODULES_OUT"])).start()
'''
# The node's module imported, its pipeline built with the default settings and run as the
# node runs it (the detector scheduler included), then the loaded modules printed.
NODE_START = """
import json, sys
import numpy as np
from marrtino_facemask.ros import node
from marrtino_facemask import config
from marrtino_facemask.keyframe_detector import BackgroundDetector
values = config.settings()
pipeline = config.build_pipeline({name: values[name] for name in config.PIPELINE_SETTINGS})
frame = np.zeros((480, 640, 3), np.uint8)
pipeline(frame)
pipeline.classify_boxes(frame, [(100, 60, 180, 160)])
detector = BackgroundDetector(pipeline.face_detector, values["detect_every"],
                              values["max_faces"])
detector.detect(frame)
detector.close()
print(json.dumps({"classifier": [pipeline.classifier.backend, pipeline.classifier.precision],
                  "detector": [pipeline.face_detector.kind, pipeline.face_detector.precision],
                  "modules": sorted(sys.modules)}))
"""


def forbidden(modules):
    """The modules of ``modules`` that the node must not load."""
    return sorted(m for m in modules
                  if m.split(".")[0] in FORBIDDEN_LIBRARIES
                  or any(m == p or m.startswith(p + ".") for p in FORBIDDEN_PACKAGES))


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


def test_forbidden_names_the_lab_s_modules_and_libraries():
    assert forbidden(["torch", "torch.nn", "onnx", "onnx.checker", "skimage.data", "tqdm",
                      "marrtino_facemask.lab.train", "marrtino_facemask.tools",
                      "marrtino_facemask.tools.offline", "sklearn.metrics"]) == sorted(
        ["torch", "torch.nn", "onnx", "onnx.checker", "skimage.data", "tqdm",
         "marrtino_facemask.lab.train", "marrtino_facemask.tools",
         "marrtino_facemask.tools.offline", "sklearn.metrics"])
    assert forbidden(["onnxruntime", "onnxruntime.capi", "numpy", "cv2", "scipy.optimize",
                      "marrtino_facemask.labs", "marrtino_facemask.ros.node",
                      "marrtino_facemask.config", "torchaudio_not_really"]) == []


def test_the_hook_really_hides_torch(no_torch_env):
    proc = run(["-c", "import torch"], no_torch_env)
    assert proc.returncode == 1 and "ModuleNotFoundError: No module named 'torch'" in proc.stderr
    proc = run(["-c", "import importlib.util as u; print(u.find_spec('numpy') is not None)"],
               no_torch_env)
    assert proc.stdout.strip() == "True", proc.stderr


@pytest.mark.skipif(not HAS_RCLPY, reason="needs rclpy (a ROS 2 environment)")
def test_starting_the_node_loads_no_lab_tool_or_training_library():
    """Even where all of them are installed: the node's module, and its pipeline built with
    the default settings and run once, load nothing of the lab's.
    """
    proc = run(["-c", NODE_START], dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["classifier"] == ["onnxruntime", "int8"]
    assert out["detector"] == ["centerface", "int8"]
    modules = out["modules"]
    assert "marrtino_facemask.ros.node" in modules and "onnxruntime" in modules
    assert forbidden(modules) == []


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

    # torch is no backend of the runtime: refused by the command line, before any model
    proc = run(["-m", "marrtino_facemask", "detect", str(photo), "--jsonl", "-", "--backend",
                "torch"], no_torch_env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "argument --backend" in proc.stderr and "onnxruntime" in proc.stderr


@pytest.mark.skipif(not HAS_RCLPY, reason="needs rclpy (a ROS 2 environment)")
def test_node_with_default_parameters_over_dds(no_torch_env, start_node, ros, astronaut_bgr,
                                               monkeypatch, tmp_path):
    """The real node, default parameters (under a namespace of its own, so that its topics
    are its own), torch hidden: it answers a frame, and then its process has loaded nothing
    of the lab's.
    """
    pytest.importorskip("vision_msgs.msg")
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(BLOCK_TORCH + DUMP_MODULES)
    request, dump = tmp_path / "dump_modules", tmp_path / "modules.txt"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(hooks), os.environ.get("PYTHONPATH")) if p))   # the node process's
    monkeypatch.setenv("MARRTINO_MODULES_REQUEST", str(request))
    monkeypatch.setenv("MARRTINO_MODULES_OUT", str(dump))
    node = start_node("-r", "__ns:=/no_torch", name="no_torch_node")
    pub = ros.publisher(Image, "/no_torch/camera/image_raw")
    dets = ros.collector(Detection2DArray, "/no_torch/facemask/detections")
    ros.wait_ready(node, pub, outputs=("/no_torch/facemask/detections",), timeout=90)
    ready = node.wait_for_stderr(r"ready: .*", timeout=30).group(0)
    assert "facemask_resnet18_int8.onnx" in ready
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

    request.write_text("")
    deadline = time.monotonic() + 10
    while not dump.exists():
        assert time.monotonic() < deadline, f"no module list from the node: {node.describe()}"
        ros.spin(0.05)
    modules = dump.read_text().split()
    assert "marrtino_facemask.ros.node" in modules and "rclpy" in modules
    assert forbidden(modules) == []
    assert "Traceback" not in node.stderr() and "torch" not in node.stderr().replace(
        "no_torch", "")
