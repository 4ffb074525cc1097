"""Test utilities: the detection node in-process with a probe node, frames as ROS messages.

Each ``NodeHarness`` owns an rclpy context (so tests do not share ROS state)
and spins the detection node and a probe node in a background thread; the
test talks to the node through real topics and parameter services.
"""

from __future__ import annotations

import struct
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import cv2
import numpy as np
import rclpy
from rcl_interfaces.msg import Log, SetParametersResult
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

TIMEOUT_S = 20.0
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
ROSOUT_QOS = QoSProfile(
    depth=1000, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


def as_parameters(values: Mapping[str, Any]) -> list[Parameter]:
    """Parameter objects; an empty list is a string array (the only kind the node takes)."""
    return [
        Parameter(name, Parameter.Type.STRING_ARRAY, [])
        if isinstance(value, list) and not value
        else Parameter(name, value=value)
        for name, value in values.items()
    ]


def wait_until(condition: Callable[[], Any], timeout: float = TIMEOUT_S, what: str = "") -> Any:
    """Poll ``condition`` until it returns something truthy; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or condition}")


class Collector:
    """Every message received on one topic, in arrival order."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self._lock = threading.Lock()

    def __call__(self, msg: Any) -> None:
        with self._lock:
            self.messages.append(msg)

    def snapshot(self) -> list[Any]:
        with self._lock:
            return list(self.messages)

    def wait_for(self, predicate: Callable[[Any], bool], timeout: float = TIMEOUT_S) -> Any:
        """The first message satisfying ``predicate`` (waiting for it if needed)."""

        def find() -> Any:
            return next((m for m in self.snapshot() if predicate(m)), None)

        return wait_until(find, timeout, "a matching message")


def camera_status(diagnostics: Collector, predicate, name: str = "yolox: /image_raw"):
    """The first /diagnostics report of the camera's status ``name`` satisfying ``predicate``."""

    def camera(array):
        return next((s for s in array.status if s.name == name), None)

    return camera(diagnostics.wait_for(lambda a: (s := camera(a)) is not None and predicate(s)))


def same_stamp(header: Header) -> Callable[[Any], bool]:
    return lambda msg: msg.header.stamp == header.stamp


class RosProbe:
    """A probe node in a private rclpy context, spun by a background thread.

    Subclasses add nodes under test to ``self.executor`` before calling ``start``.
    """

    def __init__(self) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self._spinner: threading.Thread | None = None
        self.probe = rclpy.create_node("probe", context=self.context)
        self.executor.add_node(self.probe)
        self._stamp_ns = self.probe.get_clock().now().nanoseconds

    def start(self) -> None:
        self._spinner = threading.Thread(target=self._spin, daemon=True)
        self._spinner.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except ExternalShutdownException:
            pass

    def close(self) -> None:
        self.executor.shutdown()
        if self._spinner is not None:
            self._spinner.join(TIMEOUT_S)
        rclpy.try_shutdown(context=self.context)

    def __enter__(self) -> RosProbe:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def subscribe(self, msg_type: type, topic: str, qos: QoSProfile = RELIABLE) -> Collector:
        collector = Collector()
        self.probe.create_subscription(msg_type, topic, collector, qos)
        return collector

    def publisher(self, msg_type: type, topic: str, qos: QoSProfile = RELIABLE):
        """A publisher already matched with a subscriber (the node's)."""
        publisher = self.probe.create_publisher(msg_type, topic, qos)
        wait_until(lambda: publisher.get_subscription_count() > 0, what=f"a subscriber on {topic}")
        return publisher

    def wait_for_publisher(self, topic: str) -> None:
        wait_until(lambda: self.probe.count_publishers(topic) > 0, what=f"a publisher on {topic}")

    def next_header(self, frame_id: str = "camera") -> Header:
        """A header with a stamp no other frame of this probe has."""
        self._stamp_ns += 1_000_003
        return Header(stamp=Time(nanoseconds=self._stamp_ns).to_msg(), frame_id=frame_id)

    def exchange(self, publisher, msg: Any, results: Collector, timeout: float = TIMEOUT_S) -> Any:
        """Publish ``msg`` until the result with its stamp arrives (best effort may lose some)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            publisher.publish(msg)
            try:
                return results.wait_for(same_stamp(msg.header), timeout=0.5)
            except AssertionError:
                continue
        raise AssertionError(f"no result for the frame stamped {msg.header.stamp}")

    def rosout(self, loggers: int = 1) -> Collector:
        """Log messages published on /rosout (including those logged before this call).

        Returns once the subscription is matched with ``loggers`` nodes' /rosout publishers
        (the probe's own included), so a line logged right after this call is not lost
        to discovery.
        """
        collector = Collector()
        subscription = self.probe.create_subscription(Log, "/rosout", collector, ROSOUT_QOS)
        wait_until(
            lambda: subscription.get_publisher_count() >= loggers,
            what=f"/rosout publishers of {loggers} node(s)",
        )
        return collector


class NodeHarness(RosProbe):
    """The detection node in-process beside the probe, with the given parameters.

    Shutting the context down destroys the node (which stops its worker thread).
    """

    def __init__(
        self, parameters: Mapping[str, Any], node_class: type | None = None, **node_kwargs: Any
    ) -> None:
        """``node_class``: YoloxNode by default (imported here: it needs vision_msgs);
        ``node_kwargs`` go to the node (``cli_args`` for remappings...)."""
        from yolox_ros.ros.node import YoloxNode

        super().__init__()
        try:
            self.node = (node_class or YoloxNode)(
                context=self.context, parameter_overrides=as_parameters(parameters), **node_kwargs
            )
            self.executor.add_node(self.node)
            self.start()
        except BaseException:
            self.close()
            raise

    def rosout(self, loggers: int = 2) -> Collector:
        """/rosout as ``RosProbe.rosout``, matched with the probe's and the node's publishers."""
        return super().rosout(loggers)

    def set_parameters(
        self, values: Mapping[str, Any] | Sequence[Parameter]
    ) -> list[SetParametersResult]:
        """Set parameters through the node's parameter service, as ``ros2 param set`` does."""
        client = AsyncParameterClient(self.probe, self.node.get_fully_qualified_name())
        assert client.wait_for_services(TIMEOUT_S), "parameter services not available"
        parameters = as_parameters(values) if isinstance(values, Mapping) else list(values)
        future = client.set_parameters(parameters)
        wait_until(future.done, what="the set_parameters response")
        return list(future.result().results)

    def set_parameters_atomically(self, values: Mapping[str, Any]) -> SetParametersResult:
        """Set parameters all or none, through the node's parameter service."""
        client = AsyncParameterClient(self.probe, self.node.get_fully_qualified_name())
        assert client.wait_for_services(TIMEOUT_S), "parameter services not available"
        future = client.set_parameters_atomically(as_parameters(values))
        wait_until(future.done, what="the set_parameters_atomically response")
        return future.result().result


# ---------------------------------------------------------------------- frames
def image_msg(bgr: np.ndarray, encoding: str, header: Header, row_padding: int = 0) -> Image:
    """``bgr`` as a sensor_msgs/Image in ``encoding``, each row padded by ``row_padding`` bytes."""
    conversions = {
        "bgr8": None,
        "rgb8": cv2.COLOR_BGR2RGB,
        "bgra8": cv2.COLOR_BGR2BGRA,
        "rgba8": cv2.COLOR_BGR2RGBA,
        "mono8": cv2.COLOR_BGR2GRAY,
    }
    pixels = bgr if conversions[encoding] is None else cv2.cvtColor(bgr, conversions[encoding])
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1)
    padded = np.zeros((height, rows.shape[1] + row_padding), np.uint8)
    padded[:, : rows.shape[1]] = rows
    return Image(
        header=header,
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=padded.shape[1],
        data=padded.tobytes(),
    )


def compressed_msg(bgr: np.ndarray, image_format: str, header: Header) -> CompressedImage:
    ok, encoded = cv2.imencode(".jpg" if image_format == "jpeg" else f".{image_format}", bgr)
    assert ok
    return CompressedImage(header=header, format=image_format, data=encoded.tobytes())


def image_from_msg(msg: Image) -> np.ndarray:
    """A bgr8 Image's pixels (what the node publishes as its annotated image)."""
    assert msg.encoding == "bgr8" and msg.step == msg.width * 3
    return np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.width, 3)


