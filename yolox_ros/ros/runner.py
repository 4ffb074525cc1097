"""Running an rclpy node as a program: clean exit on SIGINT/SIGTERM, one line for a bad start."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable

import rclpy
from rclpy.exceptions import NameValidationException, ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.task import Future

from yolox_ros.errors import YoloxRosError

# A bad configuration, or a malformed command line (RCLError, which rcl has logged already).
STARTUP_ERRORS = (YoloxRosError, ParameterException, NameValidationException, _rclpy.RCLError)


# Set on a start-up error that a node has logged itself (through its own logger, which
# also reaches /rosout); the runner then does not log it a second time.
_LOGGED_BY_NODE = "_yolox_ros_logged_by_node"


class _StartupLoggedError(Exception):
    """The node could not start; the reason is in the ROS log already."""


def log_startup_failure(node: Node, exc: BaseException) -> None:
    """Log why ``node`` cannot start through its logger (console, log file and /rosout)."""
    if node.context.ok():
        node.get_logger().fatal(one_line(exc))
        setattr(exc, _LOGGED_BY_NODE, True)


def run_node(
    create: Callable[[], Node],
    program: str,
    args: list[str] | None = None,
    until: Callable[[Node], Future] | None = None,
) -> None:
    """Create the node; spin it until SIGINT/SIGTERM or until the future ``until(node)`` is done.

    Exits 0 on a signal; exits 1 with one line naming the problem (no
    traceback) when the node cannot start: through the ROS logger (console and
    log file) once rclpy runs, else on stderr.
    """
    try:
        # The default context: rclpy installs its SIGINT/SIGTERM handlers for it.
        rclpy.init(args=args)
        try:
            _spin(create, program, until)
        finally:
            _ignore_exit_signals()
            rclpy.try_shutdown()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except _StartupLoggedError:
        sys.exit(1)
    except STARTUP_ERRORS as exc:  # before rclpy could log: a malformed command line
        print(f"{program}: {one_line(exc)}", file=sys.stderr)
        sys.exit(1)


def _spin(create: Callable[[], Node], program: str, until: Callable[[Node], Future] | None) -> None:
    # A signal shuts the context down at once: whatever then fails (creating the
    # executor, the node or one of its parts) is a clean exit, not an error.
    context = rclpy.get_default_context()
    node = None
    try:
        executor = SingleThreadedExecutor(context=context)
        node = create()
        executor.add_node(node)
        if until is None:
            executor.spin()
        else:
            executor.spin_until_future_complete(until(node))
    except STARTUP_ERRORS as exc:
        if not context.ok():
            return
        if not getattr(exc, _LOGGED_BY_NODE, False):
            # The ROS logger writes the console line and the log file.
            rclpy.logging.get_logger(program).fatal(one_line(exc))
        raise _StartupLoggedError from exc
    finally:
        _ignore_exit_signals()
        if node is not None:
            node.destroy_node()


def _ignore_exit_signals() -> None:
    """SIGINT/SIGTERM ignored from now until the process ends: the program is ending.

    A second Ctrl-C (a user pressing twice, launch escalating) would otherwise
    kill the cleanup, or the interpreter's own exit: Python puts back the
    default action of every signal it handles when it finalizes, but leaves an
    ignored one ignored, so only SIG_IGN covers the whole way out.
    """
    # Signal handlers can only be set from the main thread (a test may run nodes elsewhere).
    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_IGN)


def one_line(exc: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(exc).split())
