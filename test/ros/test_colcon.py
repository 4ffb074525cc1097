"""`colcon build` installs the package the way a ROS 2 workspace does, and its executable starts."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import DATA_DIR, REPO_ROOT

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")

pytestmark = pytest.mark.ros

VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def colcon_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    colcon = shutil.which("colcon", path=str(VENV_BIN))
    if colcon is None:
        pytest.skip("colcon is not installed in this environment")
    work = tmp_path_factory.mktemp("colcon")
    env = dict(os.environ, AMENT_PREFIX_PATH=str(VENV_BIN.parent))
    result = subprocess.run(
        [
            colcon, "build", "--base-paths", str(REPO_ROOT), "--packages-select", "yolox_ros",
            "--build-base", str(work / "build"), "--install-base", str(work / "install"),
            "--event-handlers", "console_direct-",
        ],
        cwd=work, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return work / "install"


def test_install_layout(colcon_install: Path) -> None:
    share = colcon_install / "yolox_ros" / "share"
    assert (share / "ament_index" / "resource_index" / "packages" / "yolox_ros").is_file()
    assert (share / "yolox_ros" / "package.xml").is_file()
    assert list((share / "yolox_ros" / "launch").glob("*.launch.py"))
    assert (share / "yolox_ros" / "config" / "traffic_sign.yaml").is_file()
    lib = colcon_install / "yolox_ros" / "lib" / "yolox_ros"
    assert os.access(lib / "yolox_node", os.X_OK)
    assert os.access(lib / "image_replay", os.X_OK)
    # The training's kernel source, compiled when a CPU run starts, goes with the package.
    packages = colcon_install / "yolox_ros" / "lib"
    assert list(packages.glob("python3*/site-packages/yolox_ros/training/kernels/fused_bn_silu.c"))


def test_installed_node_starts_and_stops_on_sigint(
    colcon_install: Path, ros_env: dict[str, str]
) -> None:
    import rclpy

    executable = colcon_install / "yolox_ros" / "lib" / "yolox_ros" / "yolox_node"
    model = DATA_DIR / "yolox_nano_c7.onnx"
    # As `ros2 run` does it: the workspace's setup script first, then the executable.
    command = (
        f". {colcon_install / 'setup.bash'} && "
        f"exec {executable} --ros-args -p model_path:={model}"
    )
    env = dict(ros_env, AMENT_PREFIX_PATH=str(VENV_BIN.parent))
    node = subprocess.Popen(
        ["bash", "-c", command],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        probe = rclpy.create_node("colcon_probe", context=context)
        deadline = time.monotonic() + 60
        while "yolox" not in probe.get_node_names() and time.monotonic() < deadline:
            assert node.poll() is None, node.stdout.read()
            time.sleep(0.2)
        assert "yolox" in probe.get_node_names()
        probe.destroy_node()
    finally:
        rclpy.shutdown(context=context)
        node.send_signal(signal.SIGINT)
        output, _ = node.communicate(timeout=30)
    assert node.returncode == 0, output
    assert "Traceback" not in output
