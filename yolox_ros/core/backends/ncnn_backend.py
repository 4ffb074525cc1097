"""ncnn backend: runs models converted by ``python -m yolox_ros export --format ncnn``.

The model path is the ``.param`` file; the weights are the ``.bin`` next to it
and the metadata (class names, input size, strides) the ``.json`` sidecar that
the export writes (``yolox_ros.metadata.sidecar_path``). The net's input size
is fixed at export, so the sidecar is required.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import ncnn
import numpy as np

from yolox_ros.core.backends.common import BackendBase
from yolox_ros.core.backends.model_files import (
    capture_native_stderr,
    check_ncnn_param,
    describe_size,
    one_line,
)
from yolox_ros.errors import ModelLoadError
from yolox_ros.metadata import ModelMetadata, sidecar_path

logger = logging.getLogger(__name__)

OPTIONS = {
    # False (default): float32 storage and arithmetic, so results match the ONNX
    # model; ncnn's default fp16/bf16 paths move scores by more than 1e-3.
    "fp16": bool,
}


def _ncnn_says(printed: str, otherwise: str) -> str:
    """Why a load failed: what ncnn printed (one line), or ``otherwise`` if it printed nothing."""
    return f"ncnn: {one_line(printed)}" if printed.strip() else otherwise


def _log_ncnn_output(path: Path, printed: str) -> None:
    """What ncnn printed while loading ``path`` although it succeeded, as a log line."""
    if printed.strip():
        logger.warning("ncnn, loading %s: %s", path.name, one_line(printed))


class NcnnBackend(BackendBase):
    """Runs a YOLOX ncnn model one image at a time; see ``yolox_ros.core.backends.Backend``."""

    name = "ncnn"
    DEVICES = ("cpu", "gpu")  # gpu: Vulkan
    OPTIONS = OPTIONS

    def _load(self, path: Path, device: str, num_threads: int, options: dict[str, Any]) -> None:
        check_ncnn_param(path)
        weights = path.with_suffix(".bin")
        metadata_file = sidecar_path(path)
        for needed in (weights, metadata_file):
            if not needed.is_file():
                raise ModelLoadError(
                    f"ncnn model {path} needs {needed.name} next to it "
                    "(written by python -m yolox_ros export --format ncnn)"
                )
        try:
            metadata = ModelMetadata.from_json(metadata_file.read_text(encoding="utf-8"))
        except (ModelLoadError, OSError) as exc:
            raise ModelLoadError(f"{metadata_file}: {exc}") from exc
        if metadata.input_size is None:
            raise ModelLoadError(f"{metadata_file} has no input_size")

        net = ncnn.Net()
        fp16 = options.get("fp16", False)
        net.opt.use_fp16_packed = fp16
        net.opt.use_fp16_storage = fp16
        net.opt.use_fp16_arithmetic = fp16
        net.opt.use_bf16_storage = fp16
        if num_threads:
            net.opt.num_threads = num_threads
        self.device = "cpu"
        if device == "gpu":
            # Asked only for gpu: ncnn prints loader errors when no Vulkan driver is
            # installed. Builds without Vulkan have no get_gpu_count at all.
            if getattr(ncnn, "get_gpu_count", lambda: 0)() > 0:
                net.opt.use_vulkan_compute = True
                self.device = "gpu"
            else:
                self._fall_back(device, "cpu", "ncnn finds no Vulkan GPU")
        # ncnn reports failures as return codes; a layer it does not know leaves no inputs.
        # Its reasons it prints to stderr, and it has no log setting: they are caught and
        # put into the error, so that a bad file reads as one line.
        status, printed = capture_native_stderr(lambda: net.load_param(str(path)))
        if status != 0 or not net.input_names() or not net.output_names():
            reason = _ncnn_says(printed, "not a loadable ncnn .param file")
            raise ModelLoadError(f"cannot load ncnn model {path}: {reason}")
        _log_ncnn_output(path, printed)
        status, printed = capture_native_stderr(lambda: net.load_model(str(weights)))
        if status != 0:
            reason = _ncnn_says(printed, "ncnn cannot read them")
            raise ModelLoadError(
                f"cannot load ncnn weights {weights} ({reason}; {describe_size(weights)})"
            )
        _log_ncnn_output(weights, printed)

        self.metadata = metadata
        self.input_shape = (None, 3, *metadata.input_size)
        self.providers = ("ncnn-vulkan" if self.device == "gpu" else "ncnn-cpu",)
        self._net = net
        self._input_name = net.input_names()[0]
        self._output_name = net.output_names()[0]
        logger.info("ncnn runs %s on %s", path.name, self.device)

    def run(self, batch: np.ndarray) -> np.ndarray:
        outputs = []
        for image in np.ascontiguousarray(batch, dtype=np.float32):
            extractor = self._net.create_extractor()
            # The Mat shares the image's memory: ``image`` stays referenced until extract.
            extractor.input(self._input_name, ncnn.Mat(image))
            status, output = extractor.extract(self._output_name)
            if status != 0:
                raise RuntimeError(f"ncnn extract returned {status}")
            outputs.append(np.array(output))
        return np.stack(outputs)
