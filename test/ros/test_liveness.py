"""The node says why nothing arrives: each cause as a log line and a /diagnostics status,
cleared when frames come again (real rclpy, the node in-process)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from support import DATA_DIR  # noqa: E402
from support.ros import (  # noqa: E402
    RELIABLE,
    Collector,
    NodeHarness,
    camera_status,
    image_msg,
)
from vision_msgs.msg import Detection2DArray  # noqa: E402

pytestmark = pytest.mark.ros

# Longer than the 1 s between two judgements, so one frame is always seen as arriving.
TIMEOUT_S = 1.5
LOG_WAIT_S = 20.0
BEST_EFFORT = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
PARAMETERS = {
    "model_path": str(DATA_DIR / "yolox_nano_c7.onnx"),
    "num_threads": 1,
    "input_timeout_s": TIMEOUT_S,
}
FRAME = np.full((48, 64, 3), 90, np.uint8)


@pytest.fixture
def harness(ros_env: dict[str, str], request: pytest.FixtureRequest) -> Iterator[NodeHarness]:
    with NodeHarness({**PARAMETERS, **getattr(request, "param", {})}) as node:
        yield node


def with_parameters(**parameters: object) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("harness", [parameters], indirect=True, ids=[""])


def values(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def node_line(logs: Collector, text: str):
    return logs.wait_for(lambda m: m.name == "yolox" and text in m.msg)


def node_line_while(logs: Collector, text: str, act: Callable[[], object]):
    """``node_line``, doing ``act`` again every second until the line comes (a loaded machine
    has lost a single /rosout sample, once in many runs)."""
    deadline = time.monotonic() + LOG_WAIT_S
    while True:
        act()
        try:
            return logs.wait_for(lambda m: m.name == "yolox" and text in m.msg, timeout=1.0)
        except AssertionError:
            if time.monotonic() > deadline:
                raise


def test_no_publisher_is_named_with_the_resolved_topic_and_clears_once_frames_arrive(
    harness: NodeHarness,
) -> None:
    logs, diagnostics = harness.rosout(), harness.subscribe(DiagnosticArray, "/diagnostics")
    line = node_line(logs, "no publisher on /image_raw")
    assert "remap" in line.msg
    status = camera_status(diagnostics, lambda s: "no publisher" in s.message)
    assert status.level == DiagnosticStatus.WARN
    assert values(status)["publishers"] == "0"

    images = harness.publisher(Image, "image_raw")
    results = harness.subscribe(Detection2DArray, "detections")
    harness.exchange(images, image_msg(FRAME, "bgr8", harness.next_header()), results)
    node_line(logs, "/image_raw: frames arriving again")
    status = camera_status(diagnostics, lambda s: s.level == DiagnosticStatus.OK)
    assert values(status)["publishers"] == "1"


@with_parameters(input_reliability="reliable")
def test_a_best_effort_camera_for_a_reliable_subscription_is_an_error_naming_the_policy(
    harness: NodeHarness,
) -> None:
    logs, diagnostics = harness.rosout(), harness.subscribe(DiagnosticArray, "/diagnostics")
    images = harness.probe.create_publisher(Image, "image_raw", BEST_EFFORT)
    images.publish(image_msg(FRAME, "bgr8", harness.next_header()))
    line = node_line(logs, "offers a QoS this subscription cannot match")
    assert "RELIABILITY" in line.msg and "input_reliability" in line.msg
    status = camera_status(diagnostics, lambda s: "cannot match" in s.message)
    assert status.level == DiagnosticStatus.ERROR
    assert values(status)["publishers_matched"] == "0"


def test_a_camera_that_stops_is_named_and_its_return_clears_it(harness: NodeHarness) -> None:
    logs, diagnostics = harness.rosout(), harness.subscribe(DiagnosticArray, "/diagnostics")
    images = harness.publisher(Image, "image_raw", RELIABLE)
    results = harness.subscribe(Detection2DArray, "detections")
    harness.exchange(images, image_msg(FRAME, "bgr8", harness.next_header()), results)

    line = node_line(logs, "1 publisher(s) matched on /image_raw but no frame arrived for")
    assert line.level == 30  # WARN
    camera_status(diagnostics, lambda s: "no frame arrived" in s.message)

    harness.exchange(images, image_msg(FRAME, "bgr8", harness.next_header()), results)
    node_line(logs, "/image_raw: frames arriving again")
    camera_status(diagnostics, lambda s: s.level == DiagnosticStatus.OK)


def test_refused_encodings_are_logged_and_reported_until_good_frames_come(
    harness: NodeHarness,
) -> None:
    logs, diagnostics = harness.rosout(), harness.subscribe(DiagnosticArray, "/diagnostics")
    images = harness.publisher(Image, "image_raw", RELIABLE)
    bad = image_msg(FRAME, "bgr8", harness.next_header())
    bad.encoding = "yuv422_yuy2_unknown"
    node_line_while(logs, "skipping frame from /image_raw", lambda: images.publish(bad))
    status = camera_status(diagnostics, lambda s: "invalid" in s.message)
    assert status.level == DiagnosticStatus.WARN
    assert int(values(status)["frames_invalid_encoding"]) >= 1

    results = harness.subscribe(Detection2DArray, "detections")
    for _ in range(3):  # a whole diagnostics period of good frames
        harness.exchange(images, image_msg(FRAME, "bgr8", harness.next_header()), results)
    camera_status(diagnostics, lambda s: s.level == DiagnosticStatus.OK)
