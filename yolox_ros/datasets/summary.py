"""What a dataset holds and which of its images are broken, before any training starts.

The ``check`` command prints this so that a user finds an unreadable or
mis-sized image in seconds, rather than as a crash hours into a run.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from yolox_ros.datasets.image_files import image_file_problem
from yolox_ros.datasets.records import DatasetError, DetectionDataset, ImageRecord, read_image


@dataclass(frozen=True)
class DatasetSummary:
    """What a dataset holds, and what is wrong with it, for a user about to train on it.

    ``longer_side`` is the (p5, p50, p95) of the boxes' longer side in pixels,
    None without boxes. ``problems`` are one-line ``DatasetError`` messages.
    """

    source: str
    class_names: tuple[str, ...]
    images: int
    negatives: int
    boxes_per_class: tuple[int, ...]
    ignored: int
    longer_side: tuple[float, float, float] | None
    problems: tuple[str, ...]


def summarize(dataset: DetectionDataset) -> DatasetSummary:
    """Count images, negatives and boxes, and decode every image to find the broken ones."""
    class_ids = np.concatenate([r.class_ids for r in dataset.records] or [np.zeros(0, np.int64)])
    boxes = np.concatenate([r.boxes for r in dataset.records] or [np.zeros((0, 4), np.float32)])
    longer = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    percentiles = np.percentile(longer, [5, 50, 95]) if len(longer) else None
    return DatasetSummary(
        source=dataset.source,
        class_names=dataset.class_names,
        images=len(dataset),
        negatives=sum(1 for r in dataset.records if len(r.boxes) == 0),
        boxes_per_class=tuple(
            int(n) for n in np.bincount(class_ids, minlength=len(dataset.class_names))
        ),
        ignored=sum(len(r.ignored) for r in dataset.records),
        longer_side=None if percentiles is None else tuple(float(p) for p in percentiles),
        problems=tuple(p for p in _decode_problems(dataset) if p),
    )


def _decode_problems(dataset: DetectionDataset) -> list[str]:
    """Each record's decoding problem ('' when it decodes at the annotated size)."""

    def problem(record: ImageRecord) -> str:
        # A file cut short still decodes (grey at the bottom): its end says so.
        found = image_file_problem(record)
        if found is not None:
            return str(DatasetError(record.path, f"image {record.image_id}", found))
        try:
            read_image(record)
        except DatasetError as exc:
            return str(exc)
        return ""

    # OpenCV releases the GIL while decoding: threads keep every core busy.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        return list(pool.map(problem, dataset.records))
