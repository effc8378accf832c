"""Process only the newest frame, in a thread of its own (ROS-free).

The subscription callback hands each frame to :meth:`FrameWorker.submit` and returns at
once; the worker thread processes the newest frame whenever it is free. A frame that waits
when a newer one arrives is dropped (counted), never queued. Because the callback no longer
waits for the models, the node counts every frame it receives, and its timers and services
(diagnostics, ``facemask/enable``, parameters) answer while a frame is being processed.
"""

import threading


class LatestSlot:
    """A one-place mailbox: :meth:`put` replaces what waits; :meth:`take` waits for it."""

    def __init__(self):
        self._cond = threading.Condition()
        self._item = None
        self._closed = False

    def put(self, item):
        """Leave ``item``; return True if it replaced a waiting one (that one is dropped)."""
        with self._cond:
            replaced = self._item is not None
            self._item = item
            self._cond.notify()
            return replaced

    def clear(self):
        """Drop what waits; return True if something did."""
        with self._cond:
            dropped, self._item = self._item is not None, None
            return dropped

    def take(self):
        """The waiting item (waits for one); None once closed."""
        with self._cond:
            while self._item is None and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            item, self._item = self._item, None
            return item

    def close(self):
        with self._cond:
            self._closed = True
            self._item = None
            self._cond.notify_all()


class FrameWorker:
    """Calls ``process(item)`` on the newest submitted item, one at a time, in a daemon
    thread. ``process`` must handle its own errors (an exception ends nothing: it is passed
    to ``on_error``).
    """

    def __init__(self, process, on_error, name="frame_worker"):
        self._process = process
        self._on_error = on_error
        self._slot = LatestSlot()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self):
        self._thread.start()

    def submit(self, item):
        """Queue ``item`` in place of any waiting one; True if one was dropped."""
        return self._slot.put(item)

    def clear(self):
        return self._slot.clear()

    def stop(self, timeout=1.0):
        """Stop taking frames and wait up to ``timeout`` s for the current one to finish."""
        self._slot.close()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self):
        while True:
            item = self._slot.take()
            if item is None:
                return
            try:
                self._process(item)
            except Exception as exc:  # noqa: BLE001 - one bad frame must not stop the worker
                self._on_error(item, exc)
