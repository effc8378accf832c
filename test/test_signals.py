"""The signal guard without ROS: a signal that lands where Python cannot raise."""

import subprocess
import sys
import textwrap
import time

from conftest import REPO_ROOT as REPO

SCRIPT = textwrap.dedent("""
    import os, signal, time, weakref
    from marrtino_facemask import signals
    signals.install(grace_s=0.5)

    class Thing:
        pass

    def callback(_):
        # the signal arrives while a weakref callback runs (as the import system's module
        # locks do during start-up): Python cannot raise from here
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(100000):
            pass

    thing = Thing()
    ref = weakref.ref(thing, callback)
    del thing
    time.sleep(10)            # the watchdog ends the process before this ends
    print("not stopped")
""")


def test_a_signal_in_a_callback_that_cannot_raise_still_exits_0_quietly():
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True,
                          text=True, timeout=30)
    took = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    assert "not stopped" not in proc.stdout
    assert "Traceback" not in proc.stderr and "Shutdown" not in proc.stderr, proc.stderr
    assert took < 5, took


DEL_SCRIPT = textwrap.dedent("""
    import gc, os, signal, sys, time
    from marrtino_facemask import signals
    guard = signals.install(grace_s=0.5)

    class Half:
        def __init__(self):
            raise RuntimeError("cut short")      # as a Shutdown cuts an __init__ short
        def __del__(self):
            self.never_set                       # AttributeError, as rclpy's Executor

    def half():
        try:
            Half()
        except RuntimeError:
            pass

    half(); gc.collect()                         # no signal yet: printed
    sys.stderr.write("SIGNAL\\n"); sys.stderr.flush()
    guard.stop_raising()
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.05)
    half(); gc.collect()                         # after a signal: not printed
    time.sleep(10)
""")


def test_after_a_signal_errors_in_destructors_of_half_built_objects_are_not_printed():
    proc = subprocess.run([sys.executable, "-c", DEL_SCRIPT], cwd=REPO, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    before, after = proc.stderr.split("SIGNAL", 1)
    assert "AttributeError" in before and "__del__" in before
    assert "Traceback" not in after and "AttributeError" not in after, proc.stderr
