"""Build the package with colcon, as a ROS 2 user would, and check what gets installed.

Runs the real ``colcon build`` (no --symlink-install) with build, install and log bases in a
temporary directory, so nothing is written into the repository.
"""
import filecmp
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest.importorskip("rclpy", reason="needs a ROS 2 environment (colcon, ament)")

REPO = Path(__file__).resolve().parents[1]
PKG = 'marrtino_facemask'
PY_DIR = 'python%d.%d' % sys.version_info[:2]


def _colcon_env(tmp):
    env = dict(os.environ)
    env['COLCON_HOME'] = str(tmp / 'colcon_home')  # no ~/.colcon defaults or state
    env.pop('COLCON_DEFAULTS_FILE', None)
    return env


def _colcon(args, tmp, timeout=600):
    exe = shutil.which('colcon')
    assert exe, 'colcon not found on PATH: run the tests through ./scripts/env.sh'
    tmp.mkdir(parents=True, exist_ok=True)
    cmd = [exe, '--log-base', str(tmp / 'log')] + args
    proc = subprocess.run(cmd, cwd=tmp, env=_colcon_env(tmp), capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, (
        '%s failed (%d)\n--- stdout\n%s\n--- stderr\n%s'
        % (' '.join(cmd), proc.returncode, proc.stdout[-4000:], proc.stderr[-4000:]))
    return proc.stdout


def _top_level_outputs():
    """Entries at the repo top that a build run inside the repo would leave."""
    return {p.name for p in REPO.iterdir()
            if p.name in ('build', 'install', 'log') or p.name.endswith('.egg-info')}


@pytest.fixture(scope='module')
def install(tmp_path_factory):
    """The isolated install prefix of a real colcon build of this package."""
    tmp = tmp_path_factory.mktemp('colcon')
    before = _top_level_outputs()
    _colcon(['build', '--base-paths', str(REPO), '--packages-select', PKG,
             '--build-base', str(tmp / 'build'), '--install-base', str(tmp / 'install'),
             '--event-handlers', 'console_direct-', 'console_cohesion+'], tmp)
    assert _top_level_outputs() == before, 'colcon build wrote into the repository'
    return tmp / 'install' / PKG


@pytest.mark.parametrize('name', ['facemask_detector', 'mask_reminder'])
def test_executable_installed(install, name):
    exe = install / 'lib' / PKG / name
    assert exe.is_file(), exe
    assert os.access(exe, os.X_OK), '%s is not executable' % exe


@pytest.mark.parametrize('script,target', [
    ('facemask_detector', 'marrtino_facemask.ros.node:main'),
    ('mask_reminder', 'marrtino_facemask.ros.reminder:main'),
])
def test_entry_point_resolves_to_node_main(install, script, target):
    """The installed console script's entry point loads its main (marrtino_facemask.ros.node's
    for facemask_detector) from the install tree (what `ros2 run marrtino_facemask
    facemask_detector` executes).
    """
    site = install / 'lib' / PY_DIR / 'site-packages'
    for sub in ('', 'ros', 'tools', 'lab'):
        assert (site / PKG / sub / '__init__.py').is_file(), sub
    code = (
        'import importlib.metadata as md, sys\n'
        'eps = [e for e in md.distribution("marrtino-facemask").entry_points\n'
        '       if e.group == "console_scripts" and e.name == "%s"]\n'
        'assert len(eps) == 1, eps\n'
        'print(eps[0].value)\n'
        'main = eps[0].load()\n'
        'assert callable(main)\n'
        'print(sys.modules[main.__module__].__file__)\n'
    ) % script
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [str(site)] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep)
                       if p and Path(p).resolve() != REPO])
    proc = subprocess.run([sys.executable, '-c', code], cwd=install, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    value, module_file = proc.stdout.strip().splitlines()[-2:]
    assert value == target
    assert Path(module_file).resolve().is_relative_to(site.resolve()), module_file


@pytest.mark.parametrize('relpath', [
    'launch/detector.launch.py',
    'config/detector.yaml',
    'config/facemask.rviz',
    'package.xml',
])
def test_share_files_installed(install, relpath):
    installed = install / 'share' / PKG / relpath
    assert installed.is_file(), installed
    assert filecmp.cmp(installed, REPO / relpath, shallow=False)


def test_ament_index_marker_installed(install):
    marker = install / 'share' / 'ament_index' / 'resource_index' / 'packages' / PKG
    assert marker.is_file(), marker


def test_every_model_file_installed(install):
    models = REPO / 'models'
    files = sorted(p.relative_to(models) for p in models.rglob('*')
                   if p.is_file() and '__pycache__' not in p.parts)
    assert files, 'models/ has no files'
    dest = install / 'share' / PKG / 'models'
    missing = [str(f) for f in files if not (dest / f).is_file()]
    assert not missing, 'not installed: %s' % missing
    differ = [str(f) for f in files if not filecmp.cmp(models / f, dest / f, shallow=False)]
    assert not differ, 'installed copy differs: %s' % differ


def test_colcon_discovers_only_this_package(tmp_path):
    out = _colcon(['list', '--base-paths', str(REPO)], tmp_path)
    names = [line.split('\t')[0] for line in out.splitlines() if line.strip()]
    assert names == [PKG], out


def test_vendored_vision_msgs_is_colcon_ignored(tmp_path):
    # The vendored copy is a real package colcon would pick up ...
    out = _colcon(['list', '--base-paths', str(REPO / 'interfaces' / 'vision_msgs')], tmp_path)
    assert [line.split('\t')[0] for line in out.splitlines()] == ['vision_msgs'], out
    # ... but a crawl that reaches interfaces/ stops there (COLCON_IGNORE), so a Humble
    # workspace never builds it over the distro's vision_msgs.
    assert (REPO / 'interfaces' / 'COLCON_IGNORE').is_file()
    out = _colcon(['list', '--base-paths', str(REPO / 'interfaces')], tmp_path)
    assert out.strip() == '', out


def test_package_manifest_matches_setup():
    root = ET.parse(REPO / 'package.xml').getroot()
    assert root.get('format') == '3'
    assert root.findtext('name') == PKG
    assert root.findtext('export/build_type') == 'ament_python'
    assert root.findtext('license') == 'Apache-2.0'
    exec_deps = {e.text for e in root.findall('exec_depend')}
    # the runtime's needs only (test_package_deps.py checks them against the imports)
    assert exec_deps == {'rclpy', 'sensor_msgs', 'std_msgs', 'vision_msgs', 'python3-numpy',
                         'python3-opencv', 'rcl_interfaces', 'ament_index_python', 'launch',
                         'launch_ros', 'std_srvs', 'diagnostic_msgs', 'python3-scipy',
                         'python3-onnxruntime-pip', 'rviz2'}
    assert (REPO / 'resource' / PKG).is_file()
    setup_cfg = (REPO / 'setup.cfg').read_text()
    assert 'script_dir=$base/lib/%s' % PKG in setup_cfg.replace(' ', '')
    assert 'install_scripts=$base/lib/%s' % PKG in setup_cfg.replace(' ', '')
