"""Capture what C libraries write to file descriptor 2 during a call (libjpeg, libpng).

libjpeg and libpng print warnings such as ``Corrupt JPEG data: premature end of data
segment`` or ``libpng error: IDAT: CRC error`` straight to the process's stderr, one line
per bad frame and unthrottled. :class:`StderrCapture` points fd 2 at a private in-memory
file around the decoder call and hands the text back, so that the caller can put it in its
own (throttled) warning instead.

fd 2 belongs to the whole process: while a capture is active (the duration of one decode,
milliseconds), whatever any thread writes to stderr goes into the capture. The node logs
from its one executor thread, so none of its own lines can be lost this way.
"""

import os
import sys
import tempfile
import threading

MAX_CAPTURED = 4096     # bytes of captured text kept (the rest is discarded unread)


class StderrCapture:
    """Reusable: ``with capture: decode()`` then ``capture.text`` (str, possibly empty)."""

    def __init__(self, fd=2):
        self.fd = fd
        self.text = ""
        self._lock = threading.Lock()
        try:
            self._file_fd = os.memfd_create("marrtino_stderr_capture")
        except (AttributeError, OSError):   # not Linux, or no memfd
            handle = tempfile.TemporaryFile()
            self._file_fd = os.dup(handle.fileno())
            handle.close()
        self._saved = None

    def __enter__(self):
        self._lock.acquire()
        try:
            os.ftruncate(self._file_fd, 0)
            os.lseek(self._file_fd, 0, os.SEEK_SET)
            try:
                sys.stderr.flush()
            except Exception:  # noqa: BLE001 - no usable sys.stderr
                pass
            self._saved = os.dup(self.fd)
            os.dup2(self._file_fd, self.fd)
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc_info):
        try:
            os.dup2(self._saved, self.fd)
            os.close(self._saved)
            self._saved = None
            size = os.lseek(self._file_fd, 0, os.SEEK_CUR)
            os.lseek(self._file_fd, 0, os.SEEK_SET)
            raw = os.read(self._file_fd, min(size, MAX_CAPTURED)) if size > 0 else b""
            self.text = raw.decode("utf-8", "replace")
        finally:
            self._lock.release()
        return False

    def close(self):
        if self._file_fd is not None:
            os.close(self._file_fd)
            self._file_fd = None
