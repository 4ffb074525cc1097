"""The demo's listener: prints each frame's detections and latency, saves the annotated frames.

``python -m yolox_ros.ros.demo_listener --ros-args -p output_dir:=out/demo -p frames:=30``
listens to ``detections`` and ``detections/image`` and exits once ``frames``
annotated frames are saved, or after ``idle_timeout`` seconds without a message.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.task import Future
from rclpy.time import Time
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray

from yolox_ros.ros.image_conversion import image_msg_to_bgr
from yolox_ros.ros.runner import run_node

QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


class DemoListener(Node):
    def __init__(self, **node_kwargs) -> None:
        super().__init__("demo_listener", **node_kwargs)

        def declare(name: str, default: object, description: str) -> object:
            descriptor = ParameterDescriptor(description=description, read_only=True)
            return self.declare_parameter(name, default, descriptor).value

        self._output_dir = Path(declare("output_dir", "out/demo", "where annotated frames go"))
        self._frames = declare("frames", 0, "exit after this many annotated frames; 0: never")
        self._idle_timeout = declare(
            "idle_timeout", 5.0, "exit after this many seconds without a message; 0: never"
        )
        self._output_dir.mkdir(parents=True, exist_ok=True)
        self._detections_seen = 0
        self._saved = 0
        self._last_message = time.monotonic()
        self.finished = Future()
        self.create_subscription(Detection2DArray, "detections", self._on_detections, QOS)
        self.create_subscription(Image, "detections/image", self._on_annotated, QOS)
        self.create_timer(0.5, self._check_idle)

    def _on_detections(self, msg: Detection2DArray) -> None:
        self._last_message = time.monotonic()
        self._detections_seen += 1
        latency_ms = (self.get_clock().now() - Time.from_msg(msg.header.stamp)).nanoseconds / 1e6
        found = ", ".join(
            f"{d.results[0].hypothesis.class_id} {d.results[0].hypothesis.score:.2f} at "
            f"({d.bbox.center.position.x:.0f}, {d.bbox.center.position.y:.0f}) "
            f"{d.bbox.size_x:.0f}x{d.bbox.size_y:.0f}"
            for d in msg.detections
        )
        print(
            f"frame {self._detections_seen:3d}  latency {latency_ms:6.1f} ms  "
            f"{len(msg.detections)} detections{': ' + found if found else ''}",
            flush=True,
        )

    def _on_annotated(self, msg: Image) -> None:
        self._last_message = time.monotonic()
        path = self._output_dir / f"frame_{self._saved:04d}.jpg"
        cv2.imwrite(str(path), image_msg_to_bgr(msg))
        self._saved += 1
        if self._frames and self._saved >= self._frames:
            self._finish(f"saved {self._saved} annotated frames to {self._output_dir}")

    def _check_idle(self) -> None:
        idle = time.monotonic() - self._last_message
        if self._idle_timeout and idle > self._idle_timeout:
            self._finish(
                f"nothing received for {self._idle_timeout:g} s; "
                f"saved {self._saved} annotated frames to {self._output_dir}"
            )

    def _finish(self, summary: str) -> None:
        if not self.finished.done():
            print(summary, flush=True)
            self.finished.set_result(True)


def main(args: list[str] | None = None) -> None:
    run_node(DemoListener, "demo_listener", args, until=lambda node: node.finished)


if __name__ == "__main__":
    main()
