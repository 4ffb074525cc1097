"""The ROS 2 detection node: camera images in, vision_msgs/Detection2DArray out.

``yolox_node`` loads the model and subscribes at start-up; ``yolox_lifecycle_node``
(``lifecycle_node``) does the same through the managed-node transitions. Both
share parameters, live changes and diagnostics (``DetectionNodeParts``); the
detection itself is ``pipeline.DetectionPipeline``. Topics, parameters and
diagnostics are described in the README.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.impl.rcutils_logger import RcutilsLogger
from rclpy.logging import LoggingSeverity
from rclpy.node import Node
from rclpy.parameter import Parameter

from yolox_ros.errors import ConfigError
from yolox_ros.package_files import PACKAGE
from yolox_ros.ros.compat import add_parameter_callbacks
from yolox_ros.ros.params import (
    PARAMETER_NAMES,
    NodeSettings,
    declare_parameters,
    normalize_empty_lists,
)
from yolox_ros.ros.pipeline import DetectionPipeline
from yolox_ros.ros.qos import DIAGNOSTICS_QOS
from yolox_ros.ros.runner import STARTUP_ERRORS, log_startup_failure, run_node

NODE_NAME = "yolox"
DIAGNOSTICS_PERIOD_S = 1.0


class DetectionNodeParts:
    """What the plain and the lifecycle node share; mixed into an rclpy Node class.

    ``pipeline`` is None while no model is loaded (an unconfigured lifecycle node).
    """

    pipeline: DetectionPipeline | None

    def _set_up(self: Node | DetectionNodeParts) -> None:
        self.pipeline = None
        self.settings: NodeSettings = declare_parameters(self)
        # The backends report a device fallback through Python logging: make it a ROS log.
        self._log_forwarder = _RosLogForwarder(self.get_logger())
        logging.getLogger(PACKAGE).addHandler(self._log_forwarder)
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", DIAGNOSTICS_QOS)
        self.create_timer(DIAGNOSTICS_PERIOD_S, self._publish_diagnostics)
        add_parameter_callbacks(
            self, normalize_empty_lists, self._check_parameters, self._apply_parameters
        )

    def _tear_down(self) -> None:
        if self.pipeline is not None:
            self.pipeline.destroy()
            self.pipeline = None
        logging.getLogger(PACKAGE).removeHandler(self._log_forwarder)

    def _check_parameters(self, parameters: Sequence[Parameter]) -> SetParametersResult:
        """Validate a change (rclpy has checked types, ranges and read-only); apply nothing."""
        try:
            settings = self.settings.with_changes(_ours(parameters))
            if self.pipeline is not None:
                self.pipeline.check(settings)
        except ConfigError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _apply_parameters(self, parameters: Sequence[Parameter]) -> None:
        """Every callback accepted the change: use it from the next frame on."""
        self.settings = self.settings.with_changes(_ours(parameters))
        if self.pipeline is not None:
            self.pipeline.apply(self.settings)

    def _publish_diagnostics(self) -> None:
        if self.pipeline is not None:
            self.pipeline.check_inputs()
            self._diagnostics.publish(self.pipeline.diagnostics())


class YoloxNode(DetectionNodeParts, Node):
    """YOLOX detection over one or several cameras sharing one model.

    ``node_kwargs`` go to :class:`rclpy.node.Node` (``context``,
    ``parameter_overrides``, ``namespace``...). Raises YoloxRosError or rclpy's
    ParameterException for a bad configuration.
    """

    def __init__(self, **node_kwargs) -> None:
        self.pipeline = None  # destroy_node() also runs after a failed construction
        super().__init__(NODE_NAME, **node_kwargs)
        try:
            self._set_up()
            self.pipeline = DetectionPipeline(self, self.settings)
        except STARTUP_ERRORS as exc:
            log_startup_failure(self, exc)
            raise
        self.pipeline.start()
        self.get_logger().info(self.pipeline.describe())

    def destroy_node(self) -> None:
        """Stop the inference thread before the publishers it uses go away."""
        if hasattr(self, "_log_forwarder"):
            self._tear_down()
        super().destroy_node()


def _ours(parameters: Sequence[Parameter]) -> dict[str, object]:
    # rclpy's own parameters (use_sim_time, qos_overrides...) are rclpy's business.
    return {p.name: p.value for p in parameters if p.name in PARAMETER_NAMES}


class _RosLogForwarder(logging.Handler):
    """Python log records -> a ROS logger (the standard levels have the same numbers)."""

    def __init__(self, ros_logger: RcutilsLogger) -> None:
        super().__init__()
        self._ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        standard_level = min(max(record.levelno // 10 * 10, logging.DEBUG), logging.CRITICAL)
        self._ros_logger.log(record.getMessage(), LoggingSeverity(standard_level))


def main(args: list[str] | None = None) -> None:
    """``yolox_node``: exits 0 on SIGINT, 1 with one line naming the problem on a bad start."""
    run_node(YoloxNode, f"{NODE_NAME}_node", args)


if __name__ == "__main__":
    main()
