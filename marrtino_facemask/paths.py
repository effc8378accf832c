"""Where the package's shipped files are (torch-free, so that every module can use it)."""

import os

REPO_MODELS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "models")


def models_dir():
    """``models/`` of the installed package (colcon's share folder), else of the source tree."""
    try:
        from ament_index_python.packages import get_package_share_directory
        path = os.path.join(get_package_share_directory("marrtino_facemask"), "models")
        if os.path.isdir(path):
            return path
    except Exception:  # noqa: BLE001 - not installed with colcon, or no ament index at all
        pass
    return REPO_MODELS_DIR


def default_dataset_dir():
    """The face_mask_scenes dataset: $FACE_MASK_SCENES, else ../shared/data/face_mask_scenes
    next to the source tree (None when neither exists)."""
    path = os.environ.get("FACE_MASK_SCENES") or os.path.join(
        os.path.dirname(os.path.dirname(REPO_MODELS_DIR)), "shared", "data", "face_mask_scenes")
    return path if os.path.isdir(path) else None


# How ONNX Runtime's models are stored: float32, and int8 copies written by `quantize` next to
# them as NAME_int8.onnx. int8 (the default) is used wherever such a copy exists.
PRECISIONS = ("int8", "float32")
DEFAULT_PRECISION = "int8"


def int8_path(onnx_path):
    """NAME_int8.onnx of NAME.onnx."""
    return os.path.splitext(onnx_path)[0] + "_int8.onnx"


def onnx_for_precision(onnx_path, precision=DEFAULT_PRECISION):
    """The file to run for ``precision``: the int8 copy of a float32 ONNX file where it exists
    (for int8), else the file itself."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision '{precision}': use one of {', '.join(PRECISIONS)}")
    if precision == "int8" and os.path.isfile(int8_path(onnx_path)):
        return int8_path(onnx_path)
    return onnx_path
