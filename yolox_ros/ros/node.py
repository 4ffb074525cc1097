"""The ROS 2 detection node: camera images in, vision_msgs/Detection2DArray out.

One inference thread takes the camera images off their subscriptions
(``direct_subscriptions``), keeps each camera's newest frame, decodes it, runs the
detector and publishes, so a slow model never works through a queue of stale
frames (frames a newer one overtook count as dropped). The executor serves
parameters and diagnostics. Topics, parameters and diagnostics are described in the README.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.impl.rcutils_logger import RcutilsLogger
from rclpy.logging import LoggingSeverity
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.publisher import Publisher
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, LabelInfo

from yolox_ros.core.annotate import draw_detections
from yolox_ros.core.detector import Detector
from yolox_ros.errors import ConfigError, InvalidImageError
from yolox_ros.package_files import PACKAGE
from yolox_ros.ros.direct_subscriptions import DirectSubscriptions
from yolox_ros.ros.frame_stats import FrameStats, StatsSnapshot, assess
from yolox_ros.ros.image_conversion import bgr_to_image_msg, compressed_msg_to_bgr, image_msg_to_bgr
from yolox_ros.ros.latest_frame import LatestFrames
from yolox_ros.ros.messages import detections_to_msg, diagnostic_status, label_info_msg
from yolox_ros.ros.params import (
    PARAMETER_NAMES,
    NodeSettings,
    declare_parameters,
    normalize_empty_lists,
    output_namespace,
    output_topic,
)
from yolox_ros.ros.runner import run_node

NODE_NAME = "yolox"
BAD_FRAME_LOG_PERIOD_S = 5.0
DIAGNOSTICS_PERIOD_S = 1.0
WORKER_STOP_TIMEOUT_S = 10.0
# Frames of a camera arriving between two of its turns are all counted (as dropped but the
# newest) up to this many; 2x overload brings 2. Each slot holds a whole image.
INPUT_QUEUE_DEPTH = 3

_DETECTIONS_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
_ANNOTATED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
# Late subscribers (rviz, loggers) still get the class map.
_LABEL_INFO_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


def input_qos(reliable: bool) -> QoSProfile:
    """Like SensorData; the history holds the frames that arrive while the model runs."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=INPUT_QUEUE_DEPTH,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.VOLATILE,
    )


@dataclass
class _Camera:
    input_topic: str
    detections: Publisher
    annotated: Publisher
    label_info: Publisher
    stats: FrameStats
    reported: StatsSnapshot  # at the previous diagnostics report


