"""CenterFace on OpenVINO's CPU runtime (``detector_backend:=openvino``): an optional backend
for Intel CPUs, where it runs the same int8 file faster than ONNX Runtime (README, Speed).

OpenVINO is not a dependency of the package: ``pip install openvino`` adds it. The file is
the one ONNX Runtime would run (``precision`` picks ``centerface_int8.onnx`` or the float32
net); OpenVINO reads ONNX itself.

- **One compiled net per input shape.** A net compiled for a static shape runs faster than a
  dynamic one (19.8 against 21.8 ms at 640x480, one thread, on our CPU), and a frame's shape
  changes only with the camera. Compiling takes about 0.5 s. As with OpenCV's nets, the
  least recently used one is dropped beyond ``max_cached``.
- **float32 arithmetic** (``INFERENCE_PRECISION_HINT`` f32) for the layers that are not int8.
  OpenVINO would otherwise run them in bfloat16 on CPUs that have it (AMX), and the answers
  would depend on the CPU.
- **Threads**: the ``threads`` parameter (:mod:`.threads`), and no pinning of its threads to
  cores, which the rest of the robot shares.
"""

import threading
from collections import OrderedDict

from .threads import configured_threads


MISSING = ("detector_backend 'openvino' asked for but openvino is not installed: run `pip "
           "install openvino` or use auto, onnxruntime or opencv")


class OpenVinoError(RuntimeError):
    """OpenVINO is missing, or cannot read or compile the model; ``str(exc)`` is one line."""


def _last_line(exc):
    text = str(exc).strip()
    return text.splitlines()[-1][:200] if text else type(exc).__name__


class OpenVinoNets:
    """A CenterFace ONNX file compiled by OpenVINO for each input shape it is given."""

    def __init__(self, path, output_names, max_cached=4):
        try:
            import openvino
        except ImportError:
            raise OpenVinoError(MISSING) from None
        self._core = openvino.Core()
        try:
            self._model = self._core.read_model(path)
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises its own exception types
            raise OpenVinoError(f"OpenVINO cannot read {path}: {_last_line(exc)}") from None
        self.path = path
        self.output_names = tuple(output_names)
        self.input_name = self._model.inputs[0].get_any_name()
        self.takes_frames = self._model.inputs[0].get_element_type() == openvino.Type.u8
        try:   # the "precision" that `quantize` writes into the file's metadata
            self.precision = self._model.get_rt_info(["framework", "precision"]).astype(str)
        except Exception:  # noqa: BLE001 - no such metadata: a float32 file
            self.precision = "float32"
        # An infer request is not safe to share between threads (ONNX Runtime's sessions are).
        self._lock = threading.Lock()
        # shape -> (compiled model, infer request), least recently used first. A dict rather
        # than functools.lru_cache on a method, which would tie this object in a reference
        # cycle and leave OpenVINO's objects to the cyclic garbage collector.
        self._compiled = OrderedDict()
        self.max_cached = max_cached

    def config(self):
        """The CPU plugin's settings (module docstring)."""
        config = {"INFERENCE_PRECISION_HINT": "f32", "ENABLE_CPU_PINNING": False,
                  "PERFORMANCE_HINT": "LATENCY"}
        if configured_threads() > 0:
            config["INFERENCE_NUM_THREADS"] = configured_threads()
        return config

    def _request_for(self, shape):
        """The infer request of the net compiled for ``shape``, compiled when needed."""
        if shape in self._compiled:
            self._compiled.move_to_end(shape)
            return self._compiled[shape][1]
        model = self._model.clone()
        try:
            model.reshape({self.input_name: list(shape)})
            compiled = self._core.compile_model(model, "CPU", self.config())
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises its own exception types
            raise OpenVinoError(f"OpenVINO cannot compile {self.path} for input "
                                f"{list(shape)}: {_last_line(exc)}") from None
        self._compiled[shape] = (compiled, compiled.create_infer_request())
        while len(self._compiled) > self.max_cached:
            self._compiled.popitem(last=False)
        return self._compiled[shape][1]

    def compiled_shapes(self):
        """How many input shapes have a compiled net now (at most ``max_cached``)."""
        return len(self._compiled)

    def run(self, blob):
        """The outputs ``output_names`` (copies) for one input ``blob``."""
        with self._lock:
            request = self._request_for(tuple(blob.shape))
            try:
                request.infer({self.input_name: blob})
            except Exception as exc:  # noqa: BLE001 - OpenVINO raises its own exception types
                raise OpenVinoError(f"OpenVINO cannot run {self.path} on input "
                                    f"{list(blob.shape)}: {_last_line(exc)}") from None
            return [request.get_tensor(name).data.copy() for name in self.output_names]
