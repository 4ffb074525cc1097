"""``yolox_lifecycle_node``: the detection node as a managed (lifecycle) node.

configure loads the model and creates the publishers, activate subscribes to
the cameras and starts detection, deactivate unsubscribes (nothing more is
published), cleanup frees the model. Parameters are declared at construction,
so a bad value is refused before any transition.
"""

from __future__ import annotations

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from yolox_ros.errors import YoloxRosError
from yolox_ros.ros.node import NODE_NAME, DetectionNodeParts
from yolox_ros.ros.pipeline import DetectionPipeline
from yolox_ros.ros.runner import STARTUP_ERRORS, log_startup_failure, run_node


class YoloxLifecycleNode(DetectionNodeParts, LifecycleNode):
    """YOLOX detection whose model and subscriptions follow the lifecycle transitions."""

    def __init__(self, **node_kwargs) -> None:
        self.pipeline = None
        super().__init__(NODE_NAME, **node_kwargs)
        try:
            self._set_up()
        except STARTUP_ERRORS as exc:
            log_startup_failure(self, exc)
            raise

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.pipeline = DetectionPipeline(self, self.settings)
        except YoloxRosError as exc:
            self.get_logger().error(f"cannot configure: {exc}")
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info(f"configured: {self.pipeline.describe()}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.pipeline.start()
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.pipeline.stop()
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.pipeline.destroy()
        self.pipeline = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self.pipeline is not None:
            self.pipeline.destroy()
            self.pipeline = None
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        if hasattr(self, "_log_forwarder"):
            self._tear_down()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    """``yolox_lifecycle_node``: starts unconfigured; exits 0 on SIGINT."""
    run_node(YoloxLifecycleNode, f"{NODE_NAME}_lifecycle_node", args)


if __name__ == "__main__":
    main()
