"""Ctrl-C and SIGTERM stop the node with exit code 0 within about 2 s, whenever they come.

rclpy's own handlers only shut the ROS context down: the node then notices at its next ROS
call, which during start-up (imports, loading the models, warm-up) can be seconds later, and
a second Ctrl-C during clean-up used to escape as a KeyboardInterrupt (exit -2).

:class:`SignalGuard` adds two things, installed before ``rclpy.init`` (which chains to them):

* the first SIGINT/SIGTERM raises :class:`Shutdown` in the main thread at its next Python
  instruction; later ones are ignored, and so is any signal once clean-up has begun (where
  that instruction is in a callback that cannot raise, the Shutdown is dropped silently and
  the watchdog below ends the process);
* a watchdog thread wakes on the first signal (through ``signal.set_wakeup_fd``, which works
  even while the main thread is inside a long C call) and, if the process is still alive
  ``grace_s`` seconds later, ends it with exit code 0;
* :meth:`SignalGuard.exit_now`, for the caller to leave without the interpreter's
  tear-down once it has cleaned up after a signal (with torch loaded that tear-down alone
  takes about 2 s, and Python resets the handlers to the default first, so a second Ctrl-C
  during it would kill the process with -2).

Standard library only, so it can be installed before anything heavy is imported.
"""

import os
import signal
import sys
import threading
import time

GRACE_S = 1.5
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Shutdown(BaseException):
    """A signal asked the process to stop (a BaseException, like KeyboardInterrupt, so that
    ``except Exception`` blocks do not swallow it).
    """


class SignalGuard:
    """See the module docstring. One per process: use :func:`install`."""

    def __init__(self, grace_s=GRACE_S, exit_code=0):
        self.grace_s = grace_s
        self.exit_code = exit_code
        self.signum = None            # the first signal received
        self._raising = True

    def install(self):
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        for sig in SIGNALS:
            signal.signal(sig, self._on_signal)
        sys.unraisablehook = self._unraisable_hook(sys.unraisablehook)
        threading.Thread(target=self._watchdog, args=(read_fd,), name="signal_watchdog",
                         daemon=True).start()
        return self

    def stop_raising(self):
        """From now on (clean-up) signals raise nothing; the watchdog still bounds the time."""
        self._raising = False

    def exit_now(self, code):
        """End the process at once with ``code`` (stdout/stderr flushed, no interpreter
        tear-down).
        """
        _flush()
        os._exit(code)

    def _on_signal(self, signum, frame):
        if self.signum is None:
            self.signum = signum
        if self._raising:
            self._raising = False
            raise Shutdown(signum)

    def _unraisable_hook(self, previous):
        """A signal that lands while Python runs a callback that cannot raise (a weakref
        callback, say, such as the import system's module locks, or a ``__del__``) has its
        :class:`Shutdown` swallowed and printed with a traceback. Such a Shutdown is not
        printed: the watchdog still ends the process with exit code 0 within ``grace_s``.
        Once a signal has come, an error in a ``__del__`` is not printed either: it is an
        object whose ``__init__`` the Shutdown cut short (rclpy's Executor lacks attributes
        then). Anything else goes to the previous hook.
        """
        def hook(unraisable):
            if isinstance(unraisable.exc_value, Shutdown):
                return
            if (self.signum is not None
                    and getattr(unraisable.object, "__name__", None) == "__del__"):
                return
            previous(unraisable)
        return hook

    def _watchdog(self, read_fd):
        while True:
            try:
                data = os.read(read_fd, 16)
            except InterruptedError:
                continue
            if not data:
                return
            if any(b in (int(s) for s in SIGNALS) for b in data):
                break
        time.sleep(self.grace_s)
        self.exit_now(self.exit_code)


def _flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - closed or missing stream
            pass


_guard = None


def install(grace_s=GRACE_S):
    """Install the process's guard once (main thread only; elsewhere returns None)."""
    global _guard
    if _guard is None:
        if threading.current_thread() is not threading.main_thread():
            return None
        _guard = SignalGuard(grace_s).install()
    return _guard
