"""Launch traffic-sign detection: yolox_node with config/traffic_sign.yaml, rviz2 optionally.

ros2 launch yolox_ros traffic_sign.launch.py image_topic:=/camera/image_raw rviz:=true
"""

import os

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

SHARE = get_package_share_directory("yolox_ros")
FORWARDED = (
    "image_topic", "model_path", "backend", "device", "params_file", "namespace",
    "use_sim_time", "log_level", "respawn",
)  # fmt: skip


def _rviz(context):
    """rviz2 when asked for; checked before anything starts, so a missing rviz2 starts nothing."""
    value = LaunchConfiguration("rviz").perform(context).strip().lower()
    if value not in ("true", "false"):
        raise ValueError(f"launch argument rviz must be true or false, got {value!r}")
    if value == "false":
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


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "image_topic", default_value="image_raw", description="camera image topic"
            ),
            DeclareLaunchArgument(
                "model_path",
                default_value="",
                description="YOLOX ONNX model; empty: the shipped traffic_sign_nano.onnx",
            ),
            DeclareLaunchArgument(
                "backend", default_value="", description="onnxruntime, openvino or torch"
            ),
            DeclareLaunchArgument(
                "device", default_value="", description="inference device, e.g. cpu or cuda"
            ),
            DeclareLaunchArgument(
                "params_file",
                default_value=os.path.join(SHARE, "config", "traffic_sign.yaml"),
                description="node parameters (YAML)",
            ),
            DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
            DeclareLaunchArgument(
                "use_sim_time", default_value="false", description="use /clock (true or false)"
            ),
            DeclareLaunchArgument(
                "log_level", default_value="info", description="debug | info | warn | error | fatal"
            ),
            DeclareLaunchArgument(
                "respawn", default_value="false", description="restart the node when it exits"
            ),
            DeclareLaunchArgument(
                "rviz", default_value="false", description="show the annotated image in rviz2"
            ),
            # First: a bad rviz argument or a missing rviz2 stops the launch before the node starts.
            OpaqueFunction(function=_rviz),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(os.path.join(SHARE, "launch", "yolox.launch.py")),
                launch_arguments={name: LaunchConfiguration(name) for name in FORWARDED}.items(),
            ),
        ]
    )
