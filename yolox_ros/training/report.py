"""What a run leaves for a person to look at.

``train_batches.jpg``: the first augmented training batch as the network sees
it (mosaic, affine, mixup, flips), its boxes labelled with their class names;
``curves.png``: the loss parts and the validation AP over the epochs (from
``metrics.jsonl``); ``confusion_matrix.png``: which class the final model
predicts for each true class, background included, at the run's operating
threshold; ``pr_curves.png``: precision against recall of each class at IoU
0.5, AP@.5 in the legend; ``val_samples.jpg``: validation images, each as a
pair, the ground truth on the left and the final model's detections on the
right.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from yolox_ros.core.annotate import class_color, draw_boxes, draw_detections
from yolox_ros.core.detections import Detections
from yolox_ros.datasets.metrics import PrecisionRecallCurves
from yolox_ros.datasets.records import DetectionDataset

SHEET_COLUMNS = 4  # images per row of train_batches.jpg
SHEET_PAIRS = 2  # truth | prediction pairs per row of val_samples.jpg
SHEET_TILE_WIDTH = 480  # every image of a sheet is scaled to this width
SHEET_GAP = 6  # pixels between the images (or pairs) of a sheet
BATCH_SHEET_IMAGES = 16  # images of a batch shown in train_batches.jpg
GAP_COLOR = (255, 255, 255)
IGNORED_COLOR = (128, 128, 128)
# Beyond this many classes the plots leave out the per-class legend and cell counts.
MAX_LABELLED_CLASSES = 20
MAX_ANNOTATED_CELLS = 30


def _pyplot():
    """matplotlib's pyplot on the file-only backend, or None when it is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def plot_curves(metrics_path: Path, png_path: Path) -> bool:
    """Loss parts and AP per epoch as one PNG; False (nothing written) without matplotlib."""
    plt = _pyplot()
    if plt is None:
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


def plot_confusion_matrix(
    matrix: np.ndarray,
    class_names: Sequence[str],
    png_path: Path,
    score_threshold: float | None = None,
) -> bool:
    """The matrix of ``metrics.confusion_matrix`` (rows true, columns predicted, background
    last) as a PNG: colour the share of each true class's row, text the counts. False
    (nothing written) without matplotlib."""
    plt = _pyplot()
    if plt is None:
        return False
    matrix = np.asarray(matrix)
    labels = [*class_names, "background"]
    if matrix.shape != (len(labels), len(labels)):
        raise ValueError(f"a {matrix.shape} matrix for {len(class_names)} classes + background")
    totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    side = max(6.0, 0.55 * len(labels) + 3.0)
    figure, axes = plt.subplots(figsize=(side + 1.5, side))
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the true class")
    ticks = np.arange(len(labels))
    named = len(labels) <= MAX_ANNOTATED_CELLS
    axes.set_xticks(ticks, labels if named else [], rotation=90)
    axes.set_yticks(ticks, labels if named else [])
    if named:
        for (row, column), count in np.ndenumerate(matrix):
            if count:
                dark = shares[row, column] > 0.5
                axes.text(
                    column,
                    row,
                    str(count),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if dark else "black",
                )
    threshold = f"score >= {score_threshold:g}, " if score_threshold is not None else ""
    axes.set(
        title=f"confusion matrix ({threshold}IoU > 0.5)\nrows: true class, normalised per row",
        xlabel="predicted",
        ylabel="true",
    )
    figure.tight_layout()
    figure.savefig(png_path, dpi=100)
    plt.close(figure)
    return True


