"""The node on an older rclpy: the APIs newer than Humble's rclpy 3.3 hidden.

Humble has no pre-/post-set parameter callbacks, and before rclpy 7.4 (so on
Humble and Jazzy) ``rclpy.init`` returns None instead of a context manager.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")

import rclpy  # noqa: E402
from rclpy.node import Node  # noqa: E402
from support import DATA_DIR, REPO_ROOT  # noqa: E402
from support.ros import NodeHarness  # noqa: E402

pytestmark = pytest.mark.ros

# Without tracking the detector runs at conf_threshold itself (with it: at the lower of it
# and track_low_threshold).
PARAMETERS = {
    "model_path": str(DATA_DIR / "yolox_nano_c7.onnx"), "num_threads": 1, "tracking": False,
}  # fmt: skip
NEWER_THAN_HUMBLE = ("add_pre_set_parameters_callback", "add_post_set_parameters_callback")


@pytest.fixture
def humble_rclpy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NEWER_THAN_HUMBLE:
        if hasattr(Node, name):
            monkeypatch.delattr(Node, name)
    real_init = rclpy.init

    def init_returning_none(**kwargs: object) -> None:
        real_init(**kwargs)

    monkeypatch.setattr(rclpy, "init", init_returning_none)


def test_live_parameters_apply_and_refusals_change_nothing_without_newer_callbacks(
    ros_env: dict[str, str], humble_rclpy: None
) -> None:
    with NodeHarness(PARAMETERS) as harness:
        assert all(r.successful for r in harness.set_parameters({"conf_threshold": 0.6}))
        assert harness.node.pipeline.detector.settings.conf_threshold == 0.6

        (refused,) = harness.set_parameters({"class_filter": ["unicorn"]})
        assert not refused.successful and "unknown classes ['unicorn']" in refused.reason
        assert harness.node.pipeline.detector.class_filter is None
        assert harness.node.settings.conf_threshold == 0.6


# In its own process: rclpy.init/shutdown of the default context would change the
# logging of every later test's nodes in this process.
RUNNER_SCRIPT = """
import sys
import rclpy
from rclpy.node import Node
from rclpy.task import Future
from yolox_ros.ros.node import YoloxNode
from yolox_ros.ros.runner import run_node

for name in sys.argv[2].split(","):
    if hasattr(Node, name):
        delattr(Node, name)
real_init = rclpy.init
rclpy.init = lambda **kwargs: (real_init(**kwargs), None)[1]
nodes = []

def create():
    nodes.append(YoloxNode(parameter_overrides=[rclpy.Parameter("model_path", value=sys.argv[1])]))
    return nodes[0]

def until(node):
    done = Future()
    node.create_timer(0.05, lambda: done.set_result(True))
    return done

run_node(create, "compat_test", [], until)
assert nodes[0].pipeline is None, "the model was not freed"
assert not rclpy.ok(), "the default context is still up"
print("clean exit")
"""


def test_runner_starts_spins_and_shuts_down_without_the_init_context_manager(
    ros_env: dict[str, str],
) -> None:
    hidden = ",".join(NEWER_THAN_HUMBLE)
    result = subprocess.run(
        [sys.executable, "-c", RUNNER_SCRIPT, PARAMETERS["model_path"], hidden],
        cwd=REPO_ROOT, env=ros_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean exit", result.stdout + result.stderr
