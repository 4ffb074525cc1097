"""The detector's user-facing settings, each declared once: default, range, description.

``DetectorConfig`` takes its defaults from here, the ROS node derives its
parameter descriptors and the README's parameter table from here, and the
detect command line its defaults and help. ``SettingSpec.check`` is the one
validation of a value, so every entry point refuses the same values with the
same message.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any, ClassVar

import numpy as np

from yolox_ros.errors import ConfigError

# A value's kind; ``names`` is a list of non-empty strings, ``floats`` a list of numbers.
KINDS = ("float", "int", "bool", "str", "names", "floats")


@dataclass(frozen=True)
class SettingSpec:
    """One setting. ``minimum``/``maximum`` bound numbers (inclusive), ``choices`` texts;
    ``live`` settings may change while a detector runs (``Detector.update_thresholds``)."""

    name: str
    kind: str
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    live: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"setting {self.name}: kind must be one of {KINDS}, got {self.kind}")
        self.check(self.default)

    @property
    def range_text(self) -> str:
        """``in [0, 1]``, ``>= 1``, ``one of raw, compressed`` or ``""``, as messages write it."""
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        if self.minimum is not None and self.maximum is not None:
            return f"in [{self.minimum:g}, {self.maximum:g}]"
        if self.minimum is not None:
            return f">= {self.minimum:g}"
        return ""

    def check(self, value: Any) -> Any:
        """``value`` if valid, as the settings keep it (a Python number, a list as a tuple);
        ConfigError naming the problem."""
        if self.kind == "names":
            return check_names(self.name, value)
        if self.kind == "floats":
            return self._check_floats(value)
        valid = {
            "float": _is_real(value),
            "int": is_int(value),
            "bool": isinstance(value, bool),
            "str": isinstance(value, str),
        }[self.kind]
        if valid and self.choices:
            valid = value in self.choices
        elif valid and self.kind in ("float", "int"):
            valid = (self.minimum is None or value >= self.minimum) and (
                self.maximum is None or value <= self.maximum
            )
        if not valid:
            raise ConfigError(f"{self.name} must be {self._expected()}, got {value!r}")
        # numpy's scalars as Python's: settings stay hashable and print as users wrote them.
        return {"float": float, "int": int}.get(self.kind, lambda same: same)(value)

    def _check_floats(self, value: Any) -> tuple[float, ...]:
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise ConfigError(f"{self.name} must be a list of numbers, got {value!r}")
        bad = [
            item
            for item in value
            if not _is_real(item)
            or (self.minimum is not None and item < self.minimum)
            or (self.maximum is not None and item > self.maximum)
        ]
        if bad:
            within = f" {self.range_text}" if self.range_text else ""
            raise ConfigError(f"{self.name} must hold numbers{within}, got {bad!r}")
        return tuple(float(item) for item in value)

    def _expected(self) -> str:
        if self.choices:
            return self.range_text
        what = {"float": "a number", "int": "an integer", "bool": "true or false", "str": "text"}
        return " ".join(filter(None, (what[self.kind], self.range_text)))


def fraction_setting(name: str, default: float, description: str, **options: Any) -> SettingSpec:
    """A number in [0, 1]: a score threshold or an overlap."""
    return SettingSpec(name, "float", default, description, minimum=0.0, maximum=1.0, **options)


# The type of a settings field of each kind.
FIELD_TYPES = {
    "float": float,
    "int": int,
    "bool": bool,
    "str": str,
    "names": tuple[str, ...],
    "floats": tuple[float, ...],
}


class SpecSettings:
    """Base of a frozen dataclass with one field per setting, each checked when it is built.

    The settings are named in the class statement, so each field (name, type, default) is
    written once, in its ``SettingSpec``; a subclass adds the rules between fields::

        class TrackerSettings(SpecSettings, specs=TRACKER_SETTINGS):
            def check_together(self) -> None: ...

    With ``required`` the fields have no defaults (every value must be given).
    """

    SPECS: ClassVar[tuple[SettingSpec, ...]] = ()

    def __init_subclass__(
        cls, specs: Sequence[SettingSpec], required: bool = False, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        cls.SPECS = tuple(specs)
        cls.__annotations__ = {spec.name: FIELD_TYPES[spec.kind] for spec in cls.SPECS}
        if not required:
            for spec in cls.SPECS:
                setattr(cls, spec.name, spec.default)
        dataclass(frozen=True)(cls)

    def __post_init__(self) -> None:
        for spec in self.SPECS:
            object.__setattr__(self, spec.name, spec.check(getattr(self, spec.name)))
        self.check_together()

    def check_together(self) -> None:
        """Refuse (ConfigError) values valid alone but not together; none by default."""


def is_int(value: object) -> bool:
    """An integer of Python or numpy, not a bool."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def check_names(name: str, value: object) -> tuple[str, ...]:
    """A list of non-empty strings as a tuple; ConfigError naming ``name`` otherwise."""
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ConfigError(f"{name} must be a list of names, got {value!r}")
    bad = [item for item in value if not isinstance(item, str) or not item]
    if bad:
        raise ConfigError(f"{name} must hold non-empty strings, got {bad!r}")
    return tuple(value)


# fmt: off
BACKEND = SettingSpec(
    "backend", "str", "onnxruntime",
    "inference backend: onnxruntime, openvino, ncnn, torch, a registered one, or auto (the "
    "fastest installed one, timed once per model file and machine)",
)
DEVICE = SettingSpec(
    "device", "str", "cpu",
    "inference device; onnxruntime cpu/cuda/tensorrt, openvino cpu/gpu/npu, ncnn cpu/gpu, "
    "torch cpu/cuda; auto: the fastest device of the backend",
)
STRICT_DEVICE = SettingSpec(
    "strict_device", "bool", False,
    "fail at start-up instead of falling back to the CPU when the device is unavailable",
)
NUM_THREADS = SettingSpec(
    "num_threads", "int", 0, "CPU threads of the backend; 0: the backend's default",
    minimum=0, maximum=256,
)
CONF_THRESHOLD = fraction_setting(
    "conf_threshold", 0.3, "minimum score (objectness x class probability)", live=True
)
NMS_THRESHOLD = fraction_setting(
    "nms_threshold", 0.45, "IoU above which non-maximum suppression drops a box", live=True
)
CLASS_AGNOSTIC = SettingSpec(
    "class_agnostic", "bool", False, "suppress overlapping boxes across classes", live=True
)
MAX_DETECTIONS = SettingSpec(
    "max_detections", "int", 100, "most detections per image (the highest scores are kept)",
    minimum=1, live=True,
)
CLASS_FILTER = SettingSpec(
    "class_filter", "names", (), "class names to report; empty: every class", live=True
)
# fmt: on

# How the model runs (fixed once the detector is built).
BACKEND_SETTINGS = (BACKEND, DEVICE, STRICT_DEVICE, NUM_THREADS)
# What the detector reports (Detector.update_thresholds changes them).
DETECTION_SETTINGS = (CONF_THRESHOLD, NMS_THRESHOLD, CLASS_AGNOSTIC, MAX_DETECTIONS, CLASS_FILTER)


def help_text(spec: SettingSpec) -> str:
    """A command-line help line: description, range and default."""
    bounds = f", {spec.range_text}" if spec.range_text else ""
    return f"{spec.description}{bounds} (default: {spec.default})"
