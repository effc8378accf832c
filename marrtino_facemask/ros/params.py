"""The node's parameters as ROS parameters: the specs of config.py, declared with rclpy
descriptors so that ``ros2 param describe`` documents the node.

``live`` parameters can be changed at run time (``ros2 param set``); the others are
read-only (their descriptor says so) because they need a reload: a model, the detector, the
topic or its QoS.

* :func:`declare_parameters` declares them all at start-up and turns a bad value into a
  :class:`StartupError` (one line, exit code 2).
* :func:`refusal` says why a run-time change is refused, or returns None.
"""

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

from ..config import PARAMETERS, SPECS

EXIT_OK, EXIT_MODEL, EXIT_CONFIG = 0, 1, 2
# Parameters of earlier releases that a params file may still set: what to do instead.
REMOVED = {"precision": "the node runs the int8 files; give model_path or face_model_dir "
                        "for others",
           "device": "the node runs its nets on the CPU (ONNX Runtime or OpenVINO)",
           "detector_backend": "use backend (onnxruntime or openvino) for both nets"}


class StartupError(Exception):
    """The node cannot start; ``str(exc)`` is the one line to show, with an exit code."""

    def __init__(self, message, exit_code):
        super().__init__(" ".join(str(message).split()))
        self.exit_code = exit_code


def descriptor(spec):
    """The rclpy ParameterDescriptor of a spec: its description, limits and read-only flag."""
    when = ("can be changed at run time (ros2 param set)" if spec.live
            else "read-only: restart the node to change it")
    desc = ParameterDescriptor(name=spec.name, description=f"{spec.description} ({when})",
                               read_only=not spec.live)
    if spec.choices:
        desc.additional_constraints = "one of: " + ", ".join(spec.choices)
    if spec.range and isinstance(spec.default, int):
        desc.integer_range = [IntegerRange(from_value=spec.range[0],
                                           to_value=spec.range[1], step=1)]
    elif spec.range and isinstance(spec.default, float):
        desc.floating_point_range = [FloatingPointRange(
            from_value=float(spec.range[0]), to_value=float(spec.range[1]), step=0.0)]
        desc.additional_constraints = f"{spec.range[0]} <= value <= {spec.range[1]}"
    return desc


def _override_text(node, name):
    override = getattr(node, "_parameter_overrides", {}).get(name)
    if override is None:
        return "?"
    value = override.value
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def declare_parameters(node):
    """Declare every parameter on ``node``; return {name: value}. Raises StartupError."""
    values = {}
    for spec in PARAMETERS:
        try:
            value = node.declare_parameter(spec.name, spec.default, descriptor(spec)).value
        except InvalidParameterTypeException:
            raise StartupError(
                f"invalid parameter {spec.name}:={_override_text(node, spec.name)}: "
                f"wrong type, {spec.name} is {spec.type_phrase}; {spec.expectation()}"
                + (" (e.g. 1.0, not 1)" if spec.type_name == "double" else ""),
                EXIT_CONFIG) from None
        except InvalidParameterValueException:
            raise StartupError(
                f"invalid parameter {spec.name}:={_override_text(node, spec.name)}: "
                f"out of range; {spec.expectation()}", EXIT_CONFIG) from None
        if spec.choices and value not in spec.choices:
            raise StartupError(
                f"invalid parameter {spec.name}:='{value}': unknown {spec.name}; "
                f"{spec.expectation()}", EXIT_CONFIG)
        values[spec.name] = value
    return values


def unknown_overrides(node):
    """One warning line for each parameter given to ``node`` that it does not have (rclpy
    would ignore it silently): a typo, or a parameter of an earlier release.
    """
    lines = []
    for name in sorted(getattr(node, "_parameter_overrides", {})):
        if name in SPECS or name.startswith("qos_overrides.") or name == "use_sim_time":
            continue
        hint = REMOVED.get(name, "see `--help` or ros2 param list for the parameters")
        lines.append(f"parameter {name} is not a parameter of this node and is ignored: "
                     f"{hint}")
    return lines


def refusal(parameters):
    """Why a run-time change of ``parameters`` (rclpy Parameters) is refused, or None.

    rclpy's descriptors already refuse read-only and out-of-range values; this repeats the
    checks (and adds ``choices``) so that every refusal has a reason that says what to use.
    """
    for param in parameters:
        spec = SPECS.get(param.name)
        if spec is None:
            continue
        if not spec.live:
            return f"{spec.name} is read-only: restart the node to change it"
        problem = spec.problem(param.value)
        if problem:
            return f"{spec.name}:={param.value!r} refused: {problem}"
    return None


def usage(node_name):
    lines = [f"usage: {node_name} [--ros-args -p NAME:=VALUE ... | --params-file FILE]",
             "", "parameters (* = can be changed at run time):"]
    for spec in PARAMETERS:
        default = (str(spec.default).lower() if isinstance(spec.default, bool)
                   else spec.default if spec.default != "" else "''")
        limits = (f" ({'|'.join(spec.choices)})" if spec.choices else
                  f" [{spec.range[0]}, {spec.range[1]}]" if spec.range else "")
        lines.append(f"  {spec.name}{'*' if spec.live else ''} ({spec.type_name}, default "
                     f"{default}){limits}: {spec.description}")
    return "\n".join(lines)
