"""`detect` and `classify` as a person sees them: a progress bar on a terminal, nothing but
warnings and one summary line on stderr otherwise. Real images (scikit-image's public-domain
pictures), a real video, a file that fails, the shipped models.
"""

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
from collections import Counter

import cv2
import numpy as np
import pytest

from marrtino_facemask.labels import CLASS_NAMES
from marrtino_facemask.tools import offline

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUMMARY = re.compile(
    r"^summary: (\d+) images? and (\d+) video frames? read from (\d+) files?, (\d+) files? "
    r"failed; (\d+) faces?: (.*); ([\d.]+) ms per frame \(([\d.]+) s\)$")


def _bgr(name):
    from skimage import data
    image = getattr(data, name)()
    return np.ascontiguousarray(image[..., ::-1])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Astronaut (one face), coffee, rocket, chelsea (no face), a 3-frame video of the
    astronaut and a file that is not an image.
    """
    folder = tmp_path_factory.mktemp("offline_in")
    astro = _bgr("astronaut")
    cv2.imwrite(str(folder / "astronaut.jpg"), astro)
    for name in ("coffee", "rocket", "chelsea"):
        cv2.imwrite(str(folder / f"{name}.png"), _bgr(name))
    writer = cv2.VideoWriter(str(folder / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 5,
                             (512, 512))
    for _ in range(3):
        writer.write(astro)
    writer.release()
    (folder / "broken.png").write_bytes(b"not a png at all")
    return folder


def _summary(stderr):
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert lines and SUMMARY.match(lines[-1]), stderr
    return lines, SUMMARY.match(lines[-1])


def _faces_in(jsonl):
    with open(jsonl) as f:
        lines = [json.loads(line) for line in f]
    return Counter(d["label"] for line in lines for d in line.get("detections", []))


def _check_faces(text, expected):
    assert text == ", ".join(f"{name} {expected[name]}" for name in CLASS_NAMES), text


def test_detect_ends_with_a_summary_line(inputs, tmp_path, capsys):
    jsonl = str(tmp_path / "out.jsonl")
    t0 = time.monotonic()
    assert offline.main_detect([str(inputs), "--jsonl", jsonl]) == 1   # one file failed
    took = time.monotonic() - t0
    lines, m = _summary(capsys.readouterr().err)
    images, frames, files, failed, faces, per_class, ms, seconds = m.groups()
    assert (int(images), int(frames), int(files), int(failed)) == (4, 3, 6, 1), lines[-1]
    found = _faces_in(jsonl)
    assert found["without_mask"] + found["with_mask"] + found["mask_weared_incorrect"] >= 4
    assert int(faces) == sum(found.values())
    _check_faces(per_class, found)
    # time per frame is the run's wall time over its 7 frames
    assert 0 < float(seconds) <= took + 0.1
    assert abs(float(ms) * 7 / 1000 - float(seconds)) < 0.06, lines[-1]
    # not a terminal: no progress bar, only the warning about the broken file and the summary
    assert len(lines) == 2 and lines[0] == f"warning: cannot decode image {inputs / 'broken.png'}"


def test_classify_ends_with_a_summary_line(inputs, tmp_path, capsys):
    crops = tmp_path / "crops"
    crops.mkdir()
    cv2.imwrite(str(crops / "face.png"), _bgr("astronaut")[60:200, 160:290])
    (crops / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    jsonl = str(tmp_path / "crops.jsonl")
    assert offline.main_classify([str(crops), "--jsonl", jsonl]) == 1
    lines, m = _summary(capsys.readouterr().err)
    images, frames, files, failed, faces, per_class, ms, seconds = m.groups()
    assert (int(images), int(frames), int(files), int(failed), int(faces)) == (1, 0, 2, 1, 1)
    _check_faces(per_class, _faces_in(jsonl))
    assert len(lines) == 2 and "broken.jpg" in lines[0]


def test_no_input_file_says_so(tmp_path, capsys):
    """A folder without images or videos fails (exit 1) with a warning, then the summary."""
    assert offline.main_detect([str(tmp_path), "--jsonl", str(tmp_path / "o.jsonl")]) == 1
    warning, summary = capsys.readouterr().err.strip().splitlines()
    assert warning.startswith(f"warning: no images or videos in folder {tmp_path}")
    assert summary.startswith("summary: 0 images and 0 video frames read from 1 file, 1 file "
                              "failed; 0 faces: ")
    assert summary.endswith("no frame processed (0.0 s)")


def test_detect_brightens_a_dark_photo_unless_told_not_to(tmp_path, capsys):
    """The astronaut's face tiled 176 times at a fifteenth of the light: found, as the node
    finds it, only with --min-white-level above 0; a bad level is refused by the command
    line (the node's limits, config.py), exit 2.
    """
    face = cv2.resize(_bgr("astronaut")[30:230, 150:330], (40, 44), interpolation=cv2.INTER_AREA)
    dark = (np.tile(face, (11, 17, 1))[:480, :640] * 0.07).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "dark.png"), dark)
    counts = {}
    for level in ("160", "0"):
        jsonl = str(tmp_path / f"{level}.jsonl")
        assert offline.main_detect([str(tmp_path / "dark.png"), "--jsonl", jsonl,
                                    "--min-white-level", level]) == 0
        counts[level] = sum(_faces_in(jsonl).values())
    capsys.readouterr()
    assert counts["160"] > 100 and counts["0"] == 0, counts
    with pytest.raises(SystemExit) as exit_:
        offline.main_detect([str(tmp_path / "dark.png"), "--jsonl", str(tmp_path / "x"),
                             "--min-white-level", "300"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err                     # one line, which says what to use
    assert "error: argument --min-white-level: 300 is out of range: use 0 to 255" in err[0]
    assert not (tmp_path / "x").exists()


def test_progress_bar_on_a_terminal(inputs, tmp_path):
    """Stderr on a pseudo-terminal (80 columns): tqdm draws the frame count, then the summary."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "marrtino_facemask", "detect", str(inputs / "astronaut.jpg"),
         str(inputs / "clip.avi"), "--jsonl", str(tmp_path / "o.jsonl")],
        cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:          # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(timeout=120) == 0
    text = out.decode(errors="replace")
    # tqdm's bar: n/4 frames and a rate. Which n it last drew depends on its refresh interval
    # (0.1 s) and the bar is cleared on close (leave=False), so 4/4 itself need not appear.
    assert re.search(r"\d+%\|.*\| ?[0-4]/4 \[", text), text
    assert "frame/s" in text or "s/frame" in text, text
    last = [ln for ln in re.split(r"[\r\n]+", text) if ln.strip()][-1]
    assert last.startswith("summary: 1 image and 3 video frames read from 2 files, 0 files "
                           "failed; "), text
