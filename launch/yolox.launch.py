"""Launch yolox_node: YOLOX detection on one camera.

    ros2 launch yolox_ros yolox.launch.py model_path:=/path/model.onnx image_topic:=/camera/image

Arguments left empty keep the node's defaults (or the params file's values).
Outputs go to ``detections``, ``detections/image`` and ``label_info`` in the
node's namespace.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import Node

SHARE = get_package_share_directory("yolox_ros")
# Given only when not empty, so that the params file (or the node's default) applies otherwise.
OPTIONAL_PARAMETERS = ("model_path", "backend", "device")


def _detection_node(context):
    def argument(name):
        return LaunchConfiguration(name).perform(context)

    parameters = [argument("params_file")] if argument("params_file") else []
    overrides = {name: argument(name) for name in OPTIONAL_PARAMETERS if argument(name)}
    if overrides:
        parameters.append(overrides)
    image_topic = argument("image_topic")
    return [
        Node(
            package="yolox_ros",
            executable="yolox_node",
            name=argument("node_name"),
            namespace=argument("namespace"),
            parameters=parameters,
            remappings=[
                ("image_raw", image_topic),
                ("image_raw/compressed", image_topic + "/compressed"),
            ],
            additional_env={
                "FASTDDS_DEFAULT_PROFILES_FILE": EnvironmentVariable(
                    "FASTDDS_DEFAULT_PROFILES_FILE",
                    default_value=os.path.join(SHARE, "config", "fastdds_large_images.xml"),
                )
            },
            output="screen",
            emulate_tty=True,
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
                description="YOLOX ONNX model; empty: the params file's, else the shipped model",
            ),
            DeclareLaunchArgument(
                "backend", default_value="", description="onnxruntime, openvino or torch"
            ),
            DeclareLaunchArgument(
                "device", default_value="", description="inference device, e.g. cpu or cuda"
            ),
            DeclareLaunchArgument(
                "params_file", default_value="", description="node parameters (YAML); optional"
            ),
            DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
            DeclareLaunchArgument("node_name", default_value="yolox", description="node name"),
            OpaqueFunction(function=_detection_node),
        ]
    )
