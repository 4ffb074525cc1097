"""The node as its own process, started the way launch_ros starts it.

launch_ros runs ``yolox_node --ros-args -r __node:=yolox --params-file FILE``;
here the same command line goes to ``python -m yolox_ros.ros.node``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")

from sensor_msgs.msg import Image  # noqa: E402
from support import DATA_DIR, REPO_ROOT  # noqa: E402
from support.ros import LATCHED, TIMEOUT_S, RosProbe, image_msg  # noqa: E402
from vision_msgs.msg import Detection2DArray, LabelInfo  # noqa: E402

pytestmark = pytest.mark.ros

MODEL = DATA_DIR / "yolox_nano_c7.onnx"
PARAMS_FILE = REPO_ROOT / "config" / "traffic_sign.yaml"


def node_command(*parameters: str) -> list[str]:
    command = [sys.executable, "-m", "yolox_ros.ros.node", "--ros-args", "-r", "__node:=yolox"]
    command += ["--params-file", str(PARAMS_FILE)]
    for parameter in parameters:
        command += ["-p", parameter]
    return command


def test_node_detects_and_exits_cleanly_on_sigint(ros_env: dict[str, str]) -> None:
    node = subprocess.Popen(
        node_command(f"model_path:={MODEL}"),
        cwd=REPO_ROOT, env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        with RosProbe() as probe:
            results = probe.subscribe(Detection2DArray, "/detections")
            label_info = probe.subscribe(LabelInfo, "/label_info", LATCHED)
            probe.start()
            images = probe.publisher(Image, "/image_raw")
            frame = image_msg(np.zeros((120, 160, 3), np.uint8), "bgr8", probe.next_header())
            assert probe.exchange(images, frame, results).header == frame.header
            labels = label_info.wait_for(lambda m: len(m.class_map) == 7)
            assert labels.threshold == pytest.approx(0.3)  # the params file's; float32
    finally:
        node.send_signal(signal.SIGINT)
        stdout, stderr = node.communicate(timeout=TIMEOUT_S)
    assert node.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr


# During the node's cleanup, and during the interpreter's exit after it.
@pytest.mark.parametrize("second_after_s", [0.005, 0.05, 0.3])
def test_a_second_sigint_during_cleanup_still_exits_cleanly(
    ros_env: dict[str, str], second_after_s: float
) -> None:
    """A user pressing Ctrl-C twice: the second signal must not kill the process on its way out."""
    node = subprocess.Popen(
        node_command(f"model_path:={MODEL}"),
        cwd=REPO_ROOT, env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        with RosProbe() as probe:
            label_info = probe.subscribe(LabelInfo, "/label_info", LATCHED)
            probe.start()
            label_info.wait_for(lambda m: len(m.class_map) == 7)  # the node is spinning
    finally:
        node.send_signal(signal.SIGINT)
        time.sleep(second_after_s)
        node.send_signal(signal.SIGINT)
        stdout, stderr = node.communicate(timeout=TIMEOUT_S)
    assert node.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr


def test_misspelt_parameter_names_are_named_with_the_closest_known_one(
    ros_env: dict[str, str], tmp_path: Path
) -> None:
    second_file = tmp_path / "mine.yaml"
    second_file.write_text("/**:\n  ros__parameters:\n    max_detection: 5\n")
    command = node_command(f"model_path:={MODEL}", "conf_treshold:=0.9")
    command += ["--params-file", str(second_file)]
    node = subprocess.Popen(
        command, cwd=REPO_ROOT, env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        with RosProbe() as probe:
            label_info = probe.subscribe(LabelInfo, "/label_info", LATCHED)
            probe.start()
            label_info.wait_for(lambda m: len(m.class_map) == 7)
    finally:
        node.send_signal(signal.SIGINT)
        stdout, stderr = node.communicate(timeout=TIMEOUT_S)
    output = stdout + stderr
    assert "unknown parameter 'conf_treshold' ignored; did you mean 'conf_threshold'?" in output
    assert "unknown parameter 'max_detection' ignored; did you mean 'max_detections'?" in output
    assert output.count("unknown parameter") == 2, output


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        (["model_path:=/no/such/model.onnx"], "model file not found: /no/such/model.onnx"),
        (
            [f"model_path:={MODEL}", "class_names:=[stop,yield,go]"],
            "class_names lists 3 names but the model predicts 7 classes",
        ),
        (
            [f"model_path:={MODEL}", "conf_threshold:=1.5"],
            "conf_threshold out of range Min: 0.0, Max: 1.0, value: 1.5",
        ),
        (
            [f"model_path:={MODEL}", "transport:=pigeon"],
            "transport must be one of raw, compressed, got 'pigeon'",
        ),
        (
            [f"model_path:={MODEL}", "input_topics:=[left_image,right_image]"],
            "input topics 'left_image' and 'right_image' would both publish on 'detections'",
        ),
        # After the params file, which sets these: rcl would keep the file's value silently.
        (
            [f"model_path:={MODEL}", "conf_threshold:=high"],
            "conf_threshold: 'high' (from -p conf_threshold:=high) is not a float",
        ),
        (
            [f"model_path:={MODEL}", "max_detections:=1.5"],
            "max_detections: 1.5 (from -p max_detections:=1.5) is not an int",
        ),
        (
            [f"model_path:={MODEL}", "backend:=foo"],
            "unknown backend 'foo'; available backends:",
        ),
    ],
    ids=["missing_model", "class_names_not_fitting", "threshold_out_of_range",
         "unknown_transport", "cameras_sharing_outputs", "wrong_type_after_params_file",
         "int_given_a_float_after_params_file", "unknown_backend_over_device_auto"],
)  # fmt: skip
def test_bad_configuration_exits_non_zero_with_one_readable_line(
    ros_env: dict[str, str], parameters: list[str], message: str
) -> None:
    result = subprocess.run(
        node_command(*parameters),
        cwd=REPO_ROOT, env=ros_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "[yolox]" in lines[0] and message in lines[0], lines[0]  # the node's logger
    # Through the ROS logger: the log file has it too (and /rosout, from the node's logger).
    log_files = Path(ros_env["ROS_LOG_DIR"]).glob("*.log")
    assert any(message in path.read_text() for path in log_files)


# Fast DDS 3 (Kilted) reads the first, 2.x (Jazzy) the second (3 only warns about it).
PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
LARGE_FRAMES = ("480x640", "1080x1920")
FRAMES_PER_SIZE = 5


@pytest.mark.parametrize(
    ("camera_reliability", "camera_profile"),
    [("reliable", False), ("best_effort", True)],
    ids=["reliable-camera", "best-effort-camera-with-the-profile"],
)
def test_large_frames_reach_the_node_started_as_documented(
    ros_env: dict[str, str], camera_reliability: str, camera_profile: bool
) -> None:
    """Every 640x480 and 1920x1080 frame, each published once, is answered.

    The node is started without any Fast DDS profile. A reliable camera (most
    drivers' default) needs nothing: the node subscribes reliably to it. A
    best-effort camera's large frames need the large-images profile in the
    camera's process (README).
    """
    node = subprocess.Popen(
        node_command(f"model_path:={MODEL}"),
        cwd=REPO_ROOT, env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    camera_env = dict(ros_env)
    if camera_profile:
        for variable in PROFILE_VARIABLES:
            camera_env[variable] = str(REPO_ROOT / "config" / "fastdds_large_images.xml")
    try:
        camera = subprocess.run(
            [sys.executable, str(REPO_ROOT / "test" / "support" / "large_frames_camera.py"),
             camera_reliability, *LARGE_FRAMES, str(FRAMES_PER_SIZE)],
            env=camera_env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        node.send_signal(signal.SIGINT)
        _, node_stderr = node.communicate(timeout=TIMEOUT_S)
    assert camera.returncode == 0, camera.stderr
    answered = json.loads(camera.stdout.strip().splitlines()[-1])
    assert answered == dict.fromkeys(LARGE_FRAMES, FRAMES_PER_SIZE), node_stderr
