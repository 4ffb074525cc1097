"""launch_testing: traffic_sign.launch.py starts the node, which answers an image with detections.

Needs launch_testing and launch_ros (a ROS 2 install; ``colcon test``) and the
package installed (the launch file is found through the ament index); skipped
where they are missing, as in the pip-only development environment.
"""

from __future__ import annotations

import os
import unittest

import pytest

pytest.importorskip("launch_testing")
pytest.importorskip("launch_ros")

import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import numpy as np  # noqa: E402
from ament_index_python.packages import (  # noqa: E402
    PackageNotFoundError,
    get_package_share_directory,
)
from launch import LaunchDescription  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from support import DATA_DIR  # noqa: E402
from support.ros import RosProbe, image_msg  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

try:
    SHARE = get_package_share_directory("yolox_ros")
except (PackageNotFoundError, OSError):
    pytest.skip("yolox_ros is not installed in an ament prefix", allow_module_level=True)

MODEL = DATA_DIR / "yolox_nano_c7.onnx"


@pytest.mark.launch_test
def generate_test_description() -> LaunchDescription:
    traffic_sign = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(SHARE, "launch", "traffic_sign.launch.py")),
        launch_arguments={"model_path": str(MODEL), "image_topic": "camera/image_raw"}.items(),
    )
    return LaunchDescription([traffic_sign, launch_testing.actions.ReadyToTest()])


class TestDetectionNode(unittest.TestCase):
    def test_image_is_answered_with_detections_carrying_its_header(self) -> None:
        with RosProbe() as probe:
            results = probe.subscribe(Detection2DArray, "/detections")
            probe.start()
            images = probe.publisher(Image, "/camera/image_raw")
            frame = image_msg(np.zeros((120, 160, 3), np.uint8), "bgr8", probe.next_header())
            self.assertEqual(probe.exchange(images, frame, results).header, frame.header)


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_node_exits_cleanly_on_sigint(self, proc_info) -> None:
        launch_testing.asserts.assertExitCodes(proc_info)
