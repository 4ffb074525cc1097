"""What a planner needs from one camera: track ids, confirmed signs, 3-D positions.

Per camera, fed by the inference thread with each frame's detections (found at
the tracker's low threshold): the tracker (``core.tracking``) gives every
detection its track id and voted class; the detections at ``conf_threshold``
go to ``detections`` with their ids, the confirmed tracks (``core.sign_events``)
to ``signs``, and, with ``object_heights_m`` and a ``camera_info``, the
positions of the detections of known height (``core.pinhole``) to
``detections_3d``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, Detection3DArray

from yolox_ros.core.detections import Detections
from yolox_ros.core.pinhole import CameraModel, class_heights, locate
from yolox_ros.core.sign_events import SignEvents
from yolox_ros.core.tracking import Tracker
from yolox_ros.ros.messages import positions_to_msg, sign_events_to_msg
from yolox_ros.ros.params import NodeSettings
from yolox_ros.ros.qos import CAMERA_INFO_QOS, DETECTIONS_QOS
from yolox_ros.ros.topics import output_topic

# camera_info messages kept to find the one of a frame's stamp (a camera publishes both at
# its frame rate; the inference thread is at most a few frames behind).
CAMERA_INFO_HISTORY = 10


class CameraInfoCache:
    """The latest camera_info messages of one camera, each as a CameraModel.

    ``put`` runs in the node's executor, ``model_for`` in the inference thread.
    """

    def __init__(self, max_age_s: float, topic: str, node: Node, on_arrival) -> None:
        self.max_age_s = max_age_s
        self.topic = topic
        self._node = node
        self._on_arrival = on_arrival
        self._lock = threading.Lock()
        self._models: deque[tuple[int, CameraModel]] = deque(maxlen=CAMERA_INFO_HISTORY)
        self.problem = ""  # why the latest camera_info is not usable

    def put(self, msg: CameraInfo) -> None:
        try:
            model = CameraModel.from_camera_info_fields(
                width=msg.width, height=msg.height, k=msg.k, d=msg.d,
                distortion_model=msg.distortion_model, p=msg.p,
                binning_x=msg.binning_x, binning_y=msg.binning_y,
                roi_x_offset=msg.roi.x_offset, roi_y_offset=msg.roi.y_offset,
                roi_width=msg.roi.width, roi_height=msg.roi.height,
            )  # fmt: skip
        except ValueError as exc:
            self.refuse(str(exc))
            return
        with self._lock:
            self._models.append((_nanoseconds(msg.header), model))
        self.problem = ""
        self._on_arrival()

    def refuse(self, problem: str) -> None:
        """Say once (until it changes) why no 3-D positions come from this camera_info."""
        if problem != self.problem:
            self.problem = problem
            self._node.get_logger().warning(
                f"camera_info on {self.topic} cannot be used, no 3-D positions: {problem}"
            )

    def model_for(self, header: Header) -> CameraModel | None:
        """The model of the frame's stamp, else the latest within ``max_age_s`` of it."""
        stamp = _nanoseconds(header)
        with self._lock:
            models = list(self._models)
        for info_stamp, model in reversed(models):
            if info_stamp == stamp:
                return model
        if models and abs(models[-1][0] - stamp) <= self.max_age_s * 1e9:
            return models[-1][1]
        return None


class TrackedOutputs:
    """One camera's tracker, sign events and 3-D positions, with their publishers."""

    def __init__(
        self,
        node: Node,
        namespace: str,
        settings: NodeSettings,
        class_names: tuple[str, ...],
        camera_info_arrived: Callable[[], None],
    ) -> None:
        """``camera_info_arrived`` is called (in the node's executor) for each usable one."""
        self._node = node
        self.tracker: Tracker | None = None
        self.signs = None
        if settings.tracking:
            self.tracker = Tracker(settings.tracker_settings())
            self.sign_events = SignEvents(settings.sign_event_settings())
            self.signs = node.create_publisher(
                Detection2DArray, output_topic(namespace, "signs"), DETECTIONS_QOS
            )
        heights = settings.object_heights()
        self.camera_info: CameraInfoCache | None = None
        self.heights = np.zeros(0)
        self._subscription = None
        self.positions = None
        unknown = sorted(set(heights) - set(class_names))
        if unknown:  # a params file written for another model: the others still count
            node.get_logger().warning(
                f"object_heights_m names classes the model does not have, ignored: {unknown}"
            )
            heights = {name: value for name, value in heights.items() if name in class_names}
        if heights:
            self.heights = class_heights(class_names, heights)
            # Beside the image topic, as image_transport's camera publishers put it.
            topic = output_topic(namespace, "camera_info")
            self.camera_info = CameraInfoCache(
                settings.camera_info_max_age_s,
                node.resolve_topic_name(topic),
                node,
                camera_info_arrived,
            )
            self._subscription = node.create_subscription(
                CameraInfo, topic, self.camera_info.put, CAMERA_INFO_QOS
            )
            self.positions = node.create_publisher(
                Detection3DArray, output_topic(namespace, "detections_3d"), DETECTIONS_QOS
            )

    def update(
        self,
        detections: Detections,
        header: Header,
        image_size: tuple[int, int],
        settings: NodeSettings,
    ) -> tuple[Detections, list[str]]:
        """Track one frame; publish its signs and positions. Returns the detections at
        ``conf_threshold`` with their voted classes, and each one's track id ("" if none)."""
        stamp_s = header.stamp.sec + header.stamp.nanosec * 1e-9
        tracks = self.tracker.update(detections, stamp_s)
        events = self.sign_events.update(tracks, self.tracker.live_track_ids, image_size, stamp_s)
        self.signs.publish(sign_events_to_msg(events, header, settings.class_id_format))

        ids = [""] * len(detections)
        class_ids = detections.class_ids.copy()
        class_names = list(detections.class_names)
        for track in tracks:
            ids[track.detection] = str(track.track_id)
            class_ids[track.detection] = track.class_id
            class_names[track.detection] = track.class_name
        voted = replace(detections, class_ids=class_ids, class_names=tuple(class_names))
        kept = np.flatnonzero(detections.scores >= settings.conf_threshold)
        published = voted.subset(kept)
        published_ids = [ids[i] for i in kept.tolist()]
        self._publish_positions(published, published_ids, header, image_size, settings)
        return published, published_ids

    def _publish_positions(
        self,
        detections: Detections,
        ids: list[str],
        header: Header,
        image_size: tuple[int, int],
        settings: NodeSettings,
    ) -> None:
        if self.camera_info is None or self.positions is None:
            return
        camera = self.camera_info.model_for(header)
        if camera is None:
            return  # the liveness check says why
        heights = self.heights[detections.class_ids] if len(detections) else np.zeros(0)
        try:
            positions = locate(detections.boxes, heights, camera, image_size=image_size)
        except ValueError as exc:  # the image is not the calibrated one, resized or not
            self.camera_info.refuse(str(exc))
            return
        self.positions.publish(
            positions_to_msg(detections, ids, positions, heights, header, settings.class_id_format)
        )

    def reset(self) -> None:
        """Forget every track (the camera's stream starts again)."""
        if self.tracker is not None:
            self.tracker.reset()
            self.sign_events.reset()

    def destroy(self) -> None:
        if self.signs is not None:
            self._node.destroy_publisher(self.signs)
        if self.positions is not None:
            self._node.destroy_publisher(self.positions)
        if self._subscription is not None:
            self._node.destroy_subscription(self._subscription)


def _nanoseconds(header: Header) -> int:
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
