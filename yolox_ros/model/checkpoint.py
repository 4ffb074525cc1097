"""Reading model checkpoints: official YOLOX ``.pth`` files, plain state dicts and ``.npz``.

A checkpoint is a dict with the state dict under ``"model"`` (official key
names). Checkpoints written by our trainer also carry ``"meta"``:
``{"model_name": str, "class_names": [str, ...], "input_size": [h, w]}``.
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
    name = meta.get("model_name")
    names = meta.get("class_names")
    size = meta.get("input_size")
    if name is not None and not isinstance(name, str):
        raise ModelLoadError(f"checkpoint {path}: meta 'model_name' must be a string, got {name!r}")
    if names is not None and not (
        isinstance(names, list | tuple) and all(isinstance(n, str) for n in names)
    ):
        raise ModelLoadError(f"checkpoint {path}: meta 'class_names' must be a list of strings")
    if size is not None and not (
        isinstance(size, list | tuple)
        and len(size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
    ):
        raise ModelLoadError(
            f"checkpoint {path}: meta 'input_size' must be [height, width], got {size!r}"
        )
    return ModelMetadata(
        class_names=tuple(names) if names is not None else None,
        input_size=(size[0], size[1]) if size is not None else None,
        model_name=name,
    )


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
