"""Launch traffic-sign detection: yolox_node with a shipped model and its config, rviz2 optionally.

ros2 launch yolox_ros traffic_sign.launch.py image_topic:=/camera/image_raw rviz:=true
ros2 launch yolox_ros traffic_sign.launch.py model:=street   # the synthetic street-sign model

model:=via (default) runs models/track_sign_nano.onnx with config/traffic_sign.yaml;
model:=street runs models/street_sign_nano.onnx with config/street_sign.yaml.
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
    "image_topic", "model_path", "backend", "device", "namespace",
    "use_sim_time", "log_level", "respawn",
)  # fmt: skip
# The parameters file of each shipped model (it names the model file and its threshold).
MODEL_CONFIGS = {"via": "traffic_sign.yaml", "street": "street_sign.yaml"}


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


def _detection(context):
    """yolox.launch.py with the parameters file of the chosen model (or the one given)."""
    model = LaunchConfiguration("model").perform(context).strip().lower()
    if model not in MODEL_CONFIGS:
        raise ValueError(
            f"launch argument model must be one of {', '.join(MODEL_CONFIGS)}, got {model!r}"
        )
    params_file = LaunchConfiguration("params_file").perform(context) or os.path.join(
        SHARE, "config", MODEL_CONFIGS[model]
    )
    arguments = {name: LaunchConfiguration(name) for name in FORWARDED}
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
            DeclareLaunchArgument(
                "image_topic", default_value="image_raw", description="camera image topic"
            ),
            DeclareLaunchArgument(
                "model_path",
                default_value="",
                description="YOLOX model file overriding the chosen model's; empty: none",
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
                "model",
                default_value="via",
                description="via (real VIA track photos) or street (synthetic street signs)",
            ),
            DeclareLaunchArgument(
                "params_file",
                default_value="",
                description="node parameters (YAML); empty: the chosen model's config file",
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
            OpaqueFunction(function=_detection),
        ]
    )
