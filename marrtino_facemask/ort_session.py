"""ONNX Runtime sessions of the node's two models (CenterFace and the classifier), opened
alike: on the CPU, with the ``threads`` setting (threads.py), quiet, and with workers that
sleep rather than spin between runs (the detector and the classifier run one after the
other on the same cores).

A file that cannot be opened raises :class:`SessionError` with a one-line reason. When the
installed ONNX Runtime is older than :data:`MIN_VERSION`, the reason says so and how to
upgrade: the int8 files that ``quantize`` writes declare the opsets of ONNX Runtime's
quantization tools (ai.onnx.ml 5 among them), which ONNX Runtime 1.17 and older refuse
("Opset 5 is under development"), even though no node uses them. On Ubuntu 22.04 (Humble),
``pip3 install onnxruntime`` alone would also replace NumPy 1 with NumPy 2, under which
Ubuntu's OpenCV and SciPy do not import, hence the NumPy pin in the hint.
"""

from .threads import onnxruntime_session_options

MIN_VERSION = (1, 18)
UPGRADE_HINT = ("pip3 install -U onnxruntime 'numpy<1.25' (Ubuntu 22.04; 'numpy<2' on newer "
                "systems; README, \"On the robot\")")


class SessionError(Exception):
    """An ONNX file that ONNX Runtime cannot open; ``str(exc)`` is one line."""


def version_tuple(text):
    """(major, minor) of a version string such as '1.17.3' or '1.23.2+cpu'."""
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts + [0] * (2 - len(parts)))


def open_session(path):
    """An ``onnxruntime.InferenceSession`` of ``path`` on the CPU; raises SessionError."""
    import onnxruntime as ort
    options = onnxruntime_session_options(ort)
    options.log_severity_level = 3   # its warnings about unused initialisers are noise
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        if version_tuple(ort.__version__) < MIN_VERSION:
            raise SessionError(
                f"onnxruntime {ort.__version__} is too old for it (it needs "
                f"{'.'.join(map(str, MIN_VERSION))} or newer): {UPGRADE_HINT}") from None
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise SessionError(reason[:200]) from None
