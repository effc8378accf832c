"""A node's process: command line, rclpy start-up, spinning, exit codes and clean stops.

Both nodes of the package (``facemask_detector`` and ``mask_reminder``) run through
:func:`run_node`. Exit codes: 0 clean stop (Ctrl-C, SIGTERM, also repeated or during
start-up), 1 a model missing or unreadable (or an unexpected error), 2 a bad parameter or
command line. SIGINT/SIGTERM, at any time and any number of times, end the process with 0
within about 2 s (:mod:`signals`: rclpy's own handling once left a Jazzy process hanging).
"""

import sys

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.utilities import remove_ros_args

from .. import signals
from ..log_text import one_line, without_source_locations
from .params import EXIT_CONFIG, EXIT_MODEL, EXIT_OK, StartupError

try:
    from rclpy.executors import ExternalShutdownException
except ImportError:  # pragma: no cover - very old rclpy
    class ExternalShutdownException(Exception):
        pass


def run_node(make_node, node_name, argv=None, usage=None):
    """Run the node that ``make_node()`` builds until it is stopped; return the exit code.

    ``argv``: the arguments after the program name (None: ``sys.argv``'s); ``usage``: the
    text of ``--help``. ``make_node`` raises :class:`StartupError` (after logging it) for a
    bad parameter or model.
    """
    guard = signals.install()
    code = EXIT_OK
    try:
        code = _run(make_node, node_name,
                    list(sys.argv) if argv is None else [node_name, *argv], usage, guard)
    except signals.Shutdown:
        code = EXIT_OK
    if guard is not None and guard.signum is not None:
        # Stopped by a signal and already cleaned up: skip the interpreter's tear-down,
        # so that the stop takes well under 2 s.
        guard.exit_now(code)
    return code


def _refusal(node_name, args, usage):
    """The exit code for a command line that is not the node's own, or None."""
    try:
        extra = remove_ros_args(args)[1:]
    except Exception as exc:  # noqa: BLE001
        print(f"[{node_name}] error: bad command line: "
              f"{one_line(without_source_locations(exc))}; check the arguments after --ros-args "
              "(see --help)", file=sys.stderr)
        return EXIT_CONFIG
    if extra and extra[0] in ("-h", "--help") and usage:
        print(usage)
        return EXIT_OK
    if extra:
        print(f"[{node_name}] error: unexpected argument '{extra[0]}': parameters go after "
              "--ros-args, e.g. --ros-args -p NAME:=VALUE (see --help)", file=sys.stderr)
        return EXIT_CONFIG
    return None


def _run(make_node, node_name, args, usage, guard):
    refused = _refusal(node_name, args, usage)
    if refused is not None:
        return refused
    try:
        rclpy.init(args=args)
    except Exception as exc:  # noqa: BLE001 - RCLError for a bad --ros-args line
        print(f"[{node_name}] error: cannot start: {one_line(without_source_locations(exc))}",
              file=sys.stderr)
        return EXIT_CONFIG
    node = None
    executor = None
    code = EXIT_OK
    try:
        node = make_node()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except StartupError as exc:
        code = exc.exit_code
    except (KeyboardInterrupt, ExternalShutdownException, signals.Shutdown):
        code = EXIT_OK
        if node is not None:
            node.stopped_by_signal = True
    except Exception as exc:  # noqa: BLE001
        if rclpy.ok():
            print(f"[{node_name}] error: {type(exc).__name__}: {one_line(exc)}",
                  file=sys.stderr)
            code = EXIT_MODEL
        # else: a signal shut the context down while we were starting: a clean exit
    finally:
        if guard is not None:
            guard.stop_raising()
        try:
            if executor is not None:
                executor.shutdown(timeout_sec=1.0)
            if node is not None:
                node.destroy_node()
        except Exception:  # noqa: BLE001 - already shut down
            pass
        if rclpy.ok():
            rclpy.shutdown()
    return code
