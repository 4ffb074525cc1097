"""The in-memory form every dataset reader returns, whatever the file format.

Readers (COCO, VOC, YOLO) parse and check the annotations once, up front, into
``ImageRecord`` objects; images are decoded only when ``DetectionDataset.load``
is called, so opening a dataset of thousands of photos takes milliseconds and
the trainer pays for decoding in its own workers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from yolox_ros.errors import ConfigError

# A box may stick out of its image by this many pixels (rounding in labelling tools, VOC's
# 1-based corners) before it is an error; within it, the box is clipped to the image.
BOX_TOLERANCE_PX = 1.0


class DatasetError(ConfigError):
    """A dataset cannot be used as it is; the message is one line: ``<file>: <entry>: <problem>``.

    Naming the file and the annotation or image lets a user fix the labelling
    export instead of guessing which of thousands of entries is at fault.
    ``entry`` is None for a problem of the whole file; called with one
    argument, that argument is the whole message.
    """

    def __init__(
        self, file: str | Path, entry: str | None = None, problem: str | None = None
    ) -> None:
        self.file = str(file)
        self.entry = entry
        self.problem = problem
        super().__init__(": ".join(p for p in (self.file, entry, problem) if p))

    def __reduce__(self):
        # Exceptions are pickled by re-calling the class with ``args``; ours has three.
        return (type(self), (self.file, self.entry, self.problem))


@dataclass(frozen=True, eq=False)
class ImageRecord:
    """One annotated image: where it is, its size, and its boxes in pixels.

    ``boxes`` are ``x1, y1, x2, y2`` (fractional pixels allowed) with ``class_ids``
    indexing the dataset's ``class_names``. ``ignored`` holds regions evaluation
    must not count either way (COCO ``iscrowd``, VOC ``difficult``); they are
    never trained on. ``image_id`` is the id of the source annotations (COCO) or
    the image's index (VOC, YOLO), kept so evaluation can refer back to it.
    """

    path: Path
    width: int
    height: int
    image_id: int
    boxes: np.ndarray
    class_ids: np.ndarray
    ignored: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))

    def __post_init__(self) -> None:
        # Normalise dtypes and shapes once so every consumer can rely on them.
        boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        class_ids = np.asarray(self.class_ids, dtype=np.int64).reshape(-1)
        ignored = np.asarray(self.ignored, dtype=np.float32).reshape(-1, 4)
        if len(boxes) != len(class_ids):
            raise ValueError(f"{self.path}: {len(boxes)} boxes but {len(class_ids)} class ids")
        object.__setattr__(self, "path", Path(self.path))
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "class_ids", class_ids)
        object.__setattr__(self, "ignored", ignored)


@dataclass
class DetectionDataset:
    """Images with boxes and the class names the boxes' ids refer to.

    ``source`` names where the annotations came from (used in messages).
    """

    source: str
    class_names: tuple[str, ...]
    records: list[ImageRecord]

    def __post_init__(self) -> None:
        self.class_names = tuple(self.class_names)
        self.records = list(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Decode image ``index`` and return it (BGR uint8) with its labels.

        Labels are ``(N, 5)`` float32 rows ``x1, y1, x2, y2, class_id``. An image
        that cannot be decoded, or whose size differs from the annotated one
        (the boxes would then be wrong), raises ``DatasetError``.
        """
        record = self.records[index]
        image = read_image(record)
        labels = np.concatenate(
            [record.boxes, record.class_ids.astype(np.float32)[:, None]], axis=1
        )
        return image, labels

    def subset(self, indices: Iterable[int]) -> DetectionDataset:
        """The dataset restricted to ``indices`` (in that order), same classes."""
        return DetectionDataset(self.source, self.class_names, [self.records[i] for i in indices])


def size_problem(width: int, height: int, record: ImageRecord) -> str | None:
    """Why an image of ``width`` x ``height`` cannot carry ``record``'s boxes; None if it can."""
    if (width, height) == (record.width, record.height):
        return None
    hint = " (EXIF rotation?)" if (height, width) == (record.width, record.height) else ""
    return (
        f"is {width}x{height} but annotated as {record.width}x{record.height}{hint}: "
        "the boxes would be wrong"
    )


def read_image(record: ImageRecord) -> np.ndarray:
    """Decode ``record``'s image, refusing one that is unreadable or not the annotated size."""
    image = cv2.imread(str(record.path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(record.path, f"image {record.image_id}", "cannot be read or decoded")
    problem = size_problem(image.shape[1], image.shape[0], record)
    if problem is not None:
        raise DatasetError(record.path, f"image {record.image_id}", problem)
    return image


def _shown(values: Iterable[float]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def checked_box(
    box: tuple[float, float, float, float],
    width: int,
    height: int,
    file: str | Path,
    entry: str,
    written: Iterable[float] | None = None,
) -> tuple[float, float, float, float]:
    """``box`` (x1, y1, x2, y2 in pixels) clipped to the image, or ``DatasetError``.

    A box with no area or outside the image by more than ``BOX_TOLERANCE_PX`` is
    a labelling mistake worth reporting rather than silently training on.
    ``written`` is the box as the file spells it, quoted in the message so the
    user can search for it (defaults to ``box``).
    """
    x1, y1, x2, y2 = box

    def failure(problem: str) -> DatasetError:
        return DatasetError(
            file, entry, f"box {_shown(box if written is None else written)} {problem}"
        )

    if not all(math.isfinite(v) for v in box):
        raise failure("is not 4 finite numbers")
    if x2 <= x1 or y2 <= y1:
        raise failure("has non-positive size")
    tol = BOX_TOLERANCE_PX
    if x1 < -tol or y1 < -tol or x2 > width + tol or y2 > height + tol:
        raise failure(f"lies outside the {width}x{height} image")
    cx1, cx2 = (min(max(v, 0.0), float(width)) for v in (x1, x2))
    cy1, cy2 = (min(max(v, 0.0), float(height)) for v in (y1, y2))
    if cx2 <= cx1 or cy2 <= cy1:
        raise failure("has no area inside the image")
    return (cx1, cy1, cx2, cy2)
