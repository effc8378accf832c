"""Static checks of launch/detector.launch.py and config/facemask.rviz.

The `launch` / `launch_ros` packages are not installable in the pip-based environment, so the
launch file is checked by reading its syntax tree instead of executing it.
"""
import ast
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
LAUNCH = REPO / 'launch' / 'detector.launch.py'
RVIZ = REPO / 'config' / 'facemask.rviz'
PKG = 'marrtino_facemask'

EXPECTED_ARGS = {
    'params_file': None,  # default computed from the package share directory
    'image_topic': 'camera/image_raw',   # relative: follows namespace (config.py's default)
    'namespace': '',
    'rviz': 'false',
    'reminder': 'false',
    'say_topic': '/speech/to_speak',
}


def _call_name(node):
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _calls(tree, name):
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and _call_name(n) == name]


def _kw(call, name):
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def _const(node):
    return node.value if isinstance(node, ast.Constant) else None


@pytest.fixture(scope='module')
def tree():
    source = LAUNCH.read_text()
    compile(source, str(LAUNCH), 'exec')
    return ast.parse(source, str(LAUNCH))


@pytest.fixture(scope='module')
def aliases(tree):
    """Simple `name = <expr>` assignments, to see through `x = LaunchConfiguration('x')`."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            out[node.targets[0].id] = node.value
    return out


def _resolve(node, aliases):
    seen = set()
    while isinstance(node, ast.Name) and node.id in aliases and node.id not in seen:
        seen.add(node.id)
        node = aliases[node.id]
    return node


def _launch_config_name(node, aliases):
    node = _resolve(node, aliases)
    if isinstance(node, ast.Call) and _call_name(node) == 'LaunchConfiguration' and node.args:
        return _const(node.args[0])
    return None


def _declared(tree):
    out = {}
    for call in _calls(tree, 'DeclareLaunchArgument'):
        name = _const(call.args[0]) if call.args else _const(_kw(call, 'name'))
        assert isinstance(name, str), ast.dump(call)
        assert name not in out, 'argument %r declared twice' % name
        out[name] = call
    return out


def _package_node(tree, executable):
    nodes = [c for c in _calls(tree, 'Node') if _const(_kw(c, 'package')) == PKG
             and _const(_kw(c, 'executable')) == executable]
    assert len(nodes) == 1, 'expected one Node(package=%r, executable=%r)' % (PKG, executable)
    return nodes[0]


def _detector_node(tree):
    return _package_node(tree, 'facemask_detector')


def _console_scripts():
    """Name -> 'module:func' from setup.py's console_scripts, read from its syntax tree."""
    setup_tree = ast.parse((REPO / 'setup.py').read_text())
    for node in ast.walk(setup_tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if _const(key) == 'console_scripts':
                    entries = [_const(e) for e in value.elts]
                    return dict((part.strip() for part in e.split('=', 1)) for e in entries)
    raise AssertionError('no console_scripts in setup.py')


def test_defines_generate_launch_description(tree):
    funcs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert 'generate_launch_description' in funcs


def test_starts_detector_executable_from_setup_py(tree):
    node = _detector_node(tree)
    executable = _const(_kw(node, 'executable'))
    assert executable == 'facemask_detector'
    assert _const(_kw(node, 'name')) == 'facemask_detector'
    scripts = _console_scripts()
    assert executable in scripts, scripts
    assert scripts[executable] == 'marrtino_facemask.ros.node:main'


def test_node_parameters_use_params_file_and_image_topic(tree, aliases):
    node = _detector_node(tree)
    params = _resolve(_kw(node, 'parameters'), aliases)
    assert isinstance(params, ast.List), ast.dump(params)
    items = [_resolve(e, aliases) for e in params.elts]
    assert any(_launch_config_name(e, aliases) == 'params_file' for e in items)
    # image_topic remaps the default topic (raw and compressed) instead of overriding the
    # parameter, so that an image_topic set in a user's params_file is not silently replaced
    # (relative names on both sides: the default topic and the remapping follow namespace)
    remaps = _resolve(_kw(node, 'remappings'), aliases)
    pairs = {_const(t.elts[0]): _resolve(t.elts[1], aliases) for t in remaps.elts}
    assert set(pairs) == {'camera/image_raw', 'camera/image_raw/compressed'}
    assert _launch_config_name(pairs['camera/image_raw'], aliases) == 'image_topic'
    compressed = pairs['camera/image_raw/compressed']
    assert isinstance(compressed, ast.List)
    assert _launch_config_name(compressed.elts[0], aliases) == 'image_topic'
    assert _const(compressed.elts[1]) == '/compressed'
    assert _launch_config_name(_kw(node, 'namespace'), aliases) == 'namespace'


def test_references_existing_params_file(tree):
    strings = {n.value for n in ast.walk(tree)
               if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert 'detector.yaml' in strings or any(s.endswith('/detector.yaml') for s in strings)
    assert (REPO / 'config' / 'detector.yaml').is_file()
    assert 'facemask.rviz' in strings or any(s.endswith('/facemask.rviz') for s in strings)
    assert RVIZ.is_file()


def test_launch_arguments_declared_and_used(tree, aliases):
    declared = _declared(tree)
    used = {_const(c.args[0]) for c in _calls(tree, 'LaunchConfiguration') if c.args}
    assert used <= set(declared), 'used but not declared: %s' % (used - set(declared))
    assert set(declared) <= used, 'declared but never used: %s' % (set(declared) - used)
    assert set(declared) == set(EXPECTED_ARGS)
    for name, default in EXPECTED_ARGS.items():
        value = _kw(declared[name], 'default_value')
        assert value is not None, '%s has no default_value' % name
        if default is not None:
            assert _const(value) == default, name


def test_the_image_topic_default_is_the_node_s_and_the_params_file_s():
    """One default camera topic, relative: the launch argument, the node's parameter
    (config.py) and config/detector.yaml.
    """
    from marrtino_facemask.config import SPECS
    params = yaml.safe_load((REPO / 'config' / 'detector.yaml').read_text())
    assert SPECS['image_topic'].default == EXPECTED_ARGS['image_topic'] == 'camera/image_raw'
    assert params['/**']['ros__parameters']['image_topic'] == 'camera/image_raw'


def test_rviz_is_optional(tree, aliases):
    rviz_nodes = [c for c in _calls(tree, 'Node') if _const(_kw(c, 'package')) == 'rviz2']
    assert len(rviz_nodes) == 1
    cond = _resolve(_kw(rviz_nodes[0], 'condition'), aliases)
    assert isinstance(cond, ast.Call) and _call_name(cond) == 'IfCondition', ast.dump(cond)
    assert _launch_config_name(cond.args[0], aliases) == 'rviz'


def test_package_starts_only_the_detector_and_the_reminder(tree):
    nodes = [c for c in _calls(tree, 'Node') if _const(_kw(c, 'package')) == PKG]
    assert sorted(_const(_kw(c, 'executable')) for c in nodes) == ['facemask_detector',
                                                                    'mask_reminder']


def test_reminder_starts_on_request_with_the_say_topic(tree, aliases):
    node = _package_node(tree, 'mask_reminder')
    assert _const(_kw(node, 'name')) == 'mask_reminder'
    scripts = _console_scripts()
    assert scripts['mask_reminder'] == 'marrtino_facemask.ros.reminder:main'
    cond = _resolve(_kw(node, 'condition'), aliases)
    assert isinstance(cond, ast.Call) and _call_name(cond) == 'IfCondition', ast.dump(cond)
    assert _launch_config_name(cond.args[0], aliases) == 'reminder'
    assert _launch_config_name(_kw(node, 'namespace'), aliases) == 'namespace'
    params = _resolve(_kw(node, 'parameters'), aliases)
    assert isinstance(params, ast.List) and len(params.elts) == 1
    mapping = _resolve(params.elts[0], aliases)
    assert isinstance(mapping, ast.Dict), ast.dump(mapping)
    pairs = {_const(k): _resolve(v, aliases) for k, v in zip(mapping.keys, mapping.values)}
    assert set(pairs) == {'say_topic'}
    assert _launch_config_name(pairs['say_topic'], aliases) == 'say_topic'
    # the launch default is the reminder's own default
    pytest.importorskip("rclpy")                 # reminder.py is a node
    from marrtino_facemask.ros.reminder import SAY_TOPIC
    assert EXPECTED_ARGS['say_topic'] == SAY_TOPIC


def test_rviz_config_shows_annotated_image():
    config = yaml.safe_load(RVIZ.read_text())
    manager = config['Visualization Manager']
    assert manager['Global Options']['Fixed Frame'] == 'camera'
    images = [d for d in manager['Displays'] if d.get('Class') == 'rviz_default_plugins/Image']
    assert len(images) == 1, manager['Displays']
    topic = images[0]['Topic']
    assert topic['Value'] == '/facemask/image_annotated'
    assert topic['Reliability Policy'] == 'Reliable'
    assert topic['Depth'] == 1
