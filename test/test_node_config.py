"""config/detector.yaml loads into a running node (under any name and namespace)."""

import signal
from pathlib import Path

import pytest
import yaml

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")
pytestmark = pytest.mark.ros

CONFIG = Path(__file__).resolve().parents[1] / "config" / "detector.yaml"


@pytest.fixture(scope="module")
def config_params():
    data = yaml.safe_load(CONFIG.read_text())
    assert list(data) == ["/**"], "the shipped config must match any node name/namespace"
    return data["/**"]["ros__parameters"]


def test_config_lists_every_parameter_with_its_default(config_params):
    from marrtino_facemask.params import PARAMETERS
    assert set(config_params) == {p.name for p in PARAMETERS}
    for spec in PARAMETERS:
        value = config_params[spec.name]
        assert type(value) is type(spec.default), spec.name
        assert value == spec.default, f"{spec.name}: file {value!r}, node {spec.default!r}"


def test_config_yaml_configures_a_namespaced_node(ros, start_node, node_model,
                                                  config_params):
    # the command line's -p after --params-file wins: no trained model in the repo yet
    node = start_node("--params-file", str(CONFIG), "-p", f"model_path:={node_model}",
                      "-r", "__ns:=/robot1")
    values = ros.get_parameters("/robot1/facemask_detector", list(config_params), timeout=60)
    assert values == {**config_params, "model_path": node_model}
    # outputs are relative names: they follow the namespace
    assert ros.spin_until(lambda: ros.node.count_publishers("/robot1/facemask/detections") > 0,
                          10, node)
    # (by the publisher's namespace, not a count: a node of another test that crashed stays
    # discovered on /facemask/detections until its DDS lease runs out)
    assert [(i.node_namespace, i.node_name)
            for i in ros.node.get_publishers_info_by_topic("/facemask/detections")
            if i.node_namespace == "/robot1"] == []
    # the image topic from the file is absolute: it stays /camera/image_raw
    assert ros.node.count_subscribers("/camera/image_raw") == 1
    node.assert_stops_cleanly(signal.SIGINT)
