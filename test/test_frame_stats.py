"""frame_stats: windows of frame counts and times, and the health they show (no ROS)."""

import pytest

from marrtino_facemask.frame_stats import OK, WARN, FrameStats, health


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_windows_are_read_and_reset_independently():
    clock = Clock()
    stats = FrameStats(clock=clock)
    for i in range(4):
        stats.received()
        stats.processed(0.1 * (i + 1), faces=2, latency_s=0.2, detected=i % 2 == 0,
                        brightened=i == 3)
    stats.dropped()
    stats.bad()
    clock.now += 2.0
    s = stats.take("diagnostics")
    assert s["input_fps"] == pytest.approx(2.0) and s["processed_fps"] == pytest.approx(2.0)
    assert s["processing_ms_mean"] == pytest.approx(250.0)
    assert s["processing_ms_max"] == pytest.approx(400.0)
    assert s["latency_ms_mean"] == pytest.approx(200.0)
    assert s["faces_per_frame"] == pytest.approx(2.0)
    assert s["detections_per_s"] == pytest.approx(1.0)      # 2 of the 4 frames in 2 s
    assert (s["dropped"], s["bad"], s["errors"], s["brightened"]) == (1, 1, 0, 1)
    clock.now += 1.0
    empty = stats.take("diagnostics")
    assert empty["processed"] == 0 and empty["processing_ms_mean"] is None
    assert stats.take("log")["processed"] == 4          # the other window still has them
    assert stats.totals() == {"received": 4, "processed": 4, "dropped": 1, "bad": 1,
                              "errors": 0, "brightened": 1}


def test_health():
    clock = Clock()
    stats = FrameStats(clock=clock)
    quiet = stats.take("diagnostics")
    assert health(quiet, False, 60.0)[0] == OK
    level, message = health(quiet, True, 6.0)
    assert level == WARN and "no frame" in message
    assert health(quiet, True, 1.0)[0] == OK

    stats.received()
    stats.processed(0.05, 1, latency_s=1.5)
    level, message = health(stats.take("diagnostics"), True, 0.1, 0.1)
    assert level == WARN and "falling behind" in message

    stats.received()
    level, message = health(stats.take("diagnostics"), True, 0.1, 6.0)
    assert level == WARN and "none was answered" in message

    stats.received()
    stats.bad()
    level, message = health(stats.take("diagnostics"), True, 0.1, 6.0)
    assert level == WARN and "bad" in message

    stats.received()
    stats.processed(0.05, 1, latency_s=0.1)
    assert health(stats.take("diagnostics"), True, 0.1, 0.1)[0] == OK
