"""Input topics as image_transport names them, QoS overrides and backend option parameters."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")

from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from support import DATA_DIR  # noqa: E402
from support.ros import NodeHarness, compressed_msg, image_msg, wait_until  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

from yolox_ros.ros.params import SPECS, NodeSettings, default_model_path  # noqa: E402

pytestmark = pytest.mark.ros

BASE = {"model_path": str(DATA_DIR / "yolox_nano_c7.onnx"), "num_threads": 1}
REMAP = ["--ros-args", "-r", "image_raw:=/camera/image_raw"]
FRAME = np.zeros((96, 128, 3), np.uint8)
RELIABLE = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
BEST_EFFORT = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)


@pytest.mark.parametrize("transport", ["raw", "compressed"])
def test_remapping_the_base_topic_moves_both_transports(
    ros_env: dict[str, str], transport: str
) -> None:
    with NodeHarness({**BASE, "transport": transport}, cli_args=REMAP) as harness:
        results = harness.subscribe(Detection2DArray, "/detections")
        if transport == "compressed":
            images = harness.publisher(CompressedImage, "/camera/image_raw/compressed")
            frame = compressed_msg(FRAME, "jpeg", harness.next_header())
        else:
            images = harness.publisher(Image, "/camera/image_raw")
            frame = image_msg(FRAME, "bgr8", harness.next_header())
        assert harness.exchange(images, frame, results).header == frame.header
        assert harness.probe.count_subscribers("/image_raw/compressed") == 0


def subscription_reliabilities(harness: NodeHarness, topic: str = "/image_raw") -> set:
    """Of every subscription to ``topic`` (two for a moment while the node re-subscribes)."""
    infos = wait_until(lambda: harness.probe.get_subscriptions_info_by_topic(topic))
    return {info.qos_profile.reliability for info in infos}


def test_input_depth_is_overridable_with_the_standard_parameters(ros_env: dict[str, str]) -> None:
    overrides = {"qos_overrides./image_raw.subscription.depth": 7}
    with NodeHarness({**BASE, **overrides}) as harness:
        assert subscription_reliabilities(harness) == {ReliabilityPolicy.BEST_EFFORT}
        depth = harness.node.get_parameter("qos_overrides./image_raw.subscription.depth")
        assert depth.value == 7
        # Reliability has one home, input_reliability: no override parameter for it.
        assert not harness.node.has_parameter("qos_overrides./image_raw.subscription.reliability")


@pytest.mark.parametrize(
    ("setting", "camera", "expected"),
    [
        ("auto", RELIABLE, ReliabilityPolicy.RELIABLE),
        ("auto", BEST_EFFORT, ReliabilityPolicy.BEST_EFFORT),
        ("best_effort", RELIABLE, ReliabilityPolicy.BEST_EFFORT),
        ("reliable", RELIABLE, ReliabilityPolicy.RELIABLE),
    ],
    ids=["auto-reliable-camera", "auto-best-effort-camera", "best_effort", "reliable"],
)
def test_input_reliability_follows_the_camera_when_auto(
    ros_env: dict[str, str], setting: str, camera: QoSProfile, expected: ReliabilityPolicy
) -> None:
    """A camera started after the node: auto re-subscribes to match it; frames get through."""
    with NodeHarness({**BASE, "input_reliability": setting}) as harness:
        logs = harness.rosout()
        images = harness.probe.create_publisher(Image, "image_raw", camera)
        if (setting, expected) == ("auto", ReliabilityPolicy.RELIABLE):
            logs.wait_for(lambda m: "subscribing to /image_raw reliably" in m.msg)
        wait_until(lambda: subscription_reliabilities(harness) == {expected}, what=str(expected))
        results = harness.subscribe(Detection2DArray, "/detections")
        frame = image_msg(FRAME, "bgr8", harness.next_header())
        assert harness.exchange(images, frame, results).header == frame.header


def settings(**values: object) -> NodeSettings:
    defaults = {spec.name: spec.default for spec in SPECS}
    return NodeSettings.from_values({**defaults, **values})


def test_backend_options_carry_only_the_parameters_set() -> None:
    assert settings().detector_config().backend_options == {}
    config = settings(
        device="tensorrt", device_id=1, tensorrt_fp16=True, tensorrt_cache_dir="/var/cache/trt",
        execution_providers=("TensorrtExecutionProvider", "CPUExecutionProvider"),
    ).detector_config()  # fmt: skip
    assert config.backend_options == {
        "device_id": 1,
        "tensorrt_fp16": True,
        "tensorrt_cache_dir": "/var/cache/trt",
        "execution_providers": ["TensorrtExecutionProvider", "CPUExecutionProvider"],
    }
    assert str(config.model_path) == str(default_model_path())


def test_backend_option_parameters_reach_the_backend(ros_env: dict[str, str], tmp_path) -> None:
    # On the CPU the TensorRT options are accepted and unused: the node starts.
    options = {"tensorrt_cache_dir": str(tmp_path), "execution_providers": ["CPUExecutionProvider"]}
    with NodeHarness({**BASE, **options}) as harness:
        backend = harness.node.pipeline.detector.backend
        assert backend.device == "cpu" and backend.providers == ("CPUExecutionProvider",)
        (refused,) = harness.set_parameters({"tensorrt_fp16": True})
        assert not refused.successful and "read-only" in refused.reason
