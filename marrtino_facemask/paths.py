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
    next to the source tree (None when neither exists).
    """
    path = os.environ.get("FACE_MASK_SCENES") or os.path.join(
        os.path.dirname(os.path.dirname(REPO_MODELS_DIR)), "shared", "data", "face_mask_scenes")
    return path if os.path.isdir(path) else None


# How the two neural nets (CenterFace and the classifier) run: ONNX Runtime, or OpenVINO
# (optional, `pip install openvino`, faster on Intel CPUs; openvino_nets.py).
BACKENDS = ("onnxruntime", "openvino")


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def list_images(folder):
    """The image files under ``folder`` (by extension, recursively), sorted."""
    out = []
    for dirpath, _, files in os.walk(folder):
        out.extend(os.path.join(dirpath, f) for f in files
                   if f.lower().endswith(IMAGE_EXTENSIONS))
    return sorted(out)
