"""Quality of service of the node's inputs and outputs (the README's topics table)."""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

# Frames of a camera arriving between two of its turns are all counted (as dropped but the
# newest) up to this many; 2x overload brings 2. Each slot holds a whole image.
INPUT_QUEUE_DEPTH = 3

DETECTIONS_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
ANNOTATED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
# Late subscribers (rviz, loggers) still get the class map.
LABEL_INFO_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
DIAGNOSTICS_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def input_qos(reliable: bool) -> QoSProfile:
    """Like SensorData; the history holds the frames that arrive while the model runs."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=INPUT_QUEUE_DEPTH,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.VOLATILE,
    )
