"""YOLOX in PyTorch, layer for layer as the official implementation (imports torch)."""

from __future__ import annotations

from yolox_ros.errors import ConfigError
from yolox_ros.model.checkpoint import Checkpoint, read_checkpoint
from yolox_ros.model.head import STRIDES, YOLOXHead, decode_boxes
from yolox_ros.model.pafpn import YOLOPAFPN
from yolox_ros.model.sizes import (
    STANDARD_SIZES,
    ModelSize,
    canonical_name,
    resolve_size,
    standard_input_size,
)
from yolox_ros.model.weights import LoadReport, load_weights
from yolox_ros.model.yolox import YOLOX


def build_model(
    name: str,
    num_classes: int,
    *,
    depth: float | None = None,
    width: float | None = None,
    depthwise: bool | None = None,
) -> YOLOX:
    """YOLOX of a standard size (nano, tiny, s, m, l, x) or a custom one (give depth and width).

    Standard sizes take depth/width/depthwise from the official exps unless
    overridden. Freshly initialised as the official code does; load weights
    with ``load_weights``.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(f"num_classes must be a positive integer, got {num_classes!r}")
    size = resolve_size(name, depth=depth, width=width, depthwise=depthwise)
    neck = YOLOPAFPN(size.depth, size.width, size.depthwise)
    head = YOLOXHead(num_classes, size.width, neck.out_channels, size.depthwise)
    return YOLOX(neck, head)


__all__ = [
    "STANDARD_SIZES",
    "STRIDES",
    "YOLOX",
    "Checkpoint",
    "LoadReport",
    "ModelSize",
    "YOLOPAFPN",
    "YOLOXHead",
    "build_model",
    "canonical_name",
    "decode_boxes",
    "load_weights",
    "read_checkpoint",
    "resolve_size",
    "standard_input_size",
]
