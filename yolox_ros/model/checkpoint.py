"""Reading model checkpoints: official YOLOX ``.pth`` files, plain state dicts and ``.npz``.

A checkpoint is a dict with the state dict under ``"model"`` (official key
names). Checkpoints written by our trainer also carry ``"meta"``: the model's
``ModelMetadata`` as plain values (``to_values``), the keys an exported ONNX file has.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from yolox_ros.errors import ModelLoadError
from yolox_ros.metadata import ModelMetadata

# Reader errors can be pages long; an error message keeps their first sentence, on one line.
MAX_DETAIL_CHARS = 300
# Its first dimension is the class count, whatever the model size.
CLASS_PREDICTION_WEIGHT = "head.cls_preds.0.weight"


@dataclass(frozen=True)
class Checkpoint:
    """A state dict and what the checkpoint says about the model (all ``None`` if nothing)."""

    state_dict: dict[str, torch.Tensor]
    meta: ModelMetadata

    @property
    def num_classes(self) -> int | None:
        """The class count the weights predict; ``None`` if the state dict has no YOLOX head."""
        class_weight = self.state_dict.get(CLASS_PREDICTION_WEIGHT)
        return None if class_weight is None else int(class_weight.shape[0])


def _parse_meta(meta: object, path: Path) -> ModelMetadata:
    if meta is None:
        return ModelMetadata()
    if not isinstance(meta, Mapping):
        raise ModelLoadError(f"checkpoint {path}: 'meta' must be a dict, got {type(meta).__name__}")
    try:
        return ModelMetadata.from_values(meta)
    except ModelLoadError as exc:
        raise ModelLoadError(f"checkpoint {path}: {exc}") from exc


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Load a checkpoint on the CPU; ``ModelLoadError`` names the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"checkpoint not found: {path}")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as arrays:
                content: object = {key: torch.from_numpy(arrays[key]) for key in arrays.files}
        else:
            content = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelLoadError(
            f"cannot read checkpoint {path}: not a PyTorch checkpoint, or it holds objects other "
            "than tensors and plain values (only those are loaded, for safety)"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - any reader failure means an unusable file
        first_sentence = " ".join(str(exc).split()).split(". ")[0]
        detail = first_sentence[:MAX_DETAIL_CHARS]
        raise ModelLoadError(f"cannot read checkpoint {path}: {detail}") from exc

    meta = None
    if isinstance(content, Mapping) and isinstance(content.get("model"), Mapping):
        meta = content.get("meta")
        content = content["model"]
    if not (
        isinstance(content, Mapping)
        and content
        and all(
            isinstance(key, str) and isinstance(value, torch.Tensor)
            for key, value in content.items()
        )
    ):
        raise ModelLoadError(
            f"checkpoint {path} holds neither a state dict nor a dict with a 'model' state dict"
        )
    return Checkpoint(state_dict=dict(content), meta=_parse_meta(meta, path))
