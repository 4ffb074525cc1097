"""Launch traffic-sign detection: yolox_node with a shipped model and its config, rviz2 optionally.

ros2 launch yolox_ros traffic_sign.launch.py image_topic:=/camera/image_raw rviz:=true
ros2 launch yolox_ros traffic_sign.launch.py model:=street   # the synthetic street-sign model

model:=via (default) runs models/track_sign_nano.onnx with config/traffic_sign.yaml;
model:=street runs models/street_sign_nano.onnx with config/street_sign.yaml.
"""

import os

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from yolox_ros.ros.launch_arguments import (
    MODEL_CONFIGS,
    SHARED_ARGUMENTS,
    TRAFFIC_SIGN_ARGUMENTS,
    declare,
)

SHARE = get_package_share_directory("yolox_ros")


def _rviz(context):
    """rviz2 when asked for; checked before anything starts, so a missing rviz2 starts nothing."""
    if LaunchConfiguration("rviz").perform(context) == "false":
        return []
    try:
        get_package_share_directory("rviz2")
    except PackageNotFoundError:
        raise RuntimeError(
            "rviz:=true but rviz2 is not installed (apt install ros-$ROS_DISTRO-rviz2), "
            "or launch without rviz:=true"
        ) from None
    return [
        Node(
            package="rviz2",
            executable="rviz2",
            arguments=["-d", os.path.join(SHARE, "config", "traffic_sign.rviz")],
            output="screen",
        )
    ]


def _detection(context):
    """yolox.launch.py with the parameters file of the chosen model (or the one given)."""
    model = LaunchConfiguration("model").perform(context)
    params_file = LaunchConfiguration("params_file").perform(context) or os.path.join(
        SHARE, "config", MODEL_CONFIGS[model]
    )
    arguments = {a.name: LaunchConfiguration(a.name) for a in SHARED_ARGUMENTS}
    arguments["params_file"] = params_file
    return [
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(SHARE, "launch", "yolox.launch.py")),
            launch_arguments=arguments.items(),
        )
    ]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            *declare(TRAFFIC_SIGN_ARGUMENTS),
            # First: a missing rviz2 stops the launch before the node starts.
            OpaqueFunction(function=_rviz),
            OpaqueFunction(function=_detection),
        ]
    )
