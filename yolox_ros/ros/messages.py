"""Detector results and node state -> vision_msgs / diagnostic_msgs messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from std_msgs.msg import Header
from vision_msgs.msg import (
    BoundingBox2D,
    BoundingBox3D,
    Detection2D,
    Detection2DArray,
    Detection3D,
    Detection3DArray,
    LabelInfo,
    ObjectHypothesisWithPose,
    VisionClass,
)

from yolox_ros.core.detections import Detections
from yolox_ros.core.sign_events import SignEvent
from yolox_ros.ros.frame_stats import Health

CLASS_ID_FORMATS = ("name", "index")


def detections_to_msg(
    detections: Detections,
    header: Header,
    class_id_format: str,
    ids: Sequence[str] | None = None,
) -> Detection2DArray:
    """One Detection2D per detection, in original-image pixels, each with the image's header.

    ``class_id_format`` is ``name`` (hypothesis.class_id = class name) or
    ``index`` (the class index as a decimal string, as in LabelInfo); ``ids`` are
    the detections' track ids (``Detection2D.id``), empty without tracking.
    """
    array = Detection2DArray(header=header)
    for (x1, y1, x2, y2), score, class_id, class_name, track_id in zip(
        detections.boxes.tolist(),
        detections.scores.tolist(),
        detections.class_ids.tolist(),
        detections.class_names,
        ids if ids is not None else [""] * len(detections),
        strict=True,
    ):
        array.detections.append(
            _detection_2d((x1, y1, x2, y2), score, class_id, class_name, track_id, header,
                          class_id_format)
        )  # fmt: skip
    return array


def sign_events_to_msg(
    events: Sequence[SignEvent], header: Header, class_id_format: str
) -> Detection2DArray:
    """The confirmed signs of a frame: id = track id, class by vote, the box last seen."""
    array = Detection2DArray(header=header)
    for event in events:
        array.detections.append(
            _detection_2d(event.box.tolist(), event.score, event.class_id, event.class_name,
                          str(event.track_id), header, class_id_format)
        )  # fmt: skip
    return array


def positions_to_msg(
    detections: Detections,
    ids: Sequence[str],
    positions: np.ndarray,
    heights_m: np.ndarray,
    header: Header,
    class_id_format: str,
) -> Detection3DArray:
    """A Detection3D per detection with a position (metres, the camera's optical frame).

    The box is centred on the position, ``heights_m`` tall, as wide as the image box's
    aspect gives, and flat (a sign): ``size.z`` is 0. The hypothesis' pose is the
    same position.
    """
    array = Detection3DArray(header=header)
    for row in np.flatnonzero(np.isfinite(positions).all(axis=1)).tolist():
        x1, y1, x2, y2 = detections.boxes[row].tolist()
        height = float(heights_m[row])
        bbox = BoundingBox3D()
        position = bbox.center.position
        position.x, position.y, position.z = positions[row].tolist()
        bbox.size.x = height * (x2 - x1) / max(y2 - y1, 1e-6)
        bbox.size.y = height
        hypothesis = _hypothesis(
            float(detections.scores[row]), int(detections.class_ids[row]),
            detections.class_names[row], class_id_format,
        )  # fmt: skip
        hypothesis.pose.pose.position = bbox.center.position
        array.detections.append(
            Detection3D(header=header, results=[hypothesis], bbox=bbox, id=ids[row])
        )
    return array


def _detection_2d(
    box: Sequence[float],
    score: float,
    class_id: int,
    class_name: str,
    track_id: str,
    header: Header,
    class_id_format: str,
) -> Detection2D:
    x1, y1, x2, y2 = box
    bbox = BoundingBox2D(size_x=x2 - x1, size_y=y2 - y1)
    bbox.center.position.x = (x1 + x2) / 2.0
    bbox.center.position.y = (y1 + y2) / 2.0
    hypothesis = _hypothesis(score, class_id, class_name, class_id_format)
    return Detection2D(header=header, bbox=bbox, results=[hypothesis], id=track_id)


def _hypothesis(
    score: float, class_id: int, class_name: str, class_id_format: str
) -> ObjectHypothesisWithPose:
    hypothesis = ObjectHypothesisWithPose()
    hypothesis.hypothesis.class_id = class_name if class_id_format == "name" else str(class_id)
    hypothesis.hypothesis.score = score
    return hypothesis


def label_info_msg(class_names: Sequence[str], threshold: float, header: Header) -> LabelInfo:
    """The model's class map (index -> name) and the confidence threshold in use."""
    return LabelInfo(
        header=header,
        class_map=[VisionClass(class_id=i, class_name=name) for i, name in enumerate(class_names)],
        threshold=float(threshold),
    )


def diagnostic_status(
    name: str, hardware_id: str, health: Health, message: str, values: Mapping[str, object]
) -> DiagnosticStatus:
    """A DiagnosticStatus; values that are None are reported as ``n/a``."""
    return DiagnosticStatus(
        level=bytes([int(health)]),
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=[
            KeyValue(key=key, value="n/a" if value is None else str(value))
            for key, value in values.items()
        ],
    )
