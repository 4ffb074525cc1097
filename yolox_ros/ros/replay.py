"""``image_replay``: publishes a directory of images as a camera would (sensor_msgs/Image, bgr8).

Images are read in file-name order, one per timer tick, stamped with the
time they are sent. Without ``loop`` the node exits once the last image is out.
"""

from __future__ import annotations

from pathlib import Path

import cv2
from rcl_interfaces.msg import FloatingPointRange, ParameterDescriptor
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.task import Future
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from yolox_ros.core.image_header import IMAGE_SUFFIXES, is_image_file
from yolox_ros.errors import ConfigError
from yolox_ros.package_files import shipped_path
from yolox_ros.ros.image_conversion import bgr_to_image_msg
from yolox_ros.ros.runner import run_node

DEMO_SEQUENCE = "data/demo_sequence"
UNREADABLE_LOG_PERIOD_S = 5.0
# Reliable, so that best-effort and reliable subscribers both match.
IMAGE_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
LAST_IMAGE_ACK_TIMEOUT = Duration(seconds=2)


def image_files(directory: Path) -> list[Path]:
    """The images of ``directory`` in name order; ConfigError if there are none."""
    if not directory.is_dir():
        raise ConfigError(f"image directory not found: {directory}")
    files = sorted(p for p in directory.iterdir() if is_image_file(p))
    if not files:
        raise ConfigError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {directory}")
    return files


class ImageReplay(Node):
    """Publishes ``directory``'s images on ``topic`` at ``rate`` Hz."""

    def __init__(self, **node_kwargs) -> None:
        super().__init__("image_replay", **node_kwargs)

        def declare(name: str, default: object, description: str, **descriptor) -> object:
            described = ParameterDescriptor(description=description, read_only=True, **descriptor)
            return self.declare_parameter(name, default, described).value

        directory = declare(
            "directory", "", f"directory of images; empty: the bundled {DEMO_SEQUENCE}"
        )
        rate = declare(
            "rate", 10.0, "images per second",
            floating_point_range=[FloatingPointRange(from_value=0.01, to_value=1000.0)],
        )  # fmt: skip
        self._loop = declare("loop", False, "start again after the last image instead of exiting")
        topic = declare("topic", "image_raw", "topic to publish on")
        self._frame_id = declare("frame_id", "camera", "frame_id of the published images")
        self._wait = declare(
            "wait_for_subscriber", True, "hold the first image until someone subscribes"
        )
        # The first image must not race the consumers of the detector's output.
        self._wait_for_topics = tuple(
            self.declare_parameter(
                "wait_for_topics",
                Parameter.Type.STRING_ARRAY,
                ParameterDescriptor(
                    description="also hold the first image until each of these topics "
                    "has a subscriber (e.g. [detections])",
                    read_only=True,
                ),
            ).value
            or ()
        )

        self._files = image_files(Path(directory) if directory else shipped_path(DEMO_SEQUENCE))
        self._next = 0
        self._last_published = False
        self.finished = Future()
        self._publisher = self.create_publisher(Image, topic, IMAGE_QOS)
        self.create_timer(1.0 / rate, self._publish_next)
        self.get_logger().info(
            f"{len(self._files)} images from {self._files[0].parent} -> "
            f"{self._publisher.topic_name} at {rate:g} Hz{' (looping)' if self._loop else ''}"
        )

    def _publish_next(self) -> None:
        if self.finished.done():
            return
        if self._last_published:
            # One period after the last image: a best-effort subscriber acknowledges
            # nothing, so this wait is what lets the last image arrive before exit.
            self._publisher.wait_for_all_acked(LAST_IMAGE_ACK_TIMEOUT)
            self.finished.set_result(True)
            return
        if self._wait and self._publisher.get_subscription_count() == 0:
            return
        if self._next == 0 and any(self.count_subscribers(t) == 0 for t in self._wait_for_topics):
            return
        path = self._files[self._next]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            self.get_logger().warning(
                f"skipping unreadable image {path}", throttle_duration_sec=UNREADABLE_LOG_PERIOD_S
            )
        else:
            header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self._frame_id)
            self._publisher.publish(bgr_to_image_msg(image, header))
        self._next += 1
        if self._next == len(self._files):
            if not self._loop:
                self.get_logger().info(f"published the {len(self._files)} images")
                self._last_published = True
            self._next = 0


def main(args: list[str] | None = None) -> None:
    run_node(ImageReplay, "image_replay", args, until=lambda node: node.finished)


if __name__ == "__main__":
    main()
