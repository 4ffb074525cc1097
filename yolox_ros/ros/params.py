"""The detection node's ROS parameters: declarations, defaults, validation.

Parameters marked live change through ``ros2 param set`` while the node runs;
the others are read-only (changing them needs a restart).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter

from yolox_ros.core.detector import DetectorConfig
from yolox_ros.errors import ConfigError
from yolox_ros.package_files import shipped_path
from yolox_ros.ros.messages import CLASS_ID_FORMATS

DEFAULT_MODEL_FILE = "traffic_sign_nano.onnx"
TRANSPORTS = ("raw", "compressed")

_Range = FloatingPointRange | IntegerRange | None


@dataclass(frozen=True)
class _Spec:
    name: str
    type_: Parameter.Type
    default: Any
    description: str
    live: bool = False
    value_range: _Range = None
    constraints: str = ""

    def descriptor(self, read_only: bool) -> ParameterDescriptor:
        descriptor = ParameterDescriptor(
            type=self.type_.value,
            description=self.description,
            read_only=read_only,
            additional_constraints=self.constraints,
        )
        if isinstance(self.value_range, FloatingPointRange):
            descriptor.floating_point_range = [self.value_range]
        elif isinstance(self.value_range, IntegerRange):
            descriptor.integer_range = [self.value_range]
        return descriptor


_T = Parameter.Type
SPECS: tuple[_Spec, ...] = (
    _Spec("model_path", _T.STRING, "",
          f"YOLOX ONNX model; empty: the shipped {DEFAULT_MODEL_FILE}"),
    _Spec("backend", _T.STRING, "onnxruntime", "inference backend",
          constraints="onnxruntime, openvino or torch (installed backends)"),
    _Spec("device", _T.STRING, "cpu", "inference device",
          constraints="onnxruntime: cpu/cuda/tensorrt; openvino: cpu/gpu/npu; torch: cpu/cuda"),
    _Spec("strict_device", _T.BOOL, False,
          "fail at start-up instead of falling back to the CPU when the device is unavailable"),
    _Spec("num_threads", _T.INTEGER, 0, "CPU threads of the backend; 0: the backend's default",
          value_range=IntegerRange(from_value=0, to_value=256, step=1)),
    _Spec("conf_threshold", _T.DOUBLE, 0.3, "minimum score (objectness x class probability)",
          live=True, value_range=FloatingPointRange(from_value=0.0, to_value=1.0, step=0.0)),
    _Spec("nms_threshold", _T.DOUBLE, 0.45, "IoU above which non-maximum suppression drops a box",
          live=True, value_range=FloatingPointRange(from_value=0.0, to_value=1.0, step=0.0)),
    _Spec("class_agnostic", _T.BOOL, False, "suppress overlapping boxes across classes", live=True),
    _Spec("max_detections", _T.INTEGER, 100, "most detections per image (highest scores kept)",
          live=True, value_range=IntegerRange(from_value=1, to_value=10000, step=1)),
    _Spec("class_filter", _T.STRING_ARRAY, [],
          "class names to report; empty: every class", live=True),
    _Spec("class_names", _T.STRING_ARRAY, [],
          "class names replacing the model's own (one per model class); empty: from the model"),
    _Spec("input_topics", _T.STRING_ARRAY, ["image_raw"],
          "image topics, one per camera; each camera's outputs go to its topic's namespace"),
    _Spec("transport", _T.STRING, "raw",
          "raw: sensor_msgs/Image on each topic; compressed: CompressedImage on <topic>/compressed",
          constraints="raw or compressed"),
    _Spec("reliable_qos", _T.BOOL, False,
          "subscribe reliably instead of best-effort (sensor data QoS); keep-last 1 either way"),
    _Spec("publish_annotated_image", _T.BOOL, True,
          "publish detections drawn on the image on detections/image (only while subscribed)",
          live=True),
    _Spec("class_id_format", _T.STRING, "name",
          "what hypothesis.class_id holds: the class name or its index in label_info",
          live=True, constraints="name or index"),
)  # fmt: skip
_SPECS_BY_NAME = {spec.name: spec for spec in SPECS}
PARAMETER_NAMES = frozenset(_SPECS_BY_NAME)


@dataclass(frozen=True)
class NodeSettings:
    """Every parameter's current value, validated (model_path as given, empty for the default)."""

    model_path: str
    backend: str
    device: str
    strict_device: bool
    num_threads: int
    conf_threshold: float
    nms_threshold: float
    class_agnostic: bool
    max_detections: int
    class_filter: tuple[str, ...]
    class_names: tuple[str, ...]
    input_topics: tuple[str, ...]
    transport: str
    reliable_qos: bool
    publish_annotated_image: bool
    class_id_format: str

    def __post_init__(self) -> None:
        _check_choice("transport", self.transport, TRANSPORTS)
        _check_choice("class_id_format", self.class_id_format, CLASS_ID_FORMATS)
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

    def with_changes(self, changes: Mapping[str, Any]) -> NodeSettings:
        """A validated copy with parameter values replaced (ConfigError when invalid)."""
        return dataclasses.replace(self, **_as_fields(changes))

    def detector_config(self) -> DetectorConfig:
        return DetectorConfig(
            model_path=self.model_path or str(default_model_path()),
            backend=self.backend,
            device=self.device,
            strict_device=self.strict_device,
            num_threads=self.num_threads,
            class_names=self.class_names or None,
            **self.detector_thresholds(),
        )

    def detector_thresholds(self) -> dict[str, Any]:
        """The live detector settings, as ``Detector.update_thresholds`` takes them."""
        return {
            "conf_threshold": self.conf_threshold,
            "nms_threshold": self.nms_threshold,
            "class_agnostic": self.class_agnostic,
            "max_detections": self.max_detections,
            "class_filter": self.class_filter or None,
        }


