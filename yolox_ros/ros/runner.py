"""Running an rclpy node as a program: clean exit on SIGINT/SIGTERM, one line for a bad start."""

from __future__ import annotations

import sys
from collections.abc import Callable

import rclpy
from rclpy.context import Context
from rclpy.exceptions import NameValidationException, ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.task import Future

from yolox_ros.errors import YoloxRosError

# A bad configuration, or a malformed command line (RCLError, which rcl has logged already).
STARTUP_ERRORS = (YoloxRosError, ParameterException, NameValidationException, _rclpy.RCLError)


def run_node(
    create: Callable[[], Node],
    program: str,
    args: list[str] | None = None,
    until: Callable[[Node], Future] | None = None,
) -> None:
    """Create the node; spin it until SIGINT/SIGTERM or until the future ``until(node)`` is done.

    Exits 0 on a signal; exits 1 with ``program: problem`` on stderr (no
    traceback) when the node cannot start.
    """
    try:
        with rclpy.init(args=args) as ros:
            _spin(create, ros.context, until)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except STARTUP_ERRORS as exc:
        message = " ".join(str(exc).split())
        print(f"{program}: {message}", file=sys.stderr)
        sys.exit(1)


def _spin(
    create: Callable[[], Node], context: Context, until: Callable[[Node], Future] | None
) -> None:
    # A signal shuts the context down at once: whatever then fails (creating the
    # executor, the node or one of its parts) is a clean exit, not an error.
    node = None
    try:
        executor = SingleThreadedExecutor(context=context)
        node = create()
        executor.add_node(node)
        if until is None:
            executor.spin()
        else:
            executor.spin_until_future_complete(until(node))
    except STARTUP_ERRORS:
        if context.ok():
            raise
    finally:
        if node is not None:
            node.destroy_node()
