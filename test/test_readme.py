"""The README stays true: its commands are the ones CI runs, its tables match the code."""

import os
import re

import pytest

from marrtino_facemask.config import PARAMETERS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_COMMAND = "./scripts/env.sh python -m pytest"
JAZZY_TEST_COMMAND = ("MARRTINO_DISTRO=jazzy MARRTINO_TEST_BACKEND=onnxruntime "
                      "./scripts/env.sh python -m pytest -m ros")
HUMBLE_LIBS_TEST_COMMAND = ("MARRTINO_DISTRO=humble-libs "
                            './scripts/env.sh python -m pytest -m "not ros"')
DEMO_COMMAND = "./scripts/env.sh python -m marrtino_facemask demo"


def _read(name):
    with open(os.path.join(REPO, name)) as f:
        return f.read()


def _table_rows(text, header_start):
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(header_start))
    rows = []
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        rows.append([c.strip() for c in ln.strip().strip("|").split("|")])
    return rows


def test_ci_runs_the_readme_test_commands():
    """CI runs the README's three test commands (Kilted, Jazzy, then Humble's libraries),
    each whatever the others give, and fails if any fails; before them it builds the emulated
    ARM64 environment and requires its tests.
    """
    readme = _read("README.md")
    assert TEST_COMMAND in readme and DEMO_COMMAND in readme and JAZZY_TEST_COMMAND in readme
    assert HUMBLE_LIBS_TEST_COMMAND in readme
    ci = [ln.strip() for ln in _read(".ci/run").splitlines()
          if ln.strip() and not ln.lstrip().startswith("#")]
    runs = [ln for ln in ci if "./scripts/env.sh" in ln]
    assert runs == [f"{TEST_COMMAND} || {{ [[ $status -ne 0 ]] || status=$?; }}",
                    f"{JAZZY_TEST_COMMAND} || {{ [[ $status -ne 0 ]] || status=$?; }}",
                    f"{HUMBLE_LIBS_TEST_COMMAND} || {{ [[ $status -ne 0 ]] || status=$?; }}"]
    assert ci[-1] == "exit $status" and "set -e" not in "\n".join(ci)
    first = ci.index(runs[0])
    assert ci[first - 2:first] == ["./scripts/setup_arm64.sh || status=$?",
                                   "export MARRTINO_REQUIRE_ARM64=1"]


def test_the_quick_start_has_exactly_the_two_commands():
    readme = _read("README.md")
    section = readme.split("## Try it here", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    commands = [ln.split("#", 1)[0].strip() for ln in block.strip().splitlines()]
    assert commands == [DEMO_COMMAND, TEST_COMMAND]


def test_parameter_table_matches_the_node():
    rows = _table_rows(_read("README.md"), "| name | type | default |")
    assert [r[0].strip("`") for r in rows] == [p.name for p in PARAMETERS]
    for row, spec in zip(rows, PARAMETERS):
        assert row[1] == spec.type_name
        default = row[2].strip("`")
        expected = "''" if spec.default == "" else (str(spec.default).lower()
                                                     if isinstance(spec.default, bool)
                                                     else str(spec.default))
        assert default == expected, spec.name
        for choice in spec.choices:
            assert f"`{choice}`" in row[3]
        assert row[4] == ("live" if spec.live else "read-only"), spec.name


def test_launch_arguments_in_the_readme_are_the_launch_file_arguments():
    declared = re.findall(r"DeclareLaunchArgument\(\s*'([^']+)'",
                          _read(os.path.join("launch", "detector.launch.py")))
    rows = _table_rows(_read("README.md"), "| argument | default |")
    assert [r[0].strip("`") for r in rows] == declared


def test_topics_in_the_readme_are_the_node_topics():
    pytest.importorskip("rclpy")
    from marrtino_facemask.ros.diagnostics import DIAGNOSTICS_TOPIC
    from marrtino_facemask.ros.label_info import LABEL_INFO_TOPIC
    from marrtino_facemask.ros.node import ANNOTATED_TOPIC, DETECTIONS_TOPIC, ENABLE_SERVICE
    readme = _read("README.md")
    for name in (DETECTIONS_TOPIC, ANNOTATED_TOPIC, LABEL_INFO_TOPIC, DIAGNOSTICS_TOPIC,
                 ENABLE_SERVICE):
        assert f"| `{name}`" in readme, name


def test_files_the_readme_names_exist():
    """Relative links, and the scripts and benchmarks its commands run."""
    readme = _read("README.md")
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    paths = [p for p in links if not re.match(r"[a-z]+://", p)]
    paths += re.findall(r"\b((?:scripts|benchmarks)/[\w.-]+\.(?:sh|py))\b", readme)
    assert paths
    for path in paths:
        assert os.path.exists(os.path.join(REPO, path)), path
