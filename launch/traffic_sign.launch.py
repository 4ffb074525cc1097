"""Launch traffic-sign detection: yolox_node with config/traffic_sign.yaml, rviz2 optionally.

ros2 launch yolox_ros traffic_sign.launch.py image_topic:=/camera/image_raw rviz:=true
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

SHARE = get_package_share_directory("yolox_ros")
FORWARDED = ("image_topic", "model_path", "backend", "device", "params_file", "namespace")


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
                "rviz", default_value="false", description="show the annotated image in rviz2"
            ),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(os.path.join(SHARE, "launch", "yolox.launch.py")),
                launch_arguments={name: LaunchConfiguration(name) for name in FORWARDED}.items(),
            ),
            Node(
                package="rviz2",
                executable="rviz2",
                arguments=["-d", os.path.join(SHARE, "config", "traffic_sign.rviz")],
                condition=IfCondition(LaunchConfiguration("rviz")),
                output="screen",
            ),
        ]
    )
