"""image_replay: a directory of images published as a camera would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("sensor_msgs.msg")

from sensor_msgs.msg import Image  # noqa: E402
from support import REPO_ROOT  # noqa: E402
from support.ros import RosProbe, as_parameters, image_from_msg, wait_until  # noqa: E402

from yolox_ros.core.image_header import IMAGE_SUFFIXES  # noqa: E402
from yolox_ros.ros.replay import ImageReplay  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.fixture
def image_dir(tmp_path: Path) -> list[np.ndarray]:
    """Three PNGs of different sizes, named so that name order is not creation order."""
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(8, 12), (6, 5), (9, 9)]]
    for name, image in zip(["b.png", "c.png", "a.png"], images, strict=True):
        cv2.imwrite(str(tmp_path / name), image)
    (tmp_path / "a.txt").write_text("labels are not images")
    return [images[2], images[0], images[1]]  # a, b, c


def test_replay_publishes_the_directory_in_name_order_then_stops(
    ros_env: dict[str, str], tmp_path: Path, image_dir: list[np.ndarray]
) -> None:
    parameters = {"directory": str(tmp_path), "rate": 50.0, "frame_id": "replay_cam"}
    with RosProbe() as probe:
        received = probe.subscribe(Image, "image_raw")
        replay = ImageReplay(context=probe.context, parameter_overrides=as_parameters(parameters))
        probe.executor.add_node(replay)
        probe.start()
        wait_until(replay.finished.done, what="the replay to finish")
        wait_until(lambda: len(received.snapshot()) == len(image_dir), what="all images")

    messages = received.snapshot()
    for msg, expected in zip(messages, image_dir, strict=True):
        assert msg.header.frame_id == "replay_cam" and msg.encoding == "bgr8"
        np.testing.assert_array_equal(image_from_msg(msg), expected)
    stamps = [(m.header.stamp.sec, m.header.stamp.nanosec) for m in messages]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_replay_without_images_exits_with_one_line(ros_env: dict[str, str], tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "yolox_ros.ros.replay", "--ros-args",
         "-p", f"directory:={tmp_path}"],
        cwd=REPO_ROOT, env=ros_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "image_replay" in line
    assert line.endswith(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {tmp_path}")