class YoloxNode(Node):
    """YOLOX detection over one or several cameras sharing one model.

    ``node_kwargs`` go to :class:`rclpy.node.Node` (``context``,
    ``parameter_overrides``, ``namespace``...). Raises YoloxRosError or rclpy's
    ParameterException for a bad configuration.
    """

    def __init__(self, **node_kwargs) -> None:
        # destroy_node() also runs on a node whose construction failed (context shutdown).
        self._worker: threading.Thread | None = None
        self._log_forwarder: logging.Handler | None = None
        super().__init__(NODE_NAME, **node_kwargs)
        self._settings: NodeSettings = declare_parameters(self)
        # The backends report a device fallback through Python logging: make it a ROS log.
        self._log_forwarder = _RosLogForwarder(self.get_logger())
        logging.getLogger(PACKAGE).addHandler(self._log_forwarder)
        self._detector = Detector(self._settings.detector_config())

        compressed = self._settings.transport == "compressed"
        self._decode: Callable[[Image | CompressedImage], np.ndarray] = (
            compressed_msg_to_bgr if compressed else image_msg_to_bgr
        )
        topics = self._settings.input_topics
        self._cameras = [self._add_camera(topic) for topic in topics]
        self._images = DirectSubscriptions(
            self,
            CompressedImage if compressed else Image,
            [f"{topic}/compressed" if compressed else topic for topic in topics],
            input_qos(self._settings.reliable_qos),
        )
        self._publish_label_info(self._settings.conf_threshold)
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(DIAGNOSTICS_PERIOD_S, self._publish_diagnostics)
        self.add_pre_set_parameters_callback(normalize_empty_lists)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._worker = threading.Thread(target=self._run_worker, name="inference", daemon=True)
        self._worker.start()

        backend = self._detector.backend
        self.get_logger().info(
            f"{len(self._detector.class_names)} classes, input {self._detector.input_size}, "
            f"{backend.name} on {backend.device} ({', '.join(backend.providers)}); "
            + "; ".join(
                f"{self.resolve_topic_name(c.input_topic)} -> {c.detections.topic_name}"
                for c in self._cameras
            )
        )

    def destroy_node(self) -> None:
        """Stop the inference thread before the publishers it uses go away."""
        if self._worker is not None:
            self._images.stop()
            self._worker.join(WORKER_STOP_TIMEOUT_S)
            if not self._worker.is_alive():
                self._images.destroy()
        if self._log_forwarder is not None:
            logging.getLogger(PACKAGE).removeHandler(self._log_forwarder)
        super().destroy_node()

    # ------------------------------------------------------------------ set-up
    def _add_camera(self, topic: str) -> _Camera:
        namespace = output_namespace(topic)
        return _Camera(
            input_topic=topic,
            detections=self.create_publisher(
                Detection2DArray, output_topic(namespace, "detections"), _DETECTIONS_QOS
            ),
            annotated=self.create_publisher(
                Image, output_topic(namespace, "detections/image"), _ANNOTATED_QOS
            ),
            label_info=self.create_publisher(
                LabelInfo, output_topic(namespace, "label_info"), _LABEL_INFO_QOS
            ),
            stats=FrameStats(),
            reported=StatsSnapshot(),
        )

    # ------------------------------------------------------------------ frames
    def _run_worker(self) -> None:
        latest: LatestFrames[Image | CompressedImage] = LatestFrames(len(self._cameras))
        while self._collect_arrivals(latest):
            if (taken := latest.take()) is not None:
                self._process_guarded(self._cameras[taken[0]], taken[1])

    def _collect_arrivals(self, latest: LatestFrames) -> bool:
        """Wait unless a frame is waiting already, then file all arrivals; False: stop."""
        try:
            arrivals = self._images.wait(block=latest.empty())
        except Exception as exc:  # noqa: BLE001 - a line in the log, not a thread traceback
            if self.context.ok():  # else: shut down during the wait
                self.get_logger().fatal(f"cannot take images any more, detection stopped: {exc!r}")
            return False
        if arrivals is None:
            return False
        for index, msg in arrivals:
            self._cameras[index].stats.count_received(latest.put(index, msg))
        return True

    def _process_guarded(self, camera: _Camera, msg: Image | CompressedImage) -> None:
        try:
            self._process(camera, msg)
        except Exception as exc:  # noqa: BLE001 - one frame must never stop detection
            if not self.context.ok():
                return
            camera.stats.count_failed()
            self.get_logger().error(
                f"detection failed on a frame from {camera.input_topic}: {exc!r}",
                throttle_duration_sec=BAD_FRAME_LOG_PERIOD_S,
            )

    def _process(self, camera: _Camera, msg: Image | CompressedImage) -> None:
        settings = self._settings
        started = time.perf_counter()
        try:
            image = self._decode(msg)
            detections = self._detector.detect(image)
        except InvalidImageError as exc:
            camera.stats.count_invalid()
            self.get_logger().warning(
                f"skipping frame from {camera.input_topic}: {exc}",
                throttle_duration_sec=BAD_FRAME_LOG_PERIOD_S,
            )
            return
        inference_s = time.perf_counter() - started
        camera.detections.publish(
            detections_to_msg(detections, msg.header, settings.class_id_format)
        )
        camera.stats.count_processed(self._latency_s(msg.header), inference_s)
        if settings.publish_annotated_image and camera.annotated.get_subscription_count() > 0:
            annotated = draw_detections(image, detections)
            camera.annotated.publish(bgr_to_image_msg(annotated, msg.header))
            camera.stats.count_annotated()

    def _latency_s(self, header: Header) -> float | None:
        stamp_ns = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
        if stamp_ns == 0:
            return None
        return (self.get_clock().now().nanoseconds - stamp_ns) * 1e-9

    # ------------------------------------------------------------------ state topics
    def _publish_label_info(self, threshold: float) -> None:
        header = Header(stamp=self.get_clock().now().to_msg())
        msg = label_info_msg(self._detector.class_names, threshold, header)
        for camera in self._cameras:
            camera.label_info.publish(msg)

    def _publish_diagnostics(self) -> None:
        backend = self._detector.backend
        array = DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()))
        for camera in self._cameras:
            snapshot = camera.stats.snapshot()
            health, message = assess(camera.reported, snapshot)
            camera.reported = snapshot
            values = {
                "input_topic": self.resolve_topic_name(camera.input_topic),
                "frames_received": snapshot.received,
                "frames_processed": snapshot.processed,
                "frames_dropped": snapshot.dropped,
                "frames_invalid": snapshot.invalid,
                "frames_failed": snapshot.failed,
                "annotated_images": snapshot.annotated,
                "latency_p50_ms": _milliseconds(snapshot.latency_p50_ms),
                "latency_p95_ms": _milliseconds(snapshot.latency_p95_ms),
                "inference_p50_ms": _milliseconds(snapshot.inference_p50_ms),
                "backend": backend.name,
                "device": backend.device,
                "providers": ", ".join(backend.providers),
            }
            name = f"{self.get_name()}: {values['input_topic']}"
            array.status.append(diagnostic_status(name, backend.device, health, message, values))
        self._diagnostics.publish(array)

    # ------------------------------------------------------------------ parameters
    def _on_set_parameters(self, parameters: Sequence[Parameter]) -> SetParametersResult:
        """Validate and apply live changes; rclpy has checked types, ranges and read-only."""
        # rclpy's own parameters (use_sim_time...) are rclpy's business.
        changes = {p.name: p.value for p in parameters if p.name in PARAMETER_NAMES}
        try:
            settings = self._settings.with_changes(changes)
            self._detector.update_thresholds(**settings.detector_thresholds())
        except ConfigError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self._settings = settings
        if "conf_threshold" in changes:
            self._publish_label_info(settings.conf_threshold)
        return SetParametersResult(successful=True)


class _RosLogForwarder(logging.Handler):
    """Python log records -> a ROS logger (the standard levels have the same numbers)."""

    def __init__(self, ros_logger: RcutilsLogger) -> None:
        super().__init__()
        self._ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        standard_level = min(max(record.levelno // 10 * 10, logging.DEBUG), logging.CRITICAL)
        self._ros_logger.log(record.getMessage(), LoggingSeverity(standard_level))


def _milliseconds(value: float | None) -> str | None:
    return None if value is None else f"{value:.1f}"


def main(args: list[str] | None = None) -> None:
    """``yolox_node``: exits 0 on SIGINT, 1 with one line on stderr for a bad configuration."""
    run_node(YoloxNode, f"{NODE_NAME}_node", args)


if __name__ == "__main__":
    main()
