"""The classifier checkpoint: a plain dict of tensors and JSON-like values.

It loads with ``torch.load(weights_only=True)``, so opening a checkpoint never runs pickled
code. Weights are stored as float16 (half the size; predictions are unchanged to within
float16 rounding) and cast back to float32 on load.

torch is imported inside the functions that need it: the metadata checks, the names and
:class:`ModelError` serve the ONNX Runtime backend too, where torch may be absent.
"""

import json
import math
import os

from .crops import DEFAULT_MARGIN
from .labels import CLASS_NAMES
from .paths import REPO_MODELS_DIR, models_dir

FORMAT = "marrtino_facemask.resnet18"
FORMAT_VERSION = 1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_INPUT_SIZE = 96
DEFAULT_MODEL_NAME = "facemask_resnet18.pt"
REQUIRED_KEYS = {"class_names": list, "input_size": int, "crop_margin": float, "mean": list,
                 "std": list, "state_dict": dict}
MIN_INPUT_SIZE, MAX_INPUT_SIZE = 16, 1024
MAX_CROP_MARGIN = 2.0


class ModelError(RuntimeError):
    """A checkpoint is missing, unreadable or not a marrtino_facemask model."""


def build_model(num_classes=len(CLASS_NAMES)):
    """torchvision's ResNet18 with a ``num_classes`` head."""
    import torchvision
    return torchvision.models.resnet18(weights=None, num_classes=num_classes)


def default_model_path():
    """The shipped model: the installed package's share folder, else the source tree's."""
    path = os.path.join(models_dir(), DEFAULT_MODEL_NAME)
    return path if os.path.isfile(path) else os.path.join(REPO_MODELS_DIR, DEFAULT_MODEL_NAME)


def stored_state(model):
    """The model's state_dict as a checkpoint stores it: float tensors rounded to float16."""
    return {k: (v.half().float() if v.is_floating_point() else v)
            for k, v in model.state_dict().items()}


def save_checkpoint(path, model, class_names=CLASS_NAMES, input_size=DEFAULT_INPUT_SIZE,
                    margin=DEFAULT_MARGIN, mean=IMAGENET_MEAN, std=IMAGENET_STD, meta=None):
    state = {k: (v.half() if v.is_floating_point() else v).detach().cpu().clone()
             for k, v in model.state_dict().items()}
    ckpt = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "arch": "resnet18",
        "class_names": list(class_names),
        "input_size": int(input_size),
        "crop_margin": float(margin),
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "state_dict": state,
        # JSON round trip: only plain types, so that weights_only loading accepts it
        "meta": json.loads(json.dumps(dict(meta or {}), default=str)),
    }
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    import torch
    torch.save(ckpt, tmp)
    os.replace(tmp, path)


# how to name another model, for the node and for the command-line tools alike
MODEL_PATH_HINT = ("give a model's path (the node's model_path:=, the tools' --model) or "
                   "leave it empty for the package's own")


def load_checkpoint(path):
    """Read and check a checkpoint; every failure is one :class:`ModelError` line."""
    hint = (f"{MODEL_PATH_HINT}, or train one with `python -m marrtino_facemask train`")
    if not path or not os.path.isfile(path):
        raise ModelError(f"model file '{path}' not found: {hint}")
    try:
        import torch
    except ImportError:
        raise ModelError(f"model file '{path}' is a torch checkpoint but torch is not installed: "
                         "use its ONNX file (`python -m marrtino_facemask export` writes it, "
                         "on a machine with torch) with backend onnxruntime, or install torch"
                         ) from None
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a corrupt file
        boilerplate = ("Weights only load failed", "Please file an issue", "Check the documentation",
                       "In PyTorch 2.6", "(1) In PyTorch", "(2) Alternatively")
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        reason = next((ln for ln in lines if not ln.startswith(boilerplate)),
                      lines[0] if lines else type(exc).__name__)
        raise ModelError(f"model file '{path}' is corrupt or not a torch checkpoint "
                         f"(torch says: {reason[:160]}): {hint}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ModelError(f"model file '{path}' is not a marrtino_facemask checkpoint "
                         f"(no format '{FORMAT}'): {hint}")
    for key, kind in REQUIRED_KEYS.items():
        if not isinstance(ckpt.get(key), kind):
            raise ModelError(f"model file '{path}' is damaged: field '{key}' is missing or not "
                             f"a {kind.__name__}: {hint}")
    problem = metadata_problem(ckpt)
    if problem:
        raise ModelError(f"model file '{path}' has bad metadata: {problem}: {hint}")
    return ckpt


def _finite_numbers(values, count):
    return (len(values) == count
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                    for v in values))


def metadata_problem(ckpt):
    """What is wrong with a checkpoint's preprocessing fields (one phrase), or None.

    These values reach OpenCV and the normalisation unchecked: std 0 gives NaN scores, an
    input size of 0 or a NaN margin an OpenCV error on the first face.
    """
    def shown(value):
        return repr(value)[:60]

    names = ckpt["class_names"]
    if not names or not all(isinstance(n, str) and n for n in names):
        return f"class_names must be non-empty strings (got {shown(names)})"
    size = ckpt["input_size"]
    if isinstance(size, bool) or not MIN_INPUT_SIZE <= size <= MAX_INPUT_SIZE:
        return (f"input_size must be {MIN_INPUT_SIZE} to {MAX_INPUT_SIZE} pixels "
                f"(got {shown(size)})")
    margin = ckpt["crop_margin"]
    if not math.isfinite(margin) or not 0.0 <= margin <= MAX_CROP_MARGIN:
        return (f"crop_margin must be a finite number in [0, {MAX_CROP_MARGIN}] "
                f"(got {shown(margin)})")
    if not _finite_numbers(ckpt["mean"], 3):
        return f"mean must be 3 finite numbers (got {shown(ckpt['mean'])})"
    if not _finite_numbers(ckpt["std"], 3) or min(ckpt["std"]) <= 0:
        return f"std must be 3 finite numbers > 0 (got {shown(ckpt['std'])})"
    return None


def model_from_checkpoint(ckpt, path="<checkpoint>"):
    model = build_model(len(ckpt["class_names"]))
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in ckpt["state_dict"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelError(f"model file '{path}' does not fit ResNet18 with "
                         f"{len(ckpt['class_names'])} classes ({str(exc).splitlines()[0]})") from None
    return model
