"""Stopping and refusing to start (issue 9): repeated and early signals exit 0 within 2 s,
bad model metadata and junk-producing parameters give one error line, and a failed
subscription is reported with its real cause.
"""

import signal
import time

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")
pytestmark = pytest.mark.ros

STOP_WITHIN_S = 2.0


def _stopped_cleanly(node, t_signal):
    code = node.wait_exit(timeout=15)
    took = time.monotonic() - t_signal
    assert code == 0, node.describe()
    assert took < STOP_WITHIN_S, f"took {took:.2f} s: {node.describe()}"
    assert "Traceback" not in node.stderr(), node.describe()
    return took


def test_double_ctrl_c_exits_0(start_node, node_model):
    """Before: two Ctrl-C 50 ms apart exited with -2 (the second one hit clean-up)."""
    node = start_node("-p", f"model_path:={node_model}")
    node.wait_for_stderr(r"ready: ", timeout=90)
    t0 = time.monotonic()
    node.proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    node.proc.send_signal(signal.SIGINT)
    took = _stopped_cleanly(node, t0)
    print(f"\ndouble Ctrl-C: exit 0 after {took:.2f} s")


def test_signal_storm_exits_0(start_node, node_model):
    node = start_node("-p", f"model_path:={node_model}")
    node.wait_for_stderr(r"ready: ", timeout=90)
    t0 = time.monotonic()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGTERM, signal.SIGINT) * 5:
        if node.alive():
            node.proc.send_signal(sig)
        time.sleep(0.005)
    _stopped_cleanly(node, t0)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("delay", [0.5, 2.5])
def test_signal_during_startup_exits_0_fast(start_node, node_model, sig, delay):
    """Before: a SIGTERM during start-up waited for the models to load (3.5 s, 10 s on a
    busy machine). ``delay`` after the start falls in the imports, the model loading or
    the warm-up, depending on the machine's load.
    """
    node = start_node("-p", f"model_path:={node_model}")
    time.sleep(delay)
    t0 = time.monotonic()
    node.proc.send_signal(sig)
    took = _stopped_cleanly(node, t0)
    ready = "ready:" in node.stderr()
    print(f"\n{sig.name} {delay} s after start ({'after' if ready else 'before'} ready): "
          f"exit 0 after {took:.2f} s")


# --------------------------------------------------------------------------- bad model metadata
def _model_with_metadata(path, **changes):
    """A copy of the shipped classifier whose metadata fields ``changes`` are replaced (as
    JSON, as export writes them).
    """
    import json

    onnx = pytest.importorskip("onnx", reason="needs onnx to rewrite a model's metadata")
    from conftest import SHIPPED_ONNX
    model = onnx.load(str(SHIPPED_ONNX))
    for prop in model.metadata_props:
        if prop.key in changes:
            prop.value = json.dumps(changes[prop.key])
    onnx.save(model, str(path))
    return str(path)


@pytest.mark.parametrize("changes,word", [
    ({"std": [0.0, 0.0, 0.0]}, "std"),
    ({"input_size": 0}, "input_size"),
    ({"crop_margin": float("nan")}, "crop_margin"),
], ids=["std=0", "input_size=0", "crop_margin=nan"])
def test_bad_model_metadata_exits_1_with_one_line(start_node, tmp_path, changes, word):
    """Before: std=0 loaded and published NaN scores; input_size=0 and crop_margin=nan
    ended with raw OpenCV/ValueError text.
    """
    path = _model_with_metadata(tmp_path / "meta.onnx", **changes)
    node = start_node("-p", f"model_path:={path}")
    assert node.wait_exit(timeout=90) == 1, node.describe()
    lines = node.stderr_lines()
    assert len(lines) == 1, node.describe()
    assert "[ERROR]" in lines[0] and "cannot load the mask classifier" in lines[0]
    assert word in lines[0] and path in lines[0]


@pytest.mark.parametrize("arg,words", [
    ("face_confidence:=0.0", ["face_confidence:=0.0", "[0.1, 1.0]"]),
    ("face_confidence:=0.05", ["face_confidence:=0.05", "[0.1, 1.0]"]),
    ("max_image_pixels:=0", ["max_image_pixels:=0", "integer in [1,"]),
    ("threads:=-1", ["threads:=-1", "[0, 256]"]),
])
def test_junk_parameters_exit_2(start_node, node_model, arg, words):
    """Before: face_confidence:=0.0 was allowed and gave 95 boxes on a one-face frame."""
    node = start_node("-p", f"model_path:={node_model}", "-p", arg)
    assert node.wait_exit(timeout=60) == 2, node.describe()
    lines = node.stderr_lines()
    assert len(lines) == 1 and "[ERROR]" in lines[0], node.describe()
    for word in words:
        assert word in lines[0], node.describe()


# --------------------------------------------------------------------------- subscription errors
def test_subscription_errors_keep_their_cause():
    """Before: every exception from create_subscription was called a bad image_topic."""
    import rclpy
    from rclpy.context import Context
    from sensor_msgs.msg import Image

    from marrtino_facemask.ros.camera_input import subscription_error
    from marrtino_facemask.ros.params import EXIT_CONFIG, EXIT_MODEL

    ctx = Context()
    rclpy.init(context=ctx)
    probe = rclpy.create_node("subscription_error_probe", context=ctx)
    try:
        with pytest.raises(Exception) as bad_name:
            probe.create_subscription(Image, "bad topic!!", lambda m: None, 1)
    finally:
        rclpy.shutdown(context=ctx)
    with pytest.raises(Exception) as dead:    # a real middleware-side failure
        probe.create_subscription(Image, "/camera/image_raw", lambda m: None, 1)

    name_error = subscription_error(bad_name.value, "bad topic!!", "bad topic!!", Image)
    assert name_error.exit_code == EXIT_CONFIG
    assert str(name_error).startswith("invalid parameter image_topic:='bad topic!!'")

    other = subscription_error(dead.value, "/camera/image_raw", "/camera/image_raw", Image)
    text = str(other)
    assert other.exit_code == EXIT_MODEL and "image_topic" not in text
    assert text.startswith("cannot subscribe to /camera/image_raw (Image): "
                           f"{type(dead.value).__name__}: ")
    assert "\n" not in text and str(dead.value).split()[0] in text
