"""ONNX files on OpenVINO's CPU runtime: an optional backend for Intel CPUs, where it runs
the same int8 files faster than ONNX Runtime (docs/speed.md). ``backend:=openvino`` runs both
CenterFace (centerface.py) and the classifier (classifier_openvino.py) on it.

OpenVINO is not a dependency of the package: ``pip install openvino`` adds it. The files are
the ones ONNX Runtime would run; OpenVINO reads ONNX itself.

- **One compiled net per input shape, for the first ``max_cached`` shapes.** A net compiled
  for a static shape runs faster than a dynamic one (CenterFace at 640x480: 19.8 against
  21.8 ms; the classifier on 3 faces: 3.5 against 4.0 ms; one thread, on our CPU), and a
  frame's shape changes only with the camera, a batch's with the number of faces.
  Compiling takes 0.2 (classifier) to 0.5 s (CenterFace). Any further shape runs on one
  net compiled for the input shape that the file declares (the classifier's batch and
  CenterFace's height and width are dynamic there), so that frames or batches that keep
  changing shape cost no compiling after the first few (a least-recently-used cache would
  compile again for each of them), and the compiled nets stay at most ``max_cached`` + 1.
- **float32 arithmetic** (``INFERENCE_PRECISION_HINT`` f32) for the layers that are not int8.
  OpenVINO would otherwise run them in bfloat16 on CPUs that have it (AMX), and the answers
  would depend on the CPU.
- **Threads**: the ``threads`` parameter (:mod:`.threads`), and no pinning of its threads to
  cores, which the rest of the robot shares.
"""

import threading

from .threads import configured_threads

MISSING = ("backend 'openvino' asked for but openvino is not installed: run `pip install "
           "openvino`, or use backend onnxruntime")
# The dynamic net's cache of compiled kernels per shape (OpenVINO's default: 5000 entries),
# bounded for inputs whose shape keeps changing.
DYNAMIC_SHAPE_CACHE = 16


class OpenVinoError(RuntimeError):
    """OpenVINO is missing, or cannot read or compile the model; ``str(exc)`` is one line."""


def _last_line(exc):
    text = str(exc).strip()
    return text.splitlines()[-1][:200] if text else type(exc).__name__


class OpenVinoNets:
    """An ONNX file compiled by OpenVINO for each input shape it is given (module docstring).
    ``output_names``: the outputs that :meth:`run` returns, in that order (None: all, in the
    file's order); ``missing``: the error line when openvino cannot be imported.
    """

    def __init__(self, path, output_names, max_cached=4, missing=MISSING):
        try:
            import openvino
        except ImportError:
            raise OpenVinoError(missing) from None
        self._core = openvino.Core()
        try:
            self._model = self._core.read_model(path)
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises its own exception types
            raise OpenVinoError(f"OpenVINO cannot read {path}: {_last_line(exc)}") from None
        self.path = path
        self.inputs, self.outputs = self._model.inputs, self._model.outputs
        self.output_names = None if output_names is None else tuple(output_names)
        self.input_name = self.inputs[0].get_any_name()
        self.takes_frames = self._model.inputs[0].get_element_type() == openvino.Type.u8
        try:   # the "precision" that `quantize` writes into the file's metadata
            self.precision = self._model.get_rt_info(["framework", "precision"]).astype(str)
        except Exception:  # noqa: BLE001 - no such metadata: a float32 file
            self.precision = "float32"
        # An infer request is not safe to share between threads (ONNX Runtime's sessions are).
        self._lock = threading.Lock()
        # shape -> (compiled model, infer request) for the first max_cached shapes; the dynamic
        # net's in self._dynamic once a further shape comes.
        self._compiled = {}
        self._dynamic = None
        self.max_cached = max_cached

    def metadata(self):
        """The ONNX file's ``metadata_props`` (str -> str), which OpenVINO keeps in the model's
        ``framework`` run-time info; {} where it kept none.
        """
        try:
            framework = self._model.get_rt_info()["framework"]
            return {str(key): value.astype(str) if hasattr(value, "astype") else str(value)
                    for key, value in framework.items()}
        except Exception:  # noqa: BLE001 - no such info (an older OpenVINO, or none in the file)
            return {}

    def config(self):
        """The CPU plugin's settings (module docstring)."""
        config = {"INFERENCE_PRECISION_HINT": "f32", "ENABLE_CPU_PINNING": False,
                  "PERFORMANCE_HINT": "LATENCY"}
        if configured_threads() > 0:
            config["INFERENCE_NUM_THREADS"] = configured_threads()
        return config

    def _compile(self, shape):
        """(compiled model, infer request) for ``shape``, a tuple, or None: the input shape
        that the file declares (its dynamic dimensions dynamic).
        """
        config = self.config()
        if shape is None:
            config["CPU_RUNTIME_CACHE_CAPACITY"] = DYNAMIC_SHAPE_CACHE
        try:
            model = self._model
            if shape is not None:
                model = model.clone()
                model.reshape({self.input_name: list(shape)})
            compiled = self._core.compile_model(model, "CPU", config)
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises its own exception types
            what = "any input shape" if shape is None else f"input {list(shape)}"
            raise OpenVinoError(f"OpenVINO cannot compile {self.path} for {what}: "
                                f"{_last_line(exc)}") from None
        return compiled, compiled.create_infer_request()

    def _request_for(self, shape):
        """The infer request for ``shape``: its own net, compiled when needed, while fewer than
        ``max_cached`` shapes have one; else the dynamic net's.
        """
        if shape in self._compiled:
            return self._compiled[shape][1]
        if len(self._compiled) < self.max_cached:
            self._compiled[shape] = self._compile(shape)
            return self._compiled[shape][1]
        if self._dynamic is None:
            self._dynamic = self._compile(None)
        return self._dynamic[1]

    def compiled_shapes(self):
        """How many input shapes have a net of their own (at most ``max_cached``)."""
        return len(self._compiled)

    def has_dynamic_net(self):
        """Whether a shape beyond the first ``max_cached`` came (and the dynamic net runs it)."""
        return self._dynamic is not None

    def run(self, blob):
        """The outputs ``output_names`` (copies) for one input ``blob``."""
        with self._lock:
            request = self._request_for(tuple(blob.shape))
            try:
                request.infer({self.input_name: blob})
            except Exception as exc:  # noqa: BLE001 - OpenVINO raises its own exception types
                raise OpenVinoError(f"OpenVINO cannot run {self.path} on input "
                                    f"{list(blob.shape)}: {_last_line(exc)}") from None
            if self.output_names is None:
                return [request.get_output_tensor(i).data.copy()
                        for i in range(len(self.outputs))]
            return [request.get_tensor(name).data.copy() for name in self.output_names]
