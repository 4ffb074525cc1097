"""Decompression bombs over a real ROS graph (compressed transport): refused cheaply.

A 600-byte JPEG can declare 30000x30000 pixels and a 400-kB PNG 20000x20000:
decoded, each would cost gigabytes and seconds. The node reads the declared
size first and refuses them as invalid frames.
"""

from __future__ import annotations

import time

import numpy as np
import psutil
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")

from sensor_msgs.msg import CompressedImage  # noqa: E402
from support import DATA_DIR  # noqa: E402
from support.ros import NodeHarness, compressed_msg, jpeg_bomb, png_bomb, wait_until  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

pytestmark = pytest.mark.ros

MIB = 1 << 20
PARAMETERS = {
    "model_path": str(DATA_DIR / "yolox_nano_c7.onnx"),
    "num_threads": 1,
    "transport": "compressed",
    "input_reliability": "reliable",  # every bomb must arrive
}


def test_five_bombs_cost_little_memory_and_the_next_frame_is_answered_within_a_second(
    ros_env: dict[str, str], golden_io: dict[str, np.ndarray]
) -> None:
    bombs = [
        ("jpeg", jpeg_bomb(30000, 30000)),
        ("png", png_bomb(20000, 20000)),
        ("jpeg", jpeg_bomb(65000, 65000)),
        ("jpeg", jpeg_bomb(30000, 30000)),
        ("png", png_bomb(20000, 20000)),
    ]
    with NodeHarness(PARAMETERS) as harness:
        images = harness.publisher(CompressedImage, "image_raw/compressed")
        results = harness.subscribe(Detection2DArray, "detections")
        logs = harness.rosout()
        stats = harness.node.pipeline._cameras[0].report.stats
        process = psutil.Process()
        rss_before = process.memory_info().rss

        for count, (image_format, data) in enumerate(bombs, start=1):
            header = harness.next_header()
            images.publish(CompressedImage(header=header, format=image_format, data=data))
            wait_until(lambda n=count: stats.snapshot().invalid == n, what=f"bomb {count} refused")

        valid = compressed_msg(golden_io["image_bgr"], "jpeg", harness.next_header())
        sent = time.monotonic()
        images.publish(valid)
        results.wait_for(lambda m: m.header == valid.header, timeout=5.0)
        answer_s = time.monotonic() - sent
        rss_growth = process.memory_info().rss - rss_before

        snapshot = stats.snapshot()
        warning = logs.wait_for(lambda m: "max_image_pixels" in m.msg)
    print(
        f"5 bombs: RSS +{rss_growth / MIB:.1f} MiB, next valid frame answered in {answer_s:.3f} s"
    )
    assert rss_growth < 300 * MIB
    assert answer_s < 1.0
    assert snapshot.invalid_by_cause == {"too_large": 5} and snapshot.failed == 0
    assert "30000x30000" in warning.msg and "/image_raw" in warning.msg