def declare_parameters(node: Node) -> NodeSettings:
    """Declare every parameter and return their values (command line / params file override).

    Raises ConfigError, or rclpy's ParameterException for a value of the wrong
    type or out of its declared range.
    """
    # Declared by type, a parameter without override starts unset; an empty list
    # in YAML or on the command line also arrives unset (no element type). Both
    # get their default before the read-only flag is applied.
    declared = [node.declare_parameter(s.name, s.type_, s.descriptor(False)) for s in SPECS]
    node.set_parameters(
        [
            Parameter(spec.name, spec.type_, spec.default)
            for spec, parameter in zip(SPECS, declared, strict=True)
            if parameter.type_ == _T.NOT_SET
        ]
    )
    for spec in SPECS:
        if not spec.live:
            node.set_descriptor(spec.name, spec.descriptor(read_only=True))
    values = {spec.name: node.get_parameter(spec.name).value for spec in SPECS}
    return NodeSettings(**_as_fields(values))


def normalize_empty_lists(parameters: Sequence[Parameter]) -> list[Parameter]:
    """Empty lists of any type become empty string arrays for string-array parameters.

    ``ros2 param set /yolox class_filter "[]"`` sends an empty bool array.
    """
    fixed = []
    for parameter in parameters:
        spec = _SPECS_BY_NAME.get(parameter.name)
        if spec is not None and spec.type_ == _T.STRING_ARRAY and _is_empty(parameter):
            parameter = Parameter(parameter.name, _T.STRING_ARRAY, [])
        fixed.append(parameter)
    return fixed


def default_model_path() -> Path:
    """The shipped traffic-sign model."""
    return shipped_path(f"models/{DEFAULT_MODEL_FILE}")


def output_namespace(input_topic: str) -> str:
    """Where a camera's outputs go: the namespace of its image topic.

    ``image_raw`` -> ``""`` (outputs ``detections``...), ``front/image_raw`` ->
    ``front`` (``front/detections``...), ``/car/front/image_raw`` -> ``/car/front``.
    """
    namespace = input_topic.rstrip("/").rpartition("/")[0]
    return "/" if not namespace and input_topic.startswith("/") else namespace


def output_topic(namespace: str, name: str) -> str:
    if not namespace:
        return name
    return namespace + name if namespace.endswith("/") else f"{namespace}/{name}"


def _is_empty(parameter: Parameter) -> bool:
    if parameter.type_ == _T.NOT_SET:
        return True
    return parameter.type_.name.endswith("_ARRAY") and len(parameter.value) == 0


def _as_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """Parameter values -> NodeSettings field values (lists become tuples)."""
    return {name: tuple(v) if isinstance(v, list) else v for name, v in values.items()}


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
