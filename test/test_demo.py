"""The README's demo command runs the real node on the sample stream and stops by itself."""

import os
import re
import subprocess
import sys

import cv2
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.ros


def test_demo_runs_the_node_and_reports(tmp_path, node_can_classify):
    out = tmp_path / "demo_out"
    proc = subprocess.run([sys.executable, "-m", "marrtino_facemask", "demo", "--frames", "8",
                           "--fps", "4", "--out", str(out)], cwd=REPO, capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    frames = [ln for ln in lines if ln.startswith("frame ")]
    assert frames, proc.stdout
    # the first frames show the astronaut, who wears no mask
    assert re.match(r"frame 0000: 1 face\(s\): without_mask 0\.\d\d at \[", frames[0]), frames[0]
    summary = next(ln for ln in lines if ln.startswith("published 8 frames"))
    answered = int(re.search(r"the node answered (\d+)", summary).group(1))
    assert 1 <= answered <= 8 and len(frames) == answered
    assert any(ln.startswith("faces per class: ") and "without_mask" in ln for ln in lines)
    written = sorted(os.listdir(out))
    assert written and all(name.endswith(".jpg") for name in written)
    image = cv2.imread(str(out / written[0]))
    assert image.shape == (480, 640, 3)


def test_demo_rejects_bad_arguments():
    proc = subprocess.run([sys.executable, "-m", "marrtino_facemask", "demo", "--fps", "0"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--fps" in proc.stderr
