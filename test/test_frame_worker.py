"""frame_worker: the newest frame is processed, older waiting ones are dropped (no ROS)."""

import threading
import time

from marrtino_facemask.frame_worker import FrameWorker, LatestSlot


def test_latest_slot_keeps_only_the_newest():
    slot = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True            # 1 dropped
    assert slot.take() == 2
    assert slot.clear() is False
    slot.put(3)
    assert slot.clear() is True
    slot.close()
    assert slot.take() is None            # closed: no waiting


def test_worker_processes_the_newest_and_drops_the_rest():
    started, release = threading.Event(), threading.Event()
    done = []

    def process(item):
        if item == 0:
            started.set()
            release.wait(5)
        done.append(item)

    worker = FrameWorker(process, on_error=lambda item, exc: None)
    worker.start()
    worker.submit(0)
    assert started.wait(5)
    dropped = [worker.submit(i) for i in range(1, 11)]    # while 0 is being processed
    assert dropped == [False] + [True] * 9
    release.set()
    deadline = time.monotonic() + 5
    while len(done) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.stop()
    assert done == [0, 10]


def test_an_error_goes_to_on_error_and_the_worker_goes_on():
    errors, done = [], []

    def process(item):
        if item == "bad":
            raise ValueError("boom")
        done.append(item)

    worker = FrameWorker(process, on_error=lambda item, exc: errors.append((item, str(exc))))
    worker.start()
    worker.submit("bad")
    deadline = time.monotonic() + 5
    while not errors and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.submit("good")
    while not done and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.stop()
    assert errors == [("bad", "boom")] and done == ["good"]
    assert not worker._thread.is_alive()
