"""Metadata a YOLOX model file carries about itself (ONNX ``metadata_props``).

The exporter writes it and the detector reads it, so a model always travels
with its class names and input size and can never be paired with the wrong
label list. All values are stored as JSON strings. Formats with no room for
metadata (ncnn's ``.param`` + ``.bin``) get the same keys in a JSON sidecar
file next to the model (``sidecar_path``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from yolox_ros.errors import ModelLoadError

KEY_CLASS_NAMES = "class_names"
KEY_INPUT_SIZE = "input_size"
KEY_MODEL_NAME = "model_name"
KEY_DECODED = "decode_in_inference"
KEY_STRIDES = "strides"

DEFAULT_STRIDES = (8, 16, 32)
SIDECAR_SUFFIX = ".json"


def sidecar_path(model_path: str | Path) -> Path:
    """The metadata file of a model in a format without metadata: ``m.param`` has ``m.json``."""
    return Path(model_path).with_suffix(SIDECAR_SUFFIX)


def _is_positive_int(value: object) -> bool:
    # JSON true is a Python int; [true, true] must not pass as a 1x1 input size.
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@dataclass(frozen=True)
class ModelMetadata:
    """What a model says about itself; ``None`` where the file does not say."""

    class_names: tuple[str, ...] | None = None
    input_size: tuple[int, int] | None = None  # (height, width)
    model_name: str | None = None
    decoded: bool | None = None
    strides: tuple[int, ...] = DEFAULT_STRIDES

    def to_values(self) -> dict[str, object]:
        """Plain JSON values by key: a sidecar's object, a training checkpoint's ``"meta"``."""
        values: dict[str, object] = {KEY_STRIDES: list(self.strides)}
        if self.class_names is not None:
            values[KEY_CLASS_NAMES] = list(self.class_names)
        if self.input_size is not None:
            values[KEY_INPUT_SIZE] = list(self.input_size)
        if self.model_name is not None:
            values[KEY_MODEL_NAME] = self.model_name
        if self.decoded is not None:
            values[KEY_DECODED] = self.decoded
        return values

    @classmethod
    def from_values(cls, values: Mapping[str, object]) -> ModelMetadata:
        """Parse plain values; unknown keys are ignored, ill-typed ones a ``ModelLoadError``."""
        names = values.get(KEY_CLASS_NAMES)
        size = values.get(KEY_INPUT_SIZE)
        name = values.get(KEY_MODEL_NAME)
        decoded = values.get(KEY_DECODED)
        strides = values.get(KEY_STRIDES)
        if names is not None and not (
            isinstance(names, list | tuple) and all(isinstance(n, str) for n in names)
        ):
            raise ModelLoadError(f"model metadata {KEY_CLASS_NAMES!r} must be a list of strings")
        if size is not None and not (
            isinstance(size, list | tuple)
            and len(size) == 2
            and all(_is_positive_int(v) for v in size)
        ):
            raise ModelLoadError(
                f"model metadata {KEY_INPUT_SIZE!r} must be [height, width], got {size!r}"
            )
        if name is not None and not isinstance(name, str):
            raise ModelLoadError(
                f"model metadata {KEY_MODEL_NAME!r} must be a string, got {name!r}"
            )
        if decoded is not None and not isinstance(decoded, bool):
            raise ModelLoadError(f"model metadata {KEY_DECODED!r} must be true or false")
        if strides is not None and not (
            isinstance(strides, list | tuple)
            and strides
            and all(_is_positive_int(s) for s in strides)
        ):
            raise ModelLoadError(f"model metadata {KEY_STRIDES!r} must be a list of positive ints")
        return cls(
            class_names=tuple(names) if names is not None else None,
            input_size=(size[0], size[1]) if size is not None else None,
            model_name=name,
            decoded=decoded,
            strides=tuple(strides) if strides is not None else DEFAULT_STRIDES,
        )

    def to_props(self) -> dict[str, str]:
        """Serialise to ONNX ``metadata_props`` (string to string)."""
        return {key: json.dumps(value) for key, value in self.to_values().items()}

    @classmethod
    def from_props(cls, props: Mapping[str, str]) -> ModelMetadata:
        """Parse ONNX ``metadata_props``; unknown keys are ignored, malformed ones are an error."""
        values = {}
        for key in (KEY_CLASS_NAMES, KEY_INPUT_SIZE, KEY_MODEL_NAME, KEY_DECODED, KEY_STRIDES):
            if key in props:
                try:
                    values[key] = json.loads(props[key])
                except json.JSONDecodeError as exc:
                    raise ModelLoadError(
                        f"model metadata {key!r} is not valid JSON: {props[key]!r}"
                    ) from exc
        return cls.from_values(values)

    def to_json(self) -> str:
        """The sidecar form: one JSON object with the ``to_values`` keys."""
        return json.dumps(self.to_values(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> ModelMetadata:
        """Parse the sidecar form with the same checks as ``from_values``."""
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelLoadError(f"model metadata is not valid JSON: {exc}") from exc
        if not isinstance(values, dict):
            raise ModelLoadError("model metadata must be a JSON object")
        return cls.from_values(values)
