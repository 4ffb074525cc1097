"""Track ids, confirmed signs and 3-D positions on the node's topics (real rclpy).

The rectangle test backend "detects" one box per colour, exactly where it is
drawn, so a drive is a sequence of frames with rectangles moving as signs do.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from rclpy.time import Time  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from support.rectangle_backend import (  # noqa: E402
    ENTRY_POINT_NAME,
    declare_entry_points,
    write_rectangle_model,
)
from support.ros import (  # noqa: E402
    RELIABLE,
    Collector,
    NodeHarness,
    camera_status,
    image_msg,
    same_stamp,
)
from vision_msgs.msg import Detection2DArray, Detection3DArray  # noqa: E402

pytestmark = pytest.mark.ros

BACKGROUND = (90, 140, 60)
STOP_COLOR, LEFT_COLOR = (0, 0, 255), (255, 0, 0)
WIDTH, HEIGHT = 320, 240
FRAME_S = 1 / 30
FX = FY = 300.0


@pytest.fixture
def model(tmp_path, monkeypatch) -> str:
    site = tmp_path / "site"
    declare_entry_points(site, {ENTRY_POINT_NAME: "support.rectangle_backend:RectangleBackend"})
    monkeypatch.syspath_prepend(str(site))
    path = write_rectangle_model(
        tmp_path / "signs.json", color_bgr=STOP_COLOR, background_bgr=BACKGROUND,
        colors_bgr=[STOP_COLOR, LEFT_COLOR], num_classes=2, class_names=["stop", "left"],
    )  # fmt: skip
    return str(path)


@pytest.fixture
def harness(ros_env, model, request: pytest.FixtureRequest) -> Iterator[NodeHarness]:
    parameters = {
        "model_path": model, "backend": ENTRY_POINT_NAME, "conf_threshold": 0.5, "tracking": True,
        "input_reliability": "reliable", "publish_annotated_image": False,
        **getattr(request, "param", {}),
    }  # fmt: skip
    with NodeHarness(parameters) as node:
        yield node


def with_parameters(**parameters: object) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("harness", [parameters], indirect=True, ids=[""])


class Drive:
    """Frames 1/30 s apart through the node: ``show`` publishes one and waits for its outputs."""

    def __init__(self, harness: NodeHarness) -> None:
        self.harness = harness
        self.detections = harness.subscribe(Detection2DArray, "detections")
        self.signs = harness.subscribe(Detection2DArray, "signs")
        self.images = harness.publisher(Image, "image_raw", RELIABLE)
        self.frame = 0
        # One empty frame sent until answered: a frame published before the node's side of
        # the subscription has matched is lost, and after this one none is.
        blank = np.full((HEIGHT, WIDTH, 3), BACKGROUND, np.uint8)
        harness.exchange(self.images, image_msg(blank, "bgr8", self.header()), self.detections)

    def header(self) -> Header:
        self.frame += 1
        stamp = Time(nanoseconds=int(1e9 + self.frame * FRAME_S * 1e9)).to_msg()
        return Header(stamp=stamp, frame_id="camera")

    def show(
        self,
        *signs: tuple[tuple[int, int, int], tuple[int, int, int, int]],
        header: Header | None = None,
    ):
        """Draw ``(colour, (x1, y1, x2, y2))`` signs in the next frame (or the one stamped
        by ``header``); its detections, the signs output and its header."""
        image = np.full((HEIGHT, WIDTH, 3), BACKGROUND, np.uint8)
        for color, (x1, y1, x2, y2) in signs:
            image[y1:y2, x1:x2] = color
        msg = image_msg(image, "bgr8", header or self.header())
        # Published once (reliable, matched): a frame sent again would be a frame more for
        # the tracker, so a slow answer is waited for, never resent.
        self.images.publish(msg)
        detections = self.detections.wait_for(same_stamp(msg.header))
        signs_msg = self.signs.wait_for(same_stamp(msg.header))
        return detections, signs_msg, msg.header


def ids_by_class(msg: Detection2DArray) -> dict[str, str]:
    return {d.results[0].hypothesis.class_id: d.id for d in msg.detections}


def test_a_sign_keeps_its_id_along_a_drive_and_across_a_missed_frame(
    harness: NodeHarness,
) -> None:
    drive = Drive(harness)
    ids = []
    for frame in range(24):
        if frame == 10:
            detections, _, _ = drive.show()  # the detector missed it
            assert not detections.detections
            continue
        size = 14 + frame  # approaching: growing and moving out to the right
        x1, y1 = 60 + 5 * frame, 90 - frame // 2
        detections, _, _ = drive.show((STOP_COLOR, (x1, y1, x1 + size, y1 + size)))
        (detection,) = detections.detections
        ids.append(detection.id)
    assert ids[0] != "" and set(ids) == {ids[0]}


def test_two_crossing_signs_keep_their_ids(harness: NodeHarness) -> None:
    drive = Drive(harness)
    seen: dict[str, set[str]] = {"stop": set(), "left": set()}
    for frame in range(20):
        stop_x, left_x = 40 + 12 * frame, 250 - 12 * frame  # they pass each other mid-way
        detections, _, _ = drive.show(
            (STOP_COLOR, (stop_x, 100, stop_x + 30, 130)),
            (LEFT_COLOR, (left_x, 110, left_x + 30, 140)),
        )
        for class_name, track_id in ids_by_class(detections).items():
            seen[class_name].add(track_id)
    assert len(seen["stop"]) == 1 and len(seen["left"]) == 1
    assert seen["stop"] != seen["left"] and "" not in seen["stop"] | seen["left"]


def test_a_one_frame_flicker_never_reaches_signs_and_a_sign_seen_3_of_5_frames_does(
    harness: NodeHarness,
) -> None:
    drive = Drive(harness)
    flicker = (LEFT_COLOR, (200, 40, 230, 70))
    reported = [drive.show(flicker)[1]]
    reported += [drive.show()[1] for _ in range(6)]
    assert not any(msg.detections for msg in reported)

    sign = (STOP_COLOR, (100, 100, 130, 130))
    shown = [drive.show(sign), drive.show(sign), drive.show(), drive.show(sign), drive.show(sign)]
    signs = [msg for _, msg, _ in shown]
    assert [len(msg.detections) for msg in signs] == [0, 0, 0, 1, 1]  # seen 3 of 4 frames
    detection_id = shown[0][0].detections[0].id
    assert {d.id for msg in signs[3:] for d in msg.detections} == {detection_id}
    assert signs[3].detections[0].results[0].hypothesis.class_id == "stop"


def camera_info(header: Header) -> CameraInfo:
    return CameraInfo(
        header=header, width=WIDTH, height=HEIGHT, distortion_model="plumb_bob",
        d=[0.0] * 5, k=[FX, 0.0, 159.5, 0.0, FY, 119.5, 0.0, 0.0, 1.0],
    )  # fmt: skip


@with_parameters(object_heights_m=["stop=0.1"])
def test_a_sign_of_known_height_is_located_from_camera_info(harness: NodeHarness) -> None:
    drive = Drive(harness)
    positions: Collector = harness.subscribe(Detection3DArray, "detections_3d")
    infos = harness.publisher(CameraInfo, "camera_info", RELIABLE)
    # 0.1 m tall and 30 px high: 1.0 m away; 45 px right of the image centre: x = 0.15 m.
    sign = (STOP_COLOR, (190, 105, 220, 135))
    for _ in range(3):
        header = drive.header()
        infos.publish(camera_info(header))
        detections, _, _ = drive.show(sign, header=header)
        located = positions.wait_for(same_stamp(header))
    (detection,) = located.detections
    position = detection.bbox.center.position
    np.testing.assert_allclose([position.x, position.y, position.z], [0.15, 0.0, 1.0], rtol=0.05,
                               atol=0.01)  # fmt: skip
    assert detection.id == detections.detections[0].id != ""
    assert detection.header.frame_id == "camera"
    assert detection.results[0].hypothesis.class_id == "stop"
    assert detection.bbox.size.y == pytest.approx(0.1)


@with_parameters(object_heights_m=["stop=0.1"], input_timeout_s=1.0)
def test_without_camera_info_the_node_warns_and_publishes_no_positions(
    harness: NodeHarness,
) -> None:
    logs = harness.rosout()
    diagnostics = harness.subscribe(DiagnosticArray, "/diagnostics")
    drive = Drive(harness)
    positions = harness.subscribe(Detection3DArray, "detections_3d")

    def warned() -> bool:
        return any("no camera_info on /camera_info" in m.msg for m in logs.snapshot())

    deadline = time.monotonic() + 20.0
    while not warned():  # a camera at 30 fps until the node says camera_info is missing
        assert time.monotonic() < deadline, "no warning about the missing camera_info"
        detections, _, _ = drive.show((STOP_COLOR, (100, 100, 130, 130)))
        assert len(detections.detections) == 1  # detections go on
        time.sleep(FRAME_S)
    status = camera_status(diagnostics, lambda s: "no camera_info" in s.message)
    assert status.level == DiagnosticStatus.WARN
    assert not positions.snapshot()
