"""Detector results and node state -> vision_msgs / diagnostic_msgs messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from std_msgs.msg import Header
from vision_msgs.msg import (
    BoundingBox2D,
    Detection2D,
    Detection2DArray,
    LabelInfo,
    ObjectHypothesisWithPose,
    VisionClass,
)

from yolox_ros.core.detections import Detections
from yolox_ros.ros.frame_stats import Health

CLASS_ID_FORMATS = ("name", "index")


def detections_to_msg(
    detections: Detections, header: Header, class_id_format: str
) -> Detection2DArray:
    """One Detection2D per detection, in original-image pixels, each with the image's header.

    ``class_id_format`` is ``name`` (hypothesis.class_id = class name) or
    ``index`` (the class index as a decimal string, as in LabelInfo).
    """
    array = Detection2DArray(header=header)
    for (x1, y1, x2, y2), score, class_id, class_name in zip(
        detections.boxes.tolist(),
        detections.scores.tolist(),
        detections.class_ids.tolist(),
        detections.class_names,
        strict=True,
    ):
        bbox = BoundingBox2D(size_x=x2 - x1, size_y=y2 - y1)
        bbox.center.position.x = (x1 + x2) / 2.0
        bbox.center.position.y = (y1 + y2) / 2.0
        hypothesis = ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id = class_name if class_id_format == "name" else str(class_id)
        hypothesis.hypothesis.score = score
        array.detections.append(Detection2D(header=header, bbox=bbox, results=[hypothesis]))
    return array


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
