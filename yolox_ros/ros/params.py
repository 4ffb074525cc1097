"""The detection node's ROS parameters: their declarations, the validated settings object.

The detector's settings come from ``yolox_ros.core.settings`` (declared once for
the node, the library and the command line); the node's own are declared here
the same way. Live parameters change through ``ros2 param set`` while the node
runs; the others are read-only (changing them needs a restart).

``yolox_ros.ros.param_table`` writes them as the README's table.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter

from yolox_ros.core.detector import DetectorConfig
from yolox_ros.core.settings import (
    BACKEND_SETTINGS,
    DETECTION_SETTINGS,
    SettingSpec,
    SpecSettings,
)
from yolox_ros.core.sign_events import SIGN_EVENT_SETTINGS, SignEventSettings
from yolox_ros.core.tracking import TRACKER_SETTINGS, TrackerSettings
from yolox_ros.errors import ConfigError
from yolox_ros.package_files import resolve_package_url, shipped_path
from yolox_ros.ros.image_conversion import MAX_IMAGE_PIXELS
from yolox_ros.ros.messages import CLASS_ID_FORMATS
from yolox_ros.ros.overrides import check_kinds, last_values
from yolox_ros.ros.qos import INPUT_QUEUE_DEPTH, INPUT_RELIABILITIES
from yolox_ros.ros.topics import output_namespace, output_topic

DEFAULT_MODEL_FILE = "track_sign_nano.onnx"
TRANSPORTS = ("raw", "compressed")

_T = Parameter.Type
_PARAMETER_TYPES = {
    "float": _T.DOUBLE,
    "int": _T.INTEGER,
    "bool": _T.BOOL,
    "str": _T.STRING,
    "names": _T.STRING_ARRAY,
    "floats": _T.DOUBLE_ARRAY,
}

# fmt: off
MODEL_PATH = SettingSpec(
    "model_path", "str", "",
    "YOLOX model file (ONNX, or .pth for backend torch), a path or package://<pkg>/<file>; "
    f"empty: the shipped {DEFAULT_MODEL_FILE}",
)
CLASS_NAMES = SettingSpec(
    "class_names", "names", (),
    "class names replacing the model's own (one per model class); empty: from the model",
)
INPUT_TOPICS = SettingSpec(
    "input_topics", "names", ("image_raw",),
    "image topics, one per camera; each camera's outputs go to its topic's namespace",
)
TRANSPORT = SettingSpec(
    "transport", "str", "raw",
    "raw: sensor_msgs/Image on each topic; compressed: CompressedImage on each topic + /compressed",
    choices=TRANSPORTS,
)
INPUT_RELIABILITY = SettingSpec(
    "input_reliability", "str", "auto",
    "auto: reliable while every publisher of the topic offers reliable (large frames from a "
    "reliable camera need it), else best effort; or best_effort, reliable; "
    f"keep last {INPUT_QUEUE_DEPTH} either way",
    choices=INPUT_RELIABILITIES,
)
MAX_IMAGE_PIXELS_SPEC = SettingSpec(
    "max_image_pixels", "int", MAX_IMAGE_PIXELS,
    "frames declaring more pixels (width x height) are refused before decoding; "
    "default 4096x3072 (4K and 12 MP cameras pass)",
    minimum=1,
)
INPUT_TIMEOUT = SettingSpec(
    "input_timeout_s", "float", 3.0,
    "seconds without a frame (or camera_info for 3D) before the node says why nothing "
    "arrives: no publisher, incompatible QoS, frames not getting through",
    minimum=0.1, live=True,
)
PUBLISH_ANNOTATED_IMAGE = SettingSpec(
    "publish_annotated_image", "bool", True,
    "publish detections drawn on the image on detections/image (only while subscribed)",
    live=True,
)
CLASS_ID_FORMAT = SettingSpec(
    "class_id_format", "str", "name",
    "what hypothesis.class_id holds: the class name or its index in label_info",
    choices=CLASS_ID_FORMATS, live=True,
)
# Passed to the backend as its options (only when set, so other backends are not bothered).
DEVICE_ID = SettingSpec(
    "device_id", "int", 0, "GPU index for onnxruntime cuda / tensorrt", minimum=0,
)
TENSORRT_FP16 = SettingSpec(
    "tensorrt_fp16", "bool", False, "onnxruntime tensorrt: build the engine in FP16",
)
TENSORRT_CACHE_DIR = SettingSpec(
    "tensorrt_cache_dir", "str", "",
    "onnxruntime tensorrt: engine cache directory, so the engine is built once; empty: no cache",
)
EXECUTION_PROVIDERS = SettingSpec(
    "execution_providers", "names", (),
    "onnxruntime execution providers to try in this order; empty: the device's own order",
)
TRACKING = SettingSpec(
    "tracking", "bool", True,
    "track detections over frames: Detection2D.id is the track id and the class the track's "
    "vote; confirmed tracks go to signs. The detector then runs at track_low_threshold (when "
    "lower than conf_threshold) and detections publishes those at conf_threshold",
)
OBJECT_HEIGHTS = SettingSpec(
    "object_heights_m", "names", (),
    "CLASS=METRES for each class of known physical height: their positions in the camera's "
    "optical frame go to detections_3d (needs camera_info beside the image); empty: none",
)
CAMERA_INFO_MAX_AGE = SettingSpec(
    "camera_info_max_age_s", "float", 0.5,
    "a frame without a camera_info of its own stamp uses the latest one if its stamp is at "
    "most this far from the frame's",
    minimum=0.0,
)
# fmt: on
BACKEND_OPTIONS = (DEVICE_ID, TENSORRT_FP16, TENSORRT_CACHE_DIR, EXECUTION_PROVIDERS)
# The tracker's and the sign events' settings, under a prefix saying whose they are.
TRACKER_PREFIX, SIGN_PREFIX = "track_", "sign_"
TRACKER_PARAMETERS = tuple(
    dataclasses.replace(spec, name=TRACKER_PREFIX + spec.name) for spec in TRACKER_SETTINGS
)
SIGN_PARAMETERS = tuple(
    dataclasses.replace(spec, name=SIGN_PREFIX + spec.name) for spec in SIGN_EVENT_SETTINGS
)

SPECS: tuple[SettingSpec, ...] = (
    MODEL_PATH,
    *BACKEND_SETTINGS,
    *BACKEND_OPTIONS,
    *DETECTION_SETTINGS,
    CLASS_NAMES,
    INPUT_TOPICS,
    TRANSPORT,
    INPUT_RELIABILITY,
    MAX_IMAGE_PIXELS_SPEC,
    INPUT_TIMEOUT,
    PUBLISH_ANNOTATED_IMAGE,
    CLASS_ID_FORMAT,
    TRACKING,
    *TRACKER_PARAMETERS,
    *SIGN_PARAMETERS,
    OBJECT_HEIGHTS,
    CAMERA_INFO_MAX_AGE,
)
_SPECS_BY_NAME = {spec.name: spec for spec in SPECS}
PARAMETER_NAMES = frozenset(_SPECS_BY_NAME)


def descriptor(spec: SettingSpec, read_only: bool) -> ParameterDescriptor:
    """What ``ros2 param describe`` shows; rclpy enforces the type and a two-sided range."""
    result = ParameterDescriptor(
        type=_PARAMETER_TYPES[spec.kind].value,
        description=spec.description,
        read_only=read_only,
        additional_constraints=spec.range_text,
    )
    if spec.minimum is not None and spec.maximum is not None:
        if spec.kind == "float":
            bounds = FloatingPointRange(
                from_value=float(spec.minimum), to_value=float(spec.maximum), step=0.0
            )
            result.floating_point_range = [bounds]
        else:
            bounds = IntegerRange(from_value=int(spec.minimum), to_value=int(spec.maximum), step=1)
            result.integer_range = [bounds]
    return result


class NodeSettings(SpecSettings, specs=SPECS, required=True):
    """Every parameter's current value, validated (a field per ``SPECS`` entry; model_path as
    given, empty for the default)."""

    def check_together(self) -> None:
        # As the tracker, the sign events and the 3-D output will take them: refused now.
        self.tracker_settings()
        self.sign_event_settings()
        self.object_heights()
        if not self.input_topics:
            raise ConfigError("input_topics is empty: give at least one image topic")
        camera_outputs = [output_namespace(topic) for topic in self.input_topics]
        for index, namespace in enumerate(camera_outputs):
            first = camera_outputs.index(namespace)
            if first != index:
                raise ConfigError(
                    f"input topics {self.input_topics[first]!r} and {self.input_topics[index]!r} "
                    f"would both publish on {output_topic(namespace, 'detections')!r}: "
                    "give each camera its own namespace (e.g. front/image_raw, rear/image_raw)"
                )

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> NodeSettings:
        """From parameter values (lists become tuples); ConfigError when invalid."""
        return cls(**_as_fields(values))

    def with_changes(self, changes: Mapping[str, Any]) -> NodeSettings:
        """A validated copy with parameter values replaced (ConfigError when invalid)."""
        return dataclasses.replace(self, **_as_fields(changes))

    def resolved_model_path(self) -> str:
        if not self.model_path:
            return str(default_model_path())
        try:
            return str(resolve_package_url(self.model_path))
        except ValueError as exc:
            raise ConfigError(f"model_path: {exc}") from exc

    def detector_config(self) -> DetectorConfig:
        return DetectorConfig(
            model_path=self.resolved_model_path(),
            backend=self.backend,
            device=self.device,
            strict_device=self.strict_device,
            num_threads=self.num_threads,
            class_names=self.class_names or None,
            backend_options=self.backend_options(),
            **self.detector_thresholds(),
        )

    def backend_options(self) -> dict[str, Any]:
        """The backend option parameters set away from their defaults.

        Only those: a backend refuses options it does not know, and the defaults
        are the backends' own behaviour.
        """
        options = {
            spec.name: getattr(self, spec.name)
            for spec in BACKEND_OPTIONS
            if getattr(self, spec.name) != spec.default
        }
        if "execution_providers" in options:
            options["execution_providers"] = list(options["execution_providers"])
        return options

    def detector_thresholds(self) -> dict[str, Any]:
        """The live detector settings, as ``Detector.update_thresholds`` takes them.

        With tracking, the detector also finds what the tracker's low threshold lets
        continue a track; what is published is still cut at ``conf_threshold``.
        """
        thresholds = {
            spec.name: getattr(self, spec.name) or None
            if spec.kind == "names"
            else getattr(self, spec.name)
            for spec in DETECTION_SETTINGS
        }
        if self.tracking:
            thresholds["conf_threshold"] = min(self.conf_threshold, self.track_low_threshold)
        return thresholds

    def tracker_settings(self) -> TrackerSettings:
        return TrackerSettings(**_unprefixed(self, TRACKER_PREFIX, TRACKER_SETTINGS))

    def sign_event_settings(self) -> SignEventSettings:
        return SignEventSettings(**_unprefixed(self, SIGN_PREFIX, SIGN_EVENT_SETTINGS))

    def object_heights(self) -> dict[str, float]:
        """``object_heights_m`` as class name -> metres; ConfigError naming a bad entry."""
        heights = {}
        for entry in self.object_heights_m:
            name, separator, text = entry.rpartition("=")
            try:
                metres = float(text)
            except ValueError:
                metres = math.nan
            if not separator or not name.strip() or not (math.isfinite(metres) and metres > 0):
                raise ConfigError(
                    f"object_heights_m: {entry!r} is not CLASS=METRES with a positive height "
                    "(e.g. stop=0.1)"
                )
            heights[name.strip()] = metres
        return heights


def declare_parameters(node: Node) -> NodeSettings:
    """Declare every parameter and return their values (command line / params file override).

    Raises ConfigError, or rclpy's ParameterException for a value of the wrong
    type or out of its declared range.
    """
    check_kinds(
        last_values(sys.argv, node.get_fully_qualified_name()),
        {spec.name: spec.kind for spec in SPECS},
    )
    # Declared by type, a parameter without override starts unset; an empty list
    # in YAML or on the command line also arrives unset (no element type). Both
    # get their default before the read-only flag is applied.
    declared = [
        node.declare_parameter(spec.name, _PARAMETER_TYPES[spec.kind], descriptor(spec, False))
        for spec in SPECS
    ]
    node.set_parameters(
        [
            Parameter(spec.name, _PARAMETER_TYPES[spec.kind], _parameter_value(spec.default))
            for spec, parameter in zip(SPECS, declared, strict=True)
            if parameter.type_ == _T.NOT_SET
        ]
    )
    for spec in SPECS:
        if not spec.live:
            node.set_descriptor(spec.name, descriptor(spec, read_only=True))
    for line in unknown_override_warnings(node):
        node.get_logger().warning(line)
    return NodeSettings.from_values(
        {spec.name: node.get_parameter(spec.name).value for spec in SPECS}
    )


# Declared on demand by publishers and subscriptions that allow QoS overrides.
_QOS_OVERRIDES_PREFIX = "qos_overrides."


def unknown_override_warnings(node: Node) -> list[str]:
    """One line per override addressed to ``node`` (``-p``, a params file) that it does not
    declare: a misspelt name is otherwise ignored without a word."""
    # rclpy keeps the overrides it was given (command line, params files, constructor) here
    # on every distribution since Foxy; no public accessor exists.
    overrides = getattr(node, "_parameter_overrides", {})
    known = [spec.name for spec in SPECS]
    lines = []
    for name in sorted(overrides):
        if name.startswith(_QOS_OVERRIDES_PREFIX) or node.has_parameter(name):
            continue
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        lines.append(f"unknown parameter {name!r} ignored{hint}")
    return lines


def normalize_empty_lists(parameters: Sequence[Parameter]) -> list[Parameter]:
    """Empty lists of any type become empty arrays of the parameter's own type.

    ``ros2 param set /yolox class_filter "[]"`` sends an empty bool array.
    """
    fixed = []
    for parameter in parameters:
        spec = _SPECS_BY_NAME.get(parameter.name)
        if spec is not None and spec.kind in ("names", "floats") and _is_empty(parameter):
            parameter = Parameter(parameter.name, _PARAMETER_TYPES[spec.kind], [])
        fixed.append(parameter)
    return fixed


def default_model_path() -> Path:
    """The shipped VIA traffic-sign model."""
    return shipped_path(f"models/{DEFAULT_MODEL_FILE}")


def _parameter_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _is_empty(parameter: Parameter) -> bool:
    if parameter.type_ == _T.NOT_SET:
        return True
    return parameter.type_.name.endswith("_ARRAY") and len(parameter.value) == 0


def _unprefixed(
    settings: NodeSettings, prefix: str, specs: Sequence[SettingSpec]
) -> dict[str, Any]:
    return {spec.name: getattr(settings, prefix + spec.name) for spec in specs}


def _as_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """Parameter values -> NodeSettings field values (lists become tuples)."""
    return {name: tuple(v) if isinstance(v, list) else v for name, v in values.items()}
