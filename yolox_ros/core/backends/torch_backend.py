"""PyTorch backend: runs ``.pth`` checkpoints (official YOLOX or ours) without exporting them.

The checkpoint's ``meta`` names the model; without it, give the backend
option ``model_name`` (nano, tiny, s, m, l, x). The class count always comes
from the weights themselves. The input size comes from ``meta`` or, failing
that, is the named model's standard test size (416 for nano/tiny, else 640).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from yolox_ros.core.backends.common import BackendBase
from yolox_ros.errors import ModelLoadError
from yolox_ros.metadata import ModelMetadata
from yolox_ros.model import build_model, load_weights, read_checkpoint, standard_input_size
from yolox_ros.model.checkpoint import CLASS_PREDICTION_WEIGHT

logger = logging.getLogger(__name__)

TORCH_DEVICES = ("cpu", "cuda")
OPTIONS = {"model_name": str}


class TorchBackend(BackendBase):
    """Runs a YOLOX checkpoint with PyTorch in eval mode; see ``yolox_ros.core.backends.Backend``.

    ``num_threads`` sets PyTorch's process-wide intra-op thread count.
    """

    name = "torch"
    DEVICES = TORCH_DEVICES
    OPTIONS = OPTIONS

    def _load(self, path: Path, device: str, num_threads: int, options: dict[str, Any]) -> None:
        checkpoint = read_checkpoint(path)
        model_name = checkpoint.meta.model_name or options.get("model_name")
        if model_name is None:
            raise ModelLoadError(
                f"checkpoint {path} does not name its model: set the backend option model_name "
                "(nano, tiny, s, m, l or x)"
            )
        num_classes = checkpoint.num_classes
        if num_classes is None:
            raise ModelLoadError(
                f"checkpoint {path} is not a YOLOX state dict: no {CLASS_PREDICTION_WEIGHT}"
            )

        model = build_model(model_name, num_classes)
        load_weights(model, checkpoint.state_dict)
        model.eval()
        # The detector decodes (with the same code for every backend).
        model.head.decode_in_inference = False

        if device == "cuda" and not torch.cuda.is_available():
            self._fall_back(device, "cpu", "PyTorch sees no CUDA device")
            device = "cpu"
        if num_threads:
            torch.set_num_threads(num_threads)
        self._torch_device = torch.device(device)
        self._model = model.to(self._torch_device)
        self.device = device
        self.providers = (f"torch-{device}",)
        self.input_shape = (None, 3, None, None)
        self.metadata = ModelMetadata(
            class_names=checkpoint.meta.class_names,
            input_size=checkpoint.meta.input_size or standard_input_size(model_name),
            model_name=model_name,
            decoded=False,
        )
        logger.info(
            "torch runs %s (%s, %d classes) on %s", path.name, model_name, num_classes, device
        )

    def run(self, batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            output = self._model(torch.from_numpy(batch).to(self._torch_device))
        return output.float().cpu().numpy()