def plot_pr_curves(
    curves: PrecisionRecallCurves, class_names: Sequence[str], png_path: Path
) -> bool:
    """Precision against recall at IoU 0.5, a line per class with its AP@.5 in the legend and
    the mean of all classes in bold; False (nothing written) without matplotlib."""
    plt = _pyplot()
    if plt is None:
        return False
    if len(curves.precision) != len(class_names):
        raise ValueError(f"{len(curves.precision)} curves for {len(class_names)} classes")
    labelled = len(class_names) <= MAX_LABELLED_CLASSES
    figure, axes = plt.subplots(figsize=(9, 6))
    for class_id, (name, precision, ap50) in enumerate(
        zip(class_names, curves.precision, curves.class_ap50, strict=True)
    ):
        if np.isnan(ap50):
            continue  # no box of this class in the validation split
        if labelled:
            blue, green, red = class_color(class_id)
            axes.plot(
                curves.recall,
                precision,
                linewidth=1,
                color=(red / 255, green / 255, blue / 255),
                label=f"{name} {ap50:.3f}",
            )
        else:
            axes.plot(curves.recall, precision, linewidth=1, color="grey")
    axes.plot(
        curves.recall,
        curves.mean_precision,
        linewidth=3,
        color="blue",
        label=f"all classes {curves.ap50:.3f} AP@.5",
    )
    axes.set(
        title="precision-recall (IoU 0.5)",
        xlabel="recall",
        ylabel="precision",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    axes.legend(bbox_to_anchor=(1.02, 1), loc="upper left")
    figure.tight_layout()
    figure.savefig(png_path, dpi=100)
    plt.close(figure)
    return True


def _draw_labelled_boxes(
    image: np.ndarray, boxes: np.ndarray, class_ids: np.ndarray, class_names: Sequence[str]
) -> np.ndarray:
    """A copy of ``image`` with each box in its class colour and its class name above it."""
    names = [class_names[int(class_id)] for class_id in class_ids]
    return draw_boxes(image, boxes, class_ids, names)


def _to_tile_width(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    size = (SHEET_TILE_WIDTH, max(1, round(height * SHEET_TILE_WIDTH / width)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _grid(tiles: Sequence[np.ndarray], columns: int) -> np.ndarray:
    """Tiles (same width) in rows of ``columns``, ``SHEET_GAP`` pixels apart; a short row
    is filled with black, and a tile shorter than its row's tallest padded at the bottom."""
    columns = max(1, min(columns, len(tiles)))
    width = tiles[0].shape[1]
    rows = []
    for start in range(0, len(tiles), columns):
        row_tiles = list(tiles[start : start + columns])
        row_tiles += [np.zeros((1, width, 3), np.uint8)] * (columns - len(row_tiles))
        height = max(tile.shape[0] for tile in row_tiles)
        gap = np.full((height, SHEET_GAP, 3), GAP_COLOR, np.uint8)
        parts = []
        for tile in row_tiles:
            if parts:
                parts.append(gap)
            parts.append(
                cv2.copyMakeBorder(
                    tile, 0, height - tile.shape[0], 0, 0, cv2.BORDER_CONSTANT, value=0
                )
            )
        rows.append(np.hstack(parts))
    sheet_width = rows[0].shape[1]
    separated = []
    for row in rows:
        if separated:
            separated.append(np.full((SHEET_GAP, sheet_width, 3), GAP_COLOR, np.uint8))
        separated.append(row)
    return np.vstack(separated)


def sample_sheet(
    dataset: DetectionDataset,
    detections: Sequence[Detections],
    path: Path,
    conf_threshold: float,
) -> None:
    """A JPEG of image pairs: on the left the ground truth (class colours and names, ignored
    regions in grey), on the right the detections at or above ``conf_threshold`` ("name
    score"); each image is ``SHEET_TILE_WIDTH`` wide, so a pair is twice that."""
    pairs = []
    for index, found in enumerate(detections):
        image = dataset.load(index)[0]
        record = dataset.records[index]
        truth = _draw_labelled_boxes(image, record.boxes, record.class_ids, dataset.class_names)
        for box in record.ignored:
            x1, y1, x2, y2 = (int(round(float(v))) for v in box)
            cv2.rectangle(truth, (x1, y1), (x2, y2), IGNORED_COLOR, 1)
        predicted = draw_detections(image, found.subset(found.scores >= conf_threshold))
        pairs.append(np.hstack([_to_tile_width(truth), _to_tile_width(predicted)]))
    cv2.imwrite(str(path), _grid(pairs, SHEET_PAIRS), [cv2.IMWRITE_JPEG_QUALITY, 90])


def _as_array(values) -> np.ndarray:
    """A numpy array of a CPU or GPU tensor (without importing torch) or an array."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def train_batch_sheet(images, targets, class_names: Sequence[str], path: Path) -> None:
    """A JPEG of the first ``BATCH_SHEET_IMAGES`` images of a training batch with their boxes.

    ``images`` is the loader's ``[B, 3, H, W]`` BGR batch (uint8, or float 0..255 as the
    model's input), ``targets`` its ``[B, MAX_LABELS, 5]`` rows ``class, cx, cy, w, h`` in
    those pixels (rows without a size are padding). Tensors or arrays; the images are laid
    out ``SHEET_COLUMNS`` to a row, each scaled to ``SHEET_TILE_WIDTH``.
    """
    batch = _as_array(images)[:BATCH_SHEET_IMAGES]
    if batch.dtype != np.uint8:
        batch = np.clip(np.rint(batch.astype(np.float32)), 0, 255).astype(np.uint8)
    rows = _as_array(targets)[: len(batch)].astype(np.float32)
    tiles = []
    for image, labels in zip(batch.transpose(0, 2, 3, 1), rows, strict=True):
        labels = labels[(labels[:, 3] > 0) & (labels[:, 4] > 0)]
        centres, sizes = labels[:, 1:3], labels[:, 3:5]
        boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)
        drawn = _draw_labelled_boxes(image, boxes, labels[:, 0].astype(np.int64), class_names)
        tiles.append(_to_tile_width(drawn))
    cv2.imwrite(str(path), _grid(tiles, SHEET_COLUMNS), [cv2.IMWRITE_JPEG_QUALITY, 90])
