"""The package on ARM64: `detect` gives the same answers on the CPU cores of a Raspberry Pi 4
(Cortex-A72) and a Raspberry Pi 5 (Cortex-A76), emulated, as on this x86 machine.

A robot's computer is often an ARM board. There ONNX Runtime and OpenCV run other kernels than
here: NEON instead of AVX2, and int8 dot-product instructions on the A76, which the A72 lacks.
`scripts/setup_arm64.sh` builds Debian's arm64 CPython with the aarch64 wheels of
requirements/arm64.txt, run by qemu. These tests run `detect` there, with no torch as on the
robot, and compare its JSON lines with those of the same command run here, on real pictures
(and on a few photos of face_mask_scenes when it is present). Both sides run the int8 models on
ONNX Runtime, whatever else is installed.

Only the offline code runs there: no ROS 2 wheels exist for aarch64 on PyPI, so the node itself
is not run on ARM.

Skipped when the ARM64 environment is absent, unless MARRTINO_REQUIRE_ARM64=1 (CI builds it and
sets that), when they fail instead; and in the environments of other Python versions than 3.11,
the emulated interpreter's.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info[:2] != (3, 11):
    # the emulated interpreter is CPython 3.11 with the newest wheels, as in the default
    # (Kilted) environment, so that the machine is all that differs
    pytest.skip("compares with this project's default environment (Python 3.11); this is "
                f"Python {sys.version_info[0]}.{sys.version_info[1]}", allow_module_level=True)

import cv2  # noqa: E402

from benchmarks import frames  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
ARM64_DIR = Path(os.environ.get("MARRTINO_ARM64_DIR", REPO_ROOT / ".arm64"))
ARM64_PYTHON = ARM64_DIR / "bin" / "python"
# each emulated core, and whether it has the int8 dot-product instructions (HWCAP_ASIMDDP)
CORES = {"cortex-a72": False, "cortex-a76": True}
DATASET = Path(os.environ.get("FACE_MASK_SCENES",
                              REPO_ROOT.parent / "shared" / "data" / "face_mask_scenes"))
DATASET_PHOTOS = 3  # emulation is slow: about 3 s a photo on the A76, 5 s on the A72
# How far the two machines may differ. int8 arithmetic is exact on both, but the float parts
# (resizing, normalisation, softmax) may round differently.
MAX_BOX_PX = 1
MAX_SCORE = 1e-3
# the same models and runtime on both sides, whatever else is installed
# (both nets on ONNX Runtime, in int8: the shipped files)
DETECT_ARGS = ["--backend", "onnxruntime", "--detector", "centerface"]
# On the emulated machine: check that it is an aarch64 Python without torch (as on the robot),
# print the dot-product bit of the CPU's capabilities (AT_HWCAP 16, HWCAP_ASIMDDP 1 << 20) as
# the first line of stderr, then run `python -m marrtino_facemask detect ...`.
ARM64_DETECT = (
    "import ctypes, importlib.util, platform, runpy, sys\n"
    "assert platform.machine() == 'aarch64', platform.machine()\n"
    "assert importlib.util.find_spec('torch') is None, 'torch is importable'\n"
    "libc = ctypes.CDLL(None); libc.getauxval.restype = ctypes.c_ulong\n"
    "print('asimddp', bool(libc.getauxval(16) & (1 << 20)), file=sys.stderr, flush=True)\n"
    "sys.argv = ['marrtino_facemask', 'detect'] + sys.argv[1:]\n"
    "runpy.run_module('marrtino_facemask', run_name='__main__', alter_sys=True)\n")


@pytest.fixture(scope="module", autouse=True)
def arm64_environment():
    if not ARM64_PYTHON.exists():
        why = (f"no emulated ARM64 environment at {ARM64_DIR} (build it with "
               "scripts/setup_arm64.sh)")
        if os.environ.get("MARRTINO_REQUIRE_ARM64") == "1":
            pytest.fail(why + ", and MARRTINO_REQUIRE_ARM64=1 asks for it")
        pytest.skip(why)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("arm64_pictures")
    for faces, frame in frames.bench_frames().items():
        cv2.imwrite(str(folder / f"frame_{faces}_faces.png"), frame)
    if (DATASET / "images").is_dir():
        for photo in sorted((DATASET / "images").iterdir())[:DATASET_PHOTOS]:
            (folder / photo.name).symlink_to(photo)
    return folder


def detect(cmd, pictures, out, env=None):
    """Runs ``cmd`` + detect's arguments; returns {picture name: detections} and stderr."""
    proc = subprocess.run(cmd + DETECT_ARGS + ["--jsonl", str(out), str(pictures)],
                          cwd=REPO_ROOT, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out) as f:
        lines = [json.loads(line) for line in f]
    return {Path(line["image"]).name: line["detections"] for line in lines}, proc.stderr


@pytest.fixture(scope="module")
def here(pictures, tmp_path_factory):
    return detect([sys.executable, "-m", "marrtino_facemask", "detect"], pictures,
                  tmp_path_factory.mktemp("x86") / "detect.jsonl")[0]


def test_the_pictures_have_faces_here(here):
    """The comparison below means something only if there are faces to compare."""
    assert [d["label"] for d in here["frame_1_faces.png"]] == ["without_mask"]
    assert len(here["frame_3_faces.png"]) == 3
    assert here["frame_0_faces.png"] == []


@pytest.mark.parametrize("core", CORES)
def test_detect_on_arm64_gives_the_answers_of_this_machine(core, pictures, here, tmp_path):
    arm, stderr = detect([str(ARM64_PYTHON), "-c", ARM64_DETECT], pictures,
                         tmp_path / "detect.jsonl", env={"MARRTINO_ARM64_CPU": core})
    # the emulated core is the one asked for: the A76 has the dot-product instructions
    assert stderr.splitlines()[0] == f"asimddp {CORES[core]}", stderr[-3000:]
    assert sorted(arm) == sorted(here)
    for name, ours in here.items():
        theirs = arm[name]
        assert len(theirs) == len(ours), name
        for a, b in zip(theirs, ours):
            assert max(abs(p - q) for p, q in zip(a["bbox"], b["bbox"])) <= MAX_BOX_PX, \
                (name, a, b)
            assert a["label"] == b["label"], (name, a, b)
            assert abs(a["face_score"] - b["face_score"]) <= MAX_SCORE, (name, a, b)
            for label, p in b["scores"].items():
                assert abs(a["scores"][label] - p) <= MAX_SCORE, (name, label, a, b)
