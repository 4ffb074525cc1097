"""OpenVINO backend: runs the same ONNX files (or OpenVINO IR) on Intel CPUs, GPUs and NPUs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
from openvino.frontend import FrontEndManager

from yolox_ros.core.backends.common import BackendBase, Choice
from yolox_ros.core.backends.model_files import check_onnx_file, describe_size, one_line
from yolox_ros.errors import BackendError, ModelLoadError

logger = logging.getLogger(__name__)

OPENVINO_DEVICES = {"cpu": "CPU", "gpu": "GPU", "npu": "NPU"}
OPTIONS = {
    "performance_hint": Choice("LATENCY", ("LATENCY", "THROUGHPUT")),
    # f32 by default: on CPUs with bf16 support OpenVINO would otherwise run in
    # bf16, which moved the test model's scores by up to 0.008 (its best is 0.014).
    "inference_precision": Choice("f32", ("f32", "bf16", "f16")),
}
# OpenVINO's ONNX reader files the model's metadata_props under this rt_info key.
ONNX_METADATA_KEY = "framework"
# Frontends of the formats this backend is given. read_model asks every frontend whether it
# takes a file; when none does, TensorFlow's parses it as protobuf text format and logs each
# error to stderr with the file's raw bytes. So the one a suffix names is asked first.
FRONTEND_OF_SUFFIX = {".onnx": ("onnx", "an ONNX model"), ".xml": ("ir", "an OpenVINO IR model")}


def _dims(partial_shape: ov.PartialShape) -> tuple[int | None, ...]:
    return tuple(d.get_length() if d.is_static else None for d in partial_shape)


def _read_model(core: ov.Core, path: Path) -> ov.Model:
    """``core.read_model(path)``; ``ModelLoadError`` in one line, and no log lines, if it fails."""
    if path.suffix.lower() == ".onnx":
        check_onnx_file(path)
    known = FRONTEND_OF_SUFFIX.get(path.suffix.lower())
    if known is not None:
        framework, description = known
        try:
            takes_it = FrontEndManager().load_by_framework(framework).supported(str(path))
        except Exception:  # noqa: BLE001 - no such frontend in this build: read_model decides
            takes_it = True
        if not takes_it:
            raise ModelLoadError(
                f"cannot load model {path} with OpenVINO: the file is not {description} "
                f"(OpenVINO's {framework} reader does not take it; {describe_size(path)})"
            )
    try:
        return core.read_model(str(path))
    except Exception as exc:  # noqa: BLE001 - the readers raise generic runtime errors
        raise ModelLoadError(f"cannot load model {path} with OpenVINO: {one_line(exc)}") from exc


def _metadata_props(model: ov.Model) -> dict[str, str]:
    if not model.has_rt_info([ONNX_METADATA_KEY]):
        return {}
    return {key: value.astype(str) for key, value in model.get_rt_info()[ONNX_METADATA_KEY].items()}


class OpenVinoBackend(BackendBase):
    """Runs a YOLOX model with OpenVINO; see ``yolox_ros.core.backends.Backend``."""

    name = "openvino"
    DEVICES = tuple(OPENVINO_DEVICES)
    OPTIONS = OPTIONS

    def _load(self, path: Path, device: str, num_threads: int, options: dict[str, Any]) -> None:
        hint, precision = options["performance_hint"], options["inference_precision"]

        core = ov.Core()
        model = _read_model(core, path)
        if len(model.inputs) != 1 or model.inputs[0].get_partial_shape().rank.get_length() != 4:
            raise ModelLoadError(
                f"{path} is not a YOLOX model: expected one input [batch, 3, height, width], got "
                + ", ".join(str(i.get_partial_shape()) for i in model.inputs)
            )
        if not model.outputs or model.outputs[0].get_partial_shape().rank.get_length() != 3:
            raise ModelLoadError(
                f"{path} is not a YOLOX model: expected an output [batch, anchors, 5 + classes]"
            )
        self.input_shape = _dims(model.inputs[0].get_partial_shape())
        self.metadata = self._metadata(path, _metadata_props(model))

        target = OPENVINO_DEVICES[device]
        if target not in core.available_devices:
            reason = (
                f"OpenVINO sees no {target} device (available: {', '.join(core.available_devices)})"
            )
            self._fall_back(device, "cpu", reason)
            target = "CPU"
        config: dict[str, Any] = {"PERFORMANCE_HINT": hint, "INFERENCE_PRECISION_HINT": precision}
        if num_threads:
            config["INFERENCE_NUM_THREADS"] = num_threads
        try:
            compiled = core.compile_model(model, target, config)
        except Exception as exc:  # noqa: BLE001 - plugin failures surface as generic runtime errors
            raise BackendError(
                f"OpenVINO cannot compile {path} for {target}: {one_line(exc)}"
            ) from exc
        self.device = target.lower()
        self.providers = (target,)
        logger.info("openvino runs %s on %s", path.name, target)
        self._request = compiled.create_infer_request()

    def run(self, batch: np.ndarray) -> np.ndarray:
        self._request.infer({0: batch})
        return self._request.get_output_tensor(0).data
