"""Loading official-layout state dicts into a YOLOX model."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from yolox_ros.errors import ModelLoadError
from yolox_ros.model.yolox import YOLOX

logger = logging.getLogger(__name__)

CLASS_PREDICTION_PREFIX = "head.cls_preds."
# How many offending keys an error message lists before summarising.
LISTED_KEYS = 5


@dataclass(frozen=True)
class LoadReport:
    """What ``load_weights`` did: tensors copied, layers re-initialised for a new class count."""

    loaded: int
    reinitialized: tuple[str, ...] = ()

    def summary(self) -> str:
        kept = f"{self.loaded} tensors kept"
        if not self.reinitialized:
            return kept
        return f"{kept}; re-initialised for the new class count: {', '.join(self.reinitialized)}"


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:LISTED_KEYS])
    return shown if len(keys) <= LISTED_KEYS else f"{shown} ... ({len(keys)} in all)"


def load_weights(model: YOLOX, state_dict: Mapping[str, torch.Tensor | np.ndarray]) -> LoadReport:
    """Copy ``state_dict`` (official YOLOX key names) into ``model``.

    A different class count re-initialises the class-prediction convs (logged
    as a warning); any other missing, unexpected or misshapen key raises
    ``ModelLoadError``.
    """
    expected = model.state_dict()
    given = {key: torch.as_tensor(value) for key, value in state_dict.items()}

    missing = [key for key in expected if key not in given]
    unexpected = [key for key in given if key not in expected]
    if missing or unexpected:
        problems = []
        if missing:
            problems.append(f"missing {_listing(missing)}")
        if unexpected:
            problems.append(f"unexpected {_listing(unexpected)}")
        raise ModelLoadError(
            "weights do not fit this YOLOX model (wrong model size or not a YOLOX state dict): "
            + "; ".join(problems)
        )

    misshapen = [key for key in expected if given[key].shape != expected[key].shape]
    wrong_size = [key for key in misshapen if not key.startswith(CLASS_PREDICTION_PREFIX)]
    if wrong_size:
        details = [
            f"{key} {list(given[key].shape)} vs model {list(expected[key].shape)}"
            for key in wrong_size
        ]
        raise ModelLoadError(
            f"weights do not fit this YOLOX model (wrong model size?): {_listing(details)}"
        )

    reinitialized: tuple[str, ...] = ()
    if misshapen:
        reinitialized = tuple(key for key in expected if key.startswith(CLASS_PREDICTION_PREFIX))
        given = {key: value for key, value in given.items() if key not in reinitialized}
        model.head.initialize_class_predictions()
        logger.warning(
            "checkpoint class count differs from the model's %d classes: re-initialised %s",
            model.head.num_classes,
            ", ".join(
                f"{key} {list(state_dict[key].shape)} -> {list(expected[key].shape)}"
                for key in reinitialized
            ),
        )
    model.load_state_dict(given, strict=False)
    return LoadReport(loaded=len(given), reinitialized=reinitialized)
