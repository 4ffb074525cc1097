"""Quality of service of the node's inputs and outputs (the README's topics table)."""

from __future__ import annotations

from collections.abc import Sequence

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSPolicyKind, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions

# Frames of a camera arriving between two of its turns are all counted (as dropped but the
# newest) up to this many; 2x overload brings 2. Each slot holds a whole image.
INPUT_QUEUE_DEPTH = 3

INPUT_RELIABILITIES = ("auto", "best_effort", "reliable")
# The standard qos_overrides parameters for the input, but reliability: input_reliability's.
INPUT_QOS_OVERRIDES = QoSOverridingOptions(
    policy_kinds=(QoSPolicyKind.HISTORY, QoSPolicyKind.DEPTH, QoSPolicyKind.DURABILITY)
)

DETECTIONS_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
ANNOTATED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
# Late subscribers (rviz, loggers) still get the class map.
LABEL_INFO_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
# Best effort matches every camera driver's camera_info, reliable or not; it is small.
CAMERA_INFO_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
DIAGNOSTICS_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def input_qos(reliable: bool) -> QoSProfile:
    """Like SensorData; the history holds the frames that arrive while the model runs."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=INPUT_QUEUE_DEPTH,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.VOLATILE,
    )


def reliable_input(setting: str, offered: Sequence[ReliabilityPolicy]) -> bool:
    """Whether to subscribe reliably, for ``input_reliability`` and the publishers' offers.

    ``auto`` is reliable when there are publishers and every one offers reliable: a
    best-effort subscription to a reliable camera gets its samples without repair,
    and a frame over a few hundred KiB then rarely arrives whole. Otherwise best
    effort, which matches any publisher.
    """
    if setting != "auto":
        return setting == "reliable"
    return bool(offered) and all(policy == ReliabilityPolicy.RELIABLE for policy in offered)
