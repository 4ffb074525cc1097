"""Static INT8 quantisation of a YOLOX ONNX file, calibrated on training images.

ONNX Runtime's quantiser does the work (imported only when called); the result
keeps the source file's metadata. No torch needed.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnx.version_converter

from yolox_ros.core.preprocess import LetterboxBuffers
from yolox_ros.errors import ConfigError

logger = logging.getLogger(__name__)

# Per-channel DequantizeLinear (its axis attribute) needs opset 13.
QDQ_OPSET = 13


def quantize_int8(
    onnx_path: str | Path, output_path: str | Path, calibration: Iterable[np.ndarray]
) -> Path:
    """Write a statically quantised INT8 version of a YOLOX ONNX file; returns its path.

    ``calibration`` yields letterboxed ``[1, 3, H, W]`` float32 inputs (a few
    dozen training images). QDQ format, int8 weights per channel and uint8
    activations: what ONNX Runtime's x86 kernels and OpenVINO run in integer
    arithmetic. Percentile calibration, which lost less AP than min/max on the
    shipped nano. The metadata of ``onnx_path`` is kept.
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
        # Shape inference and graph clean-up first, as ONNX Runtime recommends. Its tools
        # import torch when it is installed (onnxruntime/tools/__init__.py), but need none.
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


def quantize_int8_from_images(
    onnx_path: str | Path, output_path: str | Path, folder: Path, count: int
) -> Path:
    """``quantize_int8`` calibrated on up to ``count`` images of ``folder`` (by name).

    The images are letterboxed to the ONNX file's input size as the detector
    does, so the calibration sees what inference will; files that are not
    images are skipped. Raises ``ConfigError`` when none is readable.
    """
    dims = onnx.load(str(onnx_path)).graph.input[0].type.tensor_type.shape.dim
    tensors = list(_calibration_tensors(folder, (dims[2].dim_value, dims[3].dim_value), count))
    if not tensors:
        raise ConfigError(f"no readable images in {folder}")
    return quantize_int8(onnx_path, output_path, tensors)


def _calibration_tensors(
    folder: Path, input_size: tuple[int, int], count: int
) -> Iterator[np.ndarray]:
    """Up to ``count`` images of ``folder`` (sorted by name), letterboxed as the detector does."""
    buffers = LetterboxBuffers(input_size)
    used = 0
    for path in sorted(folder.iterdir()):
        image = cv2.imread(str(path)) if path.is_file() and used < count else None
        if image is None:  # not an image (or enough of them)
            continue
        used += 1
        tensor, _ = buffers.fill([image], 1)
        yield tensor.copy()  # the buffers are reused by the next fill
