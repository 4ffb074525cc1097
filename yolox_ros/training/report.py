"""What a finished run leaves for a person to look at.

``curves.png``: the loss parts and the validation AP over the epochs (from
``metrics.jsonl``); ``val_samples.jpg``: validation images with the ground
truth in white and the final model's detections in class colours.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from yolox_ros.core.annotate import draw_detections
from yolox_ros.core.detections import Detections
from yolox_ros.datasets.metrics import ImageDetections
from yolox_ros.datasets.records import DetectionDataset

SHEET_COLUMNS = 4
SHEET_TILE_WIDTH = 480
TRUTH_COLOR = (255, 255, 255)


def plot_curves(metrics_path: Path, png_path: Path) -> bool:
    """Loss parts and AP per epoch as one PNG; False (nothing written) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
    epochs = [row["epoch"] for row in rows]
    figure, (losses, accuracy) = plt.subplots(1, 2, figsize=(11, 4))
    for part in ("total", "iou", "obj", "cls", "l1"):
        losses.plot(epochs, [row[f"loss_{part}"] for row in rows], label=part)
    losses.set(title="training loss (mean per epoch)", xlabel="epoch")
    losses.legend()
    evaluated = [row for row in rows if "ap" in row]
    for key, label in (("ap", "AP@[.5:.95]"), ("ap50", "AP@.5")):
        accuracy.plot(
            [row["epoch"] for row in evaluated], [row[key] for row in evaluated], "o-", label=label
        )
    accuracy.set(title="validation", xlabel="epoch", ylim=(0, 1))
    accuracy.legend()
    figure.tight_layout()
    figure.savefig(png_path, dpi=100)
    plt.close(figure)
    return True


def sample_sheet(
    dataset: DetectionDataset,
    detections: Sequence[ImageDetections],
    path: Path,
    conf_threshold: float,
) -> None:
    """A grid of images: ground truth in white, detections above ``conf_threshold`` in colour."""
    tiles = []
    for index, found in enumerate(detections):
        image = dataset.load(index)[0]
        for box in dataset.records[index].boxes:
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            cv2.rectangle(image, (x1, y1), (x2, y2), TRUTH_COLOR, 1)
        kept = found.scores >= conf_threshold
        class_ids = found.class_ids[kept]
        shown = Detections(
            boxes=found.boxes[kept],
            scores=found.scores[kept],
            class_ids=class_ids,
            class_names=tuple(dataset.class_names[c] for c in class_ids),
        )
        image = draw_detections(image, shown)
        scale = SHEET_TILE_WIDTH / image.shape[1]
        tiles.append(cv2.resize(image, (SHEET_TILE_WIDTH, round(image.shape[0] * scale))))
    height = max(tile.shape[0] for tile in tiles)
    padded = [
        cv2.copyMakeBorder(t, 0, height - t.shape[0], 0, 0, cv2.BORDER_CONSTANT) for t in tiles
    ]
    padded += [np.zeros_like(padded[0])] * (-len(padded) % SHEET_COLUMNS)
    rows = [
        np.hstack(padded[start : start + SHEET_COLUMNS])
        for start in range(0, len(padded), SHEET_COLUMNS)
    ]
    cv2.imwrite(str(path), np.vstack(rows), [cv2.IMWRITE_JPEG_QUALITY, 90])
