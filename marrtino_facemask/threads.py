"""How many CPU threads the node's libraries may use: the ``threads`` parameter.

By default torch (OpenMP) and OpenCV each start one worker per core, and OpenMP workers
spin while they wait. On a robot, where the camera driver and navigation share those
cores, that makes the node collapse as soon as another process is busy (see the README's
contention figures). :func:`apply_threads` caps every runtime the node uses; 0 leaves each
library's own default.

A runtime added later (ONNX Runtime) reads the same setting through
:func:`configured_threads` / :func:`onnxruntime_session_options`, so the parameter is built
once.
"""

DEFAULT_THREADS = 1      # leaves the other core(s) to the rest of the robot (README: Speed)
MAX_THREADS = 256

_configured = 0          # 0: library defaults


def configured_threads():
    """The value last given to :func:`apply_threads` (0: library defaults)."""
    return _configured


def apply_threads(threads):
    """Cap torch's intra-op (and, if still possible, inter-op) threads and OpenCV's threads.

    ``threads`` 0 changes nothing. Returns a dict of what each library now uses.
    """
    global _configured
    threads = int(threads)
    if threads < 0:
        raise ValueError(f"threads must be >= 0, got {threads}")
    _configured = threads
    import cv2
    import torch
    if threads > 0:
        torch.set_num_threads(threads)
        try:
            # only allowed before torch's inter-op pool starts (first parallel op)
            torch.set_num_interop_threads(threads)
        except RuntimeError:
            pass
        cv2.setNumThreads(threads)   # note: for OpenCV 0 would mean "no threading at all"
    return {"torch": torch.get_num_threads(), "torch_interop": torch.get_num_interop_threads(),
            "opencv": cv2.getNumThreads()}


def onnxruntime_session_options(ort=None):
    """An ``onnxruntime.SessionOptions`` honouring the ``threads`` setting (for a future
    ONNX Runtime detector or classifier)."""
    if ort is None:
        import onnxruntime as ort
    options = ort.SessionOptions()
    if _configured > 0:
        options.intra_op_num_threads = _configured
        options.inter_op_num_threads = 1
    return options
