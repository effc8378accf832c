"""How many CPU threads the node's libraries may use: the ``threads`` parameter.

By default torch (OpenMP) and OpenCV each start one worker per core, and OpenMP workers
spin while they wait. On a robot, where the camera driver and navigation share those
cores, that makes the node collapse as soon as another process is busy (see the README's
contention figures). :func:`apply_threads` caps every runtime the node uses; 0 leaves each
library's own default.

ONNX Runtime reads the same setting through :func:`onnxruntime_session_options`, and torch
(imported only by the torch backend) through :func:`apply_torch_threads`, so the parameter is
built once.
"""

import sys

DEFAULT_THREADS = 1      # leaves the other core(s) to the rest of the robot (README: Speed)
MAX_THREADS = 256

_configured = 0          # 0: library defaults


def configured_threads():
    """The value last given to :func:`apply_threads` (0: library defaults)."""
    return _configured


def apply_threads(threads):
    """Cap OpenCV's threads, and torch's when torch is loaded (intra-op and, if still
    possible, inter-op).

    ``threads`` 0 changes nothing. torch is not imported here: the ONNX Runtime backend runs
    without it. The torch classifier calls :func:`apply_torch_threads` when it imports torch,
    and ONNX Runtime sessions read the setting through :func:`onnxruntime_session_options`.
    Returns :func:`thread_counts`.
    """
    global _configured
    threads = int(threads)
    if threads < 0:
        raise ValueError(f"threads must be >= 0, got {threads}")
    _configured = threads
    import cv2
    if threads > 0:
        cv2.setNumThreads(threads)   # note: for OpenCV 0 would mean "no threading at all"
    if "torch" in sys.modules:
        apply_torch_threads()
    return thread_counts()


def apply_torch_threads():
    """Apply the configured setting to torch (imports it: call it where torch is used)."""
    import torch
    if _configured > 0:
        torch.set_num_threads(_configured)
        try:
            # only allowed before torch's inter-op pool starts (first parallel op)
            torch.set_num_interop_threads(_configured)
        except RuntimeError:
            pass


def thread_counts():
    """What each loaded library now uses: opencv, and torch / torch_interop only when torch
    is loaded (ONNX Runtime sessions take the configured value, 0: one per core)."""
    import cv2
    counts = {}
    torch = sys.modules.get("torch")
    if torch is not None:
        counts.update(torch=torch.get_num_threads(),
                      torch_interop=torch.get_num_interop_threads())
    counts["opencv"] = cv2.getNumThreads()
    return counts


def describe_threads():
    """``"torch 1, opencv 1"``-like text of :func:`thread_counts`, for the node's log."""
    return ", ".join(f"{name} {n}" for name, n in thread_counts().items()
                     if name != "torch_interop")


def onnxruntime_session_options(ort=None):
    """An ``onnxruntime.SessionOptions`` honouring the ``threads`` setting (the CenterFace
    detector's and the classifier's sessions)."""
    if ort is None:
        import onnxruntime as ort
    options = ort.SessionOptions()
    if _configured > 0:
        options.intra_op_num_threads = _configured
        options.inter_op_num_threads = 1
    return options
