"""yolox_lifecycle_node driven through its lifecycle services, as `ros2 lifecycle set` does."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")

from lifecycle_msgs.msg import State, Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from support import DATA_DIR  # noqa: E402
from support.ros import TIMEOUT_S, NodeHarness, image_msg, wait_until  # noqa: E402
from vision_msgs.msg import Detection2DArray, LabelInfo  # noqa: E402

from yolox_ros.ros.lifecycle_node import YoloxLifecycleNode  # noqa: E402

pytestmark = pytest.mark.ros

PARAMETERS = {"model_path": str(DATA_DIR / "yolox_nano_c7.onnx"), "num_threads": 1}


class Lifecycle:
    """The node's lifecycle services, called from the probe."""

    def __init__(self, harness: NodeHarness) -> None:
        name = harness.node.get_fully_qualified_name()
        self._change = harness.probe.create_client(ChangeState, f"{name}/change_state")
        self._get = harness.probe.create_client(GetState, f"{name}/get_state")
        assert self._change.wait_for_service(TIMEOUT_S) and self._get.wait_for_service(TIMEOUT_S)

    def set(self, transition: int) -> bool:
        future = self._change.call_async(ChangeState.Request(transition=Transition(id=transition)))
        wait_until(future.done, what=f"transition {transition}")
        return future.result().success

    def state(self) -> int:
        future = self._get.call_async(GetState.Request())
        wait_until(future.done, what="the lifecycle state")
        return future.result().current_state.id


def test_transitions_load_subscribe_stop_and_free(ros_env: dict[str, str]) -> None:
    with NodeHarness(PARAMETERS, YoloxLifecycleNode) as harness:
        lifecycle = Lifecycle(harness)
        results = harness.subscribe(Detection2DArray, "/detections")
        probe = harness.probe
        assert lifecycle.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert harness.node.pipeline is None and probe.count_subscribers("/image_raw") == 0

        assert lifecycle.set(Transition.TRANSITION_CONFIGURE)
        assert lifecycle.state() == State.PRIMARY_STATE_INACTIVE
        assert harness.node.pipeline is not None  # the model is loaded
        assert probe.count_publishers("/detections") == 1
        assert probe.count_subscribers("/image_raw") == 0

        for cycle in range(2):  # activate again after a deactivation
            assert lifecycle.set(Transition.TRANSITION_ACTIVATE), f"activation {cycle}"
            assert lifecycle.state() == State.PRIMARY_STATE_ACTIVE
            images = harness.publisher(Image, "/image_raw")
            frame = image_msg(np.zeros((96, 128, 3), np.uint8), "bgr8", harness.next_header())
            assert harness.exchange(images, frame, results).header == frame.header

            assert lifecycle.set(Transition.TRANSITION_DEACTIVATE)
            assert lifecycle.state() == State.PRIMARY_STATE_INACTIVE
            wait_until(lambda: probe.count_subscribers("/image_raw") == 0, what="unsubscribed")
            probe.destroy_publisher(images)

        label_info = harness.subscribe(LabelInfo, "/label_info")
        assert lifecycle.set(Transition.TRANSITION_CLEANUP)
        assert lifecycle.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert harness.node.pipeline is None  # the model is freed
        wait_until(lambda: probe.count_publishers("/detections") == 0, what="publishers gone")
        assert not label_info.snapshot()  # nothing published while inactive

        assert lifecycle.set(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
        assert lifecycle.state() == State.PRIMARY_STATE_FINALIZED


def test_configure_with_a_missing_model_fails_and_stays_unconfigured(
    ros_env: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    with NodeHarness({"model_path": "/no/such/model.onnx"}, YoloxLifecycleNode) as harness:
        lifecycle = Lifecycle(harness)
        assert not lifecycle.set(Transition.TRANSITION_CONFIGURE)
        assert lifecycle.state() == State.PRIMARY_STATE_UNCONFIGURED
    assert "cannot configure: model file not found: /no/such/model.onnx" in capfd.readouterr().err
