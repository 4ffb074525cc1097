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
from launch.actions import OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from yolox_ros.ros.launch_arguments import DETECTION_ARGUMENTS, declare

SHARE = get_package_share_directory("yolox_ros")
# Given only when not empty, so that the params file (or the node's default) applies otherwise.
OPTIONAL_PARAMETERS = ("model_path", "backend", "device")
LARGE_IMAGES_PROFILE = os.path.join(SHARE, "config", "fastdds_large_images.xml")
# Fast DDS 2.x (Humble, Jazzy) reads the first, Fast DDS 3 (Kilted on) the second, and
# warns at every start that the first is deprecated: it is left out where ROS_DISTRO
# names a Fast DDS 3 distribution.
PROFILE_VARIABLES = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")
FAST_DDS_3_DISTROS = ("kilted", "rolling")


def flag(context, name):
    """A true/false launch argument (launch has checked its value) as a bool."""
    return LaunchConfiguration(name).perform(context) == "true"


def _detection_node(context):
    def argument(name):
        return LaunchConfiguration(name).perform(context)

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
            ros_arguments=["--log-level", argument("log_level")],
            respawn=flag(context, "respawn"),
            respawn_delay=2.0,
            additional_env=profiles,
            output="screen",
            emulate_tty=True,
        )
    ]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [*declare(DETECTION_ARGUMENTS), OpaqueFunction(function=_detection_node)]
    )
