"""Choosing the classes to train on: keep some, in an order, and rename or merge them.

A labelled export often holds more classes than the model should learn, or
names them differently from the deployment (``--classes`` of ``train`` and
``eval``): this rewrites the class ids of every record once, up front.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from yolox_ros.datasets.records import DatasetError, DetectionDataset, ImageRecord
from yolox_ros.errors import ConfigError


def class_selection(entries: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """``NAME`` / ``OLD=NEW`` entries (``--classes``) as the names to keep and their renames."""
    keep, rename = [], {}
    for entry in entries:
        old, _, new = (part.strip() for part in entry.partition("="))
        if not old or ("=" in entry and not new):
            raise ConfigError(f"classes: {entry!r} is not NAME or OLD=NEW")
        keep.append(old)
        if new:
            rename[old] = new
    return keep, rename


def select_classes(
    dataset: DetectionDataset,
    keep: Sequence[str] | None = None,
    rename: Mapping[str, str] | None = None,
) -> DetectionDataset:
    """The dataset with only the ``keep`` classes (in that order), then renamed.

    Boxes of dropped classes are removed (their images stay, maybe as
    negatives); ignored regions, having no class, stay. Classes renamed to the
    same name are merged into one. Unknown names raise ``DatasetError``.
    """
    kept = list(dataset.class_names if keep is None else keep)
    rename = dict(rename or {})
    for name in [*kept, *rename]:
        if name not in dataset.class_names:
            known = ", ".join(dataset.class_names)
            raise DatasetError(
                dataset.source, "classes", f"unknown class {name!r} (known: {known})"
            )
    new_names = list(dict.fromkeys(rename.get(name, name) for name in kept))
    index_map = np.full(len(dataset.class_names), -1, np.int64)
    for name in kept:
        index_map[dataset.class_names.index(name)] = new_names.index(rename.get(name, name))
    return DetectionDataset(
        dataset.source, tuple(new_names), [_remap(r, index_map) for r in dataset.records]
    )


def _remap(record: ImageRecord, index_map: np.ndarray) -> ImageRecord:
    """``record`` with class ids through ``index_map``, dropping boxes mapped to -1."""
    class_ids = index_map[record.class_ids]
    keep = class_ids >= 0
    return ImageRecord(
        path=record.path,
        width=record.width,
        height=record.height,
        image_id=record.image_id,
        boxes=record.boxes[keep],
        class_ids=class_ids[keep],
        ignored=record.ignored,
    )
