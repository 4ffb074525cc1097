"""Detection on a node: the detector, each camera's publishers, the inference thread.

One inference thread takes the camera images off their subscriptions
(``direct_subscriptions``), keeps each camera's newest frame, decodes it, runs the
detector and publishes, so a slow model never works through a queue of stale
frames (frames a newer one overtook count as dropped). The plain node starts it
at once; the lifecycle node loads it on configure and starts it on activate.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.event_handler import QoSRequestedIncompatibleQoSInfo
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import qos_policy_name_from_kind
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, LabelInfo

from yolox_ros.core.annotate import draw_detections
from yolox_ros.core.detector import Detector
from yolox_ros.errors import InvalidImageError
from yolox_ros.ros.diagnostics import CameraReport
from yolox_ros.ros.direct_subscriptions import DirectSubscriptions
from yolox_ros.ros.frame_stats import FrameStats
from yolox_ros.ros.image_conversion import (
    bgr_to_image_msg,
    compressed_msg_to_bgr,
    image_msg_to_bgr,
)
from yolox_ros.ros.latest_frame import LatestFrames
from yolox_ros.ros.liveness import InputLiveness
from yolox_ros.ros.messages import detections_to_msg, label_info_msg
from yolox_ros.ros.params import NodeSettings
from yolox_ros.ros.qos import (
    ANNOTATED_QOS,
    DETECTIONS_QOS,
    INPUT_QOS_OVERRIDES,
    LABEL_INFO_QOS,
    input_qos,
    reliable_input,
)
from yolox_ros.ros.topics import output_namespace, output_topic
from yolox_ros.ros.tracked_outputs import TrackedOutputs

BAD_FRAME_LOG_PERIOD_S = 5.0
WORKER_STOP_TIMEOUT_S = 10.0
# What the detector says about an image it refuses (wrong shape, dtype...).
DETECTOR_INPUT_CAUSE = "detector_input"


@dataclass
class _Camera:
    input_topic: str  # resolved (remappings applied)
    detections: Publisher
    annotated: Publisher
    label_info: Publisher
    report: CameraReport
    tracked: TrackedOutputs | None  # with tracking or object heights
    liveness: InputLiveness | None = None  # while subscribed


class _Throttle:
    """True at most once per period for each key (rclpy throttles per call site only)."""

    def __init__(self, period_s: float) -> None:
        self._period_s = period_s
        self._last: dict[tuple[str, str], float] = {}

    def ready(self, key: tuple[str, str]) -> bool:
        now = time.monotonic()
        if now - self._last.get(key, -self._period_s) < self._period_s:
            return False
        self._last[key] = now
        return True


class DetectionPipeline:
    """The detector and the cameras' publishers of ``node``; :meth:`start` subscribes.

    Raises YoloxRosError when the model cannot be loaded.
    """

    def __init__(self, node: Node, settings: NodeSettings) -> None:
        self._node = node
        self.settings = settings
        self.detector = Detector(settings.detector_config())
        self._cameras = [self._add_camera(topic) for topic in settings.input_topics]
        self._images: DirectSubscriptions | None = None
        self._topics: list[str] = []  # subscribed, one per camera
        self._reliable: list[bool] = []  # each camera's subscription is reliable
        self._worker: threading.Thread | None = None
        self._throttle = _Throttle(BAD_FRAME_LOG_PERIOD_S)

    def describe(self) -> str:
        backend = self.detector.backend
        return (
            f"{len(self.detector.class_names)} classes, input {self.detector.input_size}, "
            f"{backend.name} on {backend.device} ({', '.join(backend.providers)}); "
            + "; ".join(f"{c.input_topic} -> {c.detections.topic_name}" for c in self._cameras)
        )

    # ------------------------------------------------------------------ life cycle
    def start(self) -> None:
        """Publish the class map, subscribe to the cameras and start the inference thread."""
        self.publish_label_info()
        compressed = self.settings.transport == "compressed"
        # As image_transport: the compressed topic is the resolved base topic + /compressed,
        # so remapping the base topic moves both transports.
        self._topics = [
            f"{c.input_topic}/compressed" if compressed else c.input_topic for c in self._cameras
        ]
        started_s = time.monotonic()
        for camera, topic in zip(self._cameras, self._topics, strict=True):
            tracked = camera.tracked
            camera_info = tracked.camera_info if tracked is not None else None
            camera.liveness = InputLiveness(
                topic, self.settings.input_timeout_s, started_s,
                camera_info.topic if camera_info is not None else "",
            )  # fmt: skip
            camera.report.liveness = camera.liveness
            if tracked is not None:
                tracked.reset()
        self._subscribe([self._reliable_input(topic) for topic in self._topics])

    def stop(self) -> None:
        """Stop the inference thread and unsubscribe; nothing is published afterwards."""
        self._unsubscribe()
        for camera in self._cameras:
            camera.liveness = camera.report.liveness = None

    def _subscribe(self, reliable: list[bool]) -> None:
        compressed = self.settings.transport == "compressed"
        self._reliable = reliable
        self._images = DirectSubscriptions(
            self._node,
            CompressedImage if compressed else Image,
            self._topics,
            [input_qos(each) for each in reliable],
            INPUT_QOS_OVERRIDES,
            incompatible_qos=self._incompatible_qos,
        )
        decode = compressed_msg_to_bgr if compressed else image_msg_to_bgr
        self._worker = threading.Thread(
            target=self._run_worker, args=(self._images, decode), name="inference", daemon=True
        )
        self._worker.start()

    def _unsubscribe(self) -> None:
        if self._worker is None or self._images is None:
            return
        self._images.stop()
        self._worker.join(WORKER_STOP_TIMEOUT_S)
        if not self._worker.is_alive():
            self._images.destroy()
        self._worker = None
        self._images = None

    def _reliable_input(self, topic: str) -> bool:
        offered = [
            info.qos_profile.reliability for info in self._node.get_publishers_info_by_topic(topic)
        ]
        return reliable_input(self.settings.input_reliability, offered)

    def destroy(self) -> None:
        """Stop, then remove the publishers and free the model."""
        self.stop()
        for camera in self._cameras:
            for publisher in (camera.detections, camera.annotated, camera.label_info):
                self._node.destroy_publisher(publisher)
            if camera.tracked is not None:
                camera.tracked.destroy()
        self._cameras = []

    # ------------------------------------------------------------------ set-up
    def _add_camera(self, topic: str) -> _Camera:
        namespace = output_namespace(topic)
        node = self._node
        settings = self.settings
        tracked = None
        if settings.tracking or settings.object_heights_m:
            tracked = TrackedOutputs(
                node, namespace, settings, self.detector.class_names,
                camera_info_arrived=lambda: self._camera_info_arrived(topic),
            )  # fmt: skip
        return _Camera(
            input_topic=node.resolve_topic_name(topic),
            detections=node.create_publisher(
                Detection2DArray, output_topic(namespace, "detections"), DETECTIONS_QOS
            ),
            annotated=node.create_publisher(
                Image, output_topic(namespace, "detections/image"), ANNOTATED_QOS
            ),
            label_info=node.create_publisher(
                LabelInfo, output_topic(namespace, "label_info"), LABEL_INFO_QOS
            ),
            report=CameraReport(node.resolve_topic_name(topic), FrameStats()),
            tracked=tracked,
        )

    def _camera_info_arrived(self, topic: str) -> None:
        camera = self._cameras[self.settings.input_topics.index(topic)]
        if camera.liveness is not None:
            camera.liveness.camera_info_arrived(time.monotonic())

    # ------------------------------------------------------------------ frames
    def _run_worker(
        self,
        images: DirectSubscriptions,
        decode: Callable[[Image | CompressedImage, int], np.ndarray],
    ) -> None:
        latest: LatestFrames[Image | CompressedImage] = LatestFrames(len(self._cameras))
        while self._collect_arrivals(images, latest):
            if (taken := latest.take()) is not None:
                self._process_guarded(self._cameras[taken[0]], taken[1], decode)

    def _collect_arrivals(self, images: DirectSubscriptions, latest: LatestFrames) -> bool:
        """Wait unless a frame is waiting already, then file all arrivals; False: stop."""
        try:
            arrivals = images.wait(block=latest.empty())
        except Exception as exc:  # noqa: BLE001 - a line in the log, not a thread traceback
            if self._node.context.ok():  # else: shut down during the wait
                self._node.get_logger().fatal(
                    f"cannot take images any more, detection stopped: {exc!r}"
                )
            return False
        if arrivals is None:
            return False
        now_s = time.monotonic()
        for index, msg in arrivals:
            camera = self._cameras[index]
            camera.report.stats.count_received(latest.put(index, msg))
            if camera.liveness is not None:
                camera.liveness.frame_arrived(now_s)
        return True

    def _incompatible_qos(self, index: int, event: QoSRequestedIncompatibleQoSInfo) -> None:
        liveness = self._cameras[index].liveness
        if liveness is not None:
            policy = qos_policy_name_from_kind(event.last_policy_kind)
            liveness.incompatible_qos(policy, event.total_count)

    def check_inputs(self) -> None:
        """Judge every camera's input and log what started or stopped being wrong; follow
        the publishers' reliability (``input_reliability: auto``)."""
        if self._images is None:
            return
        now_s = time.monotonic()
        matched = self._images.publisher_counts()
        for camera, matched_here in zip(self._cameras, matched, strict=True):
            liveness = camera.liveness
            publishers = self._node.count_publishers(liveness.topic)
            line = liveness.judge(now_s, publishers, matched_here)
            # rclpy wants one severity per call site.
            if line is not None and liveness.state.ok:
                self._node.get_logger().info(line)
            elif line is not None:
                self._node.get_logger().warning(line)
        if self.settings.input_reliability != "auto":
            return  # a fixed reliability (read-only): no graph to follow
        wanted = [self._reliable_input(topic) for topic in self._topics]
        if wanted != self._reliable:
            for topic, before, after in zip(self._topics, self._reliable, wanted, strict=True):
                if before != after:
                    self._node.get_logger().info(
                        f"subscribing to {topic} "
                        + (
                            "reliably: its publishers offer reliable (lost fragments of large "
                            "frames are then sent again)"
                            if after
                            else "best effort: a publisher offers only best effort"
                        )
                    )
            self._unsubscribe()
            self._subscribe(wanted)

    def _process_guarded(self, camera: _Camera, msg: Image | CompressedImage, decode) -> None:
        try:
            self._process(camera, msg, decode)
        except Exception as exc:  # noqa: BLE001 - one frame must never stop detection
            if not self._node.context.ok():
                return
            camera.report.stats.count_failed()
            if self._throttle.ready((camera.input_topic, "failed")):
                self._node.get_logger().error(
                    f"detection failed on a frame from {camera.input_topic}: {exc!r}"
                )

    def _process(self, camera: _Camera, msg: Image | CompressedImage, decode) -> None:
        settings = self.settings
        started = time.perf_counter()
        try:
            image = decode(msg, settings.max_image_pixels)
            detections = self.detector.detect(image)
        except InvalidImageError as exc:
            cause = getattr(exc, "cause", DETECTOR_INPUT_CAUSE)
            camera.report.stats.count_invalid(cause)
            if self._throttle.ready((camera.input_topic, cause)):
                self._node.get_logger().warning(
                    f"skipping frame from {camera.input_topic}: {exc} "
                    f"(this message at most every {BAD_FRAME_LOG_PERIOD_S:g} s per camera "
                    "and cause)"
                )
            return
        inference_s = time.perf_counter() - started
        ids = None
        if camera.tracked is not None:
            image_size = (image.shape[1], image.shape[0])
            detections, ids = camera.tracked.update(detections, msg.header, image_size, settings)
        camera.detections.publish(
            detections_to_msg(detections, msg.header, settings.class_id_format, ids)
        )
        camera.report.stats.count_processed(self._latency_s(msg.header), inference_s)
        if settings.publish_annotated_image and camera.annotated.get_subscription_count() > 0:
            annotated = draw_detections(image, detections, ids)
            camera.annotated.publish(bgr_to_image_msg(annotated, msg.header))
            camera.report.stats.count_annotated()

    def _latency_s(self, header: Header) -> float | None:
        stamp_ns = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
        if stamp_ns == 0:
            return None
        return (self._node.get_clock().now().nanoseconds - stamp_ns) * 1e-9

    # ------------------------------------------------------------------ live settings
    def check(self, settings: NodeSettings) -> None:
        """ConfigError if the detector would refuse these settings (e.g. an unknown class)."""
        # The detector's own check, on a shallow copy: update_thresholds only rebinds
        # attributes, so the detector in use stays untouched.
        copy.copy(self.detector).update_thresholds(**settings.detector_thresholds())

    def apply(self, settings: NodeSettings) -> None:
        """Use already validated live settings from the next frame on."""
        threshold_changed = settings.conf_threshold != self.settings.conf_threshold
        self.detector.update_thresholds(**settings.detector_thresholds())
        self.settings = settings
        for camera in self._cameras:
            if camera.liveness is not None:
                camera.liveness.frame_timeout_s = settings.input_timeout_s
        if threshold_changed and self._worker is not None:  # nothing is published while stopped
            self.publish_label_info()

    def publish_label_info(self) -> None:
        header = Header(stamp=self._node.get_clock().now().to_msg())
        msg = label_info_msg(self.detector.class_names, self.settings.conf_threshold, header)
        for camera in self._cameras:
            camera.label_info.publish(msg)

    def diagnostics(self) -> DiagnosticArray:
        array = DiagnosticArray(header=Header(stamp=self._node.get_clock().now().to_msg()))
        array.status = [
            camera.report.status(self._node.get_name(), self.detector.backend)
            for camera in self._cameras
        ]
        return array
