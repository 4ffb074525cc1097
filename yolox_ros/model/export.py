"""ONNX export of a YOLOX model, with class names and input size in the file's metadata,
and conversion of such an ONNX file to ncnn or to a statically quantised INT8 ONNX file.

Input ``images`` [B, 3, H, W] float32 BGR 0..255; output ``output`` [B, N, 5+C]
with sigmoid obj/cls and, by default as in the official export, boxes NOT decoded.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import onnx
import onnx.version_converter
import torch
from onnx import helper, numpy_helper

from yolox_ros.errors import ConfigError, ModelLoadError
from yolox_ros.metadata import ModelMetadata, sidecar_path
from yolox_ros.model.yolox import YOLOX

logger = logging.getLogger(__name__)

INPUT_NAME = "images"
OUTPUT_NAME = "output"
DEFAULT_OPSET = 11
# The TorchScript ("legacy") exporter, which reproduces the official export, stops at opset 20.
MAX_OPSET = 20
# Per-channel DequantizeLinear (its axis attribute) needs opset 13.
QDQ_OPSET = 13


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


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def _pixel_offset(
    name: str, source: str, producers: dict[str, onnx.NodeProto], constants: dict[str, np.ndarray]
) -> tuple[int, int] | None:
    """(dy, dx) when ``name`` is ``source[..., dy::2, dx::2]`` built from Slice nodes, else None."""
    offsets: dict[int, int] = {}
    while name != source:
        node = producers.get(name)
        if node is None or node.op_type != "Slice" or len(node.input) != 5:
            return None
        try:
            starts, axes, steps = (constants[node.input[i]] for i in (1, 3, 4))
        except KeyError:
            return None
        for start, axis, step in zip(starts, axes, steps, strict=True):
            if step != 2 or start not in (0, 1):
                return None
            offsets[int(axis) % 4] = int(start)
        name = node.input[0]
    if set(offsets) != {2, 3}:
        return None
    return offsets[2], offsets[3]


def _focus_as_convolution(graph: onnx.GraphProto) -> None:
    """Replace the stem's strided slices + concat (Focus) with an equivalent 2x2 stride-2 conv.

    ncnn has no layer for slices with a step, so the converted net would not
    load. A convolution whose weights are one-hot picks the same pixels in the
    same channel order; multiplying by 1 and adding zeros is exact in float32.
    """
    source = graph.input[0].name
    channels = graph.input[0].type.tensor_type.shape.dim[1].dim_value
    producers = {output: node for node in graph.node for output in node.output}
    constants = _constants(graph)
    for position, concat in enumerate(graph.node):
        if concat.op_type != "Concat":
            continue
        offsets = [_pixel_offset(name, source, producers, constants) for name in concat.input]
        if None in offsets:
            continue
        weight = np.zeros((len(offsets) * channels, channels, 2, 2), np.float32)
        for branch, (dy, dx) in enumerate(offsets):
            for channel in range(channels):
                weight[branch * channels + channel, channel, dy, dx] = 1.0
        weight_name = f"{concat.name or 'focus'}_space_to_depth_weight"
        graph.initializer.append(numpy_helper.from_array(weight, weight_name))
        conv = helper.make_node(
            "Conv",
            [source, weight_name],
            list(concat.output),
            name=f"{concat.name or 'focus'}_space_to_depth",
            kernel_shape=[2, 2],
            strides=[2, 2],
        )
        graph.node.remove(concat)
        graph.node.insert(position, conv)
        _drop_unused_nodes(graph)
        return
    raise ModelLoadError("no Focus stem (strided slices of the input) found in the ONNX graph")


def _drop_unused_nodes(graph: onnx.GraphProto) -> None:
    needed = {output.name for output in graph.output}
    kept = []
    for node in reversed(graph.node):
        if any(output in needed for output in node.output):
            kept.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(kept))


def ncnn_paths(param_path: str | Path) -> tuple[Path, Path, Path]:
    """The three files of an ncnn model: ``m.param``, ``m.bin`` and the metadata ``m.json``."""
    param_path = Path(param_path)
    if param_path.suffix != ".param":
        raise ConfigError(f"an ncnn model path must end in .param, got {param_path}")
    return param_path, param_path.with_suffix(".bin"), sidecar_path(param_path)


def export_ncnn(onnx_path: str | Path, param_path: str | Path) -> Path:
    """Convert a YOLOX ONNX file (as ``export_onnx`` writes) to ncnn with pnnx; returns the .param.

    Writes ``m.param`` and ``m.bin`` (float32 weights, so results match the
    ONNX model) and ``m.json`` with the ONNX file's ``ModelMetadata``, which
    the ncnn backend reads. The input size is fixed at the ONNX file's.
    """
    try:
        import pnnx  # imported here: only this conversion needs the pnnx executable
    except ImportError as exc:
        raise ConfigError("ncnn export needs the pnnx converter: pip install pnnx") from exc

    param_path, bin_path, metadata_path = ncnn_paths(param_path)
    proto = onnx.load(str(onnx_path))
    metadata = ModelMetadata.from_props({p.key: p.value for p in proto.metadata_props})
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    height, width = metadata.input_size or (dims[2], dims[3])
    if not height or not width:
        raise ConfigError(f"{onnx_path} has no fixed input size and no input_size metadata")
    metadata = ModelMetadata(
        class_names=metadata.class_names,
        input_size=(height, width),
        model_name=metadata.model_name,
        decoded=metadata.decoded,
        strides=metadata.strides,
    )
    _focus_as_convolution(proto.graph)

    param_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="yolox_ncnn_") as work:
        work_dir = Path(work)
        source = work_dir / "model.onnx"
        onnx.save(proto, str(source))
        # pnnx writes several intermediate files next to its input unless told where.
        outputs = {
            key: work_dir / name
            for key, name in (
                ("pnnxparam", "model.pnnx.param"),
                ("pnnxbin", "model.pnnx.bin"),
                ("pnnxpy", "model_pnnx.py"),
                ("pnnxonnx", "model.pnnx.onnx"),
                ("ncnnparam", "model.ncnn.param"),
                ("ncnnbin", "model.ncnn.bin"),
                ("ncnnpy", "model_ncnn.py"),
            )
        }
        command = [
            pnnx.EXEC_PATH,
            str(source),
            f"inputshape=[1,3,{height},{width}]",
            "fp16=0",
            *(f"{key}={path}" for key, path in outputs.items()),
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not outputs["ncnnparam"].is_file():
            raise ModelLoadError(
                f"pnnx could not convert {onnx_path}: {result.stderr.strip()[-2000:]}"
            )
        unsupported = [
            line for line in result.stderr.splitlines() if "not supported" in line.lower()
        ]
        if unsupported:
            raise ModelLoadError(f"pnnx left unsupported layers: {'; '.join(unsupported[:5])}")
        shutil.move(outputs["ncnnparam"], param_path)
        shutil.move(outputs["ncnnbin"], bin_path)
    metadata_path.write_text(metadata.to_json() + "\n", encoding="utf-8")
    return param_path


def quantize_int8(
    onnx_path: str | Path, output_path: str | Path, calibration: Iterable[np.ndarray]
) -> Path:
    """Write a statically quantised INT8 version of a YOLOX ONNX file; returns its path.

    ``calibration`` yields letterboxed ``[1, 3, H, W]`` float32 inputs (a few
    dozen training images). QDQ format, int8 weights per channel and uint8
    activations: what ONNX Runtime's x86 kernels and OpenVINO run in integer
    arithmetic. Percentile calibration: on the shipped nano it lost 1.6 points
    AP@[.5:.95] where min/max lost 2.6. The metadata of ``onnx_path`` is kept.
    Whether INT8 pays depends on the model and machine: measure it
    (``benchmarks/engines.py``) and check the AP on your validation set.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    proto = onnx.load(str(onnx_path))
    input_name = proto.graph.input[0].name
    tensors = list(calibration)  # read twice when percentile calibration has to fall back

    class Feeds(CalibrationDataReader):
        def __init__(self) -> None:
            self._feeds = iter([{input_name: tensor} for tensor in tensors])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._feeds, None)

    def quantize(source: Path, target: Path, method: CalibrationMethod) -> None:
        # The calibrators print their progress; callers such as --json pipelines own stdout.
        with contextlib.redirect_stdout(io.StringIO()):
            quantize_static(
                str(source),
                str(target),
                Feeds(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=method,
            )

    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="yolox_int8_") as work:
        upgraded = Path(work) / "opset13.onnx"
        onnx.save(onnx.version_converter.convert_version(proto, QDQ_OPSET), str(upgraded))
        # Shape inference and graph clean-up first, as ONNX Runtime recommends.
        prepared = Path(work) / "prepared.onnx"
        quant_pre_process(str(upgraded), str(prepared))
        quantized = Path(work) / "int8.onnx"
        try:
            quantize(prepared, quantized, CalibrationMethod.Percentile)
        except ValueError as exc:
            # ORT's histogram fails on a tensor of (almost) constant value, as in
            # untrained models; min/max has no histogram.
            logger.warning("percentile calibration failed (%s); using min/max", exc)
            quantize(prepared, quantized, CalibrationMethod.MinMax)
        result = onnx.load(str(quantized))
        onnx.helper.set_model_props(result, {p.key: p.value for p in proto.metadata_props})
        onnx.save(result, str(quantized))
        shutil.move(quantized, output_path)
    return output_path
