"""Every image of a dataset checked from its header and its last bytes, before training.

A training run that meets an unreadable image mid-epoch, in a loader worker,
stops with a traceback that names no file, or after an epoch's work. The
header says the size (compared with the annotations) and the end of the file
says whether it was cut short (a JPEG ends with its EOI marker, a PNG with its
IEND chunk), without decoding any pixel.
"""

from __future__ import annotations

from collections.abc import Sequence

from yolox_ros.core.image_header import (
    HEADER_READ_BYTES,
    PNG_SIGNATURE,
    TRANSPOSING_ORIENTATIONS,
    declared_size,
    jpeg_orientation,
)
from yolox_ros.datasets.records import DatasetError, DetectionDataset, ImageRecord, size_problem

PNG_END = b"IEND\xae\x42\x60\x82"
JPEG_END = b"\xff\xd9"
# Writers may pad after the end marker (some cameras add zero bytes): look this far back.
TAIL_BYTES = 64


def image_file_problem(record: ImageRecord) -> str | None:
    """Why ``record``'s image cannot be trained on, from its header and tail; None if it can."""
    try:
        with record.path.open("rb") as file:
            head = file.read(HEADER_READ_BYTES)
            file.seek(0, 2)
            length = file.tell()
            file.seek(max(0, length - TAIL_BYTES))
            tail = file.read()
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if not head:
        return "is empty (0 bytes)"
    size = declared_size(head)
    if size is None:
        return f"is not a readable JPEG, PNG or BMP file ({length} bytes)"
    if head[:2] == b"\xff\xd8":
        if JPEG_END not in tail:
            return f"is cut short: the JPEG has no end marker ({length} bytes)"
        if jpeg_orientation(head) in TRANSPOSING_ORIENTATIONS:
            size = (size[1], size[0])  # decoded upright, as OpenCV does
    elif head.startswith(PNG_SIGNATURE) and PNG_END not in tail:
        return f"is cut short: the PNG has no IEND chunk ({length} bytes)"
    return size_problem(*size, record)


def check_image_files(datasets: Sequence[DetectionDataset]) -> None:
    """``DatasetError`` naming the first image that cannot be trained on, and how many more."""
    problems = [
        (record, problem)
        for dataset in datasets
        for record in dataset.records
        if (problem := image_file_problem(record)) is not None
    ]
    if not problems:
        return
    record, problem = problems[0]
    more = f" (and {len(problems) - 1} more images: see `check`)" if len(problems) > 1 else ""
    raise DatasetError(record.path, f"image {record.image_id}", f"{problem}{more}")
