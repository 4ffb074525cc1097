"""Input topics as image_transport names them, QoS overrides and backend option parameters."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")

from rclpy.qos import ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from support import DATA_DIR  # noqa: E402
from support.ros import NodeHarness, compressed_msg, image_msg, wait_until  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

from yolox_ros.ros.params import NodeSettings, default_model_path  # noqa: E402

pytestmark = pytest.mark.ros

BASE = {"model_path": str(DATA_DIR / "yolox_nano_c7.onnx"), "num_threads": 1}
REMAP = ["--ros-args", "-r", "image_raw:=/camera/image_raw"]
FRAME = np.zeros((96, 128, 3), np.uint8)


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


def test_input_qos_is_overridable_with_the_standard_parameters(ros_env: dict[str, str]) -> None:
    overrides = {"qos_overrides./image_raw.subscription.reliability": "reliable"}
    with NodeHarness({**BASE, "reliable_qos": False, **overrides}) as harness:
        (info,) = wait_until(lambda: harness.probe.get_subscriptions_info_by_topic("/image_raw"))
        assert info.qos_profile.reliability == ReliabilityPolicy.RELIABLE
        # The other policies keep the node's values (depth is not visible in the graph).
        depth = harness.node.get_parameter("qos_overrides./image_raw.subscription.depth")
        assert depth.value == 3


def settings(**values: object) -> NodeSettings:
    defaults = {
        "model_path": "", "backend": "onnxruntime", "device": "cpu", "strict_device": False,
        "num_threads": 0, "device_id": 0, "tensorrt_fp16": False, "tensorrt_cache_dir": "",
        "execution_providers": (), "conf_threshold": 0.3, "nms_threshold": 0.45,
        "class_agnostic": False, "max_detections": 100, "class_filter": (), "class_names": (),
        "input_topics": ("image_raw",), "transport": "raw", "reliable_qos": False,
        "max_image_pixels": 100, "publish_annotated_image": True, "class_id_format": "name",
    }  # fmt: skip
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
