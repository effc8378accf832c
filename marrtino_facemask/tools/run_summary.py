"""What the offline tools (``detect``, ``classify``) tell a person while and after they run:
a progress bar on a terminal and one closing summary line on stderr.
"""

import math
import sys
import time
from collections import Counter

import cv2
from tqdm import tqdm

from ..labels import CLASS_NAMES


def estimated_frames(paths, is_video, every=1):
    """How many frames the run will process: 1 per image, the container's frame count per
    video (every ``every``-th); None when a video does not say (the bar then just counts).
    """
    total = 0
    for path in paths:
        if not is_video(path):
            total += 1
            continue
        cap = cv2.VideoCapture(path)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
        cap.release()
        if count <= 0:
            return None
        total += math.ceil(count / every)
    return total


def progress_bar(total):
    """Tqdm on stderr; ``disable=None`` turns it off where stderr is not a terminal (CI,
    pipes, log files), so only the summary line is written there.
    """
    return tqdm(total=total, unit="frame", disable=None, file=sys.stderr, dynamic_ncols=True,
                leave=False)


def warn(message):
    """A warning line that does not break the progress bar."""
    tqdm.write(f"warning: {message}", file=sys.stderr)


class RunSummary:
    """Counts what a run read and found; :meth:`line` is the closing summary."""

    def __init__(self):
        self.images = 0
        self.video_frames = 0
        self.files = 0
        self.failed = 0
        self.faces = Counter()
        self.started = time.perf_counter()
        self.elapsed = None

    def add_file(self):
        self.files += 1

    def add_frame(self, frame_index, results):
        if frame_index is None:
            self.images += 1
        else:
            self.video_frames += 1
        self.faces.update(r.label for r in results)

    def add_failure(self):
        self.failed += 1

    def finish(self):
        self.elapsed = time.perf_counter() - self.started
        return self

    @property
    def frames(self):
        return self.images + self.video_frames

    def line(self):
        elapsed = self.elapsed if self.elapsed is not None else (
            time.perf_counter() - self.started)
        labels = list(CLASS_NAMES) + sorted(set(self.faces) - set(CLASS_NAMES))
        faces = ", ".join(f"{label} {self.faces[label]}" for label in labels)
        per_frame = (f"{1000 * elapsed / self.frames:.1f} ms per frame" if self.frames
                     else "no frame processed")
        return (f"summary: {_count(self.images, 'image')} and "
                f"{_count(self.video_frames, 'video frame')} read from "
                f"{_count(self.files, 'file')}, {_count(self.failed, 'file')} failed; "
                f"{_count(sum(self.faces.values()), 'face')}: {faces}; "
                f"{per_frame} ({elapsed:.1f} s)")


def _count(n, noun):
    return f"{n} {noun}{'' if n == 1 else 's'}"
