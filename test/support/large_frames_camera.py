"""A camera process for test_node_process.py: large frames, each published once.

usage: python large_frames_camera.py reliable|best_effort HEIGHTxWIDTH... FRAMES
Waits for the node's subscription, publishes FRAMES frames of each size (each
once, waiting up to 3 s for its detections) and prints one JSON object:
``{"HEIGHTxWIDTH": frames answered}``. Its own process, so that the Fast DDS
profile in its environment is the one its participant reads (Fast DDS loads
profiles once per process).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray

ANSWER_TIMEOUT_S = 3.0
MATCH_TIMEOUT_S = 20.0


def main() -> None:
    reliability, *sizes, count = sys.argv[1:]
    rclpy.init()
    node = rclpy.create_node("large_frames_camera")
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy[reliability.upper()])
    images = node.create_publisher(Image, "/image_raw", qos)
    answered_stamps: set[int] = set()
    node.create_subscription(
        Detection2DArray,
        "/detections",
        lambda m: answered_stamps.add(m.header.stamp.sec),
        QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE),
    )
    deadline = time.monotonic() + MATCH_TIMEOUT_S

    def node_ready() -> bool:
        """Matched, and (auto reliability) re-subscribed to this camera's reliability."""
        subscriptions = node.get_subscriptions_info_by_topic("/image_raw")
        same = [info.qos_profile.reliability == qos.reliability for info in subscriptions]
        return images.get_subscription_count() == 1 and same == [True]

    while not node_ready() and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    settle = time.monotonic() + 0.5
    while time.monotonic() < settle:
        rclpy.spin_once(node, timeout_sec=0.1)
    answered, stamp = {}, 0
    for size in sizes:
        height, width = (int(v) for v in size.split("x"))
        msg = Image(height=height, width=width, encoding="bgr8", step=width * 3)
        msg.data = np.full((height, width, 3), 60, np.uint8).tobytes()
        answered[size] = 0
        for _ in range(int(count)):
            stamp += 1
            msg.header.stamp.sec = stamp
            images.publish(msg)
            wait_end = time.monotonic() + ANSWER_TIMEOUT_S
            while stamp not in answered_stamps and time.monotonic() < wait_end:
                rclpy.spin_once(node, timeout_sec=0.05)
            answered[size] += stamp in answered_stamps
    print(json.dumps(answered))
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == "__main__":
    main()
