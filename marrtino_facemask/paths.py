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
