"""Shared test setup.

* DDS isolation for the whole session: a random ROS_DOMAIN_ID in a safe range (override
  with MARRTINO_TEST_DOMAIN_ID) and discovery limited to this machine, set before anything
  starts a ROS context, and inherited by the node processes the tests start.
* Fixtures: ``astronaut_bgr``, ``tiny_checkpoint`` (lab tests), ``node_model`` (the shipped
  int8 classifier, which the node runs on ONNX Runtime), ``start_node`` /
  ``start_module_node`` (the node as a separate process) and ``ros`` (an in-process rclpy
  test node with publishers, collectors and bounded waits).
* Marker ``ros``: the tests that need ROS 2 (real nodes over DDS, messages). It is added to
  every test that uses a ROS fixture; modules without one mark themselves. CI runs them on a
  second distro with ``-m ros`` (README.md).
* ``MARRTINO_TEST_BACKEND`` (e.g. ``onnxruntime``), when set, is passed to every node the tests
  start as ``-p backend:=...``, before the test's own arguments.
* Torch is optional (the Jazzy and humble-libs environments have none): the lab's fixtures
  that need it skip, saying so. The node never needs it.

rclpy is imported only inside the ROS fixtures, so ROS-free tests (training, evaluation)
do not need it.
"""

import importlib.util
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# The shipped classifier, which the node runs (int8, from `quantize`).
SHIPPED_ONNX = REPO_ROOT / "models" / "facemask_resnet18_int8.onnx"
HAVE_TORCH = importlib.util.find_spec("torch") is not None
NO_TORCH = "torch is not installed here (the Jazzy and humble-libs environments are torch-free)"
# Fixtures whose users need ROS 2; their tests get the ``ros`` marker.
ROS_FIXTURES = {"ros", "ros_session", "start_node", "start_module_node"}
# Linux: domain ids above 101 can collide with the ephemeral port range; 0 is everybody's.
SAFE_DOMAIN_IDS = (1, 101)


def _isolate_dds():
    domain = os.environ.get("MARRTINO_TEST_DOMAIN_ID")
    if not domain:
        domain = str(random.SystemRandom().randint(*SAFE_DOMAIN_IDS))
    os.environ["ROS_DOMAIN_ID"] = domain
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"   # Iron and newer
    os.environ.pop("ROS_STATIC_PEERS", None)
    if os.environ.get("ROS_DISTRO") == "humble":
        os.environ["ROS_LOCALHOST_ONLY"] = "1"                  # Humble's equivalent
    os.environ.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="marrtino_test_roslog_"))
    os.environ.setdefault("RCUTILS_COLORIZED_OUTPUT", "0")


def pytest_configure(config):
    _isolate_dds()


def pytest_report_header(config):
    why_not = node_classifier_unavailable()
    return [f"ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID')} "
            f"ROS_AUTOMATIC_DISCOVERY_RANGE={os.environ.get('ROS_AUTOMATIC_DISCOVERY_RANGE')}",
            "node tests: classifier "
            f"{'unavailable: ' + why_not if why_not else node_model_path_hint()}"
            f", MARRTINO_TEST_BACKEND={os.environ.get('MARRTINO_TEST_BACKEND', '(unset)')}"]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if ROS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.ros)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    """Without torch, a test module that cannot be imported for want of torch is reported as
    skipped with that reason, instead of failing the collection of the whole run.
    """
    report = yield
    if (not HAVE_TORCH and report.failed and isinstance(collector, pytest.Module)
            and "No module named 'torch'" in str(report.longrepr)):
        report.outcome = "skipped"
        report.longrepr = (str(collector.path), 0, f"Skipped: needs torch: {NO_TORCH}")
        report.result = []
    return report


def node_classifier_unavailable():
    """Why the node cannot load a mask classifier in this checkout, or None."""
    if SHIPPED_ONNX.is_file():
        return None
    return f"there is no {SHIPPED_ONNX.relative_to(REPO_ROOT)}"


