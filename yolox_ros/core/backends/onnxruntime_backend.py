"""ONNX Runtime backend: CPU, CUDA and TensorRT execution providers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from yolox_ros.core.backends.common import BackendBase, Choice
from yolox_ros.core.backends.model_files import check_onnx_file, one_line
from yolox_ros.errors import ConfigError, ModelLoadError

logger = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"

# Providers tried in order for each device; ORT runs every node on the first one that takes it.
PROVIDER_CHAINS = {
    "cpu": (CPU,),
    "cuda": (CUDA, CPU),
    "tensorrt": (TENSORRT, CUDA, CPU),
}
DEVICE_OF_PROVIDER = {CPU: "cpu", CUDA: "cuda", TENSORRT: "tensorrt"}

OPTIMIZATION_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}

OPTIONS = {
    "graph_optimization_level": Choice("all", tuple(OPTIMIZATION_LEVELS)),
    "device_id": int,  # GPU index for cuda / tensorrt
    "allow_spinning": bool,  # False: idle ORT threads sleep (less CPU, a little more latency)
    "tensorrt_fp16": bool,
    "tensorrt_cache_dir": str,  # TensorRT engine cache; building an engine takes minutes
    # Providers to try in this order instead of the device's chain (the ROS parameter
    # of the same name); the CPU provider is the last resort either way.
    "execution_providers": (list, tuple),
}

INPUT_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
ORT_FORMAT_SUFFIX = ".ort"  # ONNX Runtime's own (flatbuffers) format: no ONNX protobuf
ORT_ERROR_SEVERITY = 3  # ORT's own provider warnings would repeat the one this backend gives


def _provider_options(provider: str, options: Mapping[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if provider in (CUDA, TENSORRT) and "device_id" in options:
        settings["device_id"] = options["device_id"]
    if provider == TENSORRT:
        settings["trt_fp16_enable"] = options.get("tensorrt_fp16", False)
        if "tensorrt_cache_dir" in options:
            settings["trt_engine_cache_enable"] = True
            settings["trt_engine_cache_path"] = options["tensorrt_cache_dir"]
    return settings


def _session_options(
    num_threads: int, level: str, options: Mapping[str, Any]
) -> ort.SessionOptions:
    session_options = ort.SessionOptions()
    session_options.log_severity_level = ORT_ERROR_SEVERITY
    if num_threads:
        session_options.intra_op_num_threads = num_threads
    session_options.graph_optimization_level = OPTIMIZATION_LEVELS[level]
    if "allow_spinning" in options:
        session_options.add_session_config_entry(
            "session.intra_op.allow_spinning", "1" if options["allow_spinning"] else "0"
        )
    return session_options


def _static(dim: object) -> int | None:
    return dim if isinstance(dim, int) else None


class OnnxRuntimeBackend(BackendBase):
    """Runs a YOLOX ONNX model with ONNX Runtime; see ``yolox_ros.core.backends.Backend``."""

    name = "onnxruntime"
    DEVICES = tuple(PROVIDER_CHAINS)
    OPTIONS = OPTIONS

    def _load(self, path: Path, device: str, num_threads: int, options: dict[str, Any]) -> None:
        level = options["graph_optimization_level"]
        if path.suffix.lower() != ORT_FORMAT_SUFFIX:
            # A bad file is named in one line before ORT (and any accelerator) sees it.
            check_onnx_file(path)
        session_options = _session_options(num_threads, level, options)

        installed = ort.get_available_providers()
        requested = self._requested_providers(device, options)
        # With explicit providers, the device asked for is the first provider's.
        device = DEVICE_OF_PROVIDER.get(requested[0], requested[0])
        if requested[0] not in installed and self._strict_device:
            # Fail before building a session that would only be thrown away.
            self._fall_back(device, "cpu", self._missing(requested[0], installed))
        chain = [(p, _provider_options(p, options)) for p in requested if p in installed]
        session, failures = self._first_session(path, session_options, chain)

        self.providers = tuple(session.get_providers())
        self.device = DEVICE_OF_PROVIDER.get(self.providers[0], self.providers[0])
        if self.device != device:
            # Not in this ORT build, failed to start, or dropped silently by ORT
            # (missing CUDA/TensorRT libraries, no GPU).
            if requested[0] not in installed:
                reason = self._missing(requested[0], installed)
            elif failures:
                reason = failures[0]
            else:
                reason = f"onnxruntime did not enable {requested[0]}"
            self._fall_back(device, self.device, reason)
        logger.info("onnxruntime runs %s on providers %s", path.name, ", ".join(self.providers))

        inputs, outputs = session.get_inputs(), session.get_outputs()
        if (
            len(inputs) != 1
            or len(inputs[0].shape) != 4
            or _static(inputs[0].shape[1]) not in (3, None)
        ):
            raise ModelLoadError(
                f"{path} is not a YOLOX model: expected one input [batch, 3, height, width], got "
                + ", ".join(f"{i.name} {i.shape}" for i in inputs)
            )
        if not outputs or len(outputs[0].shape) != 3:
            raise ModelLoadError(
                f"{path} is not a YOLOX model: expected an output [batch, anchors, 5 + classes], "
                "got " + ", ".join(f"{o.name} {o.shape}" for o in outputs)
            )
        if inputs[0].type not in INPUT_DTYPES:
            raise ModelLoadError(f"{path}: input type {inputs[0].type} is not float32 or float16")
        self.input_shape = tuple(_static(d) for d in inputs[0].shape)
        self.metadata = self._metadata(path, session.get_modelmeta().custom_metadata_map)

        self._session = session
        self._input_name = inputs[0].name
        self._output_names = [outputs[0].name]
        self._input_dtype = INPUT_DTYPES[inputs[0].type]

    def _requested_providers(self, device: str, options: dict[str, Any]) -> tuple[str, ...]:
        names = options.get("execution_providers")
        if not names:
            return PROVIDER_CHAINS[device]
        if not all(isinstance(name, str) and name for name in names):
            raise ConfigError(
                f"onnxruntime execution_providers must be provider names, got {names!r}"
            )
        return tuple(names) if CPU in names else (*names, CPU)

    @staticmethod
    def _first_session(
        path: Path, session_options: ort.SessionOptions, chain: list[tuple[str, dict]]
    ) -> tuple[ort.InferenceSession, list[str]]:
        """A session on the longest tail of ``chain`` that starts, and why longer ones failed.

        ORT's own fallback is off: it prints banners to stdout (corrupting
        ``--json`` output) and would hide why an accelerator failed.
        """
        failures = []
        for start in range(len(chain)):
            try:
                session = ort.InferenceSession(
                    str(path),
                    sess_options=session_options,
                    providers=chain[start:],
                    enable_fallback=0,
                )
                return session, failures
            except Exception as exc:  # noqa: BLE001 - ORT raises several unrelated types
                failures.append(f"{chain[start][0]} failed to start: {one_line(exc)}")
                error = exc
        raise ModelLoadError(f"cannot load ONNX model {path}: {one_line(error)}") from error

    @staticmethod
    def _missing(provider: str, installed: list[str]) -> str:
        return (
            f"{provider} is not in this onnxruntime build (available: {', '.join(installed)}; "
            "install onnxruntime-gpu for CUDA/TensorRT)"
        )

    def run(self, batch: np.ndarray) -> np.ndarray:
        feed = batch if batch.dtype == self._input_dtype else batch.astype(self._input_dtype)
        return self._session.run(self._output_names, {self._input_name: feed})[0]
