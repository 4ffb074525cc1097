"""Model sizes: depth/width multipliers, depthwise flag and input size per model name."""

from __future__ import annotations

from dataclasses import dataclass

from yolox_ros.errors import ConfigError

DEFAULT_INPUT_SIZE = (640, 640)


@dataclass(frozen=True)
class ModelSize:
    """Depth and width multipliers, depthwise convs, and the (height, width) input size."""

    depth: float
    width: float
    depthwise: bool = False
    input_size: tuple[int, int] = DEFAULT_INPUT_SIZE


STANDARD_SIZES: dict[str, ModelSize] = {
    "nano": ModelSize(0.33, 0.25, depthwise=True, input_size=(416, 416)),
    "tiny": ModelSize(0.33, 0.375, input_size=(416, 416)),
    "s": ModelSize(0.33, 0.50),
    "m": ModelSize(0.67, 0.75),
    "l": ModelSize(1.0, 1.0),
    "x": ModelSize(1.33, 1.25),
}


def canonical_name(name: str) -> str:
    """Lower-case name without a ``yolox_`` / ``yolox-`` prefix ("YOLOX-Nano" -> "nano")."""
    lowered = name.strip().lower()
    for prefix in ("yolox_", "yolox-"):
        if lowered.startswith(prefix):
            return lowered[len(prefix) :]
    return lowered


def resolve_size(
    name: str,
    *,
    depth: float | None = None,
    width: float | None = None,
    depthwise: bool | None = None,
    input_size: tuple[int, int] | None = None,
) -> ModelSize:
    """Size of a standard model, with optional overrides; a custom name needs depth and width."""
    standard = STANDARD_SIZES.get(canonical_name(name))
    if standard is None and (depth is None or width is None):
        raise ConfigError(
            f"unknown model {name!r}: use one of {', '.join(STANDARD_SIZES)} "
            "or give depth and width for a custom model"
        )
    base = standard or ModelSize(depth=0.0, width=0.0)  # custom: depth and width given
    size = ModelSize(
        depth=base.depth if depth is None else depth,
        width=base.width if width is None else width,
        depthwise=base.depthwise if depthwise is None else depthwise,
        input_size=base.input_size if input_size is None else tuple(input_size),
    )
    if size.depth <= 0:
        raise ConfigError(f"model depth multiplier must be > 0, got {size.depth}")
    if int(size.width * 64) < 1:
        raise ConfigError(f"model width multiplier must be >= 1/64, got {size.width}")
    if len(size.input_size) != 2 or any(v <= 0 or v % 32 for v in size.input_size):
        raise ConfigError(
            f"input size must be (height, width), positive multiples of 32, got {size.input_size}"
        )
    return size


def standard_input_size(name: str) -> tuple[int, int]:
    """(height, width) a standard model is trained and tested at: 416 nano/tiny, else 640."""
    return resolve_size(name).input_size
