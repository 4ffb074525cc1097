"""The development environment carries a real ROS 2 stack: two processes talk over DDS."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from support import TEST_DIR

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")

pytestmark = pytest.mark.ros


def test_detection_array_and_image_cross_processes(ros_env: dict[str, str]) -> None:
    peer = str(TEST_DIR / "support" / "ros_stack_peer.py")
    publisher = subprocess.Popen([sys.executable, peer, "publish"], env=ros_env)
    try:
        subscriber = subprocess.run(
            [sys.executable, peer, "subscribe"],
            env=ros_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        publisher.send_signal(signal.SIGINT)
        publisher.wait(timeout=20)
    assert subscriber.returncode == 0, subscriber.stderr
    assert "received detections=1 image=3x2" in subscriber.stdout
    assert publisher.returncode == 0
