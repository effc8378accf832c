"""The classifier's model file: its format, metadata checks and where the shipped one is.

Torch-free: the node's ONNX classifier checks the same metadata that a training checkpoint
carries (``lab/checkpoint.py`` reads and writes the torch checkpoints).
"""

import math
import os

from .paths import REPO_MODELS_DIR, models_dir

FORMAT = "marrtino_facemask.resnet18"
FORMAT_VERSION = 1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_INPUT_SIZE = 96
DEFAULT_MODEL_NAME = "facemask_resnet18_int8.onnx"   # the shipped classifier, int8
REQUIRED_KEYS = {"class_names": list, "input_size": int, "crop_margin": float, "mean": list,
                 "std": list, "state_dict": dict}
MIN_INPUT_SIZE, MAX_INPUT_SIZE = 16, 1024
MAX_CROP_MARGIN = 2.0


class ModelError(RuntimeError):
    """A checkpoint is missing, unreadable or not a marrtino_facemask model."""


def default_model_path():
    """The shipped classifier: the installed package's share folder, else the source tree's."""
    path = os.path.join(models_dir(), DEFAULT_MODEL_NAME)
    return path if os.path.isfile(path) else os.path.join(REPO_MODELS_DIR, DEFAULT_MODEL_NAME)


# how to name another model, for the node and for the command-line tools alike
MODEL_PATH_HINT = ("give a model's path (the node's model_path:=, the tools' --model) or "
                   "leave it empty for the package's own")


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
