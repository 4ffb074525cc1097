"""A run's training and validation datasets, checked before any epoch.

The validation split is ``--val``, or ``--val-fraction`` of the frames (groups) of ``--data``
held out; ``--classes`` applies to both.
"""

from __future__ import annotations

from dataclasses import dataclass

from yolox_ros.datasets import DetectionDataset, open_dataset, select_classes, split_by_group
from yolox_ros.datasets.image_files import check_image_files
from yolox_ros.datasets.records import DatasetError
from yolox_ros.training.config import TrainConfig


@dataclass(frozen=True)
class Splits:
    train: DetectionDataset
    val: DetectionDataset


def load_splits(config: TrainConfig) -> Splits:
    """The training and validation datasets of ``config``, with its class selection applied."""
    data = open_dataset(config.data, config.data_format, images=config.images)
    if config.val:
        train, val = data, open_dataset(config.val, config.data_format, split="val")
    else:
        train, val = split_by_group(data, config.val_fraction, config.group_pattern, config.seed)
    if config.classes:
        keep, rename = config.class_selection()
        train, val = select_classes(train, keep, rename), select_classes(val, keep, rename)
    if train.class_names != val.class_names:
        raise DatasetError(
            f"{config.val}: classes {list(val.class_names)} differ from the training data's "
            f"{list(train.class_names)}"
        )
    check_image_files([train, val])
    if not any(len(record.boxes) for record in val.records):
        # Without ground truth the AP is undefined and no checkpoint is ever the best.
        raise DatasetError(f"{config.val or config.data}: the validation split has no boxes")
    if len(train) < config.batch_size:
        raise DatasetError(
            f"{config.data}: {len(train)} training images are fewer than a batch "
            f"({config.batch_size})"
        )
    return Splits(train, val)
