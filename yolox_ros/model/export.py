"""ONNX export of a YOLOX model, with class names and input size in the file's metadata.

Input ``images`` [B, 3, H, W] float32 BGR 0..255; output ``output`` [B, N, 5+C]
with sigmoid obj/cls and, by default as in the official export, boxes NOT decoded.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import onnx
import torch

from yolox_ros.errors import ConfigError
from yolox_ros.metadata import ModelMetadata
from yolox_ros.model.yolox import YOLOX

INPUT_NAME = "images"
OUTPUT_NAME = "output"
DEFAULT_OPSET = 11
# The TorchScript ("legacy") exporter, which reproduces the official export, stops at opset 20.
MAX_OPSET = 20


def export_onnx(
    model: YOLOX,
    output_path: str | Path,
    *,
    class_names: Sequence[str],
    input_size: tuple[int, int],
    model_name: str,
    decode_in_inference: bool = False,
    dynamic_batch: bool = False,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Write ``model`` as ONNX with ``ModelMetadata`` in ``metadata_props``; returns the path.

    The model's mode and ``decode_in_inference`` setting are restored afterwards.
    The file appears complete or not at all.
    """
    class_names = tuple(class_names)
    if len(class_names) != model.head.num_classes:
        raise ConfigError(
            f"{len(class_names)} class names given but the model has "
            f"{model.head.num_classes} classes"
        )
    height, width = input_size
    if height <= 0 or width <= 0 or height % 32 or width % 32:
        raise ConfigError(f"input size must be positive multiples of 32, got {height}x{width}")
    if not DEFAULT_OPSET <= opset <= MAX_OPSET:
        raise ConfigError(f"opset must be between {DEFAULT_OPSET} and {MAX_OPSET}, got {opset}")

    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    partial_path = output_path.with_name(output_path.name + ".partial")
    device = next(model.parameters()).device
    dummy = torch.zeros(1, 3, height, width, device=device)
    batch_axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None

    was_training = model.training
    was_decoding = model.head.decode_in_inference
    model.eval()
    model.head.decode_in_inference = decode_in_inference
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The legacy exporter is chosen on purpose (it matches the official export).
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
            warnings.filterwarnings("ignore", message="The feature will be removed.*")
            torch.onnx.export(
                model,
                (dummy,),
                str(partial_path),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                opset_version=opset,
                dynamic_axes=batch_axes,
                dynamo=False,
            )
        proto = onnx.load(str(partial_path))
        metadata = ModelMetadata(
            class_names=class_names,
            input_size=(height, width),
            model_name=model_name,
            decoded=decode_in_inference,
            strides=tuple(model.head.strides),
        )
        onnx.helper.set_model_props(proto, metadata.to_props())
        onnx.checker.check_model(proto)
        onnx.save(proto, str(partial_path))
        os.replace(partial_path, output_path)
    finally:
        partial_path.unlink(missing_ok=True)
        model.train(was_training)
        model.head.decode_in_inference = was_decoding
    return output_path
