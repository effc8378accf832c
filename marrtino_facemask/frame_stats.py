"""Counts and times of the node's frames, and the health they show (ROS-free).

The node reports them twice: on ``/diagnostics`` every second (diagnostics.py) and in a log
line every 10 s. Each report reads its own window (:meth:`FrameStats.take`), so the two do
not reset each other. All methods are thread-safe: frames are received in the executor's
thread and processed in the worker's.
"""

import threading
import time
from dataclasses import dataclass, fields

NO_FRAME_WARN_S = 5.0      # enabled, and no frame for this long: WARN
MAX_LATENCY_S = 1.0        # stamp -> publication above this (mean over a window): WARN
OK, WARN = "OK", "WARN"


@dataclass
class Window:
    """What happened since ``start`` (time.monotonic)."""

    start: float
    received: int = 0      # frames taken from the camera subscription
    processed: int = 0     # frames answered on facemask/detections
    dropped: int = 0       # frames replaced by a newer one before processing
    bad: int = 0           # frames that could not be decoded (skipped with a warning)
    errors: int = 0        # frames whose processing failed
    faces: int = 0
    detected: int = 0      # processed frames whose faces came from a fresh detection
    brightened: int = 0    # processed frames brightened as dim (exposure.py)
    proc_sum: float = 0.0
    proc_max: float = 0.0
    lat_sum: float = 0.0
    lat_n: int = 0
    lat_max: float = 0.0

    def summary(self, now):
        span = max(now - self.start, 1e-6)
        n = self.processed
        return {
            "seconds": span,
            "input_fps": self.received / span,
            "processed_fps": n / span,
            "detections_per_s": self.detected / span, "brightened": self.brightened,
            "received": self.received, "processed": n, "dropped": self.dropped,
            "bad": self.bad, "errors": self.errors,
            "processing_ms_mean": 1000 * self.proc_sum / n if n else None,
            "processing_ms_max": 1000 * self.proc_max if n else None,
            "latency_ms_mean": 1000 * self.lat_sum / self.lat_n if self.lat_n else None,
            "latency_ms_max": 1000 * self.lat_max if self.lat_n else None,
            "faces_per_frame": self.faces / n if n else None,
        }


class FrameStats:
    """Thread-safe frame counters, read by windows (``take(name)``) and in total."""

    def __init__(self, windows=("diagnostics", "log"), clock=time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        now = clock()
        self._windows = {name: Window(now) for name in windows}
        self._total = Window(now)
        self.last_received = now      # or when the node was (re)enabled
        self.last_processed = None

    def _add(self, **values):
        with self._lock:
            for window in (self._total, *self._windows.values()):
                for name, value in values.items():
                    if name.endswith("_max"):
                        setattr(window, name, max(getattr(window, name), value))
                    else:
                        setattr(window, name, getattr(window, name) + value)

    def received(self):
        self.last_received = self._clock()
        self._add(received=1)

    def dropped(self):
        self._add(dropped=1)

    def bad(self):
        self._add(bad=1)

    def error(self):
        self._add(errors=1)

    def processed(self, seconds, faces, latency_s=None, detected=True, brightened=False):
        """One answered frame: its processing time, faces, and stamp -> publication;
        ``detected``: its faces came from a fresh detection (not only from optical flow);
        ``brightened``: it was dim and brightened before the models saw it.
        """
        self.last_processed = self._clock()
        values = dict(processed=1, faces=faces, proc_sum=seconds, proc_max=seconds,
                      detected=int(bool(detected)), brightened=int(bool(brightened)))
        if latency_s is not None:
            values.update(lat_sum=latency_s, lat_n=1, lat_max=latency_s)
        self._add(**values)

    def restart_idle_clock(self):
        """Count "no frame for N s" from now (the node was just enabled)."""
        self.last_received = self._clock()

    def take(self, name):
        """The summary of window ``name`` since its last take (or since the start); resets it."""
        now = self._clock()
        with self._lock:
            window, self._windows[name] = self._windows[name], Window(now)
        return window.summary(now)

    def totals(self):
        with self._lock:
            return {f.name: getattr(self._total, f.name) for f in fields(Window)
                    if f.name in ("received", "processed", "dropped", "bad", "errors",
                                  "brightened")}

    def since_last_frame(self):
        return self._clock() - self.last_received

    def since_last_processed(self):
        return None if self.last_processed is None else self._clock() - self.last_processed


def health(summary, enabled, since_last_frame_s, since_last_processed_s=None):
    """(OK or WARN, one-line message) for a window's summary."""
    if not enabled:
        return OK, "disabled (facemask/enable): not subscribed to the camera"
    if since_last_frame_s >= NO_FRAME_WARN_S:
        return WARN, f"no frame received for {since_last_frame_s:.0f} s"
    latency = summary["latency_ms_mean"]
    if latency is not None and latency > 1000 * MAX_LATENCY_S:
        return WARN, (f"falling behind: results published {latency:.0f} ms after the "
                      "frame's stamp on average")
    if summary["errors"]:
        return WARN, f"{summary['errors']} frames failed in processing"
    if summary["bad"] and not summary["processed"]:
        return WARN, f"{summary['bad']} bad frames and none processed"
    if (summary["received"] and since_last_processed_s is not None
            and since_last_processed_s >= NO_FRAME_WARN_S):
        return WARN, (f"falling behind: frames arrive but none was answered for "
                      f"{since_last_processed_s:.0f} s")
    return OK, f"processing {summary['processed_fps']:.1f} frames/s"
