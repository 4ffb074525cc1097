"""Launch yolox_node: YOLOX detection on one camera.

    ros2 launch yolox_ros yolox.launch.py model_path:=/path/model.onnx image_topic:=/camera/image

Arguments left empty keep the node's defaults (or the params file's values).
Outputs go to ``detections``, ``detections/image`` and ``label_info`` in the
node's namespace. ``lifecycle:=true`` starts ``yolox_lifecycle_node`` instead
(unconfigured: ``ros2 lifecycle set /yolox configure``, then ``activate``).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

SHARE = get_package_share_directory("yolox_ros")
# Given only when not empty, so that the params file (or the node's default) applies otherwise.
OPTIONAL_PARAMETERS = ("model_path", "backend", "device")
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")
LARGE_IMAGES_PROFILE = os.path.join(SHARE, "config", "fastdds_large_images.xml")
# Fast DDS 2.x (Humble, Jazzy) reads the first, Fast DDS 3 (Kilted on) the second, and
# warns at every start that the first is deprecated: it is left out where ROS_DISTRO
# names a Fast DDS 3 distribution.
PROFILE_VARIABLES = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")
FAST_DDS_3_DISTROS = ("kilted", "rolling")


def flag(context, name):
    """A true/false launch argument as a bool; anything else stops the launch naming it."""
    value = LaunchConfiguration(name).perform(context).strip().lower()
    if value not in ("true", "false"):
        raise ValueError(f"launch argument {name} must be true or false, got {value!r}")
    return value == "true"


def _detection_node(context):
    def argument(name):
        return LaunchConfiguration(name).perform(context)

    log_level = argument("log_level").strip().lower()
    if log_level not in LOG_LEVELS:
        raise ValueError(f"launch argument log_level must be one of {', '.join(LOG_LEVELS)}")
    parameters = [argument("params_file")] if argument("params_file") else []
    overrides = {name: argument(name) for name in OPTIONAL_PARAMETERS if argument(name)}
    parameters.append({**overrides, "use_sim_time": flag(context, "use_sim_time")})
    # A profiles file the user chose wins; otherwise both Fast DDS generations get ours.
    chosen = next((os.environ[v] for v in PROFILE_VARIABLES if os.environ.get(v)), None)
    variables = PROFILE_VARIABLES
    if os.environ.get("ROS_DISTRO") in FAST_DDS_3_DISTROS:
        variables = variables[1:]
    profiles = {variable: chosen or LARGE_IMAGES_PROFILE for variable in variables}
    lifecycle = flag(context, "lifecycle")
    return [
        Node(
            package="yolox_ros",
            executable="yolox_lifecycle_node" if lifecycle else "yolox_node",
            name=argument("node_name"),
            namespace=argument("namespace"),
            parameters=parameters,
            # The compressed input follows: the node subscribes <resolved base>/compressed.
            remappings=[("image_raw", argument("image_topic"))],
            ros_arguments=["--log-level", log_level],
            respawn=flag(context, "respawn"),
            respawn_delay=2.0,
            additional_env=profiles,
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
                "backend",
                default_value="",
                description="auto, onnxruntime, openvino, ncnn or torch; empty: the params file's",
            ),
            DeclareLaunchArgument(
                "device", default_value="", description="inference device, e.g. cpu or cuda"
            ),
            DeclareLaunchArgument(
                "params_file", default_value="", description="node parameters (YAML); optional"
            ),
            DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
            DeclareLaunchArgument("node_name", default_value="yolox", description="node name"),
            DeclareLaunchArgument(
                "use_sim_time", default_value="false", description="use /clock (true or false)"
            ),
            DeclareLaunchArgument(
                "log_level", default_value="info", description=" | ".join(LOG_LEVELS)
            ),
            DeclareLaunchArgument(
                "respawn", default_value="false", description="restart the node when it exits"
            ),
            DeclareLaunchArgument(
                "lifecycle", default_value="false", description="start the managed node variant"
            ),
            OpaqueFunction(function=_detection_node),
        ]
    )
