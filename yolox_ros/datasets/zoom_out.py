"""A "far" view of a dataset: each image shrunk inside a canvas of its own size.

A camera further from the signs sees them smaller on the same background. The
canvas around the shrunk photo is the photo's own mirror image (the road and
walls continue across the seam), softened with a blur, so no border or pasted
rectangle marks where the photo ends. The boxes move with the photo; their
mirror images in the surround become ignored regions (evaluation counts a
detection there neither way), and a box the shrinking makes no longer than
``MIN_BOX_SIDE`` px is dropped (no label tool would draw it).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from yolox_ros.datasets.records import DetectionDataset, ImageRecord, read_image

SURROUND_BLUR_SIGMA = 2.0  # px: softens the mirrored surround a little, as out-of-focus edges
MIN_BOX_SIDE = 2.0


def _layout(width: int, height: int, factor: float, centre: tuple[float, float]):
    """The shrunk size and where its top-left corner goes on the canvas."""
    if not 0.5 <= factor <= 1.0:
        raise ValueError(f"zoom-out factor must be in [0.5, 1], got {factor}")
    small_w, small_h = max(1, round(width * factor)), max(1, round(height * factor))
    x0 = min(max(round(centre[0] * width - small_w / 2), 0), width - small_w)
    y0 = min(max(round(centre[1] * height - small_h / 2), 0), height - small_h)
    return small_w, small_h, x0, y0


def zoom_out_image(image: np.ndarray, factor: float, centre: tuple[float, float]) -> np.ndarray:
    """``image`` shrunk by ``factor`` (0.5..1) with its centre at ``centre`` (fractions)."""
    height, width = image.shape[:2]
    small_w, small_h, x0, y0 = _layout(width, height, factor, centre)
    small = cv2.resize(image, (small_w, small_h), interpolation=cv2.INTER_AREA)
    # factor >= 0.5: every margin is narrower than the photo, one reflection fills it.
    canvas = cv2.copyMakeBorder(
        small, y0, height - small_h - y0, x0, width - small_w - x0, cv2.BORDER_REFLECT_101
    )
    blurred = cv2.GaussianBlur(canvas, (0, 0), SURROUND_BLUR_SIGMA)
    blurred[y0 : y0 + small_h, x0 : x0 + small_w] = small
    return blurred


def _mirrored(boxes: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """The images of ``boxes`` reflected across the photo's edges and corners (101 reflection)."""
    left, right = 2 * x0 + 1 - boxes[:, [2, 0]], 2 * x1 - 1 - boxes[:, [2, 0]]
    top, bottom = 2 * y0 + 1 - boxes[:, [3, 1]], 2 * y1 - 1 - boxes[:, [3, 1]]
    xs, ys = boxes[:, [0, 2]], boxes[:, [1, 3]]
    images = [
        np.concatenate([x, y], axis=1)[:, [0, 2, 1, 3]]
        for x in (left, xs, right)
        for y in (top, ys, bottom)
        if x is not xs or y is not ys
    ]
    return np.concatenate(images) if images else np.zeros((0, 4), np.float32)


def zoom_out_record(
    record: ImageRecord, factor: float, centre: tuple[float, float], image_path: Path
) -> tuple[np.ndarray, ImageRecord]:
    """The far image of ``record`` and its record (boxes moved, now pointing at ``image_path``)."""
    far = zoom_out_image(read_image(record), factor, centre)
    small_w, small_h, x0, y0 = _layout(record.width, record.height, factor, centre)
    scale = np.array([small_w / record.width, small_h / record.height] * 2, np.float32)
    offset = np.array([x0, y0, x0, y0], np.float32)
    boxes = record.boxes * scale + offset
    mirrored = _mirrored(
        np.concatenate([boxes, record.ignored * scale + offset]), x0, y0, x0 + small_w, y0 + small_h
    )
    mirrored[:, 0::2] = mirrored[:, 0::2].clip(0, record.width)
    mirrored[:, 1::2] = mirrored[:, 1::2].clip(0, record.height)
    visible = (mirrored[:, 2] > mirrored[:, 0]) & (mirrored[:, 3] > mirrored[:, 1])
    sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    keep = sides > MIN_BOX_SIDE
    ignored = np.concatenate([record.ignored * scale + offset, mirrored[visible], boxes[~keep]])
    far_record = ImageRecord(
        image_path,
        record.width,
        record.height,
        record.image_id,
        boxes[keep],
        record.class_ids[keep],
        ignored,
    )
    return far, far_record


def zoom_out_dataset(
    dataset: DetectionDataset, factor: float, centre: tuple[float, float], images_dir: Path
) -> DetectionDataset:
    """Every image of ``dataset`` zoomed out, written to ``images_dir`` under its own name."""
    images_dir.mkdir(parents=True, exist_ok=True)
    records = []
    for record in dataset.records:
        path = images_dir / record.path.name
        far, far_record = zoom_out_record(record, factor, centre, path)
        if not cv2.imwrite(str(path), far, [cv2.IMWRITE_JPEG_QUALITY, 95]):
            raise OSError(f"cannot write {path}")
        records.append(far_record)
    return DetectionDataset(str(images_dir), dataset.class_names, records)