def node_model_path_hint():
    return str(SHIPPED_ONNX.relative_to(REPO_ROOT))


# --------------------------------------------------------------------------- data
@pytest.fixture(scope="session")
def astronaut_bgr():
    """skimage.data.astronaut() (public domain, 512x512) as a BGR uint8 array."""
    from skimage import data
    return np.ascontiguousarray(data.astronaut()[..., ::-1])


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """An untrained ResNet18 in the real checkpoint format (seeded, so reproducible)."""
    torch = pytest.importorskip("torch", reason=f"needs torch: {NO_TORCH}")

    from marrtino_facemask.lab.checkpoint import build_model, save_checkpoint
    with torch.random.fork_rng():      # leave the global RNG to the other tests
        torch.manual_seed(0)
        model = build_model()
    path = tmp_path_factory.mktemp("model") / "tiny_resnet18.pt"
    save_checkpoint(str(path), model, meta={"note": "untrained, for tests"})
    return str(path)


@pytest.fixture(scope="session")
def node_can_classify():
    """Skips the test where the node has no classifier it can run (no torch and no ONNX model)."""
    why_not = node_classifier_unavailable()
    if why_not:
        pytest.skip(f"the node cannot classify here: {why_not}")


@pytest.fixture(scope="session")
def node_model(node_can_classify):
    """The classifier the node tests give the node (``model_path``): the shipped int8 ONNX."""
    return str(SHIPPED_ONNX)


