"""package.xml declares what the code imports, with valid rosdep keys, so that
`rosdep install --from-paths src` on a robot installs everything the node and tools need.

The imports are read from the sources (ast), not guessed: every third-party module that
marrtino_facemask/ or launch/ imports must map to an <exec_depend>, every module the tests
import to a <test_depend> or <exec_depend>. torch and friends are the exception: only
training and export need them, and they come from pip (README.md, "On the robot").
"""

import ast
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PKG = "marrtino_facemask"

# Python import name -> rosdep key. Each key was checked in ros/rosdistro rosdep/python.yaml
# (onnxruntime has no Debian/Ubuntu package there: its key installs the PyPI wheel).
PYTHON_KEYS = {
    "cv2": "python3-opencv",
    "numpy": "python3-numpy",
    "onnxruntime": "python3-onnxruntime-pip",
    "scipy": "python3-scipy",
    "matplotlib": "python3-matplotlib",
    "skimage": "python3-skimage",
    "tqdm": "python3-tqdm",
    "yaml": "python3-yaml",
    "pytest": "python3-pytest",
}
# Only `train`, `train-detector` and `export` import these; they are not robot dependencies.
TRAINING_ONLY = {"torch", "torchvision", "onnx", "onnx2torch"}
# Optional backends that the user installs with pip when choosing them (README, "On the
# robot"): detector_backend:=openvino. rosdep has no key for OpenVINO.
OPTIONAL_BACKENDS = {"openvino"}
# ROS packages with no wheel in this environment (so not in its ament index); all are in
# ROS 2 Humble and newer.
ROS_PACKAGES_WITHOUT_WHEELS = {"launch", "launch_ros", "rviz2", "vision_msgs"}
# The test modules' own helpers, imported by name from test/, and this repository's benchmark
# frames (benchmarks/frames.py, which test_arm64.py draws on): the tests run from the repository.
TEST_HELPERS = {p.stem for p in (REPO / "test").glob("*.py")} | {"benchmarks"}
# Used by setup.cfg ([tool:pytest] timeout), not imported.
TEST_PLUGINS = {"python3-pytest-timeout"}


def _deps(kind):
    root = ET.parse(REPO / "package.xml").getroot()
    return {e.text.strip() for e in root.findall(kind)} | {
        e.text.strip() for e in root.findall("depend")}


def _third_party_imports(paths):
    """{top-level module: [files importing it]} for absolute imports outside the stdlib."""
    found = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != PKG:
                    found.setdefault(top, []).append(path.relative_to(REPO).as_posix())
    return found


def _ros_packages_here():
    """Packages registered in the ament index of this environment (the ROS wheels)."""
    from ament_index_python.packages import get_packages_with_prefixes
    return set(get_packages_with_prefixes())


def _launch_packages():
    """package='...' arguments of the launch files (e.g. rviz2), other than our own."""
    found = set()
    for path in (REPO / "launch").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "package" and isinstance(
                    node.value, ast.Constant):
                found.add(node.value.value)
    return found - {PKG}


def _required_key(module, ros_packages):
    """The package.xml key that provides ``module``, or None for training-only modules and
    optional backends."""
    if module in TRAINING_ONLY or module in OPTIONAL_BACKENDS:
        return None
    if module in PYTHON_KEYS:
        return PYTHON_KEYS[module]
    assert module in ros_packages or module in ROS_PACKAGES_WITHOUT_WHEELS, (
        f"'{module}' is neither a ROS package nor in PYTHON_KEYS: add its rosdep key (see "
        "ros/rosdistro rosdep/python.yaml) to package.xml and to PYTHON_KEYS here")
    return module


RUNTIME_SOURCES = sorted((REPO / PKG).rglob("*.py")) + sorted((REPO / "launch").glob("*.py"))
TEST_SOURCES = sorted((REPO / "test").glob("*.py"))


@pytest.fixture(scope="module")
def ros_packages():
    pytest.importorskip("ament_index_python")
    return _ros_packages_here()


def test_sources_were_found():
    assert len(RUNTIME_SOURCES) > 10 and (REPO / PKG / "node.py") in RUNTIME_SOURCES
    imports = _third_party_imports(RUNTIME_SOURCES)
    assert {"numpy", "cv2", "rclpy", "launch"} <= set(imports), imports


def test_every_runtime_import_is_an_exec_depend(ros_packages):
    declared = _deps("exec_depend")
    missing = {}
    for module, files in _third_party_imports(RUNTIME_SOURCES).items():
        key = _required_key(module, ros_packages)
        if key is not None and key not in declared:
            missing[key] = sorted(set(files))
    assert not missing, f"add <exec_depend> to package.xml for: {missing}"


def test_launch_file_packages_are_exec_depends():
    packages = _launch_packages()
    assert "rviz2" in packages
    assert packages <= _deps("exec_depend"), packages - _deps("exec_depend")


def test_every_test_import_is_declared(ros_packages):
    declared = _deps("exec_depend") | _deps("test_depend")
    imports = _third_party_imports(TEST_SOURCES)
    missing = {}
    for module, files in imports.items():
        if module in TEST_HELPERS:
            continue
        key = _required_key(module, ros_packages)
        if key is not None and key not in declared:
            missing[key] = sorted(set(files))
    assert not missing, f"add <test_depend> to package.xml for: {missing}"


def test_python_keys_are_known_and_used():
    """No stale or misspelt python3-* key: each is a checked rosdep key for a module that is
    imported (or, for pytest-timeout, the plugin setup.cfg configures)."""
    used = {PYTHON_KEYS[m] for m in _third_party_imports(RUNTIME_SOURCES + TEST_SOURCES)
            if m in PYTHON_KEYS} | TEST_PLUGINS
    keys = {d for d in _deps("exec_depend") | _deps("test_depend") if d.startswith("python")}
    assert keys <= set(PYTHON_KEYS.values()) | TEST_PLUGINS, "unchecked rosdep key"
    assert keys == used, f"declared but not imported: {keys - used}; missing: {used - keys}"
    assert "timeout" in (REPO / "setup.cfg").read_text()


def test_training_only_modules_are_not_robot_dependencies():
    declared = " ".join(_deps("exec_depend"))
    assert "torch" not in declared and "onnx2torch" not in declared
