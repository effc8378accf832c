"""How many CPU threads the node's libraries may use: the ``threads`` parameter.

By default ONNX Runtime and OpenCV each start one worker per core. On a robot, where the
camera driver and navigation share those cores, that makes the node collapse as soon as
another process is busy (docs/hostile_input.md, a busy robot). :func:`apply_threads` caps
OpenCV; ONNX Runtime reads the same setting through :func:`onnxruntime_session_options` and
OpenVINO through openvino_nets.py; 0 leaves each library's own default.
"""

DEFAULT_THREADS = 1      # leaves the other core(s) to the rest of the robot (README: Speed)
MAX_THREADS = 256

_configured = 0          # 0: library defaults


def configured_threads():
    """The value last given to :func:`apply_threads` (0: library defaults)."""
    return _configured


def apply_threads(threads):
    """Cap OpenCV's threads, and set what the nets' sessions read (``threads`` 0: the
    libraries' defaults). Returns :func:`thread_counts`.
    """
    global _configured
    threads = int(threads)
    if threads < 0:
        raise ValueError(f"threads must be >= 0, got {threads}")
    _configured = threads
    import cv2
    if threads > 0:
        cv2.setNumThreads(threads)   # note: for OpenCV 0 would mean "no threading at all"
    return thread_counts()


def thread_counts():
    """What OpenCV now uses (ONNX Runtime sessions take the configured value, 0: one per
    core).
    """
    import cv2
    return {"opencv": cv2.getNumThreads()}


def describe_threads():
    """``"opencv 1"``-like text of :func:`thread_counts`, for the node's log."""
    return ", ".join(f"{name} {n}" for name, n in thread_counts().items())


def onnxruntime_session_options(ort=None):
    """An ``onnxruntime.SessionOptions`` honouring the ``threads`` setting (the CenterFace
    detector's and the classifier's sessions).
    """
    if ort is None:
        import onnxruntime as ort
    options = ort.SessionOptions()
    if _configured > 0:
        options.intra_op_num_threads = _configured
        options.inter_op_num_threads = 1
    return options
