"""One side of the cross-process exchange in test_ros_stack.py.

usage: python ros_stack_peer.py publish|subscribe
The subscriber exits 0 once it has received one Detection2DArray and one Image
with the expected content, printing what it got.
"""

from __future__ import annotations

import sys

import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from vision_msgs.msg import BoundingBox2D, Detection2D, Detection2DArray, ObjectHypothesisWithPose

QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
STAMP_SEC = 1234


def publish() -> None:
    node = rclpy.create_node("stack_publisher")
    detections_pub = node.create_publisher(Detection2DArray, "stack_test/detections", QOS)
    image_pub = node.create_publisher(Image, "stack_test/image", QOS)

    array = Detection2DArray()
    array.header.stamp.sec = STAMP_SEC
    array.header.frame_id = "camera"
    hypothesis = ObjectHypothesisWithPose()
    hypothesis.hypothesis.class_id = "stop"
    hypothesis.hypothesis.score = 0.9
    array.detections.append(
        Detection2D(header=array.header, results=[hypothesis], bbox=BoundingBox2D(size_x=10.0))
    )
    image = Image(height=2, width=3, encoding="bgr8", step=9, data=bytes(range(18)))
    image.header = array.header

    def tick() -> None:
        detections_pub.publish(array)
        image_pub.publish(image)

    node.create_timer(0.05, tick)
    rclpy.spin(node)


def subscribe() -> None:
    node = rclpy.create_node("stack_subscriber")
    received: dict[str, object] = {}
    node.create_subscription(
        Detection2DArray, "stack_test/detections", lambda m: received.setdefault("det", m), QOS
    )
    node.create_subscription(
        Image, "stack_test/image", lambda m: received.setdefault("img", m), QOS
    )
    while rclpy.ok() and len(received) < 2:
        rclpy.spin_once(node, timeout_sec=0.1)
    det, img = received["det"], received["img"]
    assert det.header.stamp.sec == STAMP_SEC and det.header.frame_id == "camera"
    assert det.detections[0].results[0].hypothesis.class_id == "stop"
    assert img.width == 3 and bytes(img.data) == bytes(range(18))
    print(f"received detections={len(det.detections)} image={img.width}x{img.height}", flush=True)


if __name__ == "__main__":
    rclpy.init()
    try:
        {"publish": publish, "subscribe": subscribe}[sys.argv[1]]()
    except KeyboardInterrupt:
        pass
    finally:
        rclpy.try_shutdown()
