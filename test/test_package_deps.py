"""package.xml declares what the runtime imports, and only that, with valid rosdep keys, so
that `rosdep install --from-paths src` on a robot installs what the node and mask_reminder
need and nothing of the laptop tools' or the lab's.

The imports are read from the sources (ast), not guessed. The runtime is the ROS-free core
(marrtino_facemask/*.py), the ROS side (marrtino_facemask/ros/*.py) and the launch files:
each third-party module they import maps to an <exec_depend>, and each <exec_depend> is
imported by them (or started by a launch file). The tools (marrtino_facemask/tools/) and
the lab (marrtino_facemask/lab/) need more (tqdm, scikit-image, matplotlib, torch, ...),
which pip installs from requirements/ (README.md, "On the robot").
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
    "yaml": "python3-yaml",
    "pytest": "python3-pytest",
}
# Optional backends that the user installs with pip when choosing them (README, "On the
# robot"): backend:=openvino, imported only then (openvino_nets.py). rosdep has no key for it.
OPTIONAL_BACKENDS = {"openvino"}
# ROS packages with no wheel in this environment (so not in its ament index); all are in
# ROS 2 Humble and newer.
ROS_PACKAGES_WITHOUT_WHEELS = {"launch", "launch_ros", "rviz2", "vision_msgs"}
# What the node and mask_reminder need: package.xml's <exec_depend>s, exactly.
RUNTIME_KEYS = {
    "rclpy", "sensor_msgs", "std_msgs", "std_srvs", "vision_msgs", "diagnostic_msgs",
    "rcl_interfaces", "ament_index_python", "launch", "launch_ros", "rviz2",
    "python3-numpy", "python3-opencv", "python3-scipy", "python3-onnxruntime-pip",
}
# The laptop tools' and the lab's libraries: from requirements/, never robot dependencies.
NOT_ON_THE_ROBOT = ("torch", "torchvision", "onnx2torch", "matplotlib", "skimage", "tqdm",
                    "sklearn", "onnx")
# Lab imports left in a core module: none.
LAB_IMPORTS_IN_CORE = set()
# Used by setup.cfg ([tool:pytest] timeout), not imported.
TEST_PLUGINS = {"python3-pytest-timeout"}
# The test modules' own helpers, imported by name from test/, and this repository's benchmark
# frames (benchmarks/frames.py, which test_arm64.py draws on): the tests run from the repository.
TEST_HELPERS = {p.stem for p in (REPO / "test").glob("*.py")} | {"benchmarks"}


def _deps(kind):
    root = ET.parse(REPO / "package.xml").getroot()
    return {e.text.strip() for e in root.findall(kind)} | {
        e.text.strip() for e in root.findall("depend")}


def _third_party_imports(paths):
    """{top-level module: [files importing it]} for absolute imports outside the stdlib
    (anywhere in a file, so also the lazy ones inside functions).
    """
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
                where = path.relative_to(REPO).as_posix()
                if (top not in sys.stdlib_module_names and top != PKG
                        and (top, where) not in LAB_IMPORTS_IN_CORE):
                    found.setdefault(top, []).append(where)
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
    """The package.xml key that provides ``module``, or None for an optional backend."""
    if module in OPTIONAL_BACKENDS:
        return None
    if module in PYTHON_KEYS:
        return PYTHON_KEYS[module]
    assert module in ros_packages or module in ROS_PACKAGES_WITHOUT_WHEELS, (
        f"'{module}' is neither a ROS package nor in PYTHON_KEYS: the runtime must not need "
        "it (tools and lab: requirements/), or add its rosdep key (see ros/rosdistro "
        "rosdep/python.yaml) to package.xml and to PYTHON_KEYS here")
    return module


RUNTIME_SOURCES = (sorted((REPO / PKG).glob("*.py")) + sorted((REPO / PKG / "ros").glob("*.py"))
                   + sorted((REPO / "launch").glob("*.py")))
TEST_SOURCES = sorted((REPO / "test").glob("*.py"))


@pytest.fixture(scope="module")
def ros_packages():
    pytest.importorskip("ament_index_python")
    return _ros_packages_here()


def test_sources_were_found():
    assert len(RUNTIME_SOURCES) > 10
    assert {REPO / PKG / "ros" / "node.py", REPO / PKG / "ros" / "reminder.py",
            REPO / PKG / "config.py"} <= set(RUNTIME_SOURCES)
    assert not [p for p in RUNTIME_SOURCES if p.parent.name in ("lab", "tools")]
    imports = _third_party_imports(RUNTIME_SOURCES)
    assert {"numpy", "cv2", "rclpy", "launch", "onnxruntime", "scipy"} <= set(imports), imports


def test_every_runtime_import_is_an_exec_depend(ros_packages):
    declared = _deps("exec_depend")
    missing = {}
    for module, files in _third_party_imports(RUNTIME_SOURCES).items():
        key = _required_key(module, ros_packages)
        if key is not None and key not in declared:
            missing[key] = sorted(set(files))
    assert not missing, f"add <exec_depend> to package.xml for: {missing}"


def test_exec_depends_are_the_runtime_s_needs_only(ros_packages):
    """Every <exec_depend> is imported by the runtime or started by a launch file: the
    tools' and the lab's libraries are not installed on the robot.
    """
    needed = {_required_key(m, ros_packages) for m in _third_party_imports(RUNTIME_SOURCES)}
    needed = (needed - {None}) | _launch_packages()
    declared = _deps("exec_depend")
    assert declared == needed, (f"not needed by the runtime: {sorted(declared - needed)}; "
                                f"missing: {sorted(needed - declared)}")
    assert declared == RUNTIME_KEYS


def test_launch_file_packages_are_exec_depends():
    packages = _launch_packages()
    assert "rviz2" in packages
    assert packages <= _deps("exec_depend"), packages - _deps("exec_depend")


def test_the_tools_and_the_lab_need_more_than_the_robot_has():
    """What only the tools and the lab import is not in package.xml (it is in
    requirements/): the split is real.
    """
    beyond = set(_third_party_imports(sorted((REPO / PKG / "tools").glob("*.py"))
                                      + sorted((REPO / PKG / "lab").glob("*.py"))))
    runtime = set(_third_party_imports(RUNTIME_SOURCES))
    assert {"tqdm", "torch"} <= beyond - runtime
    declared = _deps("exec_depend")
    for name in NOT_ON_THE_ROBOT:
        assert not [d for d in declared if name in d.split("-")], name


def test_ros_packages_and_python_keys_the_tests_import_are_declared(ros_packages):
    """The tests' ROS packages (messages, rosidl_adapter) and Python keys (pytest, yaml) are
    <test_depend>s (or exec_depends); the lab's libraries that lab tests import come from
    requirements/.
    """
    declared = _deps("exec_depend") | _deps("test_depend")
    missing = {}
    for module, files in _third_party_imports(TEST_SOURCES).items():
        if module in TEST_HELPERS or module in OPTIONAL_BACKENDS:
            continue
        key = PYTHON_KEYS.get(module) or (
            module if module in ros_packages or module in ROS_PACKAGES_WITHOUT_WHEELS
            else None)
        if key is not None and key not in declared:
            missing[key] = sorted(set(files))
    assert not missing, f"add <test_depend> to package.xml for: {missing}"


def test_python_keys_are_known_and_used():
    """No stale or misspelt python3-* key: each is a checked rosdep key for a module that is
    imported (or, for pytest-timeout, the plugin setup.cfg configures).
    """
    used = {PYTHON_KEYS[m] for m in _third_party_imports(RUNTIME_SOURCES + TEST_SOURCES)
            if m in PYTHON_KEYS} | TEST_PLUGINS
    keys = {d for d in _deps("exec_depend") | _deps("test_depend") if d.startswith("python")}
    assert keys <= set(PYTHON_KEYS.values()) | TEST_PLUGINS, "unchecked rosdep key"
    assert keys == used, f"declared but not imported: {keys - used}; missing: {used - keys}"
    assert "timeout" in (REPO / "setup.cfg").read_text()