# --------------------------------------------------------------------------- node process
class NodeProcess:
    """``python -m marrtino_facemask node --ros-args ...`` (or another ``command``, such as
    ``reminder``) run from the repo root.
    """

    def __init__(self, ros_args, log_dir, name="node", command="node"):
        self.ros_args = [str(a) for a in ros_args]
        self.stderr_path = Path(log_dir) / f"{name}.stderr"
        self.stdout_path = Path(log_dir) / f"{name}.stdout"
        cmd = [sys.executable, "-m", "marrtino_facemask", command]
        backend = os.environ.get("MARRTINO_TEST_BACKEND") if command == "node" else None
        if backend:
            cmd += ["--ros-args", "-p", f"backend:={backend}"]
        if self.ros_args:
            cmd += ([] if backend else ["--ros-args"]) + self.ros_args
        self.cmd = cmd
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        # PYTHONFAULTHANDLER: a crash in native code (a segfault, say) prints every thread's
        # Python stack to the stderr that describe() shows
        self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=self._out, stderr=self._err,
                                     stdin=subprocess.DEVNULL,
                                     env={**os.environ, "PYTHONFAULTHANDLER": "1"})
        self.started = time.monotonic()
        self.exit_checked = False

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def stderr_lines(self):
        return [line for line in self.stderr().splitlines() if line.strip()]

    def describe(self):
        return (f"node process {self.pid} ({' '.join(self.cmd)}), returncode "
                f"{self.proc.poll()}, stderr:\n{self.stderr()}")

    def wait_exit(self, timeout):
        """Wait for the process to end by itself; return its exit code (fails on timeout)."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running after {timeout} s: {self.describe()}")
        self.exit_checked = True
        return code

    def wait_for_stderr(self, pattern, timeout, spin=None):
        """Wait until stderr matches ``pattern`` (regex); ``spin(dt)`` keeps ROS going."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            match = regex.search(self.stderr())
            if match:
                return match
            if time.monotonic() > deadline:
                pytest.fail(f"no stderr line matching {pattern!r} within {timeout} s: "
                            f"{self.describe()}")
            if spin is not None:
                spin(0.05)
            else:
                time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Send ``sig`` and return the exit code (kills and fails if it hangs)."""
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"did not exit within {timeout} s of {sig.name}: {self.describe()}")
        self.exit_checked = True
        return self.proc.returncode

    def assert_stops_cleanly(self, sig=signal.SIGTERM):
        code = self.stop(sig)
        assert code == 0, f"exit code {code} after {sig.name}: {self.describe()}"
        assert "Traceback" not in self.stderr(), self.describe()

    def close(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        self._out.close()
        self._err.close()


class _NodeStarter:
    """Starts node processes; at teardown each one still running must exit cleanly."""

    def __init__(self, log_dir):
        self.log_dir = Path(log_dir)
        self.procs = []

    def __call__(self, *ros_args, name=None, command="node"):
        why_not = node_classifier_unavailable() if command == "node" else None
        if why_not:
            pytest.skip(f"the node cannot classify here: {why_not}")
        name = name or f"node{len(self.procs)}"
        proc = NodeProcess(ros_args, self.log_dir, name, command)
        self.procs.append(proc)
        return proc

    def teardown(self):
        errors = []
        for proc in self.procs:
            try:
                if proc.alive():
                    code = proc.stop(signal.SIGTERM)
                    if code != 0 or "Traceback" in proc.stderr():
                        errors.append(f"unclean exit {code} on SIGTERM: {proc.describe()}")
                elif not proc.exit_checked:
                    errors.append(f"exited unexpectedly: {proc.describe()}")
            finally:
                proc.close()
        if errors:
            pytest.fail("\n\n".join(errors))


@pytest.fixture
def start_node(tmp_path):
    """``start_node('-p', 'x:=1', ...)`` -> NodeProcess; stopped (and checked) after the test."""
    starter = _NodeStarter(tmp_path)
    yield starter
    starter.teardown()


@pytest.fixture(scope="module")
def start_module_node(tmp_path_factory):
    """Like ``start_node`` but the processes live until the end of the test module."""
    starter = _NodeStarter(tmp_path_factory.mktemp("node_logs"))
    yield starter
    starter.teardown()


# --------------------------------------------------------------------------- in-process ROS
class Collector:
    """Keeps every message received on a topic, with its arrival time."""

    def __init__(self):
        self.msgs = []
        self.times = []
        self.sub = None

    def __call__(self, msg):
        self.msgs.append(msg)
        self.times.append(time.monotonic())

    def clear(self):
        self.msgs.clear()
        self.times.clear()

    def find(self, stamp):
        """The first message whose header stamp equals ``stamp``, with its arrival time."""
        for msg, t in zip(self.msgs, self.times):
            if msg.header.stamp.sec == stamp.sec and msg.header.stamp.nanosec == stamp.nanosec:
                return msg, t
        return None, None


class RosSession:
    """One rclpy context + test node for the whole session (a separate DDS participant).

    Publishers and collectors are cached for the session: a freshly matched reliable
    endpoint can take a second or two (DDS discovery and repair of the first large
    fragmented samples) before data flows, so tests reuse them.
    """

    def __init__(self):
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor

        self.rclpy = rclpy
        self.context = Context()
        rclpy.init(context=self.context)   # a non-default context gets no signal handlers
        self.node = rclpy.create_node(f"facemask_test_{os.getpid()}", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.cache = {}
        self._stamp = 1000

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()
        if self.context.ok():
            self.rclpy.shutdown(context=self.context)

    def next_stamp(self):
        from builtin_interfaces.msg import Time
        self._stamp += 1
        return Time(sec=self._stamp, nanosec=123456789)


def _quiet_publisher_events():
    """Publisher event callbacks that do not log (rclpy's default uses a deprecated call)."""
    try:
        from rclpy.event_handler import PublisherEventCallbacks
    except ImportError:  # Humble
        from rclpy.qos_event import PublisherEventCallbacks
    return PublisherEventCallbacks(incompatible_qos=lambda event: None)


class RosTest:
    """Per-test view of the session: cached collectors start empty; endpoints made with
    ``fresh=True`` are destroyed after the test.
    """

    def __init__(self, session):
        self.s = session
        self.node = session.node
        self._fresh = []
        for endpoint in session.cache.values():
            if isinstance(endpoint, Collector):
                endpoint.clear()

    # --- QoS
    @staticmethod
    def qos(reliability="reliable", depth=1):
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        rel = {"reliable": ReliabilityPolicy.RELIABLE,
               "best_effort": ReliabilityPolicy.BEST_EFFORT}[reliability]
        return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=rel)

    # --- endpoints
    def publisher(self, msg_type, topic, reliability="reliable", depth=10, fresh=False):
        key = ("pub", msg_type, topic, reliability, depth)
        if not fresh and key in self.s.cache:
            return self.s.cache[key]
        pub = self.node.create_publisher(msg_type, topic, self.qos(reliability, depth),
                                         event_callbacks=_quiet_publisher_events())
        if fresh:
            self._fresh.append(pub)
        else:
            self.s.cache[key] = pub
        return pub

    def collector(self, msg_type, topic, reliability="reliable", depth=100, fresh=False):
        key = ("sub", msg_type, topic, reliability, depth)
        if not fresh and key in self.s.cache:
            return self.s.cache[key]
        col = Collector()
        col.sub = self.node.create_subscription(msg_type, topic, col,
                                                self.qos(reliability, depth))
        if fresh:
            self._fresh.append(col)
        else:
            self.s.cache[key] = col
        return col

    def teardown(self):
        for ep in reversed(self._fresh):
            if isinstance(ep, Collector):
                self.node.destroy_subscription(ep.sub)
            else:
                self.node.destroy_publisher(ep)
        self._fresh.clear()

    # --- spinning
    def spin(self, duration):
        deadline = time.monotonic() + duration
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.s.executor.spin_once(timeout_sec=min(left, 0.05))

    def spin_until(self, predicate, timeout, node_proc=None):
        """Spin until ``predicate()``; False at the deadline. Fails if node_proc dies."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if node_proc is not None and not node_proc.alive():
                pytest.fail(f"node died: {node_proc.describe()}")
            if time.monotonic() > deadline:
                return False
            self.s.executor.spin_once(timeout_sec=0.02)
        return True

    def wait_ready(self, node_proc, pub, outputs=("/facemask/detections",), timeout=60.0):
        """Wait until ``pub`` matched the node's subscription and the node's outputs exist."""
        ok = self.spin_until(
            lambda: pub.get_subscription_count() > 0
            and all(self.node.count_publishers(t) > 0 for t in outputs),
            timeout, node_proc)
        assert ok, (f"node not ready within {timeout} s (publisher matched "
                    f"{pub.get_subscription_count()} subscriptions): {node_proc.describe()}")
        return time.monotonic()

    def request(self, pub, msg, collectors, node_proc=None, timeout=15.0, resend=0.5):
        """Publish ``msg`` (re-publishing every ``resend`` s) until every collector has a
        message with its stamp; returns those messages. Fails at the timeout.
        """
        deadline = time.monotonic() + timeout
        stamp = msg.header.stamp
        while True:
            pub.publish(msg)
            sent = time.monotonic()
            done = self.spin_until(
                lambda: all(c.find(stamp)[0] is not None for c in collectors),
                min(resend, max(deadline - sent, 0.0)), node_proc)
            if done:
                return [c.find(stamp)[0] for c in collectors]
            if time.monotonic() >= deadline:
                pytest.fail(f"no answer for stamp {stamp.sec}.{stamp.nanosec} within "
                            f"{timeout} s" + (f": {node_proc.describe()}" if node_proc else ""))

    # --- messages
    def next_stamp(self):
        return self.s.next_stamp()

    def image_msg(self, bgr, encoding="bgr8", stamp=None, frame_id="test_camera"):
        import array

        from sensor_msgs.msg import Image

        from marrtino_facemask.image_codec import bgr_to_encoding
        step, data = bgr_to_encoding(bgr, encoding)
        msg = Image()
        msg.header.stamp = stamp or self.next_stamp()
        msg.header.frame_id = frame_id
        msg.height, msg.width = bgr.shape[:2]
        msg.encoding, msg.step, msg.is_bigendian = encoding, step, 0
        msg.data = array.array("B", data)
        return msg

    def raw_image_msg(self, height, width, encoding, step, data, stamp=None,
                      frame_id="test_camera"):
        """An Image with arbitrary (possibly inconsistent) fields, for bad-frame tests."""
        import array

        from sensor_msgs.msg import Image
        msg = Image()
        msg.header.stamp = stamp or self.next_stamp()
        msg.header.frame_id = frame_id
        msg.height, msg.width, msg.encoding, msg.step = height, width, encoding, step
        msg.data = array.array("B", bytes(data))
        return msg

    def compressed_msg(self, bgr=None, fmt="jpeg", stamp=None, frame_id="test_camera",
                       data=None):
        import array

        import cv2
        from sensor_msgs.msg import CompressedImage
        if data is None:
            ok, buf = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", bgr)
            assert ok
            data = buf.tobytes()
        msg = CompressedImage()
        msg.header.stamp = stamp or self.next_stamp()
        msg.header.frame_id = frame_id
        msg.format = fmt
        msg.data = array.array("B", bytes(data))
        return msg

    def get_parameters(self, node_name, names, timeout=10.0):
        """Values of ``names`` through the node's real rcl_interfaces/GetParameters service."""
        from rcl_interfaces.srv import GetParameters
        client = self.node.create_client(GetParameters, f"{node_name}/get_parameters")
        try:
            assert self.spin_until(client.service_is_ready, timeout), \
                f"service {node_name}/get_parameters not available within {timeout} s"
            future = client.call_async(GetParameters.Request(names=list(names)))
            assert self.spin_until(future.done, timeout), "GetParameters got no answer"
            return dict(zip(names, (parameter_value(v) for v in future.result().values)))
        finally:
            self.node.destroy_client(client)


    def set_parameters(self, node_name, values, timeout=10.0):
        """Set ``values`` ({name: value}) through the node's real SetParameters service, one
        parameter at a time as ``ros2 param set`` does; returns the SetParametersResults.
        """
        from rcl_interfaces.msg import Parameter
        from rcl_interfaces.srv import SetParameters
        client = self.node.create_client(SetParameters, f"{node_name}/set_parameters")
        try:
            assert self.spin_until(client.service_is_ready, timeout), \
                f"service {node_name}/set_parameters not available within {timeout} s"
            request = SetParameters.Request(parameters=[
                Parameter(name=name, value=to_parameter_value(value))
                for name, value in values.items()])
            future = client.call_async(request)
            assert self.spin_until(future.done, timeout), "SetParameters got no answer"
            return list(future.result().results)
        finally:
            self.node.destroy_client(client)


def to_parameter_value(value):
    """A Python bool, int, float or str -> rcl_interfaces/ParameterValue."""
    from rcl_interfaces.msg import ParameterType, ParameterValue
    if isinstance(value, bool):
        return ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=value)
    if isinstance(value, int):
        return ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)
    if isinstance(value, float):
        return ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
    return ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=str(value))


def parameter_value(value):
    """rcl_interfaces/ParameterValue -> Python value (bool, int, float, str, or None)."""
    return {1: lambda v: v.bool_value, 2: lambda v: v.integer_value,
            3: lambda v: v.double_value, 4: lambda v: v.string_value}.get(
                value.type, lambda v: None)(value)


@pytest.fixture(scope="session")
def ros_session():
    session = RosSession()
    yield session
    session.close()


@pytest.fixture
def ros(ros_session):
    """In-process rclpy helpers; publishers/subscriptions made through it are cleaned up."""
    test = RosTest(ros_session)
    yield test
    test.teardown()
