"""The launch files' arguments, declared once: names, defaults, meanings and allowed values.

``launch/yolox.launch.py`` declares ``DETECTION_ARGUMENTS``, ``launch/traffic_sign.launch.py``
``TRAFFIC_SIGN_ARGUMENTS`` (it passes the shared ones on to the first); launch itself refuses a
value outside ``choices`` before anything starts, naming the argument. The README's launch table
is ``markdown_table()`` (``python -m yolox_ros.ros.param_table --launch``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

FLAG = ("true", "false")
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")
# The parameters file of each shipped model (it names the model file and its threshold).
MODEL_CONFIGS = {"via": "traffic_sign.yaml", "street": "street_sign.yaml"}


@dataclass(frozen=True)
class LaunchArgument:
    name: str
    default: str
    description: str
    choices: tuple[str, ...] | None = None


# Both launch files; traffic_sign.launch.py passes these on to yolox.launch.py.
SHARED_ARGUMENTS = (
    LaunchArgument("image_topic", "image_raw", "camera image topic"),
    LaunchArgument(
        "model_path",
        "",
        "YOLOX model file (a path, or package://PACKAGE/FILE); empty: the params file's",
    ),
    LaunchArgument(
        "backend",
        "",
        "auto, onnxruntime, openvino, ncnn, torch or a plugin's; empty: the params file's",
    ),
    LaunchArgument("device", "", "inference device, e.g. cpu or cuda; empty: the params file's"),
    LaunchArgument("namespace", "", "node namespace"),
    LaunchArgument("use_sim_time", "false", "use /clock", FLAG),
    LaunchArgument("log_level", "info", "node log level", LOG_LEVELS),
    LaunchArgument("respawn", "false", "restart the node when it exits", FLAG),
)
DETECTION_ARGUMENTS = (
    *SHARED_ARGUMENTS,
    LaunchArgument("params_file", "", "node parameters (YAML); empty: none"),
    LaunchArgument("node_name", "yolox", "node name"),
    LaunchArgument("lifecycle", "false", "start the managed node (yolox_lifecycle_node)", FLAG),
)
TRAFFIC_SIGN_ARGUMENTS = (
    *SHARED_ARGUMENTS,
    LaunchArgument(
        "model",
        "via",
        "shipped model: via (real VIA track photos, config/traffic_sign.yaml) or street "
        "(synthetic street signs, config/street_sign.yaml)",
        tuple(MODEL_CONFIGS),
    ),
    LaunchArgument("params_file", "", "node parameters (YAML); empty: the model's config file"),
    LaunchArgument(
        "rviz", "false", "show the annotated image in rviz2 (stops first if it is missing)", FLAG
    ),
)


def declare(arguments: Sequence[LaunchArgument]) -> list[Any]:
    """``DeclareLaunchArgument`` actions of ``arguments`` (imports launch: launch files only)."""
    from launch.actions import DeclareLaunchArgument

    return [
        DeclareLaunchArgument(
            a.name, default_value=a.default, description=a.description, choices=a.choices
        )
        for a in arguments
    ]


def markdown_table() -> str:
    """The README's table of launch arguments: which file takes each, its default and values."""
    shared = len(SHARED_ARGUMENTS)
    rows = ["| argument | launch file | default | values | meaning |", "|---|---|---|---|---|"]
    for where, arguments in (
        ("both", SHARED_ARGUMENTS),
        ("yolox", DETECTION_ARGUMENTS[shared:]),
        ("traffic_sign", TRAFFIC_SIGN_ARGUMENTS[shared:]),
    ):
        for a in arguments:
            values = ", ".join(f"`{c}`" for c in a.choices) if a.choices else "any"
            default = a.default or '""'
            rows.append(f"| `{a.name}` | {where} | `{default}` | {values} | {a.description} |")
    return "\n".join(rows) + "\n"
