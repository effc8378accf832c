"""Lint: ruff with ruff.toml (ament's line length 99, pyflakes, pycodestyle, import order and
pep257 docstrings) over the package, the tests, the benchmarks and the launch file.
"""

import os
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATHS = ("marrtino_facemask", "test", "benchmarks", "launch", "setup.py")


def _ruff():
    path = shutil.which("ruff")
    if path is None:
        pytest.skip("ruff is not installed in this environment (requirements/common.txt "
                    "installs it in the Kilted and Jazzy ones)")
    return path


def test_the_code_passes_ruff():
    result = subprocess.run([_ruff(), "check", "--no-cache", *PATHS], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_ruff_finds_a_long_line_and_an_unused_import(tmp_path):
    """The check is live: a file with what ament's linters refuse fails it."""
    bad = tmp_path / "bad.py"
    bad.write_text('"""Bad."""\n\nimport os\n\nX = "' + "x" * 100 + '"\n')
    result = subprocess.run([_ruff(), "check", "--no-cache", "--config",
                             os.path.join(REPO, "ruff.toml"), str(bad)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "E501" in result.stdout and "F401" in result.stdout
