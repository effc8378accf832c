"""The classifier checkpoint: a plain dict of tensors and JSON-like values.

It loads with ``torch.load(weights_only=True)``, so opening a checkpoint never runs pickled
code. Weights are stored as float16 (half the size; predictions are unchanged to within
float16 rounding) and cast back to float32 on load.

torch is imported inside the functions that need it: the metadata checks, the names and
:class:`ModelError` serve the ONNX Runtime backend too, where torch may be absent.
"""

import json
import os

from ..crops import DEFAULT_MARGIN
from ..labels import CLASS_NAMES
from ..model_file import (  # noqa: F401
    DEFAULT_INPUT_SIZE,
    FORMAT,
    FORMAT_VERSION,
    IMAGENET_MEAN,
    IMAGENET_STD,
    MODEL_PATH_HINT,
    REPO_MODELS_DIR,
    REQUIRED_KEYS,
    ModelError,
    metadata_problem,
)
from ..paths import models_dir

CHECKPOINT_NAME = "facemask_resnet18.pt"   # the shipped classifier's training checkpoint


def default_checkpoint_path():
    """The shipped classifier's checkpoint (what export and quantize start from)."""
    path = os.path.join(models_dir(), CHECKPOINT_NAME)
    return path if os.path.isfile(path) else os.path.join(REPO_MODELS_DIR, CHECKPOINT_NAME)



def build_model(num_classes=len(CLASS_NAMES)):
    """Torchvision's ResNet18 with a ``num_classes`` head."""
    import torchvision
    return torchvision.models.resnet18(weights=None, num_classes=num_classes)


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
        boilerplate = ("Weights only load failed", "Please file an issue",
                       "Check the documentation", "In PyTorch 2.6", "(1) In PyTorch",
                       "(2) Alternatively")
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


def model_from_checkpoint(ckpt, path="<checkpoint>"):
    model = build_model(len(ckpt["class_names"]))
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in ckpt["state_dict"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelError(f"model file '{path}' does not fit ResNet18 with "
                         f"{len(ckpt['class_names'])} classes "
                         f"({str(exc).splitlines()[0]})") from None
    return model
