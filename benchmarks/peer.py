"""Our whole-frame time against the PyPI package face_mask_detector 0.2.3, in the same run, on
the same frames (not a test). The peer runs in its own venv (scripts/setup_peer_venv.sh) as a
subprocess (peer_face_mask_detector.py); this module feeds it the frames and prints the ratio.
"""

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_VENV = os.environ.get("MARRTINO_PEER_VENV", str(HERE.parent / ".venv-peer"))


def add_arguments(parser):
    parser.add_argument("--peer-venv", default=DEFAULT_VENV,
                        help="venv of face_mask_detector 0.2.3 (scripts/setup_peer_venv.sh); "
                             "default $MARRTINO_PEER_VENV or .venv-peer; timed only if present")


def peer_python(venv):
    python = Path(venv) / "bin" / "python"
    return python if python.is_file() else None


def time_peer(frames, venv, repeat, threads, timeout=1800):
    """{faces: (median ms, p90 ms, faces it found)} and its versions, timed in the peer venv."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "frames.npz")
        np.savez(path, **{f"f{n}": frame for n, frame in frames.items()})
        proc = subprocess.run([str(peer_python(venv)), str(HERE / "peer_face_mask_detector.py"),
                               "--frames", path, "--repeat", str(repeat), "--threads",
                               str(threads)], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"the peer benchmark failed ({proc.returncode}): "
                           f"{proc.stderr.strip()[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    timings = {int(name[1:]): (r["median_ms"], r["p90_ms"], r["faces"])
               for name, r in result["frames"].items()}
    return timings, result["versions"]


def report(ours, frames, venv, repeat, threads):
    """Print the peer's time per frame next to ours ({faces: (median, p90, found)}); return
    the peer's ({faces: (median, p90, found)}), or None when it has no venv here.
    """
    if peer_python(venv) is None:
        print(f"\npeer face_mask_detector 0.2.3: not timed, no venv at {venv} "
              "(build it with scripts/setup_peer_venv.sh)")
        return None
    peer, versions = time_peer(frames, venv, repeat, threads)
    print(f"\npeer: face_mask_detector {versions['face_mask_detector']} (res10 SSD + Keras "
          f"MobileNetV2; tensorflow {versions['tensorflow']}, opencv {versions['opencv']}), "
          f"same frames, same run; load average {os.getloadavg()[0]:.2f}")
    print(f"{'640x480 frame':<16} {'ours ms':>9} {'peer ms':>9} {'ours/peer':>10} "
          f"{'peer/ours':>10} {'faces ours':>11} {'faces peer':>11}")
    for n in sorted(ours):
        med, _, found = ours[n]
        peer_med, _, peer_found = peer[n]
        print(f"{n} face(s){'':<8} {med:9.1f} {peer_med:9.1f} {med / peer_med:10.2f} "
              f"{peer_med / med:9.1f}x {found:11d} {peer_found:11d}")
    return peer