def boxes_of(msg) -> np.ndarray:
    """(N, 4) x1, y1, x2, y2 of a Detection2DArray."""
    return np.array(
        [
            [
                d.bbox.center.position.x - d.bbox.size_x / 2,
                d.bbox.center.position.y - d.bbox.size_y / 2,
                d.bbox.center.position.x + d.bbox.size_x / 2,
                d.bbox.center.position.y + d.bbox.size_y / 2,
            ]
            for d in msg.detections
        ],
        np.float64,
    ).reshape(-1, 4)


def scores_of(msg) -> np.ndarray:
    return np.array([d.results[0].hypothesis.score for d in msg.detections], np.float64)


def class_ids_of(msg) -> list[str]:
    return [d.results[0].hypothesis.class_id for d in msg.detections]


# ---------------------------------------------------------------------- decompression bombs
def jpeg_bomb(width: int, height: int) -> bytes:
    """A small valid JPEG whose frame header declares ``width`` x ``height``."""
    small = compressed_msg(np.zeros((8, 8, 3), np.uint8), "jpeg", Header()).data
    data = bytearray(small)
    at = data.index(b"\xff\xc0")  # baseline start of frame: marker, length, precision, h, w
    data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def png_bomb(width: int, height: int) -> bytes:
    """A real grayscale PNG of zeros: it decodes to ``width`` x ``height`` bytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    deflate = zlib.compressobj(1)
    row = bytes(width + 1)  # filter byte 0, then the row's zeros
    idat = b"".join(deflate.compress(row) for _ in range(height)) + deflate.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
