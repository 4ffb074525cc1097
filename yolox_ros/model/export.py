"""ONNX export of a YOLOX model, with class names and input size in the file's metadata,
from a model in memory (``export_onnx``) or from a checkpoint file (``export_checkpoint``).

The file's layout (tensor names, opsets) is ``yolox_ros.convert.onnx_layout``;
converting the ONNX file to ncnn or INT8 is ``yolox_ros.convert``, which needs no torch.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import onnx
import torch

from yolox_ros.convert.onnx_layout import DEFAULT_OPSET, INPUT_NAME, MAX_OPSET, OUTPUT_NAME
from yolox_ros.errors import ConfigError
from yolox_ros.metadata import ModelMetadata
from yolox_ros.model import build_model, canonical_name, load_weights, read_checkpoint, resolve_size
from yolox_ros.model.yolox import YOLOX


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


def export_checkpoint(
    checkpoint_path: str | Path,
    output_path: str | Path,
    *,
    model_name: str | None = None,
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
    class_names_file: str | Path | None = None,
    input_size: tuple[int, int] | None = None,
    depth: float | None = None,
    width: float | None = None,
    depthwise: bool | None = None,
    decode_in_inference: bool = False,
    dynamic_batch: bool = False,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Export a checkpoint file (as ``read_checkpoint`` reads) to ONNX; returns the path.

    What is not given comes from the checkpoint: the model name, class names and
    input size from its ``meta``, the class count from its weights, so that a
    trained checkpoint exports with no options. ``class_names`` wins over
    ``class_names_file`` (one name per line), which wins over the ``meta``.
    Raises ``ConfigError`` (naming the ``export`` command's options) when
    something is unknown or contradicts the checkpoint.
    """
    checkpoint = read_checkpoint(checkpoint_path)
    meta = checkpoint.meta

    model_name = model_name or meta.model_name
    if model_name is None:
        raise ConfigError("model size unknown: pass --model (nano, tiny, s, m, l, x)")
    size = resolve_size(
        model_name,
        depth=depth,
        width=width,
        depthwise=depthwise,
        input_size=input_size or meta.input_size,
    )

    checkpoint_classes = checkpoint.num_classes
    num_classes = num_classes if num_classes is not None else checkpoint_classes
    if checkpoint_classes is not None and num_classes != checkpoint_classes:
        raise ConfigError(
            f"--num-classes {num_classes} but checkpoint {checkpoint_path} has "
            f"{checkpoint_classes} classes"
        )

    if class_names is not None:
        names = tuple(class_names)
    elif class_names_file is not None:
        names = _read_class_names_file(class_names_file)
    elif meta.class_names is not None:
        names = meta.class_names
    else:
        raise ConfigError("class names unknown: pass --class-names or --class-names-file")
    names = _check_class_names(names)
    num_classes = num_classes or len(names)

    model = build_model(
        model_name,
        num_classes,
        depth=size.depth,
        width=size.width,
        depthwise=size.depthwise,
    )
    load_weights(model, checkpoint.state_dict)
    return export_onnx(
        model,
        output_path,
        class_names=names,
        input_size=size.input_size,
        model_name=canonical_name(model_name),
        decode_in_inference=decode_in_inference,
        dynamic_batch=dynamic_batch,
        opset=opset,
    )


def _read_class_names_file(path: str | Path) -> tuple[str, ...]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read class names file {path}: {exc.strerror}") from exc
    return tuple(line.strip() for line in lines if line.strip())


def _check_class_names(names: tuple[str, ...]) -> tuple[str, ...]:
    if not names or any(not name for name in names):
        raise ConfigError(f"class names must be non-empty, got {list(names)}")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"class names must be unique, repeated: {', '.join(duplicates)}")
    return names
