"""The node says why nothing arrives: each cause as a log line and a /diagnostics status,
cleared when frames come again (real rclpy, the node in-process)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

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
    wait_until,
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


LEVELS = {10: "DEBUG", 20: "INFO", 30: "WARN", 40: "ERROR", 50: "FATAL"}


@dataclass(frozen=True)
class Line:
    level: str
    msg: str


class NodeLines:
    """The node's log lines, from /rosout or, where /rosout lost one (as a loaded machine
    did, once in many runs), from its console output: both are where users read them."""

    def __init__(self, rosout: Collector, capfd: pytest.CaptureFixture) -> None:
        self._rosout, self._capfd, self._console = rosout, capfd, ""

    def _find(self, text: str) -> Line | None:
        self._console += self._capfd.readouterr().err
        for m in self._rosout.snapshot():
            if m.name == "yolox" and text in m.msg:
                return Line(LEVELS.get(m.level, str(m.level)), m.msg)
        for console in self._console.splitlines():
            found = re.match(r"\[(\w+)\] \[[\d.]+\] \[yolox\]: (.*)", console)
            if found and text in found.group(2):
                return Line(found.group(1), found.group(2))
        return None

    def wait_for(self, text: str, act: Callable[[], object] | None = None) -> Line:
        """The first line with ``text``, doing ``act`` (if any) every second until it comes."""
        deadline = time.monotonic() + LOG_WAIT_S
        while True:
            if act is not None:
                act()
            try:
                return wait_until(lambda: self._find(text), 1.0, f"the node's line {text!r}")
            except AssertionError:
                if time.monotonic() > deadline:
                    raise


@pytest.fixture
def lines(harness: NodeHarness, capfd: pytest.CaptureFixture) -> NodeLines:
    return NodeLines(harness.rosout(), capfd)


def test_no_publisher_is_named_with_the_resolved_topic_and_clears_once_frames_arrive(
    harness: NodeHarness,
    lines: NodeLines,
) -> None:
    diagnostics = harness.subscribe(DiagnosticArray, "/diagnostics")
    line = lines.wait_for("no publisher on /image_raw")
    assert "remap" in line.msg
    status = camera_status(diagnostics, lambda s: "no publisher" in s.message)
    assert status.level == DiagnosticStatus.WARN
    assert values(status)["publishers"] == "0"

    images = harness.publisher(Image, "image_raw")
    results = harness.subscribe(Detection2DArray, "detections")
    harness.exchange(images, image_msg(FRAME, "bgr8", harness.next_header()), results)
    lines.wait_for("/image_raw: frames arriving again")
    status = camera_status(diagnostics, lambda s: s.level == DiagnosticStatus.OK)
    assert values(status)["publishers"] == "1"


@with_parameters(input_reliability="reliable")
def test_a_best_effort_camera_for_a_reliable_subscription_is_an_error_naming_the_policy(
    harness: NodeHarness,
    lines: NodeLines,
) -> None:
    diagnostics = harness.subscribe(DiagnosticArray, "/diagnostics")
    images = harness.probe.create_publisher(Image, "image_raw", BEST_EFFORT)
    images.publish(image_msg(FRAME, "bgr8", harness.next_header()))
    line = lines.wait_for("offers a QoS this subscription cannot match")
    assert "RELIABILITY" in line.msg and "input_reliability" in line.msg
    status = camera_status(diagnostics, lambda s: "cannot match" in s.message)
    assert status.level == DiagnosticStatus.ERROR
    assert values(status)["publishers_matched"] == "0"


def test_a_camera_that_stops_is_named_and_its_return_clears_it(
    harness: NodeHarness, lines: NodeLines
) -> None:
    diagnostics = harness.subscribe(DiagnosticArray, "/diagnostics")
    images = harness.publisher(Image, "image_raw", RELIABLE)
    results = harness.subscribe(Detection2DArray, "detections")
    harness.exchange(images, image_msg(FRAME, "bgr8", harness.next_header()), results)

    line = lines.wait_for("1 publisher(s) matched on /image_raw but no frame arrived for")
    assert line.level == "WARN"
    camera_status(diagnostics, lambda s: "no frame arrived" in s.message)

    harness.exchange(images, image_msg(FRAME, "bgr8", harness.next_header()), results)
    lines.wait_for("/image_raw: frames arriving again")
    camera_status(diagnostics, lambda s: s.level == DiagnosticStatus.OK)


def test_refused_encodings_are_logged_and_reported_until_good_frames_come(
    harness: NodeHarness,
    lines: NodeLines,
) -> None:
    diagnostics = harness.subscribe(DiagnosticArray, "/diagnostics")
    images = harness.publisher(Image, "image_raw", RELIABLE)
    bad = image_msg(FRAME, "bgr8", harness.next_header())
    bad.encoding = "yuv422_yuy2_unknown"
    lines.wait_for("skipping frame from /image_raw", act=lambda: images.publish(bad))
    status = camera_status(diagnostics, lambda s: "invalid" in s.message)
    assert status.level == DiagnosticStatus.WARN
    assert int(values(status)["frames_invalid_encoding"]) >= 1

    results = harness.subscribe(Detection2DArray, "detections")
    for _ in range(3):  # a whole diagnostics period of good frames
        harness.exchange(images, image_msg(FRAME, "bgr8", harness.next_header()), results)
    camera_status(diagnostics, lambda s: s.level == DiagnosticStatus.OK)
