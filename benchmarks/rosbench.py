"""What the node benchmarks share (not a test): the real node in its own process, a camera
publisher in this one, paced publication, and the node process's CPU time and memory.
"""

import os
import random
import subprocess
import sys
import time
from contextlib import contextmanager

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
# A DDS domain of its own, on this machine only, unless the caller chose one.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

IMAGE_TOPIC = "/camera/image_raw"
DETECTIONS_TOPIC = "/facemask/detections"


@contextmanager
def ros_node(name):
    """(rclpy node, executor) of this process, shut down on exit."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    rclpy.init(args=[])      # not sys.argv: "--param name:=value" is for the node
    node = rclpy.create_node(name)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        yield node, executor
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown()


def reliable_qos(depth):
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE)


def start_node(params, model=""):
    """``python -m marrtino_facemask node`` with ``-p`` for each "name:=value"; stderr piped."""
    cmd = [sys.executable, "-m", "marrtino_facemask", "node", "--ros-args"]
    for param in list(params) + ([f"model_path:={model}"] if model else []):
        cmd += ["-p", param]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def wait_ready(node, executor, pub, proc, timeout=120.0):
    """Spin until ``pub`` matched the node's image subscription and its detections exist."""
    deadline = time.monotonic() + timeout
    while pub.get_subscription_count() == 0 or node.count_publishers(DETECTIONS_TOPIC) == 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"node did not start: {proc.stderr.read()[-2000:]}")
        executor.spin_once(timeout_sec=0.05)


def publish_paced(executor, pub, msg, fps, seconds, before_publish):
    """Publish ``msg`` at ``fps`` for ``seconds``, spinning ``executor`` in between;
    ``before_publish(i, elapsed)`` (i = 1, 2, ...; seconds since the start) may change the
    message first. Returns the start (time.monotonic()).
    """
    period = 1.0 / fps
    t_start = time.monotonic()
    i = 0
    while True:
        elapsed = time.monotonic() - t_start
        if elapsed >= seconds:
            return t_start
        i += 1
        before_publish(i, elapsed)
        pub.publish(msg)
        next_t = t_start + i * period
        while True:
            left = next_t - time.monotonic()
            if left <= 0:
                break
            executor.spin_once(timeout_sec=left)


def spin_for(executor, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.05)


def stop_node(proc):
    """SIGTERM, then kill after 10 s; returns the node's stderr."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return proc.stderr.read()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid, field="VmRSS"):
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of a process, in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for process {pid}")
